/**
 * The Module tree. A module has named children and named parameters/buffers; the dotted path of a
 * parameter from the root **is** its torchvision state_dict key (`layer1.0.conv1.weight`), so
 * torchvision checkpoints load with no mapping table. `forward` emits graph ops through a
 * ForwardContext; modules hold no graph state themselves, so one tree can build many graphs
 * (inference, export, training).
 */
import type { Value } from "../graph/ir.js";
import type { ForwardContext } from "./context.js";
import { Parameter, type Init } from "./parameter.js";

export abstract class Module {
  private readonly childModules = new Map<string, Module>();
  private readonly ownParameters = new Map<string, Parameter>();

  /** The name shown in summaries (torchvision's class name). */
  get typeName(): string {
    return this.constructor.name;
  }

  protected addModule<M extends Module>(name: string, module: M): M {
    if (this.childModules.has(name) || this.ownParameters.has(name)) throw new Error(`${this.typeName}: duplicate member "${name}"`);
    this.childModules.set(name, module);
    return module;
  }

  protected addParameter(name: string, shape: readonly number[], how: Init): Parameter {
    return this.register(name, new Parameter("parameter", shape, how));
  }

  protected addBuffer(name: string, shape: readonly number[], how: Init, dtype: "float32" | "int64" = "float32"): Parameter {
    return this.register(name, new Parameter("buffer", shape, how, dtype));
  }

  private register(name: string, p: Parameter): Parameter {
    if (this.childModules.has(name) || this.ownParameters.has(name)) throw new Error(`${this.typeName}: duplicate member "${name}"`);
    this.ownParameters.set(name, p);
    return p;
  }

  /**
   * Replaces a child in place (same name, so same state_dict keys). Only for children that forward()
   * finds by name (a Sequential's layers): a child a typed field holds would be replaced under the
   * field, so that throws.
   */
  replaceModule(name: string, module: Module): void {
    const old = this.childModules.get(name);
    if (!old) throw new Error(`${this.typeName}: no child "${name}"`);
    if (Object.values(this).includes(old)) throw new Error(`${this.typeName}: child "${name}" is a typed field; it cannot be replaced`);
    this.childModules.set(name, module);
  }

  child(name: string): Module | undefined {
    return this.childModules.get(name);
  }

  children(): [string, Module][] {
    return [...this.childModules];
  }

  ownParams(): [string, Parameter][] {
    return [...this.ownParameters];
  }

  /** All modules, depth first, with their dotted paths ("" for this one). */
  *namedModules(prefix = ""): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [name, m] of this.childModules) yield* m.namedModules(prefix ? `${prefix}.${name}` : name);
  }

  /** Parameters and buffers in state_dict order (own first, then children), keyed by path. */
  *namedParameters(prefix = ""): Generator<[string, Parameter]> {
    for (const [name, p] of this.ownParameters) yield [prefix ? `${prefix}.${name}` : name, p];
    for (const [name, m] of this.childModules) yield* m.namedParameters(prefix ? `${prefix}.${name}` : name);
  }

  /** Trainable parameter count (torchvision's convention: buffers excluded). */
  parameterCount(): number {
    let n = 0;
    for (const [, p] of this.namedParameters()) if (p.kind === "parameter") n += p.numel;
    return n;
  }

  /** Multiply-accumulates of this layer alone for one image (conv and linear layers override). */
  macs(_input: Value, _output: Value): number {
    return 0;
  }

  abstract forward(ctx: ForwardContext, x: Value): Value;
}
