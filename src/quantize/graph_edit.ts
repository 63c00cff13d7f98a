/**
 * Small edits on the project's graph IR (graph/ir.ts) that the quantization passes share: who
 * consumes a value, re-pointing a node's inputs, and capturing the nodes a builder call appended so
 * they can be placed where the topological order needs them. Browser-safe.
 */
import type { Graph, Node, Value } from "../graph/ir.js";

/** value name → the nodes that read it (a node reading a value twice is listed once). */
export function consumersOf(g: Graph): Map<string, Node[]> {
  const out = new Map<string, Node[]>();
  for (const n of g.nodes) {
    for (const v of new Set(n.inputs.flatMap((x) => (x ? [x.name] : [])))) {
      const list = out.get(v);
      if (list) list.push(n);
      else out.set(v, [n]);
    }
  }
  return out;
}

/** value name → the node that writes it. */
export function producersOf(g: Graph): Map<string, Node> {
  return new Map(g.nodes.flatMap((n) => n.outputs.map((o) => [o.name, n] as const)));
}

/** A copy of `node` reading `replace.get(name)` where it read `name`. */
export function withInputs(node: Node, replace: ReadonlyMap<string, Value>): Node {
  return { ...node, inputs: node.inputs.map((v) => (v ? (replace.get(v.name) ?? v) : v)) };
}

/** Runs `build` (which appends nodes via g.addNode) and takes the appended nodes back out of g.nodes. */
export function captureNodes<T>(g: Graph, scope: string, build: () => T): { result: T; nodes: Node[] } {
  const before = g.nodes.length;
  const result = g.withAbsoluteScope(scope, build);
  return { result, nodes: g.nodes.splice(before) };
}

/** Whether `name` is a constant of the graph (an initializer), i.e. a weight rather than an activation. */
export function isInitializer(g: Graph, name: string): boolean {
  return g.initializers.has(name);
}
