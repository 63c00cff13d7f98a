/** Broadcasting helpers shared by gradients.ts and the rules (numpy rules, as ONNX's). */
import type { Graph, Shape, Value } from "../graph/ir.js";
import * as ops from "../graph/ops.js";

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** True when a tensor of shape `small` broadcasts to exactly `big` (so Sum/Add with a `big` one needs no Expand). */
export function broadcastsTo(small: Shape, big: Shape): boolean {
  const lead = big.length - small.length;
  return lead >= 0 && small.every((d, i) => d === 1 || d === big[i + lead]);
}

/**
 * Sums `grad` (shaped like a broadcasting op's output) down to `target`'s shape (a `grad` that
 * already broadcasts to `target` is returned as it is): ReduceSum over
 * the leading axes `target` lacks and the axes where `target` has 1 (keepdims), then a Reshape
 * (a Squeeze when the shape is symbolic) drops the leading axes.
 */
export function unbroadcast(g: Graph, grad: Value, target: Value): Value {
  // Already the target's shape, or smaller and broadcasting to it (summed lazily by gradients.ts).
  if (broadcastsTo(grad.shape, target.shape)) return grad;
  const lead = grad.shape.length - target.shape.length;
  const mismatch = () =>
    g.fail(`gradient [${grad.shape.join(", ")}] cannot be un-broadcast to ${target.name} [${target.shape.join(", ")}]`);
  if (lead < 0) mismatch();
  const axes: number[] = [];
  grad.shape.forEach((d, i) => {
    if (i < lead) axes.push(i);
    else if (target.shape[i - lead] === 1 && d !== 1) axes.push(i);
    else if (target.shape[i - lead] !== d) mismatch();
  });
  const summed = axes.length ? ops.reduceSum(g, grad, axes, true) : grad;
  if (lead === 0) return summed;
  const static_ = target.shape.every((d) => typeof d === "number");
  return static_ ? ops.reshape(g, summed, target.shape as number[]) : ops.squeeze(g, summed, [...Array(lead).keys()]);
}

/** `v` (broadcastable to `like`) expanded to `like`'s shape (via Shape(like) when that is symbolic). */
export function expandTo(g: Graph, v: Value, like: Value): Value {
  if (sameShape(v.shape, like.shape)) return v;
  if (like.shape.every((d) => typeof d === "number")) return ops.expand(g, v, like.shape);
  return g.addNode("Expand", [v, ops.shapeOf(g, like)], [{ dtype: v.dtype, shape: like.shape }])[0];
}
