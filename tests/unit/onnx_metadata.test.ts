/**
 * The one reader of convzoo's ONNX metadata (inference/onnx_metadata.ts), used by `classify --onnx`,
 * `eval --onnx`, `bench infer --onnx`, `serve` and the studio: what it accepts and what it refuses.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { WeightsError } from "../../src/errors.js";
import { exportOnnx, onnxMetadata } from "../../src/inference/export.js";
import { decodeOnnxModel } from "../../src/inference/onnx_metadata.js";
import { initializeWeights } from "../../src/models/bind.js";
import { inferenceGraph } from "../../src/models/inference_graph.js";
import "../../src/models/index.js";
import { createModel } from "../../src/models/registry.js";
import { toOnnx } from "../../src/onnx/serialize.js";

const R = 32;
const model = initializeWeights(createModel("mobilenet_v3_small", { numClasses: 3 }), 0);

/** A logits export whose metadata is changed by `edit`. */
function edited(edit: (m: Record<string, string>) => void): Uint8Array {
  const metadata = onnxMetadata(model, { resolution: R, output: "logits", classes: ["a", "b", "c"] });
  edit(metadata);
  return toOnnx(inferenceGraph(model, { resolution: R, output: "logits" }), { metadata });
}

function refused(bytes: Uint8Array, message: RegExp): void {
  assert.throws(
    () => decodeOnnxModel(bytes, "m.onnx"),
    (e: unknown) => e instanceof WeightsError && message.test(e.message),
  );
}

test("an export with class names reads back its arch, classes, output, resolution and preprocessing", () => {
  const m = decodeOnnxModel(exportOnnx(model, { resolution: R, output: "logits", classes: ["cat", "dog", "fox"] }), "m.onnx");
  assert.equal(m.arch, "mobilenet_v3_small");
  assert.deepEqual(m.classes, ["cat", "dog", "fox"]);
  assert.equal(m.output, "logits");
  assert.equal(m.resolution, R);
  assert.deepEqual(m.preprocessing, model.preprocessing);
  assert.equal(m.quantization, null);
});

test("an export without class names is numbered by the width of its output", () => {
  const m = decodeOnnxModel(exportOnnx(model, { resolution: R }), "m.onnx");
  assert.equal(m.output, "probabilities");
  assert.deepEqual(m.classes, ["class_0", "class_1", "class_2"]);
});

test("without class names and without a recorded class count (a symbolic output width) the model is refused", () => {
  const graph = inferenceGraph(model, { resolution: R, output: "logits" });
  const out = graph.outputs[0];
  graph.outputs[0] = { ...out, shape: [out.shape[0], "classes"] };
  const metadata = onnxMetadata(model, { resolution: R, output: "logits" });
  refused(toOnnx(graph, { metadata }), /^m\.onnx: no class names in the metadata and no class count in the output's shape$/);
});

test("metadata that disagrees with the graph or is malformed is refused, naming the file and the key", () => {
  refused(
    edited((m) => (m.classes = JSON.stringify(["a", "b"]))),
    /^m\.onnx: 2 class names in the metadata for an output of 3 classes$/,
  );
  refused(
    edited((m) => (m.classes = JSON.stringify([1, 2, 3]))),
    /^m\.onnx: ONNX metadata "classes" must be a list of strings$/,
  );
  refused(
    edited((m) => (m.classes = "[")),
    /^m\.onnx: ONNX metadata "classes" is not JSON: \[$/,
  );
  refused(
    edited((m) => (m.output = "features")),
    /^m\.onnx: a classifier's output is probabilities or logits; this model's metadata says "features"$/,
  );
  refused(
    edited((m) => (m.output = "probabilities")),
    /^m\.onnx: expected an output "probabilities", found \[logits\]$/,
  );
  refused(
    edited((m) => (m.resolution = "0")),
    /^m\.onnx: ONNX metadata "resolution" must be a positive integer, got 0$/,
  );
  refused(
    edited((m) => (m.preprocessing = JSON.stringify({ mean: [0.5] }))),
    /^m\.onnx: invalid preprocessing metadata: /,
  );
  refused(
    edited((m) => delete m.arch),
    /^m\.onnx: no convzoo metadata \(arch, preprocessing, resolution\)/,
  );
  refused(new Uint8Array([1, 2, 3]), /^m\.onnx: not an ONNX model or truncated \(/);
});
