/**
 * graph/pool_before_relu.ts: MaxPool(Relu(u)) → Relu(MaxPool(u)) keeps the values and the
 * gradient with respect to u exactly, ties included (inputs on a coarse integer grid, so windows
 * hold equal maxima and all-negative windows), and leaves a Relu that something else reads alone.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import * as ort from "onnxruntime-node";
import { gradients } from "../../src/autodiff/gradients.js";
import { Graph } from "../../src/graph/ir.js";
import * as ops from "../../src/graph/ops.js";
import { poolBeforeRelu } from "../../src/graph/pool_before_relu.js";
import { toOnnx } from "../../src/onnx/serialize.js";
import { Random } from "../../src/random.js";

const SHAPE = [2, 3, 9, 9];

/** y = MaxPool(Relu(u)) (3x3, stride 2, pad 1, as resnet's stem), loss = Σ y·c; outputs y and dL/du. */
function build(swap: boolean, extraReader = false): { g: Graph; swapped: number } {
  const g = new Graph();
  const u = g.addInput("u", "float32", SHAPE);
  const c = g.addInput("c", "float32", [2, 3, 5, 5]);
  const r = ops.relu(g, u);
  const y = ops.maxPool2d(g, r, { kernel: [3, 3], stride: [2, 2], padding: [1, 1], ceilMode: false });
  let loss = ops.reduceSum(g, ops.mul(g, y, c), [0, 1, 2, 3], false);
  if (extraReader) loss = ops.add(g, loss, ops.reduceSum(g, r, [0, 1, 2, 3], false));
  g.markOutput(y, "y");
  const swapped = swap ? poolBeforeRelu(g) : 0;
  g.markOutput(gradients(g, loss, [u]).get("u")!, "du");
  return { g, swapped };
}

async function run(g: Graph, feeds: Record<string, ort.Tensor>): Promise<[Float32Array, Float32Array]> {
  const s = await ort.InferenceSession.create(toOnnx(g), { intraOpNumThreads: 1 });
  const out = await s.run(feeds);
  await s.release();
  return [out.y.data as Float32Array, out.du.data as Float32Array];
}

test("MaxPool(Relu(u)) → Relu(MaxPool(u)): same values and same gradient, ties included", async () => {
  const rng = new Random(3);
  // Integers in [−3, 2]: ties inside windows, windows whose maximum is 0 or negative.
  const u = Float32Array.from({ length: SHAPE.reduce((a, b) => a * b, 1) }, () => Math.floor(rng.uniform() * 6) - 3);
  const c = Float32Array.from({ length: 2 * 3 * 5 * 5 }, () => rng.normal());
  const feeds = { u: new ort.Tensor("float32", u, SHAPE), c: new ort.Tensor("float32", c, [2, 3, 5, 5]) };
  const plain = build(false);
  const moved = build(true);
  assert.equal(moved.swapped, 1);
  const pool = moved.g.nodes.find((n) => n.op === "MaxPool")!;
  assert.equal(pool.inputs[0]!.name, "u", "the MaxPool now reads u itself");
  const [y0, du0] = await run(plain.g, feeds);
  const [y1, du1] = await run(moved.g, feeds);
  assert.deepEqual([...y1], [...y0]);
  assert.ok(du0.some((v) => v !== 0) && du0.some((v, i) => v === 0 && u[i] > 0), "the case has gradients and positive non-maxima");
  // Equal as numbers; the sign of a zero differs where a masked −dy·0 became a plain 0 (+ 0 maps −0 to 0).
  assert.deepEqual(
    [...du1].map((v) => v + 0),
    [...du0].map((v) => v + 0),
  );
});

test("a Relu that another node reads stays in front of the MaxPool", () => {
  const { g, swapped } = build(true, true);
  assert.equal(swapped, 0);
  const pool = g.nodes.find((n) => n.op === "MaxPool")!;
  assert.notEqual(pool.inputs[0]!.name, "u");
});
