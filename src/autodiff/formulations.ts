/**
 * The gradient formulations rules.ts chooses for the expensive ops (Conv, MaxPool, AveragePool),
 * in standard ONNX ops. The candidates that lost to them are in bench/candidates/; bench/grad_ops.ts
 * times both against PyTorch's backward.
 *
 * Conventions (ONNX Conv, opset 11+): pads are [x1_begin, x2_begin, x1_end, x2_end]; output size
 * per axis o = ⌊(i + p_begin + p_end − ((k − 1)·d + 1)) / s⌋ + 1; weight [C_out, C_in/group, kH, kW].
 * The forward Conv reads y[o] = Σ_k x[o·s + k·d − p_begin] · w[k] (per axis), so
 *   dx[i] = Σ_k dy_up[i + p_begin − k·d] · w[k],   dy_up[o·s] = dy[o], zero between;
 *   dw[k] = Σ_o dy[o] · x[o·s + k·d − p_begin].
 */
import { intAttr, intsAttr, stringAttr, type Dim, type Graph, type Node, type Value } from "../graph/ir.js";
import * as ops from "../graph/ops.js";

export interface ConvGeometry {
  n: Dim;
  cin: number;
  h: number;
  w: number;
  cout: number;
  group: number;
  kernel: [number, number];
  strides: [number, number];
  dilations: [number, number];
  /** [top, left, bottom, right], ONNX order. */
  pads: [number, number, number, number];
  oh: number;
  ow: number;
}

export function staticNumber(g: Graph, d: Dim, what: string): number {
  if (typeof d !== "number") g.fail(`gradient of ${what} needs a static size, got "${d}"`);
  return d;
}

/** The geometry of a 2-D Conv node as convzoo's builders emit it (explicit pads, no auto_pad). */
export function convGeometry(g: Graph, node: Node): ConvGeometry {
  const [x, w] = node.inputs as [Value, Value];
  const y = node.outputs[0];
  if (x.shape.length !== 4) g.fail(`gradient of ${node.op} supports 2-D (NCHW) inputs only, got rank ${x.shape.length}`);
  if (stringAttr(node, "auto_pad", "NOTSET") !== "NOTSET") g.fail(`gradient of ${node.op} needs explicit pads, not auto_pad`);
  const kernel = [staticNumber(g, w.shape[2], "Conv"), staticNumber(g, w.shape[3], "Conv")] as [number, number];
  return {
    n: x.shape[0],
    cin: staticNumber(g, x.shape[1], "Conv"),
    h: staticNumber(g, x.shape[2], "Conv"),
    w: staticNumber(g, x.shape[3], "Conv"),
    cout: staticNumber(g, w.shape[0], "Conv"),
    group: intAttr(node, "group", 1),
    kernel,
    strides: intsAttr(node, "strides", [1, 1]) as [number, number],
    dilations: intsAttr(node, "dilations", [1, 1]) as [number, number],
    pads: intsAttr(node, "pads", [0, 0, 0, 0]) as [number, number, number, number],
    oh: staticNumber(g, y.shape[2], "Conv"),
    ow: staticNumber(g, y.shape[3], "Conv"),
  };
}

/**
 * dy [N, C, Ho, Wo] → [N, C, Ho·sh, Wo·sw] with dy[o] at o·s and zeros between (and after the
 * last), as a free Reshape to [N, C, Ho, 1, Wo, 1], a Pad of s − 1 after each 1, and a Reshape.
 */
export function zeroUpsample(g: Graph, dy: Value, strides: readonly [number, number]): Value {
  const [sh, sw] = strides;
  if (sh === 1 && sw === 1) return dy;
  const [, , ho, wo] = dy.shape as [Dim, Dim, number, number];
  const six = ops.reshape(g, dy, [0, 0, ho, 1, wo, 1]);
  const padded = ops.pad(g, six, [0, 0, 0, 0, 0, 0, 0, 0, 0, sh - 1, 0, sw - 1]);
  return ops.reshape(g, padded, [0, 0, ho * sh, wo * sw]);
}

/** Pads (or, with negative amounts, crops) the two spatial axes: [top, left, bottom, right]. */
export function padSpatial(g: Graph, x: Value, p: readonly [number, number, number, number]): Value {
  if (p.every((v) => v === 0)) return x;
  return ops.pad(g, x, [0, 0, p[0], p[1], 0, 0, p[2], p[3]]);
}

/** W [O, I, kH, kW] with both kernel axes reversed, as [O·I, kH·kW] times the anti-identity. */
function flipKernel(g: Graph, w: Value): Value {
  const [o, i, kh, kw] = w.shape.map((d) => staticNumber(g, d, "Conv"));
  const k = kh * kw;
  const anti = new Float32Array(k * k);
  for (let t = 0; t < k; t++) anti[t * k + (k - 1 - t)] = 1;
  const p = g.constant({ dtype: "float32", shape: [k, k], data: anti }, "kernel_flip");
  return ops.reshape(g, ops.matmul(g, ops.reshape(g, w, [o * i, k]), p), [o, i, kh, kw]);
}

/**
 * The weight of the "transposed" conv: W [Cout, Cin/g, kH, kW] → W' [Cin, Cout/g, kH, kW] with
 * the kernel flipped (Slice with steps −1), so dx is a plain Conv of dy with W'.
 */
export function flippedTransposedWeight(g: Graph, w: Value, geo: ConvGeometry): Value {
  const [kh, kw] = geo.kernel;
  // A 1x1 kernel is its own flip. Otherwise a MatMul with the anti-identity over the kH·kW taps,
  // not a Slice with negative steps, which ORT runs slowly (512x512x3x3: 2.5 vs 16.4 ms; exact,
  // since every product is by 1 or 0).
  const flipped = kh === 1 && kw === 1 ? w : flipKernel(g, w);
  const gr = geo.group;
  const coutG = geo.cout / gr;
  const cinG = geo.cin / gr;
  if (gr === 1) return ops.transpose(g, flipped, [1, 0, 2, 3]);
  if (cinG === 1 && coutG === 1) return flipped; // depthwise: [C, 1, k, k] is its own transpose
  const five = ops.reshape(g, flipped, [gr, coutG, cinG, kh, kw]);
  return ops.reshape(g, ops.transpose(g, five, [0, 2, 1, 3, 4]), [geo.cin, coutG, kh, kw]);
}

/** dx as ConvTranspose of dy with the same weights; output_padding restores the rows a strided conv dropped. */
export function convInputGradTranspose(g: Graph, dy: Value, w: Value, geo: ConvGeometry): Value {
  const full = (ax: 0 | 1) => (ax === 0 ? geo.oh : geo.ow) - 1;
  const covered = (ax: 0 | 1) =>
    geo.strides[ax] * full(ax) + (geo.kernel[ax] - 1) * geo.dilations[ax] + 1 - geo.pads[ax] - geo.pads[ax + 2];
  const outputPadding: [number, number] = [geo.h - covered(0), geo.w - covered(1)];
  return ops.convTranspose2d(g, dy, w, null, {
    strides: geo.strides,
    pads: geo.pads,
    dilations: geo.dilations,
    group: geo.group,
    outputPadding,
  });
}

/**
 * dx as a stride-1 Conv of the zero-upsampled dy with the flipped, transposed weights:
 * pad_begin = (k − 1)·d − p_begin, pad_end = size − len(dy_up) + p_begin (negative: crop).
 */
export function convInputGradFlipped(g: Graph, dy: Value, w: Value, geo: ConvGeometry): Value {
  const up = zeroUpsample(g, dy, geo.strides);
  const lens = [geo.oh * geo.strides[0], geo.ow * geo.strides[1]];
  const begin = [0, 1].map((ax) => (geo.kernel[ax] - 1) * geo.dilations[ax] - geo.pads[ax]);
  const end = [0, 1].map((ax) => [geo.h, geo.w][ax] - lens[ax] + geo.pads[ax]);
  const all = [begin[0], begin[1], end[0], end[1]];
  // Negative amounts are crops of dy_up (Pad crops); the rest are the Conv's own pads.
  const crop = all.map((v) => Math.min(v, 0)) as [number, number, number, number];
  const pads = all.map((v) => Math.max(v, 0)) as [number, number, number, number];
  const wt = flippedTransposedWeight(g, w, geo);
  return ops.conv2dWithPads(g, padSpatial(g, up, crop), wt, null, { strides: [1, 1], pads, dilations: geo.dilations, group: geo.group });
}

/** The kH·kW shifted (strided, dilated) windows of the padded x, each [.., Ho, Wo] on axes 2, 3. */
export function taps(g: Graph, xp: Value, geo: ConvGeometry): Value[] {
  const out: Value[] = [];
  for (let i = 0; i < geo.kernel[0]; i++) {
    for (let j = 0; j < geo.kernel[1]; j++) {
      const s = [i * geo.dilations[0], j * geo.dilations[1]];
      const e = [s[0] + (geo.oh - 1) * geo.strides[0] + 1, s[1] + (geo.ow - 1) * geo.strides[1] + 1];
      out.push(ops.slice(g, xp, s, e, [2, 3], geo.strides));
    }
  }
  return out;
}

/** 1x1, unpadded: dw = Σ_n dy[n] · x_s[n]ᵀ with x_s the strided samples; as one Gemm on [C, N·H·W] layouts. */
export function convWeightGrad1x1Gemm(g: Graph, x: Value, dy: Value, geo: ConvGeometry): Value {
  const xs = geo.strides[0] === 1 && geo.strides[1] === 1 ? x : taps(g, x, geo)[0];
  const a = ops.reshape(g, ops.transpose(g, dy, [1, 0, 2, 3]), [geo.cout, -1]);
  const b = ops.reshape(g, ops.transpose(g, xs, [1, 0, 2, 3]), [geo.cin, -1]);
  return ops.reshape(g, ops.gemm(g, a, b, null, { transB: true }), [geo.cout, geo.cin, 1, 1]);
}

/** 1x1, unpadded: batched MatMul dy[n] [Cout, HW] · x[n]ᵀ [HW, Cin], then ReduceSum over N. */
export function convWeightGrad1x1Batched(g: Graph, x: Value, dy: Value, geo: ConvGeometry): Value {
  const xs = geo.strides[0] === 1 && geo.strides[1] === 1 ? x : taps(g, x, geo)[0];
  const a = ops.reshape(g, dy, [0, geo.cout, geo.oh * geo.ow]);
  const b = ops.reshape(g, xs, [0, geo.cin, geo.oh * geo.ow]);
  const per = ops.matmul(g, a, ops.transpose(g, b, [0, 2, 1]));
  return ops.reshape(g, ops.reduceSum(g, per, [0], false), [geo.cout, geo.cin, 1, 1]);
}

/**
 * Depthwise dw by the batch-as-channels trick with group = C: input xᵀ as [1, C·N, H, W],
 * weight dyᵀ [C, N, Ho, Wo], stride ↔ dilation swapped.
 */
export function depthwiseWeightGradGroupedConv(g: Graph, x: Value, dy: Value, geo: ConvGeometry): Value {
  const c = geo.cin;
  const xt = ops.reshape(g, ops.transpose(g, x, [1, 0, 2, 3]), [1, -1, geo.h, geo.w]);
  const dyt = ops.transpose(g, dy, [1, 0, 2, 3]);
  const out = ops.conv2dWithPads(g, xt, dyt, null, { strides: geo.dilations, pads: geo.pads, dilations: geo.strides, group: c });
  const [kh, kw] = geo.kernel;
  const cut = out.shape[2] === kh && out.shape[3] === kw ? out : ops.slice(g, out, [0, 0], [kh, kw], [2, 3]);
  return ops.reshape(g, cut, [c, 1, kh, kw]);
}

/**
 * dw of a dense conv with im2col done by a Conv: every input channel as its own image
 * [N·Cin, 1, H, W] through a constant one-hot kernel [kH·kW, 1, kH, kW] (same strides, pads,
 * dilations) gives the patches [N, Cin·kH·kW, Ho·Wo] in one op; then a batched MatMul with
 * dy [N, Cout, Ho·Wo] (transpose fused by ORT) summed over N.
 */
export function convWeightGradIm2colConv(g: Graph, x: Value, dy: Value, geo: ConvGeometry): Value {
  if (geo.group !== 1) g.fail("convWeightGradIm2colConv: dense convs only");
  const [kh, kw] = geo.kernel;
  const kk = kh * kw;
  const eye = new Float32Array(kk * kk);
  for (let t = 0; t < kk; t++) eye[t * kk + t] = 1;
  const onehot = g.constant({ dtype: "float32", shape: [kk, 1, kh, kw], data: eye }, "im2col_kernel");
  const xr = ops.reshape(g, x, [-1, 1, geo.h, geo.w]);
  const p = ops.conv2dWithPads(g, xr, onehot, null, { strides: geo.strides, pads: geo.pads, dilations: geo.dilations, group: 1 });
  const hw = geo.oh * geo.ow;
  const pr = ops.reshape(g, p, [-1, geo.cin * kk, hw]);
  const per = ops.matmul(g, ops.reshape(g, dy, [0, geo.cout, hw]), ops.transpose(g, pr, [0, 2, 1]));
  return ops.reshape(g, ops.reduceSum(g, per, [0], false), [geo.cout, geo.cin, kh, kw]);
}

/**
 * Depthwise dw with no im2col: ORT's Conv runs a kernel that spans the whole input width, with
 * one input channel per group, as a GEMM straight on the input (MLAS "GemmDirect": the kH' rows
 * of each window are contiguous). Groups = (n, c): the input is the padded x[n, c] [Hp, Wp]; the
 * kW filters of a group are dy[n, c] (zero-upsampled by the stride) shifted right by kw inside a
 * [Hu, Wp] frame, so output row kh is Σ dy[r, w − kw]·x_p[r + kh, w] = dw_n[c, kh, kw]; then
 * ReduceSum over n. Depthwise (channel multiplier 1), dilation 1 only.
 */
export function depthwiseWeightGradFullWidth(g: Graph, x: Value, dy: Value, geo: ConvGeometry): Value {
  if (geo.dilations[0] !== 1 || geo.dilations[1] !== 1) g.fail("depthwiseWeightGradFullWidth: dilation 1 only");
  const [kh, kw] = geo.kernel;
  const c = geo.cin;
  const n = staticNumber(g, geo.n, "a depthwise Conv");
  const hp = geo.h + geo.pads[0] + geo.pads[2];
  const wp = geo.w + geo.pads[1] + geo.pads[3];
  const hu = (geo.oh - 1) * geo.strides[0] + 1;
  const wu = (geo.ow - 1) * geo.strides[1] + 1;
  let up = zeroUpsample(g, dy, geo.strides);
  if (up.shape[2] !== hu || up.shape[3] !== wu) up = ops.slice(g, up, [0, 0], [hu, wu], [2, 3]);
  const framed = Array.from({ length: kw }, (_, j) => ops.unsqueeze(g, ops.pad(g, up, [0, 0, 0, j, 0, 0, 0, wp - wu - j]), [2]));
  const filters = ops.reshape(g, kw === 1 ? framed[0] : ops.concat(g, framed, 2), [n * c * kw, 1, hu, wp]);
  const input = ops.reshape(g, padSpatial(g, x, geo.pads), [1, n * c, hp, wp]);
  let out = ops.conv2dWithPads(g, input, filters, null, { strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: n * c });
  if (out.shape[2] !== kh) out = ops.slice(g, out, [0], [kh], [2]);
  const summed = ops.reduceSum(g, ops.reshape(g, out, [n, c, kw, kh]), [0], false);
  return ops.reshape(g, ops.transpose(g, summed, [0, 2, 1]), [c, 1, kh, kw]);
}

/**
 * MaxPool dx: re-run the pool with its Indices output (flat positions in x, ONNX MaxPool-12) and
 * scatter-add dy there into zeros (ScatterElements-16 reduction "add": overlapping windows that
 * pick the same maximum add up, as in PyTorch).
 */
export function maxPoolGradIndicesScatter(g: Graph, x: Value, dy: Value, a: ops.Pool2dAttrs & { dilation?: [number, number] }): Value {
  const shape = x.shape.map((d) => staticNumber(g, d, "MaxPool"));
  const { indices } = ops.maxPool2dWithIndices(g, x, a);
  const zeros = ops.constantOfShape(g, [shape.reduce((p, d) => p * d, 1)], 0, x.dtype);
  const flat = ops.scatterElements(g, zeros, ops.reshape(g, indices, [-1]), ops.reshape(g, dy, [-1]), 0, "add");
  return ops.reshape(g, flat, shape);
}

export interface AvgPoolGeometry {
  kernel: [number, number];
  strides: [number, number];
  /** [top, left, bottom, right] */
  pads: [number, number, number, number];
  countIncludePad: boolean;
}

/**
 * The divisor of each output of an AveragePool, as ONNX Runtime (and PyTorch) count it: the
 * window clipped to the padded input (ceil_mode windows may run past it); without
 * count_include_pad, clipped to the input itself.
 */
export function avgPoolDivisors(size: readonly [number, number], out: readonly [number, number], a: AvgPoolGeometry): Float32Array {
  const counts = (ax: 0 | 1) =>
    Array.from({ length: out[ax] }, (_, o) => {
      const start = o * a.strides[ax] - a.pads[ax];
      const end = Math.min(start + a.kernel[ax], size[ax] + a.pads[ax + 2]);
      return a.countIncludePad ? end - start : Math.min(end, size[ax]) - Math.max(start, 0);
    });
  const [ch, cw] = [counts(0), counts(1)];
  const d = new Float32Array(out[0] * out[1]);
  for (let i = 0; i < out[0]; i++) for (let j = 0; j < out[1]; j++) d[i * out[1] + j] = ch[i] * cw[j];
  return d;
}

/**
 * AveragePool dx: every output spreads dy / divisor over its window. With dy rescaled to
 * dy · kH·kW / divisor, that is a stride-1 AveragePool (count_include_pad, so it divides by
 * kH·kW) over the zero-upsampled dy, padded like a transposed conv (begin k − 1 − p_begin).
 */
export function avgPoolGrad(g: Graph, x: Value, dy: Value, a: AvgPoolGeometry): Value {
  const size: [number, number] = [staticNumber(g, x.shape[2], "AveragePool"), staticNumber(g, x.shape[3], "AveragePool")];
  const out: [number, number] = [staticNumber(g, dy.shape[2], "AveragePool"), staticNumber(g, dy.shape[3], "AveragePool")];
  const kk = a.kernel[0] * a.kernel[1];
  const div = avgPoolDivisors(size, out, a);
  let scaled = dy;
  if (div.some((d) => d !== kk)) {
    const factor = g.constant({ dtype: "float32", shape: [1, 1, out[0], out[1]], data: div.map((d) => kk / d) }, "avgpool_scale");
    scaled = ops.mul(g, dy, factor);
  }
  const up = zeroUpsample(g, scaled, a.strides);
  const all = [0, 1, 0, 1].map((ax, i) => (i < 2 ? a.kernel[ax] - 1 - a.pads[ax] : size[ax] - out[ax] * a.strides[ax] + a.pads[ax]));
  const crop = all.map((v) => Math.min(v, 0)) as [number, number, number, number];
  const pads = all.map((v) => Math.max(v, 0)) as [number, number, number, number];
  return ops.avgPool2dWithPads(g, padSpatial(g, up, crop), {
    kernel: a.kernel,
    strides: [1, 1],
    pads,
    ceilMode: false,
    countIncludePad: true,
  });
}

/**
 * Depthwise dw as one depthwise Conv over the batch folded into channels: input x as
 * [1, N·C, H, W] with the forward pads, "weights" dy[n, c] [N·C, 1, Ho, Wo] (a kernel nearly the size of the input)
 * with the forward stride as its dilation (dw[t] = Σ_o dy[o]·x_p[s·o + t]), output
 * [1, N·C, ≥kH, ≥kW] = dw per image, then ReduceSum over N. On NCHW kernels this is a loop over
 * N·C tiny GEMMs; lowered to NCHWc (graph/nchwc.ts) it is MLAS's depthwise kernel, vectorised
 * over 16 channels at a time. Forward dilation 1 only.
 */
export function depthwiseWeightGradFoldedBatch(g: Graph, x: Value, dy: Value, geo: ConvGeometry): Value {
  if (geo.dilations.some((d) => d !== 1)) g.fail("depthwiseWeightGradFoldedBatch: dilation 1 only");
  const [kh, kw] = geo.kernel;
  const c = geo.cin;
  const n = staticNumber(g, geo.n, "a depthwise Conv");
  // x and dy only regrouped (no copies): the NCHWc lowering then reuses their reordered copies.
  const input = ops.reshape(g, x, [1, n * c, geo.h, geo.w]);
  const kernel = ops.reshape(g, dy, [n * c, 1, geo.oh, geo.ow]);
  let out = ops.conv2dWithPads(g, input, kernel, null, { strides: [1, 1], pads: geo.pads, dilations: geo.strides, group: n * c });
  if (out.shape[2] !== kh || out.shape[3] !== kw) out = ops.slice(g, out, [0, 0], [kh, kw], [2, 3]);
  return ops.reshape(g, ops.reduceSum(g, ops.reshape(g, out, [n, c, kh, kw]), [0], false), [c, 1, kh, kw]);
}

/**
 * dw of a dense conv (any stride, dilation, pads) from shifted copies that are shared between
 * taps. Per axis, tap t reads x at o·s + t·d − p_begin = s·(o + q_t) + a_t with 0 ≤ a_t < s: a
 * sub-pixel phase a_t (a strided Slice, none at stride 1) shifted by q_t output rows. So
 *   dw[:, :, i, j] = Σ_{n,h,w'} D_{r_j}[h, w'] · X_{a_i, b_j, q_i}[h, w'],
 * with X the row-shifted phase of x (rows h + q_i, zeros outside) and D the column-shifted dy
 * (D_r[h, w'] = dy[h, w' − r], zeros outside), both on the phase's width. Each X and D is one Pad
 * (negative amounts crop), reused by every tap that shares it and skipped when the shift is 0: a
 * 3x3 stride-1 conv copies 2 shifted x and 2 shifted dy instead of 9 tap windows; dy's columns
 * carry the column shifts, so no padded copy of x is needed.
 * - layout "batched": one MatMul per tap over each image's [C, Ho·W'] (ORT fuses the transpose)
 *   and a ReduceSum over N;
 * - layout "gemm": x and dy transposed once to [C, N, H, W], one Gemm per tap over N·Ho·W'.
 */
export function convWeightGradShifted(g: Graph, x: Value, dy: Value, geo: ConvGeometry, layout: "batched" | "gemm"): Value {
  if (geo.group !== 1) g.fail("convWeightGradShifted: dense convs only");
  const [kh, kw] = geo.kernel;
  const [sh, sw] = geo.strides;
  const gemmLayout = layout === "gemm";
  const xs = gemmLayout ? ops.transpose(g, x, [1, 0, 2, 3]) : x;
  const dys = gemmLayout ? ops.transpose(g, dy, [1, 0, 2, 3]) : dy;
  const split = (t: number, axis: 0 | 1) => {
    const s = geo.strides[axis];
    const o = t * geo.dilations[axis] - geo.pads[axis];
    const a = ((o % s) + s) % s;
    return { a, q: (o - a) / s };
  };
  /** Size of phase a along an axis of input size n: the samples a, a + s, … below n. */
  const phaseSize = (n: number, a: number, s: number) => Math.max(0, Math.ceil((n - a) / s));
  const memo = new Map<string, Value>();
  const once = (key: string, make: () => Value) => memo.get(key) ?? memo.set(key, make()).get(key)!;
  const phase = (a: number, b: number) =>
    sh === 1 && sw === 1 ? xs : once(`p${a},${b}`, () => ops.slice(g, xs, [a, b], [geo.h, geo.w], [2, 3], [sh, sw]));
  const rowsOf = (a: number, b: number, q: number) =>
    once(`x${a},${b},${q}`, () => padSpatial(g, phase(a, b), [-q, 0, q + geo.oh - phaseSize(geo.h, a, sh), 0]));
  const colsOf = (width: number, r: number) => once(`d${width},${r}`, () => padSpatial(g, dys, [0, r, 0, width - geo.ow - r]));
  const flat = (v: Value, c: number, width: number) =>
    gemmLayout ? ops.reshape(g, v, [c, -1]) : ops.reshape(g, v, [0, c, geo.oh * width]);
  const per: Value[] = [];
  for (let i = 0; i < kh; i++) {
    const { a, q } = split(i, 0);
    for (let j = 0; j < kw; j++) {
      const { a: b, q: r } = split(j, 1);
      const width = phaseSize(geo.w, b, sw);
      const xr = flat(rowsOf(a, b, q), geo.cin, width);
      const dr = flat(colsOf(width, r), geo.cout, width);
      const tap = gemmLayout
        ? ops.gemm(g, dr, xr, null, { transB: true })
        : ops.reduceSum(g, ops.matmul(g, dr, ops.transpose(g, xr, [0, 2, 1])), [0], false);
      per.push(ops.unsqueeze(g, tap, [2]));
    }
  }
  // Stacked on the innermost axis by one Concat: taps stacked on axis 0 and moved inwards by a
  // Transpose cost 5x more in the training graph (layer4's [3, 3, 512, 512] → [512, 512, 3, 3]:
  // 25 vs 5 ms).
  return ops.reshape(g, per.length === 1 ? per[0] : ops.concat(g, per, 2), [geo.cout, geo.cin, kh, kw]);
}
