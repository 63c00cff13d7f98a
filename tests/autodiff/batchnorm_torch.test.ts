/**
 * The training-mode BatchNormalization gradient against torch float64 on activations whose mean is
 * 1000 times their spread (a conv output with a large bias, say), where Σ dy·x − μ·Σ dy cancels:
 * that form's dγ is 1e-3 from the reference, the centred rule's 1e-7 (rules.ts).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import * as ort from "onnxruntime-node";
import { gradients } from "../../src/autodiff/gradients.js";
import { Graph } from "../../src/graph/ir.js";
import * as ops from "../../src/graph/ops.js";
import { Random } from "../../src/random.js";
import { toOnnx } from "../../src/onnx/serialize.js";
import { requirePython, runPython } from "../helpers/python.js";

/** torch float64 gradients of Σ BatchNorm(x)·dy (training mode), written as float64 files. */
const REFERENCE = `
import sys, torch, torch.nn.functional as F
d, shape = sys.argv[1], [int(v) for v in sys.argv[2:]]
def load(name, s):
    return torch.frombuffer(bytearray(open(f"{d}/{name}.f32", "rb").read()), dtype=torch.float32).reshape(s).double()
x, dy = load("x", shape), load("dy", shape)
w, b = load("w", [shape[1]]).requires_grad_(True), load("b", [shape[1]]).requires_grad_(True)
x.requires_grad_(True)
F.batch_norm(x, None, None, w, b, training=True, eps=1e-5).backward(dy)
for name, t in (("x", x), ("w", w)):
    open(f"{d}/grad_{name}.f64", "wb").write(t.grad.contiguous().numpy().astype("<f8").tobytes())
`;

function relativeError(got: Float32Array, ref: Float64Array): number {
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < ref.length; i++) {
    scale = Math.max(scale, Math.abs(ref[i]));
    diff = Math.max(diff, Math.abs(ref[i] - got[i]));
  }
  return diff / scale;
}

test("training-mode BatchNorm gradient at |mean|/std = 1000 = torch float64 (dγ and dx within 1e-5)", async (t) => {
  if (!requirePython(t, "torch")) return;
  const shape = [8, 16, 14, 14];
  const [n, c, h, w] = shape;
  const rng = new Random(1);
  const sigma = Array.from({ length: c }, () => 0.5 + 1.5 * Math.abs(rng.normal()));
  const mu = sigma.map((s) => (rng.normal() > 0 ? 1000 : -1000) * s);
  const data = {
    x: Float32Array.from({ length: n * c * h * w }, (_, i) => {
      const ch = Math.floor(i / (h * w)) % c;
      return mu[ch] + sigma[ch] * rng.normal();
    }),
    // An upstream gradient with a mean, as behind a ReLU: Σ dy is large, so μ·Σ dy is too.
    dy: Float32Array.from({ length: n * c * h * w }, () => 0.5 + rng.normal()),
    w: Float32Array.from({ length: c }, () => 1 + 0.2 * rng.normal()),
    b: Float32Array.from({ length: c }, () => rng.normal()),
  };
  const dir = mkdtempSync(join(tmpdir(), "convzoo-bn-"));
  try {
    for (const [k, v] of Object.entries(data)) writeFileSync(join(dir, `${k}.f32`), v);
    runPython(["-c", REFERENCE, dir, ...shape.map(String)]);
    const ref = (name: string) => {
      const b = readFileSync(join(dir, `grad_${name}.f64`));
      return new Float64Array(b.buffer, b.byteOffset, b.byteLength / 8);
    };

    const g = new Graph("bn");
    const x = g.addInput("x", "float32", shape);
    const weight = g.addInput("w", "float32", [c]);
    const bias = g.addInput("b", "float32", [c]);
    const dy = g.addInput("dy", "float32", shape);
    const bn = ops.batchNormTraining(g, x, weight, bias, 1e-5);
    const grads = gradients(g, ops.reduceSum(g, ops.mul(g, bn.y, dy), [0, 1, 2, 3], false), [x, weight]);
    g.markOutput(grads.get("x")!, "dx");
    g.markOutput(grads.get("w")!, "dw");
    // For the diagnostic only: dγ = (Σ dy·x − μ·Σ dy)/√(σ² + ε), the form the rule does not use.
    const sumDy = ops.reduceSum(g, dy, [0, 2, 3], false);
    const oneSum = ops.sub(g, ops.reduceSum(g, ops.mul(g, dy, x), [0, 2, 3], false), ops.mul(g, bn.mean, sumDy));
    g.markOutput(ops.div(g, oneSum, ops.sqrt(g, ops.add(g, bn.variance, ops.scalarConstant(g, 1e-5)))), "dw_one_sum");
    const session = await ort.InferenceSession.create(toOnnx(g), { intraOpNumThreads: 1, graphOptimizationLevel: "all" });
    const shapes: Record<string, number[]> = { x: shape, dy: shape, w: [c], b: [c] };
    const feeds = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, new ort.Tensor("float32", v, shapes[k])]));
    const out = await session.run(feeds);
    await session.release();

    const dwError = relativeError(out.dw.data as Float32Array, ref("w"));
    const dxError = relativeError(out.dx.data as Float32Array, ref("x"));
    const oneSumError = relativeError(out.dw_one_sum.data as Float32Array, ref("w"));
    const e = (v: number) => v.toExponential(2);
    t.diagnostic(`relative error: dγ ${e(dwError)} (Σ dy·x − μ·Σ dy: ${e(oneSumError)}), dx ${e(dxError)}`);
    assert.ok(dwError <= 1e-5, `dγ relative error ${dwError.toExponential(2)} > 1e-5`);
    assert.ok(dxError <= 1e-5, `dx relative error ${dxError.toExponential(2)} > 1e-5`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
