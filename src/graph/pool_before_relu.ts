/**
 * MaxPool(Relu(u)) → Relu(MaxPool(u)) in a training graph: the same values, since ReLU is
 * monotone and so commutes with a window maximum (MaxPool's padding never wins either way), but
 * the ReLU and its gradient (three passes) run on the pooled map, s² times smaller: resnet's stem
 * [16, 64, 112, 112] → [16, 64, 56, 56], and every stage of VGG.
 *
 * The gradients are the same too: where a window's maximum is positive, both forms send dy to the
 * first position holding it (a positive maximum of u is one of relu(u)); where it is ≤ 0, the ReLU
 * mask zeroes dy either way (relu'(0) = 0, as in PyTorch).
 *
 * Only a Relu read by that one MaxPool (no other node, no graph output) is moved.
 */
import type { Graph, Node } from "./ir.js";

/** Rewrites `graph` in place; returns how many pairs it swapped. */
export function poolBeforeRelu(graph: Graph): number {
  const readers = new Map<string, number>();
  const read = (name: string) => readers.set(name, (readers.get(name) ?? 0) + 1);
  for (const n of graph.nodes) for (const v of n.inputs) if (v) read(v.name);
  for (const v of graph.outputs) read(v.name);
  const producers = new Map<string, Node>();
  for (const n of graph.nodes) for (const o of n.outputs) producers.set(o.name, n);

  const swapped = new Map<Node, Node>(); // MaxPool → the Relu it moves behind
  for (const pool of graph.nodes) {
    if (pool.op !== "MaxPool" || pool.domain || pool.outputs.length !== 1 || !pool.inputs[0]) continue;
    const relu = producers.get(pool.inputs[0].name);
    if (relu && relu.op === "Relu" && !relu.domain && readers.get(relu.outputs[0].name) === 1) swapped.set(pool, relu);
  }
  if (swapped.size === 0) return 0;
  const moved = new Set(swapped.values());
  const original = graph.nodes.splice(0, graph.nodes.length);
  for (const node of original) {
    if (moved.has(node)) continue;
    const relu = swapped.get(node);
    if (!relu) {
      graph.nodes.push(node);
      continue;
    }
    const y = node.outputs[0];
    graph.withAbsoluteScope(node.scope, () => {
      const pooled = graph.addNode("MaxPool", [relu.inputs[0]], [{ dtype: y.dtype, shape: y.shape }], { ...node.attrs })[0];
      // The Relu produces the pool's original output value, so its readers are untouched.
      graph.nodes.push({ op: "Relu", name: `${node.name}/Relu`, inputs: [pooled], outputs: [y], attrs: {}, scope: node.scope });
    });
  }
  return swapped.size;
}
