/**
 * Conv gradient formulations that rules.ts no longer chooses, kept for bench/grad_ops.ts to time
 * against the chosen ones (src/autodiff/formulations.ts, whose conventions they share). Each lost
 * on the cases in bench/README.md; re-run them when ONNX Runtime or the machine changes.
 */
import type { Graph, Value } from "../../src/graph/ir.js";
import * as ops from "../../src/graph/ops.js";
import {
  flippedTransposedWeight,
  padSpatial,
  staticNumber,
  taps,
  zeroUpsample,
  type ConvGeometry,
} from "../../src/autodiff/formulations.js";
import { depthToSpace } from "./ops.js";

/**
 * 1x1 convolutions without padding: dx = Wᵀ·dy per pixel (a 1x1 Conv with W transposed), then,
 * for a strided conv, placed at the sampled pixels (zero-upsample, then pad/crop to H, W).
 */
export function convInputGrad1x1(g: Graph, dy: Value, w: Value, geo: ConvGeometry): Value {
  const wt = flippedTransposedWeight(g, w, geo);
  const dxs = ops.conv2dWithPads(g, dy, wt, null, { strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: geo.group });
  if (geo.strides[0] === 1 && geo.strides[1] === 1) return dxs;
  const up = zeroUpsample(g, dxs, geo.strides);
  return padSpatial(g, up, [0, 0, geo.h - geo.oh * geo.strides[0], geo.w - geo.ow * geo.strides[1]]);
}

/**
 * dw by the "batch as channels" trick: a Conv of xᵀ [Cin, N, H, W] with dyᵀ [Cout, N, Ho, Wo]
 * as the weight (stride ↔ dilation swapped) gives [Cin, Cout, kH', kW'] (kH' ≥ kH when the
 * forward dropped rows); slice and transpose to [Cout, Cin, kH, kW]. Dense convs only.
 */
export function convWeightGradBatchAsChannels(g: Graph, x: Value, dy: Value, geo: ConvGeometry): Value {
  if (geo.group !== 1) g.fail("convWeightGradBatchAsChannels: dense convs only");
  const xt = ops.transpose(g, x, [1, 0, 2, 3]);
  const dyt = ops.transpose(g, dy, [1, 0, 2, 3]);
  const c = ops.conv2dWithPads(g, xt, dyt, null, { strides: geo.dilations, pads: geo.pads, dilations: geo.strides, group: 1 });
  const [kh, kw] = geo.kernel;
  const cut = c.shape[2] === kh && c.shape[3] === kw ? c : ops.slice(g, c, [0, 0], [kh, kw], [2, 3]);
  return ops.transpose(g, cut, [1, 0, 2, 3]);
}

/**
 * dw by explicit im2col: xᵀ padded [Cin, N, Hp, Wp], its kH·kW taps stacked to
 * [Cin·kH·kW, N·Ho·Wo], and one Gemm with dyᵀ [Cout, N·Ho·Wo] (transB). Dense convs only.
 */
export function convWeightGradIm2colGemm(g: Graph, x: Value, dy: Value, geo: ConvGeometry): Value {
  if (geo.group !== 1) g.fail("convWeightGradIm2colGemm: dense convs only");
  const [kh, kw] = geo.kernel;
  const xp = padSpatial(g, ops.transpose(g, x, [1, 0, 2, 3]), geo.pads);
  const t = taps(g, xp, geo);
  const cols =
    t.length === 1
      ? t[0]
      : ops.concat(
          g,
          t.map((v) => ops.unsqueeze(g, v, [1])),
          1,
        );
  const p = ops.reshape(g, cols, [geo.cin * kh * kw, -1]);
  const dyt = ops.reshape(g, ops.transpose(g, dy, [1, 0, 2, 3]), [geo.cout, -1]);
  return ops.reshape(g, ops.gemm(g, dyt, p, null, { transB: true }), [geo.cout, geo.cin, kh, kw]);
}

/**
 * dw by per-image im2col: taps of padded x stacked to [N, Cin·kH·kW, Ho·Wo], a batched MatMul
 * with dy [N, Cout, Ho·Wo] (patches transposed), summed over N. Dense convs only.
 */
export function convWeightGradIm2colBatched(g: Graph, x: Value, dy: Value, geo: ConvGeometry): Value {
  if (geo.group !== 1) g.fail("convWeightGradIm2colBatched: dense convs only");
  const [kh, kw] = geo.kernel;
  const xp = padSpatial(g, x, geo.pads);
  const t = taps(g, xp, geo);
  const cols =
    t.length === 1
      ? t[0]
      : ops.concat(
          g,
          t.map((v) => ops.unsqueeze(g, v, [2])),
          2,
        );
  const p = ops.reshape(g, cols, [0, geo.cin * kh * kw, geo.oh * geo.ow]);
  const dyr = ops.reshape(g, dy, [0, geo.cout, geo.oh * geo.ow]);
  const per = ops.matmul(g, dyr, ops.transpose(g, p, [0, 2, 1]));
  return ops.reshape(g, ops.reduceSum(g, per, [0], false), [geo.cout, geo.cin, kh, kw]);
}

/** Depthwise dw tap by tap: dw[c, k] = Σ_{n,o} dy · x_tap(k), as Mul + ReduceSum per tap, then Concat. */
export function depthwiseWeightGradTaps(g: Graph, x: Value, dy: Value, geo: ConvGeometry): Value {
  const t = taps(g, padSpatial(g, x, geo.pads), geo);
  const sums = t.map((v) => ops.reduceSum(g, ops.mul(g, v, dy), [0, 2, 3], false));
  const [kh, kw] = geo.kernel;
  return ops.reshape(
    g,
    ops.concat(
      g,
      sums.map((s) => ops.unsqueeze(g, s, [1])),
      1,
    ),
    [geo.cin, 1, kh, kw],
  );
}

/**
 * Depthwise dw as one batched MatMul per channel: taps of xᵀ stacked to [C, kH·kW, N·Ho·Wo]
 * times dyᵀ [C, N·Ho·Wo, 1].
 */
export function depthwiseWeightGradBatchedMatMul(g: Graph, x: Value, dy: Value, geo: ConvGeometry): Value {
  const [kh, kw] = geo.kernel;
  const xp = padSpatial(g, ops.transpose(g, x, [1, 0, 2, 3]), geo.pads);
  const t = taps(g, xp, geo);
  const cols = ops.reshape(
    g,
    ops.concat(
      g,
      t.map((v) => ops.unsqueeze(g, v, [1])),
      1,
    ),
    [geo.cin, kh * kw, -1],
  );
  const dyt = ops.reshape(g, ops.transpose(g, dy, [1, 0, 2, 3]), [geo.cin, -1, 1]);
  return ops.reshape(g, ops.matmul(g, cols, dyt), [geo.cin, 1, kh, kw]);
}

/**
 * dx by sub-pixel phases: for a stride-s conv, output pixels i = q·s + r of one phase r only
 * meet the taps k ≡ r + p_begin (mod s), so each of the s² phases is a small stride-1 Conv of dy
 * (no zero-upsampled input, no wasted multiplies); the phases are interleaved by a Concat and a
 * DepthToSpace (DCR: channel block r_h·s + r_w goes to pixel offset (r_h, r_w)). Dilation 1 only.
 */
export function convInputGradSubpixel(g: Graph, dy: Value, w: Value, geo: ConvGeometry): Value {
  const [sh, sw] = geo.strides;
  if (geo.dilations[0] !== 1 || geo.dilations[1] !== 1) g.fail("convInputGradSubpixel: dilation 1 only");
  const wt = flippedTransposedWeight(g, w, geo);
  const q = [Math.ceil(geo.h / sh), Math.ceil(geo.w / sw)];
  /** Per axis and phase: first flipped tap, tap count, Conv pads (negative: crop dy). */
  const phase = (ax: 0 | 1, r: number) => {
    const s = geo.strides[ax];
    const k = geo.kernel[ax];
    const p = geo.pads[ax];
    const o = ax === 0 ? geo.oh : geo.ow;
    const k0 = (((r + p) % s) + s) % s;
    const m = k0 < k ? Math.ceil((k - k0) / s) : 0;
    const c = (r + p - k0) / s;
    const begin = m - 1 - c;
    const end = q[ax] - o + m - 1 - begin;
    // W'[j] = W[k − 1 − j]; the phase's taps W[k0 + (m − 1 − m')·s] are W'[k − 1 − k0 − (m − 1)·s + m'·s].
    return { first: k - 1 - k0 - (m - 1) * s, m, begin, end };
  };
  const pieces: Value[] = [];
  let zeroShape: number[] | null = null;
  const outs: (Value | null)[] = [];
  for (let rh = 0; rh < sh; rh++) {
    for (let rw = 0; rw < sw; rw++) {
      const a = phase(0, rh);
      const b = phase(1, rw);
      if (a.m === 0 || b.m === 0) {
        outs.push(null);
        continue;
      }
      const sub = ops.slice(g, wt, [a.first, b.first], [a.first + (a.m - 1) * sh + 1, b.first + (b.m - 1) * sw + 1], [2, 3], [sh, sw]);
      const all = [a.begin, b.begin, a.end, b.end];
      const crop = all.map((v) => Math.min(v, 0)) as [number, number, number, number];
      const pads = all.map((v) => Math.max(v, 0)) as [number, number, number, number];
      const y = ops.conv2dWithPads(g, padSpatial(g, dy, crop), sub, null, { strides: [1, 1], pads, dilations: [1, 1], group: geo.group });
      zeroShape ??= y.shape.map((d) => staticNumber(g, d, "Conv"));
      outs.push(y);
    }
  }
  if (!zeroShape) g.fail("convInputGradSubpixel: no phase has taps");
  const zeros = outs.some((o) => o === null) ? ops.constantOfShape(g, zeroShape, 0, dy.dtype) : null;
  for (const o of outs) pieces.push(o ?? zeros!);
  if (sh !== sw) g.fail("convInputGradSubpixel: equal strides only (DepthToSpace has one block size)");
  const d2s = depthToSpace(g, ops.concat(g, pieces, 1), sh, "DCR");
  return q[0] * sh === geo.h && q[1] * sw === geo.w ? d2s : ops.slice(g, d2s, [0, 0], [geo.h, geo.w], [2, 3]);
}

/**
 * dw of a dense conv tap by tap: each tap's strided window of the padded x, as [N, Cin, Ho·Wo],
 * in a batched MatMul with dy [N, Cout, Ho·Wo] (ORT fuses the transpose into the MatMul), summed
 * over N; no im2col buffer (its Concat costs a pass over 9× the input).
 */
export function convWeightGradTapsBatched(g: Graph, x: Value, dy: Value, geo: ConvGeometry): Value {
  if (geo.group !== 1) g.fail("convWeightGradTapsBatched: dense convs only");
  const hw = geo.oh * geo.ow;
  const dyr = ops.reshape(g, dy, [0, geo.cout, hw]);
  const per = taps(g, padSpatial(g, x, geo.pads), geo).map((t) => {
    const m = ops.matmul(g, dyr, ops.transpose(g, ops.reshape(g, t, [0, geo.cin, hw]), [0, 2, 1]));
    return ops.unsqueeze(g, ops.reduceSum(g, m, [0], false), [2]);
  });
  const [kh, kw] = geo.kernel;
  return ops.reshape(g, per.length === 1 ? per[0] : ops.concat(g, per, 2), [geo.cout, geo.cin, kh, kw]);
}

/**
 * dw of a dense stride-1 conv with fewer, contiguous copies than per-tap windows: x is shifted by
 * rows only (kH Slices of whole padded rows, R_i = x_p[:, :, i·d : i·d + Ho, :], [N, Cin, Ho, Wp])
 * and dy by columns only (kW Pads into x_p's width, D_j[h, w'] = dy[h, w' − j·d]), so that
 * Σ_{h,w'} D_j·R_i = Σ_{h,w} dy[h, w]·x_p[h + i·d, w + j·d] = dw[:, :, i, j]: one batched MatMul
 * per tap over Ho·Wp (ORT fuses the transpose), summed over N.
 */
export function convWeightGradRowsColumns(g: Graph, x: Value, dy: Value, geo: ConvGeometry): Value {
  if (geo.group !== 1 || geo.strides[0] !== 1 || geo.strides[1] !== 1) g.fail("convWeightGradRowsColumns: dense stride-1 convs only");
  const [kh, kw] = geo.kernel;
  const [dh, dw] = geo.dilations;
  const xp = padSpatial(g, x, geo.pads);
  const wp = geo.w + geo.pads[1] + geo.pads[3];
  const len = geo.oh * wp;
  const rows = Array.from({ length: kh }, (_, i) => ops.reshape(g, ops.slice(g, xp, [i * dh], [i * dh + geo.oh], [2]), [0, geo.cin, len]));
  const cols = Array.from({ length: kw }, (_, j) =>
    ops.reshape(g, padSpatial(g, dy, [0, j * dw, 0, wp - geo.ow - j * dw]), [0, geo.cout, len]),
  );
  const per: Value[] = [];
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const m = ops.matmul(g, cols[j], ops.transpose(g, rows[i], [0, 2, 1]));
      per.push(ops.unsqueeze(g, ops.reduceSum(g, m, [0], false), [2]));
    }
  }
  return ops.reshape(g, per.length === 1 ? per[0] : ops.concat(g, per, 2), [geo.cout, geo.cin, kh, kw]);
}

/** dw of a dense conv tap by tap as 2-D Gemms on [C, N·Ho·Wo] layouts (xᵀ and dyᵀ transposed once). */
export function convWeightGradTapsGemm(g: Graph, x: Value, dy: Value, geo: ConvGeometry): Value {
  if (geo.group !== 1) g.fail("convWeightGradTapsGemm: dense convs only");
  const dyt = ops.reshape(g, ops.transpose(g, dy, [1, 0, 2, 3]), [geo.cout, -1]);
  const xt = padSpatial(g, ops.transpose(g, x, [1, 0, 2, 3]), geo.pads);
  const per = taps(g, xt, geo).map((t) =>
    ops.unsqueeze(g, ops.gemm(g, dyt, ops.reshape(g, t, [geo.cin, -1]), null, { transB: true }), [2]),
  );
  const [kh, kw] = geo.kernel;
  return ops.reshape(g, per.length === 1 ? per[0] : ops.concat(g, per, 2), [geo.cout, geo.cin, kh, kw]);
}

/**
 * Depthwise dw, stride 1, by rows and columns (as convWeightGradRowsColumns, per channel): in the
 * transposed layouts [C, N·Ho·Wp], x's kH row-shifted views and dy's kW column-shifted ones are
 * stacked, and one batched MatMul [C, kH, L] · [C, L, kW] gives every tap of every channel.
 */
export function depthwiseWeightGradRowsColumns(g: Graph, x: Value, dy: Value, geo: ConvGeometry): Value {
  if (geo.strides[0] !== 1 || geo.strides[1] !== 1) g.fail("depthwiseWeightGradRowsColumns: stride 1 only");
  const [kh, kw] = geo.kernel;
  const [dh, dw] = geo.dilations;
  const c = geo.cin;
  const xp = padSpatial(g, ops.transpose(g, x, [1, 0, 2, 3]), geo.pads);
  const wp = geo.w + geo.pads[1] + geo.pads[3];
  const dyt = ops.transpose(g, dy, [1, 0, 2, 3]);
  const rows = Array.from({ length: kh }, (_, i) => ops.reshape(g, ops.slice(g, xp, [i * dh], [i * dh + geo.oh], [2]), [c, 1, -1]));
  const cols = Array.from({ length: kw }, (_, j) => ops.reshape(g, padSpatial(g, dyt, [0, j * dw, 0, wp - geo.ow - j * dw]), [c, 1, -1]));
  const r = kh === 1 ? rows[0] : ops.concat(g, rows, 1);
  const d = kw === 1 ? cols[0] : ops.concat(g, cols, 1);
  return ops.reshape(g, ops.matmul(g, r, ops.transpose(g, d, [0, 2, 1])), [c, 1, kh, kw]);
}
