/**
 * A max-pool gradient without indices that lost to MaxPool's Indices + ScatterElements
 * (src/autodiff/formulations.ts): 4x slower on [16, 64, 112, 112] (bench/README.md). For
 * bench/grad_ops.ts.
 */
import type { Graph, Value } from "../../src/graph/ir.js";
import * as ops from "../../src/graph/ops.js";
import { padSpatial, staticNumber } from "../../src/autodiff/formulations.js";
import { depthToSpace, equal, not, or } from "./ops.js";

/**
 * MaxPool dx without indices, for equal strides s ≥ 2 and dilation 1: each window tap's strided
 * view of the (−∞-padded) x is compared with y; a tap takes dy where it equals the max and no
 * earlier tap (row-major, as PyTorch's first maximum) did. Tap (i, j) lands on padded pixel
 * (o·s + i, …), i.e. on sub-pixel phase (i mod s, j mod s) shifted by (⌊i/s⌋, ⌊j/s⌋): the taps are
 * summed per phase at output resolution and the s² phases interleaved by one DepthToSpace.
 */
export interface MaxPoolGeometry {
  kernel: [number, number];
  strides: [number, number];
  pads: [number, number, number, number];
}

export function maxPoolGradPhases(g: Graph, x: Value, y: Value, dy: Value, a: MaxPoolGeometry): Value {
  const [s, sw] = a.strides;
  if (s !== sw || s < 2) g.fail("maxPoolGradPhases: equal strides ≥ 2 only");
  const [kh, kw] = a.kernel;
  const [h, w] = [staticNumber(g, x.shape[2], "MaxPool"), staticNumber(g, x.shape[3], "MaxPool")];
  const [oh, ow] = [staticNumber(g, y.shape[2], "MaxPool"), staticNumber(g, y.shape[3], "MaxPool")];
  // Padded size: covers every window (ceil_mode ones included), a multiple of s for DepthToSpace.
  const hq = Math.ceil(Math.max(h + a.pads[0] + a.pads[2], (oh - 1) * s + kh) / s);
  const wq = Math.ceil(Math.max(w + a.pads[1] + a.pads[3], (ow - 1) * s + kw) / s);
  const xp = ops.pad(g, x, [0, 0, a.pads[0], a.pads[1], 0, 0, hq * s - h - a.pads[0], wq * s - w - a.pads[1]], -Infinity);
  const phases = new Map<number, Value[]>();
  let claimed: Value | null = null;
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const tap = ops.slice(g, xp, [i, j], [i + (oh - 1) * s + 1, j + (ow - 1) * s + 1], [2, 3], [s, s]);
      const eq = equal(g, tap, y);
      const take: Value = claimed ? ops.and(g, eq, not(g, claimed)) : eq;
      claimed = claimed ? or(g, claimed, eq) : eq;
      const share = ops.mul(g, dy, ops.cast(g, take, dy.dtype));
      const [di, dj] = [Math.floor(i / s), Math.floor(j / s)];
      const placed = padSpatial(g, share, [di, dj, hq - oh - di, wq - ow - dj]);
      const key = (i % s) * s + (j % s);
      phases.set(key, [...(phases.get(key) ?? []), placed]);
    }
  }
  const n = dy.shape[0];
  const zeros = () => ops.constantOfShape(g, [staticNumber(g, n, "MaxPool"), staticNumber(g, dy.shape[1], "MaxPool"), hq, wq], 0, dy.dtype);
  const blocks = Array.from({ length: s * s }, (_, k) => {
    const list = phases.get(k);
    return !list ? zeros() : list.length === 1 ? list[0] : ops.sum(g, list);
  });
  const full = depthToSpace(g, ops.concat(g, blocks, 1), s, "DCR");
  return ops.slice(g, full, [a.pads[0], a.pads[1]], [a.pads[0] + h, a.pads[1] + w], [2, 3]);
}
