/**
 * The shared machinery of gradients(): the path between wrt and loss, stop-gradient, fan-out sums,
 * un-broadcasting, dead-code removal, and clear errors for what cannot be differentiated.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import * as ort from "onnxruntime-node";
import { GradientError, gradients, unbroadcast } from "../../src/autodiff/gradients.js";
import { ShapeError } from "../../src/errors.js";
import { Graph, type Value } from "../../src/graph/ir.js";
import * as ops from "../../src/graph/ops.js";
import { toOnnx } from "../../src/onnx/serialize.js";
import { Random } from "../../src/random.js";
import { awayFrom, checkGradients } from "./harness.js";

const sumAll = (g: Graph, v: Value) => ops.reduceSum(g, v, [...Array(v.shape.length).keys()], false);

test("fan-out: a value used several times gets the sum of its contributions, in one Sum node", async () => {
  // f = Σ R·(x·x + relu(x) + x): x feeds Mul (as a square), Relu and Add.
  await checkGradients({
    inputs: { x: { shape: [3, 4], data: awayFrom(new Random(3), 12, [0]) } },
    h: 1e-3,
    build: (g, v) => ops.add(g, ops.add(g, ops.mul(g, v.x, v.x), ops.relu(g, v.x)), v.x),
  });
  const g = new Graph();
  const x = g.addInput("x", "float32", [3]);
  const w = g.addInput("w", "float32", [3]);
  const loss = sumAll(g, ops.add(g, ops.add(g, ops.mul(g, x, w), ops.relu(g, x)), ops.sigmoid(g, x)));
  gradients(g, loss, [x]);
  const sums = g.nodes.filter((n) => n.op === "Sum");
  assert.equal(sums.length, 1);
  assert.equal(sums[0].inputs.length, 3, "from Mul, Relu and Sigmoid");
  // x·x is one contribution, 2·x·dy (the variance of a BatchNorm), not two summed.
  const sq = new Graph();
  const s = sq.addInput("s", "float32", [3]);
  gradients(sq, sumAll(sq, ops.mul(sq, s, s)), [s]);
  assert.ok(!sq.nodes.some((n) => n.op === "Sum"));
});

test("training-mode BatchNorm as explicit ops (kept-dims gradients broadcast lazily) against finite differences", async () => {
  const c = 3;
  await checkGradients({
    inputs: { x: { shape: [2, c, 3, 3] }, weight: { shape: [c] }, bias: { shape: [c] } },
    h: 1e-3,
    tol: 5e-3,
    build: (g, v) => {
      const mean = ops.reduceMean(g, v.x, [0, 2, 3], true);
      const xc = ops.sub(g, v.x, mean);
      const variance = ops.reduceMean(g, ops.mul(g, xc, xc), [0, 2, 3], true);
      const a = ops.div(g, ops.reshape(g, v.weight, [1, c, 1, 1]), ops.sqrt(g, ops.add(g, variance, ops.scalarConstant(g, 1e-5))));
      return ops.add(g, ops.mul(g, v.x, a), ops.sub(g, ops.reshape(g, v.bias, [1, c, 1, 1]), ops.mul(g, mean, a)));
    },
  });
});

test("un-broadcasting: ReduceSum over the broadcast axes with keepdims, then Reshape for missing leading axes", () => {
  const g = new Graph();
  const grad = g.addInput("d", "float32", [2, 3, 4, 5]);
  const same = g.addInput("a", "float32", [2, 3, 4, 5]);
  assert.equal(unbroadcast(g, grad, same), grad);
  const se = g.addInput("s", "float32", [2, 3, 1, 1]);
  assert.deepEqual(unbroadcast(g, grad, se).shape, [2, 3, 1, 1]);
  const bias = g.addInput("b", "float32", [3, 1, 1]);
  const r = unbroadcast(g, grad, bias);
  assert.deepEqual(r.shape, [3, 1, 1]);
  assert.equal(g.nodes.at(-1)!.op, "Reshape");
  const sym = new Graph();
  const d2 = sym.addInput("d", "float32", [7, "N", 3]);
  const t2 = sym.addInput("t", "float32", ["N", 1]);
  assert.deepEqual(unbroadcast(sym, d2, t2).shape, ["N", 1]);
  assert.equal(sym.nodes.at(-1)!.op, "Squeeze", "symbolic shapes drop leading axes with Squeeze");
  assert.throws(() => unbroadcast(g, grad, g.addInput("bad", "float32", [3, 1])), ShapeError);
});

test("stop-gradient: values that do not depend on wrt, non-float values, and wrt the loss does not reach", () => {
  const g = new Graph();
  const x = g.addInput("x", "float32", [2, 3]);
  const w = g.addInput("w", "float32", [2, 3]);
  const unused = g.addInput("unused", "float32", [2, 3]);
  const c = g.addInput("c", "float32", [2, 3]);
  ops.relu(g, unused);
  // The mask is bool: no gradient flows through Greater back to x.
  const mask = ops.greater(g, x, ops.scalarConstant(g, 0));
  const y = ops.where(g, mask, ops.mul(g, x, w), c);
  const grads = gradients(g, sumAll(g, y), [x, w, unused]);
  assert.deepEqual([...grads.keys()].sort(), ["w", "x"], "no entry for a wrt the loss does not depend on");
  assert.deepEqual(grads.get("x")!.shape, [2, 3]);
});

test("dead code: with respect to the weight only, no input-gradient conv is emitted (and no unused constants stay)", () => {
  const g = new Graph();
  const x = g.addInput("x", "float32", [2, 3, 8, 8]);
  const w = g.addInput("w", "float32", [4, 3, 3, 3]);
  const y = ops.conv2d(g, x, w, null, { stride: [2, 2], padding: [1, 1], dilation: [1, 1], groups: 1 });
  const loss = sumAll(g, y);
  const initializers = g.initializers.size;
  const before = g.nodes.length;
  gradients(g, loss, [w]);
  const added = g.nodes.slice(before).map((n) => n.op);
  assert.ok(!added.includes("ConvTranspose"), `no input gradient: ${added.join(", ")}`);
  const used = new Set(g.nodes.flatMap((n) => n.inputs.map((v) => v?.name)));
  for (const name of [...g.initializers.keys()].slice(initializers)) assert.ok(used.has(name), `constant ${name} is used`);
  const both = new Graph();
  const x2 = both.addInput("x", "float32", [2, 3, 8, 8]);
  const w2 = both.addInput("w", "float32", [4, 3, 3, 3]);
  gradients(both, sumAll(both, ops.conv2d(both, x2, w2, null, { stride: [2, 2], padding: [1, 1], dilation: [1, 1], groups: 1 })), [x2, w2]);
  assert.ok(both.nodes.some((n) => n.op === "ConvTranspose"));
});

test("gradient nodes are scoped under the layer that emitted the forward op", () => {
  const g = new Graph();
  const x = g.addInput("x", "float32", [2, 3]);
  const y = g.withScope("features.0", () => ops.sigmoid(g, x));
  gradients(g, sumAll(g, y), [x]);
  assert.ok(g.nodes.some((n) => n.scope === "features.0/grad" && n.op === "Mul"));
});

test("a missing rule names the op and the layer", () => {
  const g = new Graph();
  const x = g.addInput("x", "float32", [2, 3]);
  const y = g.withScope("layer2.1.conv1", () => g.addNode("Erf", [x], [{ dtype: "float32", shape: [2, 3] }])[0]);
  assert.throws(
    () => gradients(g, sumAll(g, y), [x]),
    (e: unknown) =>
      e instanceof GradientError && /no gradient rule for ONNX op Erf/.test(e.message) && e.message.includes('"layer2.1.conv1"'),
  );
  // An op off the path needs no rule.
  const h = new Graph();
  const a = h.addInput("a", "float32", [2]);
  const b = h.addInput("b", "float32", [2]);
  const off = h.addNode("Erf", [b], [{ dtype: "float32", shape: [2] }])[0];
  assert.ok(gradients(h, sumAll(h, ops.mul(h, a, off)), [a]).has("a"));
});

test("the loss must be a floating-point scalar; wrt must be floating point", () => {
  const g = new Graph();
  const x = g.addInput("x", "float32", [2, 3]);
  assert.throws(() => gradients(g, ops.relu(g, x), [x]), /the loss must be a scalar/);
  const i = g.addInput("i", "int64", [2]);
  assert.throws(() => gradients(g, sumAll(g, x), [i]), /not floating point/);
  const one = g.addInput("one", "float32", [1, 1]);
  assert.ok(gradients(g, ops.mul(g, one, one), [one]).has("one"), "a [1, 1] loss is a scalar");
});

test("a symbolic batch dimension: gradients expand and reshape through Shape, and run for any batch", async () => {
  const g = new Graph();
  const x = g.addInput("x", "float32", ["N", 3, 2, 2]);
  const w = g.addInput("w", "float32", [5, 12]);
  const h = ops.relu(g, ops.sub(g, x, ops.reduceMean(g, x, [0, 2, 3], true)));
  const logits = ops.linear(g, ops.flatten(g, h, 1), w, null);
  const loss = ops.reduceMean(g, ops.logSoftmax(g, logits, 1), [0, 1], false);
  const grads = gradients(g, loss, [x, w]);
  assert.deepEqual(grads.get("x")!.shape, ["N", 3, 2, 2]);
  g.markOutput(grads.get("x")!, "dx");
  g.markOutput(grads.get("w")!, "dw");
  const session = await ort.InferenceSession.create(toOnnx(g));
  for (const n of [1, 3]) {
    const out = await session.run({
      x: new ort.Tensor(
        "float32",
        Float32Array.from({ length: n * 12 }, (_, i) => Math.sin(i)),
        [n, 3, 2, 2],
      ),
      w: new ort.Tensor("float32", new Float32Array(60).fill(0.1), [5, 12]),
    });
    assert.deepEqual(out.dx.dims, [n, 3, 2, 2]);
    assert.deepEqual(out.dw.dims, [5, 12]);
  }
  await session.release();
});

test("the loss with respect to itself is 1", () => {
  const g = new Graph();
  const x = g.addInput("x", "float32", []);
  assert.equal(gradients(g, x, [x]).get("x")!.name.includes("grad_seed"), true);
});

test("training-mode BatchNormalization: ONNX Runtime's in-place statistics outputs clobber nothing (two nodes)", async () => {
  // ORT's kernel writes outputs 1 and 2 into inputs 3 and 4 (Alias): with inputs shared between
  // nodes (equal zero initializers merged by graph optimisation) a later node overwrote an earlier
  // node's batch mean; fed running statistics were overwritten too (hence ops.batchNormTraining's
  // private scratch inputs).
  const g = new Graph();
  const x = g.addInput("x", "float32", [2, 3, 4, 4]);
  const s = g.addInput("s", "float32", [3]);
  const b = g.addInput("b", "float32", [3]);
  const first = ops.batchNormTraining(g, x, s, b, 1e-5);
  const second = ops.batchNormTraining(g, ops.mul(g, first.y, ops.scalarConstant(g, 3)), s, b, 1e-5);
  // Reads the first mean after the second node ran, and a fed tensor after both.
  const late = ops.add(g, ops.reduceSum(g, second.y, [0, 2, 3], false), ops.mul(g, first.mean, ops.scalarConstant(g, 1)));
  g.markOutput(late, "late");
  g.markOutput(first.mean, "mean1");
  const xs = Float32Array.from({ length: 96 }, (_, i) => Math.sin(i) * 3 + 1);
  const session = await ort.InferenceSession.create(toOnnx(g), { graphOptimizationLevel: "all" });
  const out = await session.run({
    x: new ort.Tensor("float32", xs, [2, 3, 4, 4]),
    s: new ort.Tensor("float32", new Float32Array([1, 2, 3]), [3]),
    b: new ort.Tensor("float32", new Float32Array([0, 1, 0]), [3]),
  });
  await session.release();
  for (let c = 0; c < 3; c++) {
    let sum = 0;
    for (let n = 0; n < 2; n++) for (let i = 0; i < 16; i++) sum += xs[n * 48 + c * 16 + i];
    const mean = sum / 32;
    assert.ok(Math.abs((out.mean1.data as Float32Array)[c] - mean) < 1e-5, `mean of channel ${c}`);
    // Σ over the second node's y is its β times the count (each channel normalised to zero mean).
    const expected = [0, 1, 0][c] * 32 + mean;
    assert.ok(
      Math.abs((out.late.data as Float32Array)[c] - expected) < 1e-4,
      `late read of channel ${c}: ${(out.late.data as Float32Array)[c]} vs ${expected}`,
    );
  }
});
