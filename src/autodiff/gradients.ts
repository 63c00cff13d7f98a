/**
 * Reverse-mode autodiff over the graph IR (tinygrad's gradient.py, for ONNX graphs): the rules in
 * rules.ts say how one op maps output gradients to input gradients; everything shared is here,
 * done once:
 *   - the path: only nodes on a path from a `wrt` value to `loss` get gradients (a value that does
 *     not depend on `wrt`, or is not floating point, stops the gradient);
 *   - the reverse topological walk (graph nodes are appended in topological order);
 *   - fan-out: a value used several times gets the Sum of its contributions (one pass);
 *   - un-broadcasting: a rule may return a gradient in the broadcast shape of the op's output;
 *     it is summed over the broadcast axes (ReduceSum, keepdims) and reshaped to the input's shape;
 *   - lazy expansion: a rule may also return a gradient that merely broadcasts to its input (the
 *     kept-dims gradient of a ReduceMean); it joins the Sum of the other contributions by
 *     broadcasting, and is expanded only when a rule needs the full shape (elementwise rules
 *     whose inputs all have the output's shape take it as it is: Mul(x, x) of a variance);
 *   - dead code: a rule returns gradients for every input, and the ones no one needs (a frozen
 *     weight, the input image) are removed again, with the constants only they used.
 * The gradient ops are emitted into the same graph, under the scope "<layer>/grad".
 */
import { ConvzooError } from "../errors.js";
import type { Graph, Node, Value } from "../graph/ir.js";
import * as ops from "../graph/ops.js";
import type { DType } from "../tensor.js";
import { broadcastsTo, expandTo, sameShape, unbroadcast } from "./broadcast.js";
import { RULES, type GradientOptions } from "./rules.js";

export type { GradientOptions } from "./rules.js";

export { unbroadcast };

/** A graph that cannot be differentiated (an op without a rule on the path). */
export class GradientError extends ConvzooError {}

/**
 * Rules that stay correct when dy only broadcasts to the output, as long as every input that gets
 * a gradient has the output's full shape (their arithmetic broadcasts dy back up).
 */
const ELEMENTWISE: ReadonlySet<string> = new Set([
  "Identity",
  "Neg",
  "Add",
  "Sub",
  "Mul",
  "Div",
  "Sum",
  "Sqrt",
  "Reciprocal",
  "Exp",
  "Log",
  "Abs",
  "Tanh",
  "Cast",
  "Relu",
  "Clip",
  "HardSigmoid",
  "HardSwish",
  "Sigmoid",
  "Where",
]);

const FLOAT: ReadonlySet<DType> = new Set<DType>(["float32", "float64", "float16"]);

/** The scalar 1 shaped like the loss (the seed of the reverse walk). */
function ones(g: Graph, like: Value): Value {
  const shape = like.shape.map((d) => {
    if (d !== 1) g.fail(`gradients: the loss must be a scalar (or all dimensions 1), got ${like.name} [${like.shape.join(", ")}]`);
    return 1;
  });
  const data = like.dtype === "float64" ? new Float64Array([1]) : new Float32Array([1]);
  return g.constant({ dtype: like.dtype, shape, data } as never, "grad_seed");
}

/**
 * Gradients of the scalar `loss` with respect to each of `wrt`, as new values in `g`, keyed by the
 * `wrt` value's name. A `wrt` value the loss does not depend on has no entry (as PyTorch gives
 * None); a missing rule for an op on the path is an error naming the op and its layer.
 */
export function gradients(g: Graph, loss: Value, wrt: readonly Value[], options: GradientOptions = {}): Map<string, Value> {
  if (!FLOAT.has(loss.dtype)) g.fail(`gradients: the loss must be floating point, got ${loss.name} (${loss.dtype})`);
  for (const w of wrt)
    if (!FLOAT.has(w.dtype)) g.fail(`gradients: cannot differentiate with respect to ${w.name} (${w.dtype}): not floating point`);
  const firstNode = g.nodes.length;
  const initializersBefore = new Set(g.initializers.keys());

  // Forward: values that depend on some wrt value (floating point only: that is the stop-gradient).
  const depends = new Set(wrt.map((w) => w.name));
  const path: Node[] = [];
  for (const node of g.nodes) {
    if (!node.inputs.some((v) => v && depends.has(v.name))) continue;
    let any = false;
    for (const o of node.outputs) {
      if (FLOAT.has(o.dtype)) {
        depends.add(o.name);
        any = true;
      }
    }
    if (any) path.push(node);
  }
  // Backward: of those, the ones the loss depends on.
  const reaches = new Set([loss.name]);
  const onPath: Node[] = [];
  for (let i = path.length - 1; i >= 0; i--) {
    const node = path[i];
    if (!node.outputs.some((o) => reaches.has(o.name))) continue;
    onPath.push(node);
    for (const v of node.inputs) if (v && depends.has(v.name)) reaches.add(v.name);
  }

  const contributions = new Map<string, Value[]>();
  const add = (v: Value, grad: Value) => {
    const list = contributions.get(v.name);
    if (list) list.push(grad);
    else contributions.set(v.name, [grad]);
  };
  /**
   * The total gradient of a value: its contributions summed once (Sum broadcasts the small ones),
   * expanded to the value's shape unless `small` allows a broadcastable one.
   */
  const total = (v: Value, small = false): Value | null => {
    const list = contributions.get(v.name);
    if (!list) return null;
    if (list.length > 1) list.splice(0, list.length, ops.sum(g, [...list]));
    if (!small && !sameShape(list[0].shape, v.shape)) list.splice(0, 1, expandTo(g, list[0], v));
    return list[0];
  };

  if (depends.has(loss.name))
    add(
      loss,
      g.withAbsoluteScope("grad", () => ones(g, loss)),
    );
  for (const node of onPath) {
    const small =
      ELEMENTWISE.has(node.op) && node.inputs.every((v) => !v || !depends.has(v.name) || sameShape(v.shape, node.outputs[0].shape));
    const gradOutputs = node.outputs.map((o) =>
      reaches.has(o.name) ? g.withAbsoluteScope(node.scope ? `${node.scope}/grad` : "grad", () => total(o, small)) : null,
    );
    if (gradOutputs.every((d) => d === null)) continue;
    const rule = RULES[node.op];
    const where = node.scope ? ` in layer "${node.scope}"` : "";
    if (!rule)
      throw new GradientError(
        `gradients: no gradient rule for ONNX op ${node.op} (node ${node.name}${where}); add one to src/autodiff/rules.ts`,
      );
    g.withAbsoluteScope(node.scope ? `${node.scope}/grad` : "grad", () => {
      const grads = rule(g, node, gradOutputs, options);
      node.inputs.forEach((input, i) => {
        const grad = grads[i];
        if (!input || !grad || !depends.has(input.name) || !reaches.has(input.name)) return;
        if (grad.dtype !== input.dtype)
          g.fail(`gradient rule for ${node.op} returned ${grad.dtype} for input ${input.name} (${input.dtype})`);
        add(input, broadcastsTo(grad.shape, input.shape) ? grad : unbroadcast(g, grad, input));
      });
    });
  }

  const result = new Map<string, Value>();
  for (const w of wrt) {
    const grad = g.withAbsoluteScope("grad", () => total(w));
    if (grad) result.set(w.name, grad);
  }
  eliminateDeadCode(g, firstNode, initializersBefore, new Set([...result.values()].map((v) => v.name)));
  return result;
}

/** Removes the nodes added since `firstNode` whose outputs nothing uses, and constants only they used. */
function eliminateDeadCode(g: Graph, firstNode: number, initializersBefore: ReadonlySet<string>, results: ReadonlySet<string>): void {
  const live = new Set([...results, ...g.outputs.map((v) => v.name)]);
  const kept: Node[] = [];
  for (let i = g.nodes.length - 1; i >= firstNode; i--) {
    const node = g.nodes[i];
    if (!node.outputs.some((o) => live.has(o.name))) continue;
    kept.push(node);
    for (const v of node.inputs) if (v) live.add(v.name);
  }
  g.nodes.splice(firstNode, g.nodes.length - firstNode, ...kept.reverse());
  for (const node of g.nodes.slice(0, firstNode)) for (const v of node.inputs) if (v) live.add(v.name);
  for (const name of [...g.initializers.keys()]) if (!initializersBefore.has(name) && !live.has(name)) g.initializers.delete(name);
}
