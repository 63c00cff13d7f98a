/**
 * Every gradient rule against central finite differences (tests/autodiff/harness.ts): conv
 * geometries (strides, pads, dilation, groups, 1x1, odd sizes where output_padding matters), pools
 * (ceil_mode, padding, count_include_pad), broadcasting binary ops as in SE blocks, and the ops of
 * a training-mode BatchNorm and a softmax loss.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { attr, type Graph, type Value } from "../../src/graph/ir.js";
import { NCHWC_DOMAIN } from "../../src/graph/nchwc.js";
import * as ops from "../../src/graph/ops.js";
import { RULES } from "../../src/autodiff/rules.js";
import { Random } from "../../src/random.js";
import { nchwcBlockSize } from "../../src/runtime/nchwc_block.js";
import { awayFrom, checkGradients, distinct, normal, type FdCase } from "./harness.js";

const rng = new Random(42);
const n = (shape: number[]) => shape.reduce((p, d) => p * d, 1);
const covered = new Set<string>();

/** Registers a finite-difference test; `opsUsed` are the rule names it exercises. */
function fd(name: string, opsUsed: string[], c: FdCase): void {
  for (const op of opsUsed) covered.add(op);
  test(name, async (t) => {
    const r = await checkGradients(c);
    t.diagnostic(`max relative error ${r.worst.toExponential(2)}`);
    if (c.nchwc && (await nchwcBlockSize()) > 1)
      assert.ok(
        r.graph.nodes.some((n) => n.domain === NCHWC_DOMAIN),
        "the NCHWc build lowered no conv",
      );
  });
}

const conv = (g: Graph, x: Value, w: Value, b: Value | null, stride: number, pad: number, dilation = 1, groups = 1) =>
  ops.conv2d(g, x, w, b, { stride: [stride, stride], padding: [pad, pad], dilation: [dilation, dilation], groups });

describe("elementwise", () => {
  fd("Identity, Neg", ["Identity", "Neg"], { inputs: { x: { shape: [2, 3] } }, build: (g, v) => ops.neg(g, ops.identity(g, v.x)) });
  fd("Add, same shape", ["Add"], { inputs: { a: { shape: [2, 3, 4] }, b: { shape: [2, 3, 4] } }, build: (g, v) => ops.add(g, v.a, v.b) });
  fd("Add, broadcast [N,C,1,1] and a lower-rank [C,1,1]", ["Add"], {
    inputs: { x: { shape: [2, 3, 4, 4] }, s: { shape: [2, 3, 1, 1] }, c: { shape: [3, 1, 1] } },
    build: (g, v) => ops.add(g, ops.add(g, v.x, v.s), v.c),
  });
  fd("Sub, broadcast both ways", ["Sub"], {
    inputs: { a: { shape: [2, 1, 4] }, b: { shape: [3, 1] } },
    build: (g, v) => ops.sub(g, v.a, v.b),
  });
  fd("Mul, SE gate [N,C,H,W]·[N,C,1,1]", ["Mul"], {
    inputs: { x: { shape: [2, 3, 4, 4] }, s: { shape: [2, 3, 1, 1] } },
    build: (g, v) => ops.mul(g, v.x, v.s),
  });
  fd("Div, broadcast divisor [1,C,1,1]", ["Div"], {
    inputs: { a: { shape: [2, 3, 3, 3] }, b: { shape: [1, 3, 1, 1], data: awayFrom(rng, 3, [0], 0.5, 1, 1.5) } },
    h: 1e-3,
    build: (g, v) => ops.div(g, v.a, v.b),
  });
  fd("Sum of three, fan-out", ["Sum", "Mul"], {
    inputs: { a: { shape: [2, 3] }, b: { shape: [2, 3] } },
    build: (g, v) => ops.sum(g, [v.a, v.b, ops.mul(g, v.a, v.a)]),
    h: 1e-3,
  });
  fd("Sqrt, Reciprocal, Log (positive inputs)", ["Sqrt", "Reciprocal", "Log"], {
    inputs: { x: { shape: [7], data: Float32Array.from(normal(rng, 7), (v) => 1 + Math.abs(v)) } },
    h: 1e-3,
    build: (g, v) => [ops.sqrt(g, v.x), ops.reciprocal(g, v.x), ops.log(g, v.x)],
  });
  fd("Exp, Tanh, Sigmoid", ["Exp", "Tanh", "Sigmoid"], {
    inputs: { x: { shape: [9] } },
    h: 1e-3,
    build: (g, v) => [ops.exp(g, v.x), g.addNode("Tanh", [v.x], [{ dtype: "float32", shape: v.x.shape }])[0], ops.sigmoid(g, v.x)],
  });
  fd("Abs (away from 0)", ["Abs"], { inputs: { x: { shape: [9], data: awayFrom(rng, 9, [0]) } }, build: (g, v) => ops.abs(g, v.x) });
  fd("Cast float32 → float64 → float32", ["Cast"], {
    inputs: { x: { shape: [5] } },
    build: (g, v) => ops.cast(g, ops.mul(g, ops.cast(g, v.x, "float64"), ops.scalarConstant(g, 2, "float64")), "float32"),
  });
  fd("Relu (away from 0)", ["Relu"], {
    inputs: { x: { shape: [2, 3, 4], data: awayFrom(rng, 24, [0]) } },
    build: (g, v) => ops.relu(g, v.x),
  });
  fd("Clip = ReLU6 (away from 0 and 6)", ["Clip"], {
    inputs: { x: { shape: [40], data: awayFrom(rng, 40, [0, 6], 0.05, 4, 3) } },
    build: (g, v) => ops.clip(g, v.x, 0, 6),
  });
  fd("HardSigmoid alpha 1/6 (away from ±3)", ["HardSigmoid"], {
    inputs: { x: { shape: [40], data: awayFrom(rng, 40, [-3, 3], 0.05, 3) } },
    build: (g, v) => ops.hardSigmoid(g, v.x),
  });
  fd("HardSwish (away from ±3)", ["HardSwish"], {
    inputs: { x: { shape: [40], data: awayFrom(rng, 40, [-3, 3], 0.05, 3) } },
    h: 1e-3,
    tol: 5e-3,
    build: (g, v) => ops.hardSwish(g, v.x),
  });
  fd("Where (constant condition)", ["Where"], {
    inputs: { a: { shape: [2, 3] }, b: { shape: [1, 3] } },
    build: (g, v) => ops.where(g, g.constant({ dtype: "bool", shape: [2, 3], data: Uint8Array.from([1, 0, 1, 0, 0, 1]) }), v.a, v.b),
  });
});

describe("softmax and reductions", () => {
  fd("Softmax, last axis", ["Softmax"], { inputs: { x: { shape: [3, 5] } }, h: 1e-3, build: (g, v) => ops.softmax(g, v.x) });
  fd("Softmax, axis 1 of 4-D", ["Softmax"], { inputs: { x: { shape: [2, 4, 2, 3] } }, h: 1e-3, build: (g, v) => ops.softmax(g, v.x, 1) });
  fd("LogSoftmax", ["LogSoftmax"], { inputs: { x: { shape: [3, 5] } }, h: 1e-3, build: (g, v) => ops.logSoftmax(g, v.x, 1) });
  fd("ReduceSum keepdims / not", ["ReduceSum"], {
    inputs: { x: { shape: [2, 3, 4, 2] } },
    build: (g, v) => [ops.reduceSum(g, v.x, [0, 2, 3], true), ops.reduceSum(g, v.x, [1], false)],
  });
  fd("ReduceMean keepdims / not (BatchNorm statistics)", ["ReduceMean"], {
    inputs: { x: { shape: [2, 3, 4, 2] } },
    build: (g, v) => [ops.reduceMean(g, v.x, [0, 2, 3], true), ops.reduceMean(g, v.x, [-1], false)],
  });
  fd("GlobalAveragePool", ["GlobalAveragePool"], {
    inputs: { x: { shape: [2, 3, 5, 4] } },
    build: (g, v) => ops.globalAveragePool(g, v.x),
  });
});

describe("shape ops", () => {
  fd("Reshape, Flatten", ["Reshape", "Flatten"], {
    inputs: { x: { shape: [2, 3, 2, 2] } },
    build: (g, v) => [ops.reshape(g, v.x, [0, -1, 2]), ops.flatten(g, v.x, 1)],
  });
  fd("Squeeze, Unsqueeze", ["Squeeze", "Unsqueeze"], {
    inputs: { x: { shape: [2, 1, 3] } },
    build: (g, v) => ops.unsqueeze(g, ops.squeeze(g, v.x, [1]), [0, 3]),
  });
  fd("Expand [C,1,1] → [N,C,H,W]", ["Expand"], { inputs: { x: { shape: [3, 1, 1] } }, build: (g, v) => ops.expand(g, v.x, [2, 3, 2, 2]) });
  fd("Transpose", ["Transpose"], { inputs: { x: { shape: [2, 3, 4] } }, build: (g, v) => ops.transpose(g, v.x, [2, 0, 1]) });
  fd("Concat of three along channels", ["Concat"], {
    inputs: { a: { shape: [2, 1, 3] }, b: { shape: [2, 2, 3] }, c: { shape: [2, 3, 3] } },
    build: (g, v) => ops.concat(g, [v.a, v.b, v.c], 1),
  });
  fd("Split, one piece unused", ["Split"], {
    inputs: { x: { shape: [2, 6] } },
    build: (g, v) => ops.split(g, v.x, [1, 2, 3], 1).filter((_, i) => i !== 1),
  });
  fd("Pad (constant, asymmetric, with a crop)", ["Pad"], {
    inputs: { x: { shape: [2, 3, 4] } },
    build: (g, v) => ops.pad(g, v.x, [0, 1, -1, 1, 2, 0]),
  });
  fd("Slice: negative start, step 1 and -1", ["Slice"], {
    inputs: { x: { shape: [3, 6] } },
    build: (g, v) => [ops.slice(g, v.x, [-2, 1], [3, 5], [0, 1]), ops.slice(g, v.x, [4], [0], [1], [-1])],
  });
  fd("GatherElements (NLL-style pick)", ["GatherElements"], {
    inputs: { x: { shape: [3, 4] } },
    build: (g, v) =>
      ops.gatherElements(g, v.x, g.constant({ dtype: "int64", shape: [3, 2], data: BigInt64Array.from([1n, 1n, 3n, 0n, 2n, 2n]) }), 1),
  });
});

describe("Gemm and MatMul", () => {
  fd("Gemm as Linear (transB, bias)", ["Gemm"], {
    inputs: { x: { shape: [3, 5] }, w: { shape: [4, 5] }, b: { shape: [4] } },
    build: (g, v) => ops.linear(g, v.x, v.w, v.b),
  });
  fd("Gemm transA, alpha, beta, C [1, N]", ["Gemm"], {
    inputs: { a: { shape: [5, 3] }, b: { shape: [5, 4] }, c: { shape: [1, 4] } },
    build: (g, v) => ops.gemm(g, v.a, v.b, v.c, { transA: true, alpha: 0.5, beta: 2 }),
  });
  fd("Gemm transA and transB", ["Gemm"], {
    inputs: { a: { shape: [5, 3] }, b: { shape: [4, 5] } },
    build: (g, v) => ops.gemm(g, v.a, v.b, null, { transA: true, transB: true }),
  });
  fd("MatMul 2-D", ["MatMul"], { inputs: { a: { shape: [3, 5] }, b: { shape: [5, 2] } }, build: (g, v) => ops.matmul(g, v.a, v.b) });
  fd("MatMul broadcast (adaptive pooling rows · x · cols)", ["MatMul"], {
    inputs: { r: { shape: [2, 5] }, x: { shape: [2, 3, 5, 4] }, c: { shape: [4, 3] } },
    build: (g, v) => ops.matmul(g, v.r, ops.matmul(g, v.x, v.c)),
  });
});

describe("Conv", () => {
  const x = (s: number[]) => ({ shape: s, data: normal(rng, n(s)) });
  fd("3x3, stride 1, pad 1, bias", ["Conv"], {
    inputs: { x: x([2, 3, 6, 6]), w: x([4, 3, 3, 3]), b: x([4]) },
    build: (g, v) => conv(g, v.x, v.w, v.b, 1, 1),
  });
  fd("3x3, stride 2, pad 1, even size 8 (output_padding 1)", ["Conv"], {
    inputs: { x: x([2, 3, 8, 8]), w: x([4, 3, 3, 3]) },
    build: (g, v) => conv(g, v.x, v.w, null, 2, 1),
  });
  fd("3x3, stride 2, pad 1, odd size 7", ["Conv"], {
    inputs: { x: x([2, 3, 7, 7]), w: x([4, 3, 3, 3]) },
    build: (g, v) => conv(g, v.x, v.w, null, 2, 1),
  });
  fd("7x7, stride 2, pad 3 (ResNet stem), size 11", ["Conv"], {
    inputs: { x: x([1, 3, 11, 11]), w: x([4, 3, 7, 7]) },
    build: (g, v) => conv(g, v.x, v.w, null, 2, 3),
  });
  fd("3x3, dilation 2, pad 2", ["Conv"], {
    inputs: { x: x([2, 2, 7, 7]), w: x([3, 2, 3, 3]) },
    build: (g, v) => conv(g, v.x, v.w, null, 1, 2, 2),
  });
  fd("3x3, no padding, stride 3, size 8 (rows dropped)", ["Conv"], {
    inputs: { x: x([1, 2, 8, 8]), w: x([3, 2, 3, 3]) },
    build: (g, v) => conv(g, v.x, v.w, null, 3, 0),
  });
  fd("asymmetric pads [0, 1, 2, 0]", ["Conv"], {
    inputs: { x: x([2, 2, 5, 6]), w: x([3, 2, 3, 2]) },
    build: (g, v) => ops.conv2dWithPads(g, v.x, v.w, null, { strides: [1, 2], pads: [0, 1, 2, 0], dilations: [1, 1], group: 1 }),
  });
  // The weight-gradient formulation depends on the output size (rules.ts): small outputs take the
  // Gemm forms above, these the one-hot im2col and rows/columns forms.
  fd("3x3, stride 1, 28x28 output (shifted copies, batched MatMul weight grad)", ["Conv"], {
    inputs: { x: x([1, 2, 28, 28]), w: x([3, 2, 3, 3]) },
    build: (g, v) => conv(g, v.x, v.w, null, 1, 1),
  });
  fd("3x3, stride 1, 56x56 output (shifted copies, batched MatMul weight grad)", ["Conv"], {
    inputs: { x: x([2, 2, 56, 56]), w: x([3, 2, 3, 3]) },
    build: (g, v) => conv(g, v.x, v.w, null, 1, 1),
  });
  fd("5x3 kernel, asymmetric pads [2, 0, 1, 2], 57x57 input (shifted copies, batched MatMul weight grad)", ["Conv"], {
    inputs: { x: x([1, 2, 57, 57]), w: x([2, 2, 5, 3]) },
    build: (g, v) => ops.conv2dWithPads(g, v.x, v.w, null, { strides: [1, 1], pads: [2, 0, 1, 2], dilations: [1, 1], group: 1 }),
  });
  fd("3x3, stride 2, 14x14 output (one-hot im2col weight grad)", ["Conv"], {
    inputs: { x: x([1, 2, 28, 28]), w: x([3, 2, 3, 3]) },
    build: (g, v) => conv(g, v.x, v.w, null, 2, 1),
  });
  fd("7x7, stride 2, pad 3, 16x16 output (ResNet stem, one-hot im2col)", ["Conv"], {
    inputs: { x: x([1, 3, 32, 32]), w: x([2, 3, 7, 7]) },
    build: (g, v) => conv(g, v.x, v.w, null, 2, 3),
  });
  fd("1x1, stride 1, large spatial (batched MatMul weight grad)", ["Conv"], {
    inputs: { x: x([2, 4, 16, 16]), w: x([3, 4, 1, 1]), b: x([3]) },
    build: (g, v) => conv(g, v.x, v.w, v.b, 1, 0),
  });
  fd("1x1, stride 1, small spatial (Gemm weight grad)", ["Conv"], {
    inputs: { x: x([2, 4, 3, 3]), w: x([5, 4, 1, 1]) },
    build: (g, v) => conv(g, v.x, v.w, null, 1, 0),
  });
  fd("1x1, stride 2, size 8 and 7 (downsample shortcut)", ["Conv"], {
    inputs: { x: x([2, 3, 8, 8]), y: x([2, 3, 7, 7]), w: x([4, 3, 1, 1]) },
    build: (g, v) => [conv(g, v.x, v.w, null, 2, 0), conv(g, v.y, v.w, null, 2, 0)],
  });
  fd("depthwise 3x3, stride 1, bias", ["Conv"], {
    inputs: { x: x([2, 4, 6, 6]), w: x([4, 1, 3, 3]), b: x([4]) },
    build: (g, v) => conv(g, v.x, v.w, v.b, 1, 1, 1, 4),
  });
  fd("depthwise 3x3, stride 1 at 56x56 (full-width-kernel weight gradient)", ["Conv"], {
    inputs: { x: x([1, 2, 56, 56]), w: x([2, 1, 3, 3]) },
    samples: 24,
    build: (g, v) => conv(g, v.x, v.w, null, 1, 1, 1, 2),
  });
  fd("depthwise 3x3, stride 1, NCHWc build (batch folded into a depthwise Conv for the weight gradient)", ["Conv"], {
    inputs: { x: x([2, 8, 6, 6]), w: x([8, 1, 3, 3]), b: x([8]) },
    nchwc: true,
    build: (g, v) => conv(g, v.x, v.w, v.b, 1, 1, 1, 8),
  });
  fd("depthwise 3x3, stride 2, size 7, NCHWc build (folded batch, dy as a dilated kernel)", ["Conv"], {
    inputs: { x: x([2, 8, 7, 7]), w: x([8, 1, 3, 3]) },
    nchwc: true,
    build: (g, v) => conv(g, v.x, v.w, null, 2, 1, 1, 8),
  });
  fd("dense 3x3 and depthwise 5x5, NCHWc build (lowered forward and input-gradient convs)", ["Conv"], {
    inputs: { x: x([1, 16, 7, 7]), w: x([16, 16, 3, 3]), d: x([16, 1, 5, 5]) },
    nchwc: true,
    build: (g, v) => conv(g, conv(g, v.x, v.w, null, 1, 1), v.d, null, 1, 2, 1, 16),
  });
  fd("1x1 with padding 1 (pads beyond the kernel: ConvTranspose input gradient)", ["Conv"], {
    inputs: { x: x([1, 2, 4, 4]), w: x([3, 2, 1, 1]) },
    build: (g, v) => conv(g, v.x, v.w, null, 1, 1),
  });
  fd("depthwise 3x3, stride 2, size 7", ["Conv"], {
    inputs: { x: x([2, 4, 7, 7]), w: x([4, 1, 3, 3]) },
    build: (g, v) => conv(g, v.x, v.w, null, 2, 1, 1, 4),
  });
  fd("depthwise 5x5, stride 2, pad 2, size 8 (EfficientNet)", ["Conv"], {
    inputs: { x: x([1, 3, 8, 8]), w: x([3, 1, 5, 5]) },
    build: (g, v) => conv(g, v.x, v.w, null, 2, 2, 1, 3),
  });
  fd("depthwise 3x3, dilation 2", ["Conv"], {
    inputs: { x: x([1, 3, 7, 7]), w: x([3, 1, 3, 3]) },
    build: (g, v) => conv(g, v.x, v.w, null, 1, 2, 2, 3),
  });
  fd("grouped 3x3, groups 2, stride 2, bias", ["Conv"], {
    inputs: { x: x([2, 4, 7, 7]), w: x([6, 2, 3, 3]), b: x([6]) },
    build: (g, v) => conv(g, v.x, v.w, v.b, 2, 1, 1, 2),
  });
  fd("grouped 3x3, groups 2, dilation 2 (layer zoo)", ["Conv"], {
    inputs: { x: x([1, 4, 7, 7]), w: x([6, 2, 3, 3]) },
    build: (g, v) => conv(g, v.x, v.w, null, 1, 2, 2, 2),
  });
});

describe("BatchNormalization (inference and training form) and pools", () => {
  fd("BatchNormalization: x, scale, bias, mean, var", ["BatchNormalization"], {
    inputs: {
      x: { shape: [2, 3, 3, 3] },
      scale: { shape: [3] },
      bias: { shape: [3] },
      mean: { shape: [3] },
      var: { shape: [3], data: Float32Array.from([0.5, 1.2, 2.0]) },
    },
    h: 1e-3,
    build: (g, v) => ops.batchNormInference(g, v.x, v.scale, v.bias, v.mean, v.var, 1e-5),
  });
  // Training mode: all three outputs (y, batch mean, biased batch variance) weighted, so the
  // statistics outputs' gradients are checked too; momentum 0 (what BatchNorm2d emits) reads the
  // statistics from the outputs, momentum 0.9 recomputes them and passes gradient to the running inputs.
  const bnTrainInputs = {
    x: { shape: [2, 3, 3, 3] },
    scale: { shape: [3] },
    bias: { shape: [3] },
    mean: { shape: [3] },
    var: { shape: [3], data: Float32Array.from([0.5, 1.2, 2.0]) },
  };
  fd("BatchNormalization training mode, momentum 0: x, scale, bias; y, mean, var outputs", ["BatchNormalization"], {
    inputs: { x: bnTrainInputs.x, scale: bnTrainInputs.scale, bias: bnTrainInputs.bias },
    h: 1e-3,
    tol: 5e-3,
    build: (g, v) => {
      const r = ops.batchNormTraining(g, v.x, v.scale, v.bias, 1e-5);
      return [r.y, r.mean, r.variance];
    },
  });
  fd("BatchNormalization training mode, momentum 0.9, eps 1e-3: also the running inputs", ["BatchNormalization"], {
    inputs: bnTrainInputs,
    h: 1e-3,
    tol: 5e-3,
    build: (g, v) => {
      const shapes = [v.x.shape, [3], [3]].map((shape) => ({ dtype: "float32" as const, shape }));
      return g.addNode("BatchNormalization", [v.x, v.scale, v.bias, v.mean, v.var], shapes, {
        epsilon: attr.float(1e-3),
        momentum: attr.float(0.9),
        training_mode: attr.int(1),
      });
    },
  });
  fd("BatchNormalization training mode, only y used (as in a training graph)", ["BatchNormalization"], {
    inputs: { x: { shape: [4, 2, 2, 3] }, scale: { shape: [2] }, bias: { shape: [2] } },
    h: 1e-3,
    tol: 5e-3,
    build: (g, v) => ops.batchNormTraining(g, v.x, v.scale, v.bias, 1e-5).y,
  });
  const pool = (k: number, s: number, p: number, ceil = false) => ({
    kernel: [k, k] as [number, number],
    stride: [s, s] as [number, number],
    padding: [p, p] as [number, number],
    ceilMode: ceil,
  });
  const dx = (shape: number[]) => ({ shape, data: distinct(rng, n(shape)) });
  fd("MaxPool 3x3 s2 p1 (ResNet)", ["MaxPool"], { inputs: { x: dx([2, 2, 8, 8]) }, build: (g, v) => ops.maxPool2d(g, v.x, pool(3, 2, 1)) });
  fd("MaxPool 2x2 s2 (VGG)", ["MaxPool"], { inputs: { x: dx([1, 3, 6, 6]) }, build: (g, v) => ops.maxPool2d(g, v.x, pool(2, 2, 0)) });
  fd("MaxPool 3x3 s2 ceil_mode, size 8 (GoogLeNet)", ["MaxPool"], {
    inputs: { x: dx([1, 2, 8, 8]) },
    build: (g, v) => ops.maxPool2d(g, v.x, pool(3, 2, 0, true)),
  });
  fd("MaxPool 3x3 s1 p1 (Inception branch)", ["MaxPool"], {
    inputs: { x: dx([1, 2, 5, 5]) },
    build: (g, v) => ops.maxPool2d(g, v.x, pool(3, 1, 1)),
  });
  const avg = (k: number, s: number, p: number, ceil: boolean, countIncludePad: boolean) => ({ ...pool(k, s, p, ceil), countIncludePad });
  fd("AveragePool 2x2 s2", ["AveragePool"], {
    inputs: { x: { shape: [1, 2, 6, 6] } },
    build: (g, v) => ops.avgPool2d(g, v.x, avg(2, 2, 0, false, true)),
  });
  fd("AveragePool 3x3 s1 p1, counting and not counting padding", ["AveragePool"], {
    inputs: { x: { shape: [1, 2, 5, 5] } },
    build: (g, v) => [ops.avgPool2d(g, v.x, avg(3, 1, 1, false, true)), ops.avgPool2d(g, v.x, avg(3, 1, 1, false, false))],
  });
  fd("AveragePool 3x3 s2 p1 ceil_mode, size 8, both paddings", ["AveragePool"], {
    inputs: { x: { shape: [1, 2, 8, 8] } },
    build: (g, v) => [ops.avgPool2d(g, v.x, avg(3, 2, 1, true, true)), ops.avgPool2d(g, v.x, avg(3, 2, 1, true, false))],
  });
});

test("every rule in the table is covered by a finite-difference test above", () => {
  const missing = Object.keys(RULES).filter((op) => !covered.has(op));
  if (missing.length) throw new Error(`rules without a finite-difference test: ${missing.join(", ")}`);
});
