/**
 * Typed builders for the ONNX operators convzoo emits, each with its shape inference. A builder
 * checks its inputs and throws (via `g.fail`, which names the layer) before emitting anything.
 * Semantics follow the ONNX operator specs (opset 17).
 */
import type { DType, Tensor } from "../tensor.js";
import { formatShape } from "../tensor.js";
import { attr, describe, type Attr, type Dim, type Graph, type Shape, type Value } from "./ir.js";

/** The opset every graph targets: ≥ 17 so LayerNorm-era ops and HardSwish (14) are all there. */
export const OPSET = 17;

/** onnx.TensorProto.DataType codes: tensors' and values' element types, Cast's `to`. */
export const ONNX_DTYPE: Readonly<Record<DType, number>> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11,
};

function requireRank(g: Graph, op: string, x: Value, rank: number, what = "input"): void {
  if (x.shape.length !== rank) g.fail(`${op} expects a rank-${rank} ${what}, got ${describe(x)}`);
}

function requireFloat(g: Graph, op: string, x: Value): void {
  if (x.dtype !== "float32") g.fail(`${op} expects float32, got ${describe(x)}`);
}

function sameDim(a: Dim, b: Dim): boolean {
  return a === b;
}

/** Output size of a sliding window along one axis (ONNX Conv/Pool formula, with ceil_mode). */
function windowOut(
  g: Graph,
  op: string,
  size: Dim,
  kernel: number,
  stride: number,
  padBegin: number,
  padEnd: number,
  dilation: number,
  ceil: boolean,
): number {
  if (typeof size !== "number") g.fail(`${op} needs static spatial sizes, got "${size}"`);
  const effective = dilation * (kernel - 1) + 1;
  const span = size + padBegin + padEnd - effective;
  if (span < 0)
    g.fail(
      `${op}: input size ${size} (padded ${size + padBegin + padEnd}) is smaller than the window ` +
        `${effective}; the input resolution is too small for this network`,
    );
  let out = (ceil ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
  // PyTorch/ONNX rule: with ceil_mode the last window must start inside the input or left padding.
  if (ceil && (out - 1) * stride >= size + padBegin) out -= 1;
  return out;
}

export interface Conv2dAttrs {
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  groups: number;
}

/** Conv (NCHW); weight [Cout, Cin/groups, kH, kW]; bias [Cout] or null. */
export function conv2d(g: Graph, x: Value, weight: Value, bias: Value | null, a: Conv2dAttrs): Value {
  requireRank(g, "Conv", x, 4);
  requireFloat(g, "Conv", x);
  requireRank(g, "Conv", weight, 4, "weight");
  const [n, cin, h, w] = x.shape;
  const [cout, cinPerGroup, kh, kw] = weight.shape as number[];
  if (typeof cin !== "number" || cin !== cinPerGroup * a.groups) {
    g.fail(
      `Conv expects ${cinPerGroup * a.groups} input channels (weight ${formatShape(weight.shape)}, groups ` +
        `${a.groups}), got input ${describe(x)}`,
    );
  }
  if (cout % a.groups !== 0) g.fail(`Conv output channels ${cout} are not divisible by groups ${a.groups}`);
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== cout)) g.fail(`Conv bias must be [${cout}], got ${describe(bias)}`);
  const oh = windowOut(g, "Conv", h, kh, a.stride[0], a.padding[0], a.padding[0], a.dilation[0], false);
  const ow = windowOut(g, "Conv", w, kw, a.stride[1], a.padding[1], a.padding[1], a.dilation[1], false);
  const inputs = bias ? [x, weight, bias] : [x, weight];
  return g.addNode("Conv", inputs, [{ dtype: "float32", shape: [n, cout, oh, ow] }], {
    kernel_shape: attr.ints([kh, kw]),
    strides: attr.ints(a.stride),
    pads: attr.ints([a.padding[0], a.padding[1], a.padding[0], a.padding[1]]),
    dilations: attr.ints(a.dilation),
    group: attr.int(a.groups),
  })[0];
}

/** BatchNormalization in inference form: y = (x - mean) / sqrt(var + eps) * scale + bias. */
export function batchNormInference(g: Graph, x: Value, scale: Value, bias: Value, mean: Value, variance: Value, epsilon: number): Value {
  requireFloat(g, "BatchNormalization", x);
  if (x.shape.length < 2) g.fail(`BatchNormalization expects [N, C, ...], got ${describe(x)}`);
  const c = x.shape[1];
  for (const [name, p] of [
    ["weight", scale],
    ["bias", bias],
    ["running_mean", mean],
    ["running_var", variance],
  ] as const) {
    if (p.shape.length !== 1 || !sameDim(p.shape[0], c)) g.fail(`BatchNormalization ${name} must be [${c}], got ${describe(p)}`);
  }
  return g.addNode("BatchNormalization", [x, scale, bias, mean, variance], [{ dtype: "float32", shape: x.shape }], {
    epsilon: attr.float(epsilon),
  })[0];
}

/**
 * BatchNormalization in training mode (opset 15) with momentum 0, so its running-statistics
 * outputs are the batch's own mean and biased variance over all axes but 1 (ONNX: running =
 * momentum·input + (1 − momentum)·batch); y is normalised with those. One node, and one gradient
 * rule for the whole normalisation (rules.ts) instead of one per elementwise op.
 *
 * ONNX Runtime's CPU kernel (also in onnxruntime-web) aliases outputs 1 and 2 to inputs 3 and 4:
 * it writes the statistics into the input buffers, even a caller's fed tensor or an initializer
 * that graph optimisation has merged with another node's (measured: the running statistics fed
 * in were overwritten; two such nodes with equal zero initializers clobbered each other's mean).
 * So inputs 3 and 4 are private scratch values: zeros computed from x (0 · one pixel per channel,
 * never constant-folded), the second derived from the first so that no optimisation merges them.
 */
export function batchNormTraining(
  g: Graph,
  x: Value,
  scale: Value,
  bias: Value,
  epsilon: number,
): { y: Value; mean: Value; variance: Value } {
  requireFloat(g, "BatchNormalization", x);
  if (x.shape.length < 2) g.fail(`BatchNormalization expects [N, C, ...], got ${describe(x)}`);
  const c = x.shape[1];
  if (typeof c !== "number") g.fail(`BatchNormalization in training mode needs a static channel count, got ${describe(x)}`);
  for (const [name, p] of [
    ["weight", scale],
    ["bias", bias],
  ] as const) {
    if (p.shape.length !== 1 || !sameDim(p.shape[0], c)) g.fail(`BatchNormalization ${name} must be [${c}], got ${describe(p)}`);
  }
  const rank = x.shape.length;
  const pixel = slice(g, x, new Array<number>(rank).fill(0), [1, c, ...new Array<number>(rank - 2).fill(1)], [...Array(rank).keys()]);
  const zero = scalarConstant(g, 0, x.dtype);
  const scratchMean = mul(g, reshape(g, pixel, [c]), zero);
  const scratchVar = mul(g, scratchMean, zero);
  const [y, m, v] = g.addNode(
    "BatchNormalization",
    [x, scale, bias, scratchMean, scratchVar],
    [
      { dtype: "float32", shape: x.shape },
      { dtype: "float32", shape: [c] },
      { dtype: "float32", shape: [c] },
    ],
    { epsilon: attr.float(epsilon), momentum: attr.float(0), training_mode: attr.int(1) },
  );
  return { y, mean: m, variance: v };
}

function unary(op: string, attrs: Record<string, Attr> = {}) {
  return (g: Graph, x: Value): Value => {
    requireFloat(g, op, x);
    return g.addNode(op, [x], [{ dtype: x.dtype, shape: x.shape }], attrs)[0];
  };
}

export const relu = unary("Relu");
export const sigmoid = unary("Sigmoid");
export const hardSwish = unary("HardSwish");
export const identity = (g: Graph, x: Value): Value => g.addNode("Identity", [x], [{ dtype: x.dtype, shape: x.shape }])[0];

/** PyTorch's Hardsigmoid is relu6(x + 3) / 6, i.e. ONNX HardSigmoid with alpha 1/6 (ONNX's default is 0.2). */
export function hardSigmoid(g: Graph, x: Value): Value {
  return unary("HardSigmoid", { alpha: attr.float(1 / 6), beta: attr.float(0.5) })(g, x);
}

function scalar(value: number): Tensor<"float32"> {
  return { dtype: "float32", shape: [], data: new Float32Array([value]) };
}

/** Clip with constant bounds (ReLU6 is clip(x, 0, 6)). */
export function clip(g: Graph, x: Value, min: number, max: number): Value {
  requireFloat(g, "Clip", x);
  const lo = g.constant(scalar(min), "clip_min");
  const hi = g.constant(scalar(max), "clip_max");
  return g.addNode("Clip", [x, lo, hi], [{ dtype: x.dtype, shape: x.shape }])[0];
}

/** Numpy-style broadcast of two shapes, or a ShapeError naming both. */
export function broadcastShapes(g: Graph, op: string, a: Shape, b: Shape): Dim[] {
  const rank = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    const da = i < rank - a.length ? 1 : a[i - (rank - a.length)];
    const db = i < rank - b.length ? 1 : b[i - (rank - b.length)];
    if (da === db || db === 1) out.push(da);
    else if (da === 1) out.push(db);
    else g.fail(`${op} cannot broadcast ${formatShape(a)} with ${formatShape(b)}`);
  }
  return out;
}

/** Per graph: rank-aligned versions of single-element values, by `${value id}:${rank}`. */
const rankAligned = new WeakMap<Graph, Map<string, Value>>();

/** Whether an aligned value is still in the graph (dead-code passes and prune may have removed it). */
function stillInGraph(g: Graph, v: Value): boolean {
  return g.initializers.get(v.name)?.value === v || g.nodes.some((n) => n.outputs.includes(v));
}

/**
 * A single-element value (a scalar, or [1]) given `rank` dimensions of 1. Broadcasting means the
 * same either way, but ONNX Runtime's CPU broadcaster walks a rank-4 tensor whose last dimensions
 * are 1 (a 1×1 conv's weight [O, I, 1, 1], activations at 1×1) against a lower-rank scalar one
 * element at a time: 1.6 ms instead of 33 µs for a 576×144 weight times a scalar (bench/README
 * "Scalars against trailing 1s"), which made the optimizer update most of a small-image step.
 * A constant gets a new initializer of the aligned shape, any other value a Reshape, each once.
 */
function alignSingleElement(g: Graph, x: Value, rank: number): Value {
  if (x.shape.length >= rank || !x.shape.every((d) => d === 1)) return x;
  let memo = rankAligned.get(g);
  if (!memo) rankAligned.set(g, (memo = new Map()));
  const key = `${x.id}:${rank}`;
  const done = memo.get(key);
  if (done && stillInGraph(g, done)) return done;
  const ones = new Array<number>(rank).fill(1);
  const init = g.initializers.get(x.name);
  const aligned =
    init && init.value === x
      ? g.constant({ ...init.tensor, shape: ones } as Tensor, "scalar")
      : g.addNode("Reshape", [x, int64Constant(g, ones, "shape")], [{ dtype: x.dtype, shape: ones }])[0];
  memo.set(key, aligned);
  return aligned;
}

/** The inputs of a broadcasting elementwise op with single-element ones aligned to the widest rank. */
function alignedOperands(g: Graph, xs: readonly Value[]): Value[] {
  const rank = Math.max(...xs.map((x) => x.shape.length));
  return xs.map((x) => alignSingleElement(g, x, rank));
}

function binary(op: string) {
  return (g: Graph, a: Value, b: Value): Value => {
    if (a.dtype !== b.dtype) g.fail(`${op} expects equal dtypes, got ${describe(a)} and ${describe(b)}`);
    const shape = broadcastShapes(g, op, a.shape, b.shape);
    return g.addNode(op, alignedOperands(g, [a, b]), [{ dtype: a.dtype, shape }])[0];
  };
}

export const add = binary("Add");
export const sub = binary("Sub");
export const mul = binary("Mul");
export const div = binary("Div");

export interface Pool2dAttrs {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  ceilMode: boolean;
}

export function maxPool2d(g: Graph, x: Value, a: Pool2dAttrs & { dilation?: [number, number] }): Value {
  requireRank(g, "MaxPool", x, 4);
  const dilation = a.dilation ?? [1, 1];
  const [n, c, h, w] = x.shape;
  const oh = windowOut(g, "MaxPool", h, a.kernel[0], a.stride[0], a.padding[0], a.padding[0], dilation[0], a.ceilMode);
  const ow = windowOut(g, "MaxPool", w, a.kernel[1], a.stride[1], a.padding[1], a.padding[1], dilation[1], a.ceilMode);
  return g.addNode("MaxPool", [x], [{ dtype: x.dtype, shape: [n, c, oh, ow] }], {
    kernel_shape: attr.ints(a.kernel),
    strides: attr.ints(a.stride),
    pads: attr.ints([a.padding[0], a.padding[1], a.padding[0], a.padding[1]]),
    dilations: attr.ints(dilation),
    ceil_mode: attr.int(a.ceilMode ? 1 : 0),
  })[0];
}

/** AveragePool; PyTorch's AvgPool2d counts padding by default (count_include_pad=True). */
export function avgPool2d(g: Graph, x: Value, a: Pool2dAttrs & { countIncludePad: boolean }): Value {
  requireRank(g, "AveragePool", x, 4);
  const [n, c, h, w] = x.shape;
  const oh = windowOut(g, "AveragePool", h, a.kernel[0], a.stride[0], a.padding[0], a.padding[0], 1, a.ceilMode);
  const ow = windowOut(g, "AveragePool", w, a.kernel[1], a.stride[1], a.padding[1], a.padding[1], 1, a.ceilMode);
  return g.addNode("AveragePool", [x], [{ dtype: x.dtype, shape: [n, c, oh, ow] }], {
    kernel_shape: attr.ints(a.kernel),
    strides: attr.ints(a.stride),
    pads: attr.ints([a.padding[0], a.padding[1], a.padding[0], a.padding[1]]),
    ceil_mode: attr.int(a.ceilMode ? 1 : 0),
    count_include_pad: attr.int(a.countIncludePad ? 1 : 0),
  })[0];
}

export function globalAveragePool(g: Graph, x: Value): Value {
  requireRank(g, "GlobalAveragePool", x, 4);
  const [n, c] = x.shape;
  return g.addNode("GlobalAveragePool", [x], [{ dtype: x.dtype, shape: [n, c, 1, 1] }])[0];
}

/** MatMul with numpy broadcasting of the batch dimensions. */
export function matmul(g: Graph, a: Value, b: Value): Value {
  if (a.shape.length < 2 || b.shape.length < 2) g.fail(`MatMul expects rank ≥ 2, got ${describe(a)} and ${describe(b)}`);
  const [m, k] = a.shape.slice(-2);
  const [k2, n] = b.shape.slice(-2);
  if (k !== k2) g.fail(`MatMul inner dimensions differ: ${describe(a)} × ${describe(b)}`);
  const batch = broadcastShapes(g, "MatMul", a.shape.slice(0, -2), b.shape.slice(0, -2));
  return g.addNode("MatMul", [a, b], [{ dtype: a.dtype, shape: [...batch, m, n] }])[0];
}

/** Flatten to 2-D at `axis` (ONNX semantics: [d0·…·d(axis-1), d(axis)·…]). */
export function flatten(g: Graph, x: Value, axis = 1): Value {
  const head = x.shape.slice(0, axis);
  const tail = x.shape.slice(axis);
  const fold = (dims: Shape): Dim =>
    dims.every((d) => typeof d === "number") ? (dims as number[]).reduce((p, d) => p * d, 1) : dims.length === 1 ? dims[0] : dims.join("*");
  if (tail.some((d) => typeof d !== "number")) g.fail(`Flatten needs static trailing dimensions, got ${describe(x)}`);
  return g.addNode("Flatten", [x], [{ dtype: x.dtype, shape: [fold(head), fold(tail)] }], { axis: attr.int(axis) })[0];
}

/** Gemm as PyTorch's Linear: y = x · Wᵀ + b with W [out, in]. */
export function linear(g: Graph, x: Value, weight: Value, bias: Value | null): Value {
  requireRank(g, "Linear", x, 2);
  requireRank(g, "Linear", weight, 2, "weight");
  const [outFeatures, inFeatures] = weight.shape;
  if (x.shape[1] !== inFeatures)
    g.fail(`Linear expects ${inFeatures} input features (weight ${formatShape(weight.shape)}), got ${describe(x)}`);
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== outFeatures))
    g.fail(`Linear bias must be [${outFeatures}], got ${describe(bias)}`);
  const inputs = bias ? [x, weight, bias] : [x, weight];
  return g.addNode("Gemm", inputs, [{ dtype: x.dtype, shape: [x.shape[0], outFeatures] }], { transB: attr.int(1) })[0];
}

export function softmax(g: Graph, x: Value, axis = -1): Value {
  requireFloat(g, "Softmax", x);
  return g.addNode("Softmax", [x], [{ dtype: x.dtype, shape: x.shape }], { axis: attr.int(axis) })[0];
}

export function concat(g: Graph, xs: readonly Value[], axis: number): Value {
  if (xs.length === 0) g.fail("Concat needs at least one input");
  const rank = xs[0].shape.length;
  const ax = axis < 0 ? axis + rank : axis;
  const out: Dim[] = [...xs[0].shape];
  let total: number | null = 0;
  for (const x of xs) {
    if (x.shape.length !== rank) g.fail(`Concat inputs differ in rank: ${xs.map(describe).join(", ")}`);
    x.shape.forEach((d, i) => {
      if (i !== ax && d !== out[i]) g.fail(`Concat inputs differ outside axis ${ax}: ${xs.map(describe).join(", ")}`);
    });
    const d = x.shape[ax];
    total = total !== null && typeof d === "number" ? total + d : null;
  }
  if (total === null) g.fail(`Concat needs static sizes along axis ${ax}`);
  out[ax] = total;
  return g.addNode("Concat", xs, [{ dtype: xs[0].dtype, shape: out }], { axis: attr.int(ax) })[0];
}

// -------------------------------------------------------------------------------------------------
// Builders for training graphs (used by src/autodiff). Opset 17 conventions: since opset 13 the
// integer operands of ReduceSum (axes), Reshape/Expand (shape), Squeeze/Unsqueeze (axes), Slice,
// Split (split) and Pad (pads) are int64 tensor inputs, which these builders emit as constants;
// ReduceMean keeps `axes` as an attribute until opset 18.
// -------------------------------------------------------------------------------------------------

function isFloat(x: Value): boolean {
  return x.dtype === "float32" || x.dtype === "float64" || x.dtype === "float16";
}

function requireAnyFloat(g: Graph, op: string, x: Value): void {
  if (!isFloat(x)) g.fail(`${op} expects a floating-point tensor, got ${describe(x)}`);
}

function normalizeAxis(g: Graph, op: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) g.fail(`${op}: axis ${axis} is out of range for rank ${rank}`);
  return a;
}

function staticShape(g: Graph, op: string, x: Value): number[] {
  if (x.shape.some((d) => typeof d !== "number")) g.fail(`${op} needs a static shape, got ${describe(x)}`);
  return x.shape as number[];
}

/** A 1-D int64 constant (axes, shapes, pads, slice bounds). */
export function int64Constant(g: Graph, values: readonly number[], hint = "ints"): Value {
  return g.constant({ dtype: "int64", shape: [values.length], data: BigInt64Array.from(values, (v) => BigInt(v)) }, hint);
}

/** A scalar constant of a floating dtype (broadcasts against anything). */
export function scalarConstant(g: Graph, value: number, dtype: DType = "float32", hint = "scalar"): Value {
  if (dtype === "float64") return g.constant({ dtype, shape: [], data: new Float64Array([value]) }, hint);
  if (dtype !== "float32") g.fail(`scalarConstant supports float32 and float64, not ${dtype}`);
  return g.constant({ dtype: "float32", shape: [], data: new Float32Array([value]) }, hint);
}

function reducedShape(g: Graph, op: string, x: Value, axes: readonly number[], keepdims: boolean): Dim[] {
  const rank = x.shape.length;
  const set = new Set(axes.map((a) => normalizeAxis(g, op, a, rank)));
  const out: Dim[] = [];
  x.shape.forEach((d, i) => {
    if (!set.has(i)) out.push(d);
    else if (keepdims) out.push(1);
  });
  return out;
}

/** ReduceSum-13 over `axes` (an int64 input; empty axes would mean "all", so callers list them). */
export function reduceSum(g: Graph, x: Value, axes: readonly number[], keepdims = true): Value {
  requireAnyFloat(g, "ReduceSum", x);
  if (axes.length === 0) g.fail("ReduceSum needs at least one axis");
  const shape = reducedShape(g, "ReduceSum", x, axes, keepdims);
  return g.addNode("ReduceSum", [x, int64Constant(g, axes, "axes")], [{ dtype: x.dtype, shape }], {
    keepdims: attr.int(keepdims ? 1 : 0),
  })[0];
}

/** ReduceMean-13 over `axes` (an attribute up to opset 17). */
export function reduceMean(g: Graph, x: Value, axes: readonly number[], keepdims = true): Value {
  requireAnyFloat(g, "ReduceMean", x);
  if (axes.length === 0) g.fail("ReduceMean needs at least one axis");
  const shape = reducedShape(g, "ReduceMean", x, axes, keepdims);
  return g.addNode("ReduceMean", [x], [{ dtype: x.dtype, shape }], { axes: attr.ints(axes), keepdims: attr.int(keepdims ? 1 : 0) })[0];
}

/**
 * Reshape-14 with ONNX's conventions (allowzero = 0): 0 copies the input's dimension at the same
 * index, -1 is inferred. A symbolic input dimension passes through a 0, or becomes the -1.
 */
export function reshape(g: Graph, x: Value, shape: readonly number[]): Value {
  if (shape.filter((d) => d === -1).length > 1) g.fail(`Reshape: at most one -1 in ${formatShape(shape)}`);
  const out: Dim[] = shape.map((d, i) => {
    if (d === 0) {
      if (i >= x.shape.length) g.fail(`Reshape: 0 at index ${i} has no input dimension in ${describe(x)}`);
      return x.shape[i];
    }
    if (!Number.isInteger(d) || d < -1) g.fail(`Reshape: bad target dimension ${d} in ${formatShape(shape)}`);
    return d;
  });
  // What the copied (0) dimensions and the explicit ones leave for the -1.
  const remaining = x.shape.filter((_, i) => !(shape[i] === 0));
  const staticIn = remaining.filter((d): d is number => typeof d === "number").reduce((p, d) => p * d, 1);
  const symbolicIn = remaining.filter((d) => typeof d !== "number");
  const staticOut = out
    .filter((d, i) => shape[i] !== 0 && shape[i] !== -1 && typeof d === "number")
    .reduce((p: number, d) => p * (d as number), 1);
  const hole = shape.indexOf(-1);
  if (hole >= 0) {
    if (staticIn % staticOut !== 0) g.fail(`Reshape cannot infer -1: ${describe(x)} to ${formatShape(shape)}`);
    const k = staticIn / staticOut;
    out[hole] =
      symbolicIn.length === 0 ? k : k === 1 && symbolicIn.length === 1 ? symbolicIn[0] : [...symbolicIn, ...(k === 1 ? [] : [k])].join("*");
  } else if (symbolicIn.length === 0 && staticIn !== staticOut) {
    g.fail(`Reshape cannot turn ${describe(x)} into ${formatShape(shape)}`);
  }
  return g.addNode("Reshape", [x, int64Constant(g, shape, "shape")], [{ dtype: x.dtype, shape: out }])[0];
}

export function transpose(g: Graph, x: Value, perm: readonly number[]): Value {
  const rank = x.shape.length;
  if (perm.length !== rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i))
    g.fail(`Transpose: ${formatShape(perm)} is not a permutation of rank ${rank}`);
  return g.addNode("Transpose", [x], [{ dtype: x.dtype, shape: perm.map((p) => x.shape[p]) }], { perm: attr.ints(perm) })[0];
}

/** Squeeze-13 (axes input); each squeezed dimension must be 1. */
export function squeeze(g: Graph, x: Value, axes: readonly number[]): Value {
  const set = new Set(axes.map((a) => normalizeAxis(g, "Squeeze", a, x.shape.length)));
  for (const a of set) if (x.shape[a] !== 1) g.fail(`Squeeze: axis ${a} of ${describe(x)} is not 1`);
  const shape = x.shape.filter((_, i) => !set.has(i));
  return g.addNode("Squeeze", [x, int64Constant(g, axes, "axes")], [{ dtype: x.dtype, shape }])[0];
}

/** Unsqueeze-13 (axes input, positions in the output). */
export function unsqueeze(g: Graph, x: Value, axes: readonly number[]): Value {
  const rank = x.shape.length + axes.length;
  const set = new Set(axes.map((a) => normalizeAxis(g, "Unsqueeze", a, rank)));
  const shape: Dim[] = [];
  let j = 0;
  for (let i = 0; i < rank; i++) shape.push(set.has(i) ? 1 : x.shape[j++]);
  return g.addNode("Unsqueeze", [x, int64Constant(g, axes, "axes")], [{ dtype: x.dtype, shape }])[0];
}

/**
 * Expand-13 to `shape` (numpy broadcasting). The shape is a constant, so a symbolic target
 * dimension must be the input's own (aligned) dimension; it is sent as 1, which keeps it.
 */
export function expand(g: Graph, x: Value, shape: Shape): Value {
  const out = broadcastShapes(g, "Expand", x.shape, shape);
  const offset = out.length - x.shape.length;
  const target = out.map((d, i) => {
    if (typeof d === "number") return d;
    if (i >= offset && x.shape[i - offset] === d) return 1;
    return g.fail(`Expand: cannot expand ${describe(x)} to symbolic ${formatShape(shape)}`);
  });
  return g.addNode("Expand", [x, int64Constant(g, target, "shape")], [{ dtype: x.dtype, shape: out }])[0];
}

function unaryAny(op: string) {
  return (g: Graph, x: Value): Value => {
    requireAnyFloat(g, op, x);
    return g.addNode(op, [x], [{ dtype: x.dtype, shape: x.shape }])[0];
  };
}

export const sqrt = unaryAny("Sqrt");
export const neg = unaryAny("Neg");
export const exp = unaryAny("Exp");
export const log = unaryAny("Log");
export const abs = unaryAny("Abs");
export const reciprocal = unaryAny("Reciprocal");
export const sign = unaryAny("Sign");

function comparison(op: string) {
  return (g: Graph, a: Value, b: Value): Value => {
    if (a.dtype !== b.dtype) g.fail(`${op} expects equal dtypes, got ${describe(a)} and ${describe(b)}`);
    const shape = broadcastShapes(g, op, a.shape, b.shape);
    return g.addNode(op, alignedOperands(g, [a, b]), [{ dtype: "bool", shape }])[0];
  };
}

export const greater = comparison("Greater");
export const less = comparison("Less");
export const greaterOrEqual = comparison("GreaterOrEqual");
export const lessOrEqual = comparison("LessOrEqual");

export function and(g: Graph, a: Value, b: Value): Value {
  if (a.dtype !== "bool" || b.dtype !== "bool") g.fail(`And expects bool inputs, got ${describe(a)} and ${describe(b)}`);
  return g.addNode("And", [a, b], [{ dtype: "bool", shape: broadcastShapes(g, "And", a.shape, b.shape) }])[0];
}

/** Where(cond, a, b): a where cond else b, all three broadcast together. */
export function where(g: Graph, cond: Value, a: Value, b: Value): Value {
  if (cond.dtype !== "bool") g.fail(`Where expects a bool condition, got ${describe(cond)}`);
  if (a.dtype !== b.dtype) g.fail(`Where expects equal dtypes, got ${describe(a)} and ${describe(b)}`);
  const shape = broadcastShapes(g, "Where", cond.shape, broadcastShapes(g, "Where", a.shape, b.shape));
  return g.addNode("Where", alignedOperands(g, [cond, a, b]), [{ dtype: a.dtype, shape }])[0];
}

export function cast(g: Graph, x: Value, to: DType): Value {
  return g.addNode("Cast", [x], [{ dtype: to, shape: x.shape }], { to: attr.int(ONNX_DTYPE[to]) })[0];
}

export function logSoftmax(g: Graph, x: Value, axis = -1): Value {
  requireAnyFloat(g, "LogSoftmax", x);
  normalizeAxis(g, "LogSoftmax", axis, x.shape.length);
  return g.addNode("LogSoftmax", [x], [{ dtype: x.dtype, shape: x.shape }], { axis: attr.int(axis) })[0];
}

export interface GemmAttrs {
  alpha?: number;
  beta?: number;
  transA?: boolean;
  transB?: boolean;
}

/** Gemm: alpha · op(A) · op(B) + beta · C, with C unidirectionally broadcast to [M, N]. */
export function gemm(g: Graph, a: Value, b: Value, c: Value | null, o: GemmAttrs = {}): Value {
  requireRank(g, "Gemm", a, 2, "A");
  requireRank(g, "Gemm", b, 2, "B");
  const [m, k] = o.transA ? [a.shape[1], a.shape[0]] : a.shape;
  const [k2, n] = o.transB ? [b.shape[1], b.shape[0]] : b.shape;
  if (k !== k2) g.fail(`Gemm inner dimensions differ: ${describe(a)}${o.transA ? "ᵀ" : ""} × ${describe(b)}${o.transB ? "ᵀ" : ""}`);
  if (c) broadcastShapes(g, "Gemm", [m, n], c.shape);
  const attrs: Record<string, Attr> = {};
  if (o.alpha !== undefined && o.alpha !== 1) attrs.alpha = attr.float(o.alpha);
  if (o.beta !== undefined && o.beta !== 1) attrs.beta = attr.float(o.beta);
  if (o.transA) attrs.transA = attr.int(1);
  if (o.transB) attrs.transB = attr.int(1);
  return g.addNode("Gemm", c ? [a, b, c] : [a, b], [{ dtype: a.dtype, shape: [m, n] }], attrs)[0];
}

/** Conv attributes with explicit ONNX pads: [top, left, bottom, right] (x1_begin, x2_begin, x1_end, x2_end). */
export interface ConvPadsAttrs {
  strides: readonly [number, number];
  pads: readonly [number, number, number, number];
  dilations: readonly [number, number];
  group: number;
}

/** Conv (NCHW) with explicit, possibly asymmetric pads. */
export function conv2dWithPads(g: Graph, x: Value, weight: Value, bias: Value | null, a: ConvPadsAttrs): Value {
  requireRank(g, "Conv", x, 4);
  requireRank(g, "Conv", weight, 4, "weight");
  const [n, cin, h, w] = x.shape;
  const [cout, cinPerGroup, kh, kw] = staticShape(g, "Conv", weight);
  if (cin !== cinPerGroup * a.group)
    g.fail(
      `Conv expects ${cinPerGroup * a.group} input channels (weight ${formatShape(weight.shape)}, group ` +
        `${a.group}), got input ${describe(x)}`,
    );
  if (cout % a.group !== 0) g.fail(`Conv output channels ${cout} are not divisible by group ${a.group}`);
  if (a.pads.some((p) => p < 0)) g.fail(`Conv pads must be non-negative, got ${formatShape(a.pads)}`);
  const oh = windowOut(g, "Conv", h, kh, a.strides[0], a.pads[0], a.pads[2], a.dilations[0], false);
  const ow = windowOut(g, "Conv", w, kw, a.strides[1], a.pads[1], a.pads[3], a.dilations[1], false);
  return g.addNode("Conv", bias ? [x, weight, bias] : [x, weight], [{ dtype: x.dtype, shape: [n, cout, oh, ow] }], {
    kernel_shape: attr.ints([kh, kw]),
    strides: attr.ints(a.strides),
    pads: attr.ints(a.pads),
    dilations: attr.ints(a.dilations),
    group: attr.int(a.group),
  })[0];
}

/**
 * ConvTranspose (NCHW); weight [C_in, C_out / group, kH, kW]. ONNX output size per axis:
 * stride · (in − 1) + output_padding + (kernel − 1) · dilation + 1 − pad_begin − pad_end.
 */
export function convTranspose2d(
  g: Graph,
  x: Value,
  weight: Value,
  bias: Value | null,
  a: ConvPadsAttrs & { outputPadding: readonly [number, number] },
): Value {
  requireRank(g, "ConvTranspose", x, 4);
  requireRank(g, "ConvTranspose", weight, 4, "weight");
  const [n, cin, h, w] = x.shape;
  const [wc, coutPerGroup, kh, kw] = staticShape(g, "ConvTranspose", weight);
  if (cin !== wc) g.fail(`ConvTranspose expects ${wc} input channels (weight ${formatShape(weight.shape)}), got input ${describe(x)}`);
  if (typeof h !== "number" || typeof w !== "number") g.fail(`ConvTranspose needs static spatial sizes, got ${describe(x)}`);
  const size = (i: number, k: number, ax: 0 | 1) =>
    a.strides[ax] * (i - 1) + a.outputPadding[ax] + (k - 1) * a.dilations[ax] + 1 - a.pads[ax] - a.pads[ax + 2];
  const oh = size(h, kh, 0);
  const ow = size(w, kw, 1);
  if (oh < 1 || ow < 1) g.fail(`ConvTranspose output would be empty (${oh}x${ow})`);
  return g.addNode(
    "ConvTranspose",
    bias ? [x, weight, bias] : [x, weight],
    [{ dtype: x.dtype, shape: [n, coutPerGroup * a.group, oh, ow] }],
    {
      kernel_shape: attr.ints([kh, kw]),
      strides: attr.ints(a.strides),
      pads: attr.ints(a.pads),
      dilations: attr.ints(a.dilations),
      group: attr.int(a.group),
      output_padding: attr.ints(a.outputPadding),
    },
  )[0];
}

/**
 * MaxPool with its second output, Indices (int64): positions flattened over the whole input
 * tensor, ((n · C + c) · H + h) · W + w (storage_order 0), ready for ScatterElements on axis 0.
 */
export function maxPool2dWithIndices(
  g: Graph,
  x: Value,
  a: Pool2dAttrs & { dilation?: [number, number] },
): { output: Value; indices: Value } {
  requireRank(g, "MaxPool", x, 4);
  const dilation = a.dilation ?? [1, 1];
  const [n, c, h, w] = x.shape;
  const oh = windowOut(g, "MaxPool", h, a.kernel[0], a.stride[0], a.padding[0], a.padding[0], dilation[0], a.ceilMode);
  const ow = windowOut(g, "MaxPool", w, a.kernel[1], a.stride[1], a.padding[1], a.padding[1], dilation[1], a.ceilMode);
  const shape = [n, c, oh, ow];
  const [output, indices] = g.addNode(
    "MaxPool",
    [x],
    [
      { dtype: x.dtype, shape },
      { dtype: "int64", shape },
    ],
    {
      kernel_shape: attr.ints(a.kernel),
      strides: attr.ints(a.stride),
      pads: attr.ints([a.padding[0], a.padding[1], a.padding[0], a.padding[1]]),
      dilations: attr.ints(dilation),
      ceil_mode: attr.int(a.ceilMode ? 1 : 0),
    },
  );
  return { output, indices };
}

/** AveragePool with explicit, possibly asymmetric pads [top, left, bottom, right]. */
export function avgPool2dWithPads(
  g: Graph,
  x: Value,
  a: {
    kernel: readonly [number, number];
    strides: readonly [number, number];
    pads: readonly [number, number, number, number];
    ceilMode: boolean;
    countIncludePad: boolean;
  },
): Value {
  requireRank(g, "AveragePool", x, 4);
  const [n, c, h, w] = x.shape;
  const oh = windowOut(g, "AveragePool", h, a.kernel[0], a.strides[0], a.pads[0], a.pads[2], 1, a.ceilMode);
  const ow = windowOut(g, "AveragePool", w, a.kernel[1], a.strides[1], a.pads[1], a.pads[3], 1, a.ceilMode);
  return g.addNode("AveragePool", [x], [{ dtype: x.dtype, shape: [n, c, oh, ow] }], {
    kernel_shape: attr.ints(a.kernel),
    strides: attr.ints(a.strides),
    pads: attr.ints(a.pads),
    ceil_mode: attr.int(a.ceilMode ? 1 : 0),
    count_include_pad: attr.int(a.countIncludePad ? 1 : 0),
  })[0];
}

/** ScatterElements-16/18: a copy of `data` with `updates` written (or, with reduction "add", added) at `indices` along `axis`. */
export function scatterElements(
  g: Graph,
  data: Value,
  indices: Value,
  updates: Value,
  axis: number,
  reduction: "none" | "add" | "mul" = "none",
): Value {
  if (indices.dtype !== "int64" && indices.dtype !== "int32") g.fail(`ScatterElements expects integer indices, got ${describe(indices)}`);
  if (indices.shape.length !== data.shape.length || updates.shape.length !== data.shape.length)
    g.fail(`ScatterElements expects equal ranks: data ${describe(data)}, indices ${describe(indices)}, updates ${describe(updates)}`);
  if (updates.dtype !== data.dtype) g.fail(`ScatterElements: updates ${describe(updates)} differ in dtype from data ${describe(data)}`);
  const attrs: Record<string, Attr> = { axis: attr.int(normalizeAxis(g, "ScatterElements", axis, data.shape.length)) };
  if (reduction !== "none") attrs.reduction = attr.string(reduction);
  return g.addNode("ScatterElements", [data, indices, updates], [{ dtype: data.dtype, shape: data.shape }], attrs)[0];
}

/** GatherElements: out[i][j] = data[index[i][j]][j] (axis 0), output shaped like `indices`. */
export function gatherElements(g: Graph, data: Value, indices: Value, axis: number): Value {
  if (indices.dtype !== "int64" && indices.dtype !== "int32") g.fail(`GatherElements expects integer indices, got ${describe(indices)}`);
  if (indices.shape.length !== data.shape.length)
    g.fail(`GatherElements expects equal ranks: data ${describe(data)}, indices ${describe(indices)}`);
  return g.addNode("GatherElements", [data, indices], [{ dtype: data.dtype, shape: indices.shape }], {
    axis: attr.int(normalizeAxis(g, "GatherElements", axis, data.shape.length)),
  })[0];
}

/** Slice-13 with constant starts/ends/axes/steps (clamped as the spec says; negative steps run backwards). */
export function slice(
  g: Graph,
  x: Value,
  starts: readonly number[],
  ends: readonly number[],
  axes: readonly number[],
  steps?: readonly number[],
): Value {
  const rank = x.shape.length;
  const st = steps ?? axes.map(() => 1);
  if (starts.length !== axes.length || ends.length !== axes.length || st.length !== axes.length)
    g.fail("Slice: starts, ends, axes and steps differ in length");
  const shape: Dim[] = [...x.shape];
  axes.forEach((axis, i) => {
    const a = normalizeAxis(g, "Slice", axis, rank);
    const d = x.shape[a];
    if (typeof d !== "number") g.fail(`Slice needs a static size on axis ${a}, got ${describe(x)}`);
    const step = st[i];
    if (step === 0) g.fail("Slice: step 0");
    const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
    let s = starts[i] < 0 ? starts[i] + d : starts[i];
    let e = ends[i] < 0 && ends[i] > -Number.MAX_SAFE_INTEGER ? ends[i] + d : ends[i];
    if (step > 0) {
      s = clamp(s, 0, d);
      e = clamp(e, 0, d);
    } else {
      s = clamp(s, 0, d - 1);
      e = clamp(e, -1, d - 1);
    }
    shape[a] = Math.max(0, Math.ceil((e - s) / step));
  });
  const clampInt64 = (v: number) => Math.max(Math.min(v, Number.MAX_SAFE_INTEGER), -Number.MAX_SAFE_INTEGER);
  const inputs = [
    x,
    int64Constant(g, starts.map(clampInt64), "starts"),
    int64Constant(g, ends.map(clampInt64), "ends"),
    int64Constant(g, axes, "axes"),
    int64Constant(g, st, "steps"),
  ];
  return g.addNode("Slice", inputs, [{ dtype: x.dtype, shape }])[0];
}

/** Split-13 into pieces of the given sizes along `axis` (sizes as an int64 input). */
export function split(g: Graph, x: Value, sizes: readonly number[], axis: number): Value[] {
  const a = normalizeAxis(g, "Split", axis, x.shape.length);
  if (sizes.reduce((p, s) => p + s, 0) !== x.shape[a])
    g.fail(`Split: sizes ${formatShape(sizes)} do not add up to axis ${a} of ${describe(x)}`);
  const outs = sizes.map((s) => ({ dtype: x.dtype, shape: x.shape.map((d, i) => (i === a ? s : d)) }));
  return g.addNode("Split", [x, int64Constant(g, sizes, "split")], outs, { axis: attr.int(a) });
}

/** Pad-13 in constant mode; pads = [begin per axis…, end per axis…], negative values crop. */
export function pad(g: Graph, x: Value, pads: readonly number[], value = 0): Value {
  const rank = x.shape.length;
  if (pads.length !== 2 * rank) g.fail(`Pad expects ${2 * rank} pads for ${describe(x)}, got ${pads.length}`);
  const shape = x.shape.map((d, i) => {
    if (pads[i] === 0 && pads[i + rank] === 0) return d;
    if (typeof d !== "number") return g.fail(`Pad needs a static size on axis ${i}, got ${describe(x)}`);
    return d + pads[i] + pads[i + rank];
  });
  const inputs = [x, int64Constant(g, pads, "pads")];
  if (value !== 0) inputs.push(scalarConstant(g, value, x.dtype, "pad_value"));
  return g.addNode("Pad", inputs, [{ dtype: x.dtype, shape }], { mode: attr.string("constant") })[0];
}

/** ConstantOfShape: a tensor of a static shape filled with `value` at run time (no big initializer). */
export function constantOfShape(g: Graph, shape: readonly number[], value = 0, dtype: DType = "float32"): Value {
  const fill: Tensor =
    dtype === "float64"
      ? { dtype, shape: [1], data: new Float64Array([value]) }
      : { dtype: "float32", shape: [1], data: new Float32Array([value]) };
  return g.addNode("ConstantOfShape", [int64Constant(g, shape, "shape")], [{ dtype: fill.dtype, shape }], { value: attr.tensor(fill) })[0];
}

/** Shape: the runtime shape of `x` as a 1-D int64 tensor (for Expand/Reshape to symbolic shapes). */
export function shapeOf(g: Graph, x: Value): Value {
  return g.addNode("Shape", [x], [{ dtype: "int64", shape: [x.shape.length] }])[0];
}

/** Sum: the elementwise sum of any number of tensors (numpy broadcasting), in one pass. */
export function sum(g: Graph, xs: readonly Value[]): Value {
  if (xs.length === 0) g.fail("Sum needs at least one input");
  let shape: Shape = xs[0].shape;
  for (const x of xs.slice(1)) {
    if (x.dtype !== xs[0].dtype) g.fail(`Sum expects equal dtypes, got ${xs.map(describe).join(", ")}`);
    shape = broadcastShapes(g, "Sum", shape, x.shape);
  }
  return g.addNode("Sum", xs, [{ dtype: xs[0].dtype, shape }])[0];
}

/** Size: the number of elements of `x` as an int64 scalar (for counts over symbolic dimensions). */
export function size(g: Graph, x: Value): Value {
  return g.addNode("Size", [x], [{ dtype: "int64", shape: [] }])[0];
}
