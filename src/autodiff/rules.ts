/**
 * Vector-Jacobian rules, one per ONNX op type (tinygrad's pm_gradient, for ONNX): given the node
 * and the gradients of its outputs (null: no gradient reaches that output), return a gradient per
 * node input (null: none). Rules emit standard ONNX ops (opset 17) into the same graph.
 *
 * Shared work is not done here but in gradients.ts: a rule may return a gradient in the broadcast
 * shape of the output (Add, Mul, Gemm's C, MatMul's batch dimensions…) and it is summed down to
 * the input's shape there, or one that only broadcasts to the input (a reduction's kept-dims
 * gradient), expanded there only if needed; a rule returns every input's gradient and the unused
 * ones are dropped. Where an operand is small (a [1, C, 1, 1] statistic), a rule reduces first and
 * does its arithmetic on the small tensor (Sub, Div).
 * The costly ops (Conv, pools) use the formulations in formulations.ts, chosen by measurement
 * (bench/grad_ops.ts; the figures behind each choice are in bench/README.md).
 */
import { floatAttr, intAttr, intsAttr, stringAttr, type Dim, type Graph, type Node, type Value } from "../graph/ir.js";
import * as ops from "../graph/ops.js";
import { unbroadcast } from "./broadcast.js";
import {
  avgPoolGrad,
  convGeometry,
  convInputGradFlipped,
  convInputGradTranspose,
  convWeightGrad1x1Batched,
  convWeightGrad1x1Gemm,
  convWeightGradIm2colConv,
  convWeightGradShifted,
  depthwiseWeightGradFoldedBatch,
  depthwiseWeightGradFullWidth,
  depthwiseWeightGradGroupedConv,
  maxPoolGradIndicesScatter,
  type ConvGeometry,
} from "./formulations.js";

/** What the graph will run on, for formulations whose speed depends on it (measured per backend). */
export interface GradientOptions {
  /**
   * The NCHWc channel block the graph will be lowered for (graph/nchwc.ts; onnxruntime-node on a
   * CPU with those kernels), or absent / 1 for plain NCHW kernels (onnxruntime-web).
   */
  nchwcBlock?: number;
}

export type GradientRule = (g: Graph, node: Node, gradOutputs: readonly (Value | null)[], options: GradientOptions) => (Value | null)[];

// ---- constant-input readers and helpers ---------------------------------------------------------

/** The values of an int64 input that must be a constant (ReduceSum axes, Slice bounds, pads…). */
function constInts(g: Graph, node: Node, index: number): number[] | null {
  const v = node.inputs[index];
  if (!v) return null;
  const init = g.initializers.get(v.name);
  if (!init || (init.tensor.dtype !== "int64" && init.tensor.dtype !== "int32"))
    g.fail(`gradient of ${node.op} needs input ${index} (${v.name}) to be a constant`);
  return Array.from(init.tensor.data as BigInt64Array | Int32Array, Number);
}

function staticDim(g: Graph, d: Dim, what: string): number {
  if (typeof d !== "number") g.fail(`gradient of ${what} needs static sizes, got "${d}"`);
  return d;
}

const scalar = (g: Graph, v: number, like: Value) => ops.scalarConstant(g, v, like.dtype);
/** A bool condition as 0/1 in `like`'s dtype, to multiply dy with. */
const mask = (g: Graph, cond: Value, like: Value) => ops.cast(g, cond, like.dtype);
const rank = (v: Value) => v.shape.length;
const norm = (axis: number, r: number) => (axis < 0 ? axis + r : axis);

/** `v` reshaped to `like`'s shape (a constant shape, with -1 for one symbolic dimension). */
function reshapeLike(g: Graph, v: Value, like: Value): Value {
  const symbolic = like.shape.filter((d) => typeof d !== "number").length;
  const shape =
    symbolic <= 1
      ? ops.int64Constant(
          g,
          like.shape.map((d) => (typeof d === "number" ? d : -1)),
          "shape",
        )
      : ops.shapeOf(g, like);
  return g.addNode("Reshape", [v, shape], [{ dtype: v.dtype, shape: like.shape }])[0];
}

/** The gradient of a Reduce* over `axes` (or all axes) brought back to rank with keepdims. */
function keepDims(g: Graph, node: Node, dy: Value, axes: number[]): Value {
  return intAttr(node, "keepdims", 1) ? dy : ops.unsqueeze(g, dy, axes);
}

function reduceAxes(g: Graph, node: Node, fromInput: boolean): number[] | null {
  const x = node.inputs[0]!;
  const axes = fromInput ? constInts(g, node, 1) : node.attrs.axes ? intsAttr(node, "axes", []) : null;
  if (axes && axes.length) return axes.map((a) => norm(a, rank(x))).sort((a, b) => a - b);
  return intAttr(node, "noop_with_empty_axes", 0) ? null : [...Array(rank(x)).keys()];
}

// ---- choices for the expensive ops, by measurement ----------------------------------------------
// bench/README.md, "Gradient formulations: the choices in rules.ts", has the figures per case.

/**
 * Conv input gradient: at stride 1 a Conv of dy with the flipped, transposed weights (up to 3x
 * faster than ConvTranspose); strided, or with pads beyond the kernel, ConvTranspose with
 * output_padding (beat sub-pixel phase Convs and a Conv on the zero-upsampled dy).
 */
function convInputGrad(g: Graph, dy: Value, w: Value, geo: ConvGeometry): Value {
  const strided = geo.strides[0] > 1 || geo.strides[1] > 1;
  const negativePads = [0, 1].some((ax) => (geo.kernel[ax] - 1) * geo.dilations[ax] < Math.max(geo.pads[ax], geo.pads[ax + 2]));
  return strided || negativePads ? convInputGradTranspose(g, dy, w, geo) : convInputGradFlipped(g, dy, w, geo);
}

/**
 * Conv weight gradient, by kind and output size (resnet18 and mobilenet_v2 layers, batch 16):
 * - 1x1 unpadded: batched MatMul dy[n]·x[n]ᵀ + ReduceSum at 16x16 and up, one Gemm on
 *   [C, N·H·W] below;
 * - dense: convWeightGradShifted's shared shifted copies, one batched MatMul per tap for stride-1
 *   outputs of 28x28 and up, one Gemm per tap below that and for strided outputs below 14x14;
 *   strided at 14x14 and up: im2col by a one-hot Conv + batched MatMul;
 * - depthwise, built for NCHWc (N·C a multiple of the block): one depthwise Conv over the batch
 *   folded into channels, which the lowering runs on MLAS's depthwise kernel;
 * - depthwise, stride 1, 56x56 and up: the full-width-kernel Conv (a GEMM without im2col);
 * - depthwise otherwise, and dilated: batch-as-channels Conv with group = C;
 * - other grouped convs: the dense formulation per group.
 */
function convWeightGrad(g: Graph, x: Value, dy: Value, geo: ConvGeometry, options: GradientOptions): Value {
  const oneByOne = geo.kernel[0] === 1 && geo.kernel[1] === 1 && geo.pads.every((p) => p === 0);
  const strided = geo.strides[0] > 1 || geo.strides[1] > 1;
  const dilated = geo.dilations[0] > 1 || geo.dilations[1] > 1;
  if (geo.group === 1) {
    if (oneByOne) return geo.oh * geo.ow >= 256 ? convWeightGrad1x1Batched(g, x, dy, geo) : convWeightGrad1x1Gemm(g, x, dy, geo);
    const hw = geo.oh * geo.ow;
    if (strided && hw >= 14 * 14) return convWeightGradIm2colConv(g, x, dy, geo);
    return convWeightGradShifted(g, x, dy, geo, !strided && hw >= 28 * 28 ? "batched" : "gemm");
  }
  const depthwise = geo.group === geo.cin && geo.group === geo.cout;
  const block = options.nchwcBlock ?? 1;
  if (depthwise && !dilated && block > 1 && typeof geo.n === "number" && (geo.n * geo.cin) % block === 0)
    return depthwiseWeightGradFoldedBatch(g, x, dy, geo);
  if (depthwise && !strided && !dilated && geo.oh * geo.ow >= 56 * 56 && typeof geo.n === "number")
    return depthwiseWeightGradFullWidth(g, x, dy, geo);
  if (depthwise) return depthwiseWeightGradGroupedConv(g, x, dy, geo);
  return groupedWeightGrad(g, x, dy, geo);
}

/** Grouped (not depthwise) convs: the dense formulation per group, concatenated along Cout. */
function groupedWeightGrad(g: Graph, x: Value, dy: Value, geo: ConvGeometry): Value {
  const gr = geo.group;
  const xs = ops.split(g, x, Array<number>(gr).fill(geo.cin / gr), 1);
  const dys = ops.split(g, dy, Array<number>(gr).fill(geo.cout / gr), 1);
  const sub = { ...geo, group: 1, cin: geo.cin / gr, cout: geo.cout / gr };
  return ops.concat(
    g,
    xs.map((xi, i) => convWeightGrad(g, xi, dys[i], sub, {})),
    0,
  );
}

// ---- the rules ----------------------------------------------------------------------------------

export const RULES: Readonly<Record<string, GradientRule>> = {
  Identity: (_g, _n, [dy]) => [dy],
  Neg: (g, _n, [dy]) => [ops.neg(g, dy!)],
  // Broadcasting binary ops return output-shaped gradients; gradients.ts sums them down.
  Add: (_g, _n, [dy]) => [dy, dy],
  Sub: (g, { inputs: [, b] }, [dy]) => [dy, ops.neg(g, unbroadcast(g, dy!, b!))],
  Sum: (_g, node, [dy]) => node.inputs.map(() => dy),
  // d(a·b) = b·da + a·db; a square (the variance's x·x) in one pass: 2·a·dy
  Mul: (g, { inputs: [a, b] }, [dy]) =>
    a === b ? [ops.mul(g, a!, ops.mul(g, dy!, scalar(g, 2, a!))), null] : [ops.mul(g, dy!, b!), ops.mul(g, dy!, a!)],
  // y = a / b: da = dy / b, db = −Σ dy·a / b² = −(Σ dy·y) / b, summed to b's shape before the division
  Div: (g, { inputs: [, b], outputs: [y] }, [dy]) => [
    ops.div(g, dy!, b!),
    ops.neg(g, ops.div(g, unbroadcast(g, ops.mul(g, dy!, y), b!), b!)),
  ],
  // y = √x: dx = dy / (2y)
  Sqrt: (g, { outputs: [y] }, [dy]) => [ops.div(g, dy!, ops.mul(g, y, scalar(g, 2, y)))],
  // y = 1/x: dx = −dy·y²
  Reciprocal: (g, { outputs: [y] }, [dy]) => [ops.neg(g, ops.mul(g, dy!, ops.mul(g, y, y)))],
  Exp: (g, { outputs: [y] }, [dy]) => [ops.mul(g, dy!, y)],
  Log: (g, { inputs: [x] }, [dy]) => [ops.div(g, dy!, x!)],
  Abs: (g, { inputs: [x] }, [dy]) => [ops.mul(g, dy!, ops.sign(g, x!))],
  // y = tanh x: dx = dy·(1 − y²)
  Tanh: (g, { outputs: [y] }, [dy]) => [ops.mul(g, dy!, ops.sub(g, scalar(g, 1, y), ops.mul(g, y, y)))],
  Cast: (g, { inputs: [x] }, [dy]) => [ops.cast(g, dy!, x!.dtype)],

  // Piecewise-linear activations pass dy where the input is on a sloped piece (kinks get 0, as in
  // PyTorch), as dy·Cast(condition): ORT's Where is ~1.6x slower (bench/README.md).
  // Relu: y > 0 exactly where x > 0.
  Relu: (g, { outputs: [y] }, [dy]) => [ops.mul(g, dy!, mask(g, ops.greater(g, y, scalar(g, 0, y)), y))],
  // Clip(x, lo, hi): dx = dy where lo < x < hi (the bounds are constants: no gradient for them).
  Clip: (g, { inputs: [x, lo, hi] }, [dy]) => {
    let inside: Value | null = null;
    if (lo) inside = ops.greater(g, x!, lo);
    if (hi) inside = inside ? ops.and(g, inside, ops.less(g, x!, hi)) : ops.less(g, x!, hi);
    return [inside ? ops.mul(g, dy!, mask(g, inside, x!)) : dy, null, null];
  },
  // y = max(0, min(1, αx + β)): dx = α·dy where 0 < y < 1
  HardSigmoid: (g, node, [dy]) => {
    const y = node.outputs[0];
    const inside = ops.and(g, ops.greater(g, y, scalar(g, 0, y)), ops.less(g, y, scalar(g, 1, y)));
    return [ops.mul(g, dy!, ops.mul(g, mask(g, inside, y), scalar(g, floatAttr(node, "alpha", 0.2), y)))];
  },
  // y = x·h(x), h(x) = relu6(x + 3)/6: dy/dx = 0 below −3, 1 above 3, x/3 + 1/2 between (PyTorch's
  // hardswish_backward), which is h(x) + x/6 on (−3, 3) and h(x) outside.
  HardSwish: (g, { inputs: [x] }, [dy]) => {
    const h = ops.hardSigmoid(g, x!);
    const inside = mask(g, ops.less(g, ops.abs(g, x!), scalar(g, 3, x!)), x!);
    const slope = ops.add(g, h, ops.mul(g, ops.mul(g, x!, scalar(g, 1 / 6, x!)), inside));
    return [ops.mul(g, dy!, slope)];
  },
  // y = σ(x): dx = dy·y·(1 − y)
  Sigmoid: (g, { outputs: [y] }, [dy]) => [ops.mul(g, dy!, ops.mul(g, y, ops.sub(g, scalar(g, 1, y), y)))],
  Where: (g, { inputs: [cond, a] }, [dy]) => {
    const zero = scalar(g, 0, a!);
    return [null, ops.where(g, cond!, dy!, zero), ops.where(g, cond!, zero, dy!)];
  },

  // y = softmax(x): dx = y·(dy − Σ dy·y) along the axis
  Softmax: (g, node, [dy]) => {
    const y = node.outputs[0];
    const axis = norm(intAttr(node, "axis", -1), rank(y));
    return [ops.mul(g, y, ops.sub(g, dy!, ops.reduceSum(g, ops.mul(g, dy!, y), [axis], true)))];
  },
  // y = x − log Σ exp x: dx = dy − exp(y)·Σ dy along the axis
  LogSoftmax: (g, node, [dy]) => {
    const y = node.outputs[0];
    const axis = norm(intAttr(node, "axis", -1), rank(y));
    return [ops.sub(g, dy!, ops.mul(g, ops.exp(g, y), ops.reduceSum(g, dy!, [axis], true)))];
  },

  // Reductions: the kept-dims gradient, broadcast back by gradients.ts (ReduceSum-13 takes axes as
  // input 1, ReduceMean-13 as an attribute).
  ReduceSum: (g, node, [dy]) => {
    const axes = reduceAxes(g, node, true);
    return [axes ? keepDims(g, node, dy!, axes) : dy, null];
  },
  ReduceMean: (g, node, [dy]) => {
    const [x] = node.inputs as Value[];
    const axes = reduceAxes(g, node, false);
    if (!axes) return [dy];
    const dims = axes.map((a) => x.shape[a]);
    // The count is a constant, or Size(x) / Size(y) at run time when a reduced dimension is symbolic.
    const count = dims.every((d) => typeof d === "number")
      ? scalar(
          g,
          (dims as number[]).reduce((p, d) => p * d, 1),
          x,
        )
      : ops.cast(g, ops.div(g, ops.size(g, x), ops.size(g, node.outputs[0])), x.dtype);
    return [ops.div(g, keepDims(g, node, dy!, axes), count)];
  },
  GlobalAveragePool: (g, { inputs: [x] }, [dy]) => {
    const hw = x!.shape.slice(2).reduce((p: number, d) => p * (d as number), 1);
    return [ops.mul(g, dy!, scalar(g, 1 / hw, x!))];
  },

  // Shape-only ops move dy back unchanged in value.
  Reshape: (g, { inputs: [x] }, [dy]) => [reshapeLike(g, dy!, x!), null],
  Flatten: (g, { inputs: [x] }, [dy]) => [reshapeLike(g, dy!, x!)],
  Squeeze: (g, { inputs: [x] }, [dy]) => [reshapeLike(g, dy!, x!), null],
  Unsqueeze: (g, { inputs: [x] }, [dy]) => [reshapeLike(g, dy!, x!), null],
  // Expand's gradient is the un-broadcast sum, done in gradients.ts.
  Expand: (_g, _n, [dy]) => [dy, null],
  Transpose: (g, node, [dy]) => {
    const perm = intsAttr(node, "perm", [...Array(rank(dy!)).keys()].reverse());
    const inverse = perm.map((_, i) => perm.indexOf(i));
    return [ops.transpose(g, dy!, inverse)];
  },
  Concat: (g, node, [dy]) => {
    const axis = norm(intAttr(node, "axis", 0), rank(dy!));
    return ops.split(
      g,
      dy!,
      node.inputs.map((v) => v!.shape[axis] as number),
      axis,
    );
  },
  Split: (g, node, gradOutputs) => {
    const axis = norm(intAttr(node, "axis", 0), rank(node.inputs[0]!));
    const parts = node.outputs.map((o, i) => gradOutputs[i] ?? ops.constantOfShape(g, o.shape as number[], 0, o.dtype));
    return [ops.concat(g, parts, axis), null];
  },
  // Pad-13 (constant mode): the gradient crops what was padded, i.e. Pad with the negated pads.
  Pad: (g, node, [dy]) => {
    const mode = stringAttr(node, "mode", "constant");
    if (mode !== "constant") g.fail(`gradient of Pad supports mode "constant" only, got "${mode}"`);
    if (node.inputs[3]) g.fail("gradient of Pad: the axes input is not supported");
    return [
      ops.pad(
        g,
        dy!,
        constInts(g, node, 1)!.map((p) => -p),
      ),
      null,
      null,
    ];
  },
  // Slice-13 with steps ±1: the gradient pads dy back into place (a reversed slice is flipped first).
  Slice: (g, node, [dy]) => {
    const x = node.inputs[0]!;
    const r = rank(x);
    const starts = constInts(g, node, 1)!;
    const axes = (constInts(g, node, 3) ?? starts.map((_, i) => i)).map((a) => norm(a, r));
    const steps = constInts(g, node, 4) ?? starts.map(() => 1);
    const pads = new Array<number>(2 * r).fill(0);
    let grad = dy!;
    axes.forEach((a, i) => {
      const d = staticDim(g, x.shape[a], "Slice (sliced axes)");
      if (Math.abs(steps[i]) !== 1) g.fail(`gradient of Slice supports steps ±1 only, got ${steps[i]}`);
      const len = dy!.shape[a] as number;
      let s = starts[i] < 0 ? starts[i] + d : starts[i];
      if (steps[i] > 0) s = Math.min(Math.max(s, 0), d);
      else {
        s = Math.min(Math.max(s, 0), d - 1);
        grad = ops.slice(g, grad, [len - 1], [-len - 1], [a], [-1]);
        s = s - len + 1;
      }
      pads[a] = s;
      pads[a + r] = d - s - len;
    });
    return [ops.pad(g, grad, pads), null, null, null, null];
  },
  // GatherElements: the gradient scatter-adds dy back to the gathered positions.
  GatherElements: (g, node, [dy]) => {
    const [data, indices] = node.inputs as [Value, Value];
    const zeros = ops.constantOfShape(
      g,
      data.shape.map((d) => d as number),
      0,
      data.dtype,
    );
    return [ops.scatterElements(g, zeros, indices, dy!, intAttr(node, "axis", 0), "add"), null];
  },

  // Y = α·A'·B' + β·C with A' = op(A), B' = op(B): dA' = α·dY·B'ᵀ, dB' = α·A'ᵀ·dY, dC = β·dY.
  Gemm: (g, node, [dy]) => {
    const [a, b, c] = node.inputs as [Value, Value, Value | null];
    const alpha = floatAttr(node, "alpha", 1);
    const beta = floatAttr(node, "beta", 1);
    const tA = intAttr(node, "transA", 0) === 1;
    const tB = intAttr(node, "transB", 0) === 1;
    const da = tA ? ops.gemm(g, b, dy!, null, { alpha, transA: tB, transB: true }) : ops.gemm(g, dy!, b, null, { alpha, transB: !tB });
    const db = tB ? ops.gemm(g, dy!, a, null, { alpha, transA: true, transB: tA }) : ops.gemm(g, a, dy!, null, { alpha, transA: !tA });
    const dc = c ? (beta === 1 ? dy : ops.mul(g, dy!, scalar(g, beta, dy!))) : null;
    return [da, db, dc];
  },
  // Y = A·B (batched, broadcasting): dA = dY·Bᵀ, dB = Aᵀ·dY (ORT fuses the transposes into the MatMul).
  MatMul: (g, { inputs: [a, b] }, [dy]) => {
    if (rank(a!) < 2 || rank(b!) < 2) g.fail("gradient of MatMul needs inputs of rank ≥ 2");
    const swap = (v: Value) => ops.transpose(g, v, [...[...Array(rank(v) - 2).keys()], rank(v) - 1, rank(v) - 2]);
    return [ops.matmul(g, dy!, swap(b!)), ops.matmul(g, swap(a!), dy!)];
  },

  Conv: (g, node, [dy], options) => {
    const [x, w, b] = node.inputs as [Value, Value, Value | null];
    const geo = convGeometry(g, node);
    return [convInputGrad(g, dy!, w, geo), convWeightGrad(g, x, dy!, geo, options), b ? ops.reduceSum(g, dy!, [0, 2, 3], false) : null];
  },
  BatchNormalization: (g, node, gradOutputs) =>
    intAttr(node, "training_mode", 0) ? batchNormTrainingGrad(g, node, gradOutputs) : batchNormInferenceGrad(g, node, gradOutputs[0]),
  // MaxPool: dy goes to the max of each window (first maximum, as PyTorch), summed where windows
  // overlap: MaxPool's Indices output + ScatterElements(add), ~5x PyTorch, 4x faster than without
  // indices (bench/candidates/max_pool_grad.ts; figures in bench/README.md).
  MaxPool: (g, node, [dy]) => {
    const p = poolAttrs(g, node);
    return [
      maxPoolGradIndicesScatter(g, node.inputs[0]!, dy!, {
        kernel: p.kernel,
        stride: p.strides,
        padding: p.symmetric,
        ceilMode: p.ceilMode,
        dilation: p.dilations,
      }),
    ];
  },
  AveragePool: (g, node, [dy]) => {
    const p = poolAttrs(g, node);
    return [
      avgPoolGrad(g, node.inputs[0]!, dy!, {
        kernel: p.kernel,
        strides: p.strides,
        pads: p.pads,
        countIncludePad: intAttr(node, "count_include_pad", 0) === 1,
      }),
    ];
  },
};

function poolAttrs(g: Graph, node: Node) {
  const kernel = intsAttr(node, "kernel_shape", []) as [number, number];
  if (kernel.length !== 2) g.fail(`gradient of ${node.op} supports 2-D pools only`);
  const pads = intsAttr(node, "pads", [0, 0, 0, 0]) as [number, number, number, number];
  const symmetric: [number, number] = [pads[0], pads[1]];
  if (node.op === "MaxPool" && (pads[2] !== pads[0] || pads[3] !== pads[1])) g.fail("gradient of MaxPool supports symmetric pads only");
  return {
    kernel,
    strides: intsAttr(node, "strides", [1, 1]) as [number, number],
    dilations: intsAttr(node, "dilations", [1, 1]) as [number, number],
    pads,
    symmetric,
    ceilMode: intAttr(node, "ceil_mode", 0) === 1,
  };
}

/** Per-channel [C] vector reshaped to broadcast against x [N, C, …]. */
function perChannel(g: Graph, v: Value, x: Value): Value {
  return ops.reshape(g, v, [v.shape[0] as number, ...Array<number>(rank(x) - 2).fill(1)]);
}

/**
 * Inference-form BatchNormalization, y = (x − mean)·k + bias with k = scale / √(var + ε):
 * dx = dy·k; dscale = Σ dy·(x − mean) / √(var + ε); dbias = Σ dy; dmean = −k·Σ dy;
 * dvar = −½·scale·(var + ε)^(−3/2)·Σ dy·(x − mean). Σ dy·(x − mean) = Σ dy·x − mean·Σ dy (one pass).
 */
function batchNormInferenceGrad(g: Graph, node: Node, dy: Value | null): (Value | null)[] {
  if (!dy) return [null, null, null, null, null];
  const [x, scale, , mean, variance] = node.inputs as Value[];
  const axes = [0, ...[...Array(rank(x) - 2).keys()].map((i) => i + 2)];
  const inv = ops.reciprocal(g, ops.sqrt(g, ops.add(g, variance, scalar(g, floatAttr(node, "epsilon", 1e-5), variance))));
  const k = ops.mul(g, scale, inv);
  const sumDy = ops.reduceSum(g, dy, axes, false);
  const sumDyXc = ops.sub(g, ops.reduceSum(g, ops.mul(g, dy, x), axes, false), ops.mul(g, mean, sumDy));
  const dvar = ops.mul(g, ops.mul(g, sumDyXc, ops.mul(g, k, ops.mul(g, inv, inv))), scalar(g, -0.5, x));
  return [ops.mul(g, dy, perChannel(g, k, x)), ops.mul(g, sumDyXc, inv), sumDy, ops.neg(g, ops.mul(g, sumDy, k)), dvar];
}

/**
 * Training-mode BatchNormalization (outputs y, running mean, running var), as one rule rather than
 * one per elementwise op of the normalisation. Over the M = N·H·W values of a channel, with the
 * batch mean μ and biased variance σ², inv = 1/√(σ² + ε), x̂ = (x − μ)·inv, k = γ·inv:
 *   dβ = Σ dy, dγ = Σ dy·x̂ = inv·Σ dy·(x − μ),
 *   dx = k·dy − (k/M)·(Σ dy + x̂·dγ),
 * the last two terms as one inference-form BatchNormalization of x (scale −k·dγ/M, bias
 * −k·Σdy/M, with μ and σ² as its statistics: the same x̂ the forward used).
 * Σ dy·(x − μ) is summed over the centred x, less Σ dy·mean(x − μ) (the rounding of the float32
 * μ), not as Σ dy·x − μ·Σ dy, which cancels where |μ| ≫ σ. Against torch float64 at |μ|/σ = 1000
 * ([8, 16, 14, 14], dy of mean 0.5): dγ 0.9–1.9e-7 vs 1.4–1.8e-3 relative, dx 0.5–1.3e-6 vs
 * 0.5–1.1e-4 (torch float32: dγ 3–6e-4); the cost is a centred copy of x and one more reduction
 * (bench/README.md, "BatchNorm gradient").
 * The running outputs m·input + (1 − m)·batch pass (1 − m)·d to the batch statistics
 * (dμ/dx = 1/M, dσ²/dx = 2(x − μ)/M) and m·d to the running inputs. With momentum 0 (what
 * ops.batchNormTraining emits) outputs 1 and 2 are μ and σ² themselves; otherwise they are
 * recomputed.
 */
function batchNormTrainingGrad(g: Graph, node: Node, [dy, dMeanOut, dVarOut]: readonly (Value | null)[]): (Value | null)[] {
  const [x, scale, , inMean] = node.inputs as Value[];
  const m = floatAttr(node, "momentum", 0.9);
  const eps = floatAttr(node, "epsilon", 1e-5);
  const axes = [0, ...[...Array(rank(x) - 2).keys()].map((i) => i + 2)];
  const count = axes.reduce((p, a) => p * staticDim(g, x.shape[a], "BatchNormalization in training mode"), 1);
  let mean: Value;
  let variance: Value;
  let centred: Value | null = null;
  if (m === 0 && node.outputs.length === 3) [, mean, variance] = node.outputs;
  else {
    const mu = ops.reduceMean(g, x, axes, true);
    centred = ops.sub(g, x, mu);
    mean = ops.reshape(g, mu, [inMean.shape[0] as number]);
    variance = ops.reduceMean(g, ops.mul(g, centred, centred), axes, false);
  }
  const std = ops.sqrt(g, ops.add(g, variance, scalar(g, eps, variance)));
  const inv = ops.reciprocal(g, std);
  const k = ops.mul(g, scale, inv);
  const perCount = scalar(g, 1 / count, x);
  /** Multipliers of x̂ and of 1 in dx beyond k·dy, as [C] vectors (null: none). */
  let xhatTerm: Value | null = null;
  let constTerm: Value | null = null;
  const plus = (a: Value | null, b: Value) => (a ? ops.add(g, a, b) : b);
  let dScale: Value | null = null;
  let dBias: Value | null = null;
  if (dy) {
    const sumDy = ops.reduceSum(g, dy, axes, false);
    const xc = centred ?? ops.sub(g, x, perChannel(g, mean, x));
    const drift = ops.reduceMean(g, xc, axes, false);
    const sumDyXc = ops.sub(g, ops.reduceSum(g, ops.mul(g, dy, xc), axes, false), ops.mul(g, drift, sumDy));
    dScale = ops.mul(g, sumDyXc, inv);
    dBias = sumDy;
    const kOverM = ops.mul(g, k, perCount);
    xhatTerm = ops.neg(g, ops.mul(g, kOverM, dScale));
    constTerm = ops.neg(g, ops.mul(g, kOverM, sumDy));
  }
  const keep = scalar(g, 1 - m, x);
  if (dMeanOut) constTerm = plus(constTerm, ops.mul(g, ops.mul(g, dMeanOut, keep), perCount));
  // 2·dσ²·(x − μ)/M = x̂ · 2·dσ²·√(σ² + ε)/M
  if (dVarOut) xhatTerm = plus(xhatTerm, ops.mul(g, ops.mul(g, ops.mul(g, dVarOut, keep), std), scalar(g, 2 / count, x)));
  let dx: Value | null = null;
  if (xhatTerm || constTerm) {
    const zeros = () => ops.constantOfShape(g, [inMean.shape[0] as number], 0, x.dtype);
    dx = ops.batchNormInference(g, x, xhatTerm ?? zeros(), constTerm ?? zeros(), mean, variance, eps);
  }
  if (dy) {
    const scaled = ops.mul(g, dy, perChannel(g, k, x));
    dx = dx ? ops.add(g, scaled, dx) : scaled;
  }
  const running = (d: Value | null) => (d && m !== 0 ? ops.mul(g, d, scalar(g, m, d)) : null);
  return [dx, dScale, dBias, running(dMeanOut), running(dVarOut)];
}
