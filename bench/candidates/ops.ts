/**
 * Graph op builders that only the candidate formulations use (src/graph/ops.ts has the rest), with
 * the same checks and shape inference.
 */
import { attr, describe, type Graph, type Value } from "../../src/graph/ir.js";
import { broadcastShapes } from "../../src/graph/ops.js";

export function equal(g: Graph, a: Value, b: Value): Value {
  if (a.dtype !== b.dtype) g.fail(`Equal expects equal dtypes, got ${describe(a)} and ${describe(b)}`);
  return g.addNode("Equal", [a, b], [{ dtype: "bool", shape: broadcastShapes(g, "Equal", a.shape, b.shape) }])[0];
}

export function or(g: Graph, a: Value, b: Value): Value {
  if (a.dtype !== "bool" || b.dtype !== "bool") g.fail(`Or expects bool inputs, got ${describe(a)} and ${describe(b)}`);
  return g.addNode("Or", [a, b], [{ dtype: "bool", shape: broadcastShapes(g, "Or", a.shape, b.shape) }])[0];
}

export function not(g: Graph, a: Value): Value {
  if (a.dtype !== "bool") g.fail(`Not expects a bool input, got ${describe(a)}`);
  return g.addNode("Not", [a], [{ dtype: "bool", shape: a.shape }])[0];
}

/** DepthToSpace (NCHW): [N, C·b², H, W] → [N, C, H·b, W·b]; DCR takes channel block (i·b + j) to pixel offset (i, j). */
export function depthToSpace(g: Graph, x: Value, blocksize: number, mode: "DCR" | "CRD" = "DCR"): Value {
  if (x.shape.length !== 4) g.fail(`DepthToSpace expects a rank-4 input, got ${describe(x)}`);
  const [n, c, h, w] = x.shape;
  if (typeof c !== "number" || c % (blocksize * blocksize) !== 0) {
    g.fail(`DepthToSpace: channels of ${describe(x)} are not divisible by ${blocksize}²`);
  }
  if (typeof h !== "number" || typeof w !== "number") g.fail(`DepthToSpace needs static spatial sizes, got ${describe(x)}`);
  const shape = [n, c / (blocksize * blocksize), h * blocksize, w * blocksize];
  return g.addNode("DepthToSpace", [x], [{ dtype: x.dtype, shape }], { blocksize: attr.int(blocksize), mode: attr.string(mode) })[0];
}
