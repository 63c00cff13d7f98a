/** Every registered architecture has a backbone/head split and one feature stage per stride 2…32. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createModel, featureInfo, inferenceGraph, listArchs } from "../../src/index.js";
import { initializeWeights } from "../../src/models/bind.js";

for (const spec of listArchs()) {
  test(`${spec.name}: feature info, head and exports`, () => {
    const model = createModel(spec.name, { numClasses: 10 });
    const resolution = 64;
    const info = featureInfo(model, resolution);
    assert.deepEqual(
      info.map((f) => f.reduction),
      [2, 4, 8, 16, 32],
      `${spec.name} stages ${JSON.stringify(info)}`,
    );
    assert.ok(info.every((f) => f.channels > 0));
    assert.ok(model.head.length > 0 && model.head.every((h) => model.net.child(h.split(".")[0])), "head names real modules");
    assert.ok(
      model.classifier.startsWith(model.head[0]) || model.head.some((h) => model.classifier.startsWith(h)),
      "the classifier is in the head",
    );
    const params = new Set([...model.net.namedParameters()].map(([k]) => k));
    assert.ok(params.has(`${model.classifier}.weight`), "the classifier has a weight");
  });
}

test("the embedding is the final classifier's input; features are the stride 4-32 maps", () => {
  const model = initializeWeights(createModel("efficientnet_b0", { numClasses: 10 }));
  const e = inferenceGraph(model, { resolution: 64, output: "embedding" });
  assert.deepEqual(
    e.outputs.map((o) => [o.name, o.shape]),
    [["embedding", ["N", 1280]]],
  );
  const f = inferenceGraph(model, { resolution: 64, output: "features" });
  assert.deepEqual(
    f.outputs.map((o) => o.name),
    ["feature_stride4", "feature_stride8", "feature_stride16", "feature_stride32"],
  );
  assert.deepEqual(
    f.outputs.map((o) => o.shape[2]),
    [16, 8, 4, 2],
  );
  assert.ok(![...f.initializers.keys()].some((k) => k.startsWith("classifier.")), "the head is pruned away");
});
