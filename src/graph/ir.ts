/**
 * The graph IR: typed, shaped values and ONNX-style nodes, built eagerly with shape inference so a
 * wrong shape is an error at build time, naming the layer (the current scope) where it happened.
 * Browser-safe: no Node imports.
 */
import { ShapeError } from "../errors.js";
import type { DType, Tensor } from "../tensor.js";
import { formatShape } from "../tensor.js";

/** A dimension: a static size, or a symbolic name such as "N" for a dynamic batch. */
export type Dim = number | string;
export type Shape = readonly Dim[];

export interface Value {
  readonly id: number;
  readonly name: string;
  readonly dtype: DType;
  readonly shape: Shape;
}

/** ONNX attribute values, tagged because JS numbers do not say int or float. */
export type Attr =
  | { readonly type: "int"; readonly value: number }
  | { readonly type: "float"; readonly value: number }
  | { readonly type: "ints"; readonly value: readonly number[] }
  | { readonly type: "floats"; readonly value: readonly number[] }
  | { readonly type: "string"; readonly value: string }
  | { readonly type: "tensor"; readonly value: Tensor };

export const attr = {
  int: (value: number): Attr => ({ type: "int", value }),
  float: (value: number): Attr => ({ type: "float", value }),
  ints: (value: readonly number[]): Attr => ({ type: "ints", value }),
  floats: (value: readonly number[]): Attr => ({ type: "floats", value }),
  string: (value: string): Attr => ({ type: "string", value }),
  tensor: (value: Tensor): Attr => ({ type: "tensor", value }),
};

/** Readers of a node's attributes: the value if present with that type, else `fallback` (ONNX's default). */
export function intAttr(node: Node, name: string, fallback: number): number {
  const a = node.attrs[name];
  return a && a.type === "int" ? a.value : fallback;
}

export function floatAttr(node: Node, name: string, fallback: number): number {
  const a = node.attrs[name];
  return a && a.type === "float" ? a.value : fallback;
}

export function intsAttr(node: Node, name: string, fallback: readonly number[]): number[] {
  const a = node.attrs[name];
  return a && a.type === "ints" ? [...a.value] : [...fallback];
}

export function stringAttr(node: Node, name: string, fallback: string): string {
  const a = node.attrs[name];
  return a && a.type === "string" ? a.value : fallback;
}

export interface Node {
  readonly op: string;
  /** The operator set the op belongs to; absent for the default ONNX domain. */
  readonly domain?: string;
  readonly name: string;
  /** `null` marks an omitted optional input (ONNX's empty name). */
  readonly inputs: readonly (Value | null)[];
  readonly outputs: readonly Value[];
  readonly attrs: Readonly<Record<string, Attr>>;
  /** The layer (module path) that emitted the node, for errors and summaries. */
  readonly scope: string;
}

export interface Initializer {
  readonly value: Value;
  readonly tensor: Tensor;
}

export class Graph {
  readonly inputs: Value[] = [];
  readonly outputs: Value[] = [];
  readonly nodes: Node[] = [];
  readonly initializers = new Map<string, Initializer>();
  private nextId = 0;
  private readonly scopes: string[] = [];
  private readonly usedNames = new Set<string>();

  constructor(readonly name = "convzoo") {}

  /** The current layer path ("" at the top), used in node names and error messages. */
  get scope(): string {
    return this.scopes.join(".");
  }

  withScope<T>(name: string, body: () => T): T {
    if (name) this.scopes.push(name);
    try {
      return body();
    } finally {
      if (name) this.scopes.pop();
    }
  }

  /** Runs `body` with an absolute scope (a module's full path), restoring the previous one. */
  withAbsoluteScope<T>(path: string, body: () => T): T {
    const saved = this.scopes.splice(0, this.scopes.length);
    if (path) this.scopes.push(path);
    try {
      return body();
    } finally {
      this.scopes.splice(0, this.scopes.length, ...saved);
    }
  }

  /** Throws a ShapeError that names the current layer. */
  fail(message: string): never {
    const where = this.scope;
    throw new ShapeError(where ? `${where}: ${message}` : message);
  }

  /** An unused name derived from `base` (not yet reserved). */
  private freshName(base: string): string {
    let name = base;
    for (let i = 1; this.usedNames.has(name); i++) name = `${base}_${i}`;
    return name;
  }

  private uniqueName(base: string): string {
    const name = this.freshName(base);
    this.usedNames.add(name);
    return name;
  }

  newValue(dtype: DType, shape: Shape, hint: string): Value {
    const prefix = this.scope ? `${this.scope}/` : "";
    return { id: this.nextId++, name: this.uniqueName(`${prefix}${hint}`), dtype, shape: [...shape] };
  }

  addInput(name: string, dtype: DType, shape: Shape): Value {
    if (this.usedNames.has(name)) this.fail(`graph input name "${name}" is already used`);
    this.usedNames.add(name);
    const value: Value = { id: this.nextId++, name, dtype, shape: [...shape] };
    this.inputs.push(value);
    return value;
  }

  /** A named constant tensor stored in the model (weights, in inference graphs). */
  addInitializer(name: string, tensor: Tensor): Value {
    if (this.usedNames.has(name)) this.fail(`initializer name "${name}" is already used`);
    this.usedNames.add(name);
    const value: Value = { id: this.nextId++, name, dtype: tensor.dtype, shape: [...tensor.shape] };
    this.initializers.set(name, { value, tensor });
    return value;
  }

  /** An anonymous constant (axes, shapes, clip bounds). */
  constant(tensor: Tensor, hint = "const"): Value {
    return this.addInitializer(this.freshName(`${this.scope ? this.scope + "/" : ""}${hint}`), tensor);
  }

  markOutput(value: Value, name?: string): Value {
    if (name && name !== value.name) {
      const renamed = this.addNode("Identity", [value], [{ dtype: value.dtype, shape: value.shape, name }])[0];
      this.outputs.push(renamed);
      return renamed;
    }
    this.outputs.push(value);
    return value;
  }

  /**
   * Appends a node whose output types the caller has already inferred. An output spec with a
   * `name` takes that exact name (graph outputs); otherwise a unique name is derived from the scope.
   */
  addNode(
    op: string,
    inputs: readonly (Value | null)[],
    outputs: readonly { dtype: DType; shape: Shape; name?: string }[],
    attrs: Record<string, Attr> = {},
    domain?: string,
  ): Value[] {
    const outs = outputs.map((o) => {
      if (o.name !== undefined) {
        if (this.usedNames.has(o.name)) this.fail(`value name "${o.name}" is already used`);
        this.usedNames.add(o.name);
        return { id: this.nextId++, name: o.name, dtype: o.dtype, shape: [...o.shape] } as Value;
      }
      return this.newValue(o.dtype, o.shape, op);
    });
    this.nodes.push({
      op,
      ...(domain ? { domain } : {}),
      name: this.uniqueName(`${this.scope || "graph"}/${op}`),
      inputs,
      outputs: outs,
      attrs,
      scope: this.scope,
    });
    return outs;
  }
}

/**
 * Drops nodes and initializers that no graph output depends on (e.g. the classifier when only the
 * embedding or the feature maps are exported). Returns the number of nodes removed.
 */
export function prune(graph: Graph): number {
  const needed = new Set(graph.outputs.map((v) => v.name));
  const keep: Node[] = [];
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const n = graph.nodes[i];
    if (!n.outputs.some((o) => needed.has(o.name))) continue;
    keep.push(n);
    for (const v of n.inputs) if (v) needed.add(v.name);
  }
  const removed = graph.nodes.length - keep.length;
  graph.nodes.splice(0, graph.nodes.length, ...keep.reverse());
  for (const name of [...graph.initializers.keys()]) if (!needed.has(name)) graph.initializers.delete(name);
  return removed;
}

export function describe(value: Value): string {
  return `${value.dtype}${formatShape(value.shape)}`;
}
