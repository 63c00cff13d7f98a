/**
 * Finite-difference checks for the gradient rules. For an op (or a small composite) y = op(x…),
 * the scalar f(x…) = Σ y·R with a fixed random R is differentiated by `gradients` and run by ONNX
 * Runtime; the same graph without the gradient part gives y, and f(x ± h·eᵢ) is summed in float64
 * in JS, so the central difference (f(x + h·eᵢ) − f(x − h·eᵢ)) / 2h carries only the float32
 * rounding of y. Inputs are chosen away from kinks by the callers (|x| ≥ margin for Relu…).
 */
import assert from "node:assert/strict";
import * as ort from "onnxruntime-node";
import { gradients } from "../../src/autodiff/gradients.js";
import { Graph, type Value } from "../../src/graph/ir.js";
import { lowerConvsToNchwc } from "../../src/graph/nchwc.js";
import * as ops from "../../src/graph/ops.js";
import { toOnnx } from "../../src/onnx/serialize.js";
import { Random } from "../../src/random.js";
import { nchwcBlockSize } from "../../src/runtime/nchwc_block.js";

export interface InputSpec {
  shape: number[];
  /** Values; default: standard normal. */
  data?: Float32Array;
  /** Differentiate with respect to this input (default true). */
  grad?: boolean;
}

export interface FdCase {
  inputs: Record<string, InputSpec>;
  /** Builds the op(s) under test from the graph inputs; several outputs are all weighted by R. */
  build: (g: Graph, v: Record<string, Value>) => Value | Value[];
  /** Finite-difference step (default 1e-2: exact for piecewise-linear ops away from kinks). */
  h?: number;
  /** Allowed max |fd − analytic| relative to max |analytic| (default 2e-3). */
  tol?: number;
  /** Elements checked per input (a random sample beyond this many; default 40). */
  samples?: number;
  seed?: number;
  /**
   * Build as for onnxruntime-node's NCHWc kernels: gradients choose their NCHWc formulations and
   * both graphs are lowered (graph/nchwc.ts). On a CPU without those kernels the formulations are
   * still built (for block 16) and run on plain kernels.
   */
  nchwc?: boolean;
}

export interface FdReport {
  /** Worst max |fd − analytic| / max |analytic| over the inputs. */
  worst: number;
  graph: Graph;
}

const sessionOptions: ort.InferenceSession.SessionOptions = { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: "all" };

function numel(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

export function normal(rng: Random, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * scale;
  return a;
}

/** Standard-normal values pushed away from the kinks by at least `margin`. */
export function awayFrom(rng: Random, n: number, kinks: readonly number[], margin = 0.05, scale = 1, center = 0): Float32Array {
  const a = normal(rng, n, scale);
  for (let i = 0; i < n; i++) {
    a[i] += center;
    for (const k of kinks) if (Math.abs(a[i] - k) < margin) a[i] = k + (a[i] >= k ? margin : -margin) * 2;
  }
  return a;
}

/** Distinct values (a shuffled ramp with spacing `gap`), so max-pool choices survive ± h. */
export function distinct(rng: Random, n: number, gap = 0.05): Float32Array {
  const a = Float32Array.from({ length: n }, (_, i) => (i - n / 2) * gap);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

function build(c: FdCase, rng: Random, withGrad: boolean, nchwcBlock: number) {
  const g = new Graph("fd");
  const v: Record<string, Value> = {};
  for (const [name, spec] of Object.entries(c.inputs)) v[name] = g.addInput(name, "float32", spec.shape);
  const built = c.build(g, v);
  const ys = Array.isArray(built) ? built : [built];
  const weights = ys.map((y) => {
    const shape = y.shape.map((d) => {
      if (typeof d !== "number") throw new Error("FD cases need static shapes");
      return d;
    });
    return normal(rng, numel(shape));
  });
  if (!withGrad) {
    ys.forEach((y, i) => g.markOutput(y, `y${i}`));
    lowerConvsToNchwc(g, nchwcBlock);
    return { g, weights, grads: [] as string[] };
  }
  const terms = ys.map((y, i) => {
    const r = g.constant({ dtype: "float32", shape: y.shape as number[], data: weights[i] }, "R");
    return ops.reduceSum(g, ops.mul(g, y, r), [...Array(y.shape.length).keys()], false);
  });
  const f = terms.length === 1 ? terms[0] : ops.sum(g, terms);
  const wrt = Object.entries(c.inputs)
    .filter(([, s]) => s.grad !== false)
    .map(([name]) => v[name]);
  const grads = gradients(g, f, wrt, { nchwcBlock: c.nchwc ? Math.max(nchwcBlock, 16) : 1 });
  const names: string[] = [];
  for (const w of wrt) {
    const d = grads.get(w.name);
    assert.ok(d, `no gradient for ${w.name}`);
    g.markOutput(d, `grad_${w.name}`);
    names.push(w.name);
  }
  lowerConvsToNchwc(g, nchwcBlock);
  return { g, weights, grads: names };
}

/** Runs the check; throws (assert) when a gradient is off. */
export async function checkGradients(c: FdCase): Promise<FdReport> {
  const seed = c.seed ?? 1;
  const h = c.h ?? 1e-2;
  const tol = c.tol ?? 2e-3;
  const feeds: Record<string, Float32Array> = {};
  const rngData = new Random(seed);
  for (const [name, spec] of Object.entries(c.inputs)) {
    const data = spec.data ?? normal(rngData, numel(spec.shape));
    assert.equal(data.length, numel(spec.shape), `input ${name}: data length`);
    feeds[name] = data;
  }
  const block = c.nchwc ? await nchwcBlockSize() : 1;
  const analytic = build(c, new Random(seed + 1000), true, block);
  const forward = build(c, new Random(seed + 1000), false, block);
  const gradSession = await ort.InferenceSession.create(toOnnx(analytic.g), sessionOptions);
  const fSession = await ort.InferenceSession.create(toOnnx(forward.g), sessionOptions);
  try {
    const tensors = (over: Record<string, Float32Array>) =>
      Object.fromEntries(Object.entries(over).map(([k, d]) => [k, new ort.Tensor("float32", d, c.inputs[k].shape)]));
    const out = await gradSession.run(tensors(feeds));
    const f = async (over: Record<string, Float32Array>): Promise<number> => {
      const ys = await fSession.run(tensors(over));
      let s = 0;
      forward.weights.forEach((r, i) => {
        const y = ys[`y${i}`].data as Float32Array;
        for (let j = 0; j < y.length; j++) s += y[j] * r[j];
      });
      return s;
    };
    let worst = 0;
    const pick = new Random(seed + 7);
    for (const name of analytic.grads) {
      const grad = out[`grad_${name}`].data as Float32Array;
      const x = feeds[name];
      assert.equal(grad.length, x.length, `gradient of ${name} has the input's size`);
      const n = x.length;
      const limit = c.samples ?? 40;
      const idx =
        n <= limit ? [...Array(n).keys()] : [0, n - 1, ...Array.from({ length: limit - 2 }, () => Math.floor(pick.uniform() * n))];
      let scale = 0;
      for (const gi of grad) scale = Math.max(scale, Math.abs(gi));
      let err = 0;
      let where = -1;
      let fdAt = 0;
      for (const i of idx) {
        const plus = Float32Array.from(x);
        const minus = Float32Array.from(x);
        plus[i] += h;
        minus[i] -= h;
        const fd =
          ((await f({ ...feeds, [name]: plus })) - (await f({ ...feeds, [name]: minus }))) /
          (Math.fround(x[i] + h) - Math.fround(x[i] - h));
        const e = Math.abs(fd - grad[i]);
        if (e > err) {
          err = e;
          where = i;
          fdAt = fd;
        }
      }
      const rel = err / Math.max(scale, 1e-6);
      worst = Math.max(worst, rel);
      assert.ok(
        rel <= tol,
        `d/d${name}[${where}]: analytic ${grad[where]} vs finite difference ${fdAt} (max |grad| ${scale}, relative error ${rel.toExponential(2)} > ${tol})`,
      );
      assert.ok(scale > 0 || idx.length === 0, `gradient of ${name} is all zero: a vacuous check`);
    }
    return { worst, graph: analytic.g };
  } finally {
    await gradSession.release();
    await fSession.release();
  }
}
