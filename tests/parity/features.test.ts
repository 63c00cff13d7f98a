/**
 * Backbone exports against torchvision: `featureInfo` stages and the `features` / `embedding`
 * graphs must equal what forward hooks on torchvision's own modules see.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { featureInfo, inferenceGraph, loadModel, Session, toOnnx, type Tensor } from "../../src/index.js";
import { requirePython, runPython } from "../helpers/python.js";

const EXPORTER = fileURLToPath(new URL("./export_features.py", import.meta.url));

/**
 * One representative per family and block type, and the resolution to check it at (small: this is
 * about wiring, not size). tests/unit/features.test.ts checks every arch's strides without torch.
 */
const RESOLUTION: Record<string, number> = {
  resnet18: 96,
  resnet50: 64,
  vgg11_bn: 64,
  googlenet: 96,
  mobilenet_v2: 96,
  mobilenet_v3_large: 96,
  mobilenet_v3_small: 96,
  efficientnet_b0: 96,
  efficientnet_v2_s: 64,
};
/** Constructor arguments that make torchvision's model the one convzoo builds. */
const KWARGS: Record<string, string[]> = { googlenet: ["transform_input:True", "init_weights:True"] };

const f32 = (path: string) => {
  const b = readFileSync(path);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
};

function maxRelDiff(expected: Float32Array, actual: Tensor<"float32">): number {
  let maxAbs = 0;
  let maxDiff = 0;
  for (let i = 0; i < expected.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(expected[i]));
    maxDiff = Math.max(maxDiff, Math.abs(expected[i] - actual.data[i]));
  }
  return maxDiff / maxAbs;
}

describe("backbone features and embeddings match torchvision's modules", () => {
  let dir = "";
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "convzoo-features-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const arch of Object.keys(RESOLUTION)) {
    test(arch, async (t) => {
      if (!requirePython(t, "torchvision")) return;
      const resolution = RESOLUTION[arch];
      const { model: probe } = await loadModel({ arch, numClasses: 10 });
      runPython([
        EXPORTER,
        dir,
        arch,
        arch,
        String(resolution),
        probe.classifier,
        probe.stages.join(","),
        "num_classes:10",
        ...(KWARGS[arch] ?? []),
      ]);
      const { model } = await loadModel({ arch, weights: join(dir, `${arch}.pth`) });
      const shapes = JSON.parse(readFileSync(join(dir, `${arch}.features.json`), "utf8")) as Record<string, number[]>;

      const info = featureInfo(model, resolution);
      assert.deepEqual(
        info.map((f) => f.module),
        model.stages,
      );
      for (const f of info) {
        const [, c, h] = shapes[f.module];
        assert.equal(f.channels, c, `${f.module} channels`);
        assert.equal(f.reduction, Math.round(resolution / h), `${f.module} stride`);
      }
      assert.deepEqual(
        info.map((f) => f.reduction),
        [2, 4, 8, 16, 32],
        "one stage per stride 2…32",
      );

      const input = { dtype: "float32" as const, shape: [2, 3, resolution, resolution], data: f32(join(dir, `${arch}.input.f32`)) };
      const features = await Session.create(toOnnx(inferenceGraph(model, { resolution, output: "features" })));
      const maps = await features.run({ input });
      for (const stride of [4, 8, 16, 32]) {
        const f = info.filter((i) => i.reduction === stride).pop()!;
        const out = maps[`feature_stride${stride}`];
        assert.deepEqual(out.shape, shapes[f.module]);
        const rel = maxRelDiff(f32(join(dir, `${arch}.${f.module}.f32`)), out);
        assert.ok(rel <= 1e-4, `stride ${stride} (${f.module}): max rel |Δ| ${rel}`);
      }
      await features.release();

      const embedding = await Session.create(toOnnx(inferenceGraph(model, { resolution, output: "embedding" })));
      const e = (await embedding.run({ input })).embedding;
      assert.deepEqual(e.shape, shapes.embedding);
      const rel = maxRelDiff(f32(join(dir, `${arch}.embedding.f32`)), e);
      t.diagnostic(`embedding ${e.shape.join("x")}: max rel |Δ| ${rel.toExponential(2)}`);
      assert.ok(rel <= 1e-4);
      await embedding.release();
    });
  }
});
