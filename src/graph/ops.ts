/**
 * Typed builders for the ONNX operators convzoo emits, each with its shape inference. A builder
 * checks its inputs and throws (via `g.fail`, which names the layer) before emitting anything.
 * Semantics follow the ONNX operator specs (opset 17).
 */
import type { Tensor } from "../tensor.js";
import { formatShape } from "../tensor.js";
import { attr, describe, type Attr, type Dim, type Graph, type Shape, type Value } from "./graph.js";

/** The opset every graph targets: ≥ 17 so LayerNorm-era ops and HardSwish (14) are all there. */
export const OPSET = 17;

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
function windowOut(g: Graph, op: string, size: Dim, kernel: number, stride: number, padBegin: number, padEnd: number, dilation: number, ceil: boolean): number {
  if (typeof size !== "number") g.fail(`${op} needs static spatial sizes, got "${size}"`);
  const effective = dilation * (kernel - 1) + 1;
  const span = size + padBegin + padEnd - effective;
  if (span < 0) g.fail(`${op}: input size ${size} (padded ${size + padBegin + padEnd}) is smaller than the window ${effective}; the input resolution is too small for this network`);
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
    g.fail(`Conv expects ${cinPerGroup * a.groups} input channels (weight ${formatShape(weight.shape)}, groups ${a.groups}), got input ${describe(x)}`);
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
  for (const [name, p] of [["weight", scale], ["bias", bias], ["running_mean", mean], ["running_var", variance]] as const) {
    if (p.shape.length !== 1 || !sameDim(p.shape[0], c)) g.fail(`BatchNormalization ${name} must be [${c}], got ${describe(p)}`);
  }
  return g.addNode("BatchNormalization", [x, scale, bias, mean, variance], [{ dtype: "float32", shape: x.shape }], {
    epsilon: attr.float(epsilon),
  })[0];
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

function binary(op: string) {
  return (g: Graph, a: Value, b: Value): Value => {
    if (a.dtype !== b.dtype) g.fail(`${op} expects equal dtypes, got ${describe(a)} and ${describe(b)}`);
    return g.addNode(op, [a, b], [{ dtype: a.dtype, shape: broadcastShapes(g, op, a.shape, b.shape) }])[0];
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
  const fold = (dims: Shape): Dim => (dims.every((d) => typeof d === "number") ? (dims as number[]).reduce((p, d) => p * d, 1) : dims.length === 1 ? dims[0] : dims.join("*"));
  if (tail.some((d) => typeof d !== "number")) g.fail(`Flatten needs static trailing dimensions, got ${describe(x)}`);
  return g.addNode("Flatten", [x], [{ dtype: x.dtype, shape: [fold(head), fold(tail)] }], { axis: attr.int(axis) })[0];
}

/** Gemm as PyTorch's Linear: y = x · Wᵀ + b with W [out, in]. */
export function linear(g: Graph, x: Value, weight: Value, bias: Value | null): Value {
  requireRank(g, "Linear", x, 2);
  requireRank(g, "Linear", weight, 2, "weight");
  const [outFeatures, inFeatures] = weight.shape;
  if (x.shape[1] !== inFeatures) g.fail(`Linear expects ${inFeatures} input features (weight ${formatShape(weight.shape)}), got ${describe(x)}`);
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== outFeatures)) g.fail(`Linear bias must be [${outFeatures}], got ${describe(bias)}`);
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
