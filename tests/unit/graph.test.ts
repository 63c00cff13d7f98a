/** Build-time shape inference: wrong shapes fail when the model is built, naming the layer. */
import assert from "node:assert/strict";
import { test } from "node:test";
import * as ort from "onnxruntime-node";
import { createModel, fromOnnx, Graph, inferenceGraph, OptionError, ShapeError, toOnnx, traceModel } from "../../src/index.js";
import { initializeWeights } from "../../src/models/bind.js";
import { BasicBlock } from "../../src/models/resnet.js";
import * as ops from "../../src/graph/ops.js";

test("a wrong channel count is a ShapeError naming the layer and both shapes", () => {
  const model = createModel("resnet18");
  const layer1 = model.net.child("layer1")!;
  layer1.replaceModule("1", new BasicBlock(32, 64, 1, null));
  assert.throws(
    () => traceModel(model, 224),
    (e: unknown) =>
      e instanceof ShapeError &&
      e.message === "layer1.1.conv1: Conv expects 32 input channels (weight [64, 32, 3, 3], groups 1), got input float32[N, 64, 56, 56]",
  );
});

test("a resolution too small for the network is refused before building", () => {
  assert.throws(() => traceModel(createModel("mobilenet_v2"), 8), OptionError);
  // Below the minimum the window check itself also names the layer.
  const g = new Graph();
  const x = g.addInput("x", "float32", [1, 3, 4, 4]);
  const w = g.addInitializer("w", { dtype: "float32", shape: [8, 3, 7, 7], data: new Float32Array(8 * 3 * 49) });
  assert.throws(
    () => g.withScope("stem", () => ops.conv2d(g, x, w, null, { stride: [2, 2], padding: [0, 0], dilation: [1, 1], groups: 1 })),
    /^ShapeError: stem: Conv: input size 4 .* smaller than the window 7/,
  );
});

test("shape inference agrees with PyTorch's pooling arithmetic (ceil_mode) and broadcasting", () => {
  const g = new Graph();
  const x = g.addInput("x", "float32", ["N", 8, 112, 112]);
  // GoogLeNet's stem pool: MaxPool2d(3, 2, ceil_mode=True) on 112 gives 56 (floor would give 55).
  assert.deepEqual(ops.maxPool2d(g, x, { kernel: [3, 3], stride: [2, 2], padding: [0, 0], ceilMode: true }).shape, ["N", 8, 56, 56]);
  assert.deepEqual(ops.maxPool2d(g, x, { kernel: [3, 3], stride: [2, 2], padding: [0, 0], ceilMode: false }).shape, ["N", 8, 55, 55]);
  const s = g.addInput("s", "float32", ["N", 8, 1, 1]);
  assert.deepEqual(ops.mul(g, x, s).shape, ["N", 8, 112, 112]);
  const bad = g.addInput("b", "float32", ["N", 4, 1, 1]);
  assert.throws(() => ops.add(g, x, bad), /Add cannot broadcast \[N, 8, 112, 112\] with \[N, 4, 1, 1\]/);
});

test("ONNX bytes round-trip: names, initializers and metadata", () => {
  const model = initializeWeights(createModel("mobilenet_v2", { widthMult: 0.35, numClasses: 5 }));
  const graph = inferenceGraph(model, { resolution: 64 });
  const decoded = fromOnnx(toOnnx(graph, { metadata: { arch: "mobilenet_v2" } }));
  assert.deepEqual(decoded.inputs, ["input"]);
  assert.deepEqual(decoded.outputs, ["probabilities"]);
  assert.equal(decoded.metadata.arch, "mobilenet_v2");
  const w = decoded.initializers.get("classifier.1.weight")!;
  assert.deepEqual(w.shape, [5, 1280]);
  assert.deepEqual(w.data, graph.initializers.get("classifier.1.weight")!.tensor.data);
  assert.equal(decoded.opTypes.filter((op) => op === "Conv").length, 52);
});

test("a scalar operand is given the other operand's rank (ONNX Runtime's slow path), with the same values and no stray initializer", async () => {
  const g = new Graph();
  const weight = g.addInput("weight", "float32", [4, 3, 1, 1]);
  const bias = g.addInput("bias", "float32", [3]);
  const lr = g.addInput("lr", "float32", []);
  const half = ops.scalarConstant(g, 0.5);
  const scaled = ops.mul(g, ops.mul(g, weight, half), lr);
  const shifted = ops.add(g, bias, half);
  g.markOutput(scaled, "scaled");
  g.markOutput(shifted, "shifted");
  // The 4-D uses read [1, 1, 1, 1] versions of the scalars; the 1-D one a [1] version.
  const mulInputs = g.nodes.filter((n) => n.op === "Mul").map((n) => n.inputs[1]!.shape);
  assert.deepEqual(mulInputs, [
    [1, 1, 1, 1],
    [1, 1, 1, 1],
  ]);
  assert.deepEqual(g.nodes.find((n) => n.op === "Add")!.inputs[1]!.shape, [1]);
  assert.deepEqual(scaled.shape, [4, 3, 1, 1]);
  assert.deepEqual(shifted.shape, [3]);
  const bytes = toOnnx(g);
  const decoded = fromOnnx(bytes);
  assert.ok(![...decoded.initializers.values()].some((t) => t.shape.length === 0), "the rank-0 constant nothing reads is left out");
  const session = await ort.InferenceSession.create(bytes);
  const w = Float32Array.from({ length: 12 }, (_, i) => i - 5);
  const out = await session.run({
    weight: new ort.Tensor("float32", w, [4, 3, 1, 1]),
    bias: new ort.Tensor("float32", Float32Array.from([1, 2, 3]), [3]),
    lr: new ort.Tensor("float32", Float32Array.from([0.1]), []),
  });
  assert.deepEqual(out.scaled.dims, [4, 3, 1, 1]);
  assert.deepEqual(
    [...(out.scaled.data as Float32Array)],
    [...w].map((v) => Math.fround(Math.fround(v * 0.5) * Math.fround(0.1))),
  );
  assert.deepEqual([...(out.shifted.data as Float32Array)], [1.5, 2.5, 3.5]);
});
