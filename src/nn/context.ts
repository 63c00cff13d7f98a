/**
 * ForwardContext: what a Module's forward needs to emit ops — the graph, the mode, how a parameter
 * becomes a graph value (an initializer for inference, a graph input for training), and a record
 * of every module call (name, type, output shape, params, MACs) that `summary` is built from.
 */
import type { Graph, Shape, Value } from "../graph/ir.js";
import type { Module } from "./module.js";
import type { Parameter } from "./parameter.js";

export interface LayerRecord {
  /** Module path, the state_dict prefix (`layer1.0.conv1`). */
  name: string;
  type: string;
  /** Nesting depth below the root (1 = a direct child). */
  depth: number;
  /** True for modules without children (the layers `summary` lists). */
  leaf: boolean;
  outputShape: Shape;
  /** Trainable parameters owned by this module and its descendants. */
  params: number;
  /** Conv + linear multiply-accumulates of this module and its descendants, per image. */
  macs: number;
}

/** Maps a parameter (by its state_dict key) to the graph value that stands for it. */
export type ParameterBinding = (key: string, p: Parameter) => Value;

export interface CaptureRequest {
  /** Module paths whose output to keep (feature maps). */
  outputs?: Iterable<string>;
  /** Module paths whose input to keep (the embedding is the final classifier's input). */
  inputs?: Iterable<string>;
}

/** A Bernoulli mask input: each entry is 1/keep with probability `keep`, else 0 (inverted dropout). */
export interface RandomMask {
  name: string;
  keep: number;
  shape: readonly number[];
}

/** How one graph is built from a module tree; fixed for the whole build. */
export interface ForwardOptions {
  /** Training-mode layers (batch statistics, dropout masks, auxiliary heads). */
  training: boolean;
  bind: ParameterBinding;
  capture?: CaptureRequest;
  /**
   * Training graphs: module paths that run with eval semantics although `training` is true (frozen
   * layers: BatchNorm uses and keeps its running statistics). Nothing is frozen by default.
   */
  frozen?: (path: string) => boolean;
  /**
   * Training graphs: overrides every BatchNorm's momentum. With 1 the running-statistics updates
   * are the batch statistics themselves (what BatchNorm recalibration averages).
   */
  batchNormMomentum?: number;
  /** Training graphs: overrides the rate of every Dropout layer (the model keeps its own). */
  dropout?: number;
}

export class ForwardContext {
  readonly records: LayerRecord[] = [];
  /** Captured values by module path (see CaptureRequest); the first call of a module wins. */
  readonly capturedOutputs = new Map<string, Value>();
  readonly capturedInputs = new Map<string, Value>();
  /**
   * Extra training-only outputs (GoogLeNet's auxiliary classifiers), keyed by module path. Nets
   * add them only when `training` is true, so inference and export graphs never contain them.
   */
  readonly auxOutputs = new Map<string, Value>();
  /**
   * Training graphs: updated buffers (BatchNorm running statistics) keyed by state_dict key
   * (`bn1.running_mean`), written by layers that update state in training mode.
   */
  readonly bufferUpdates = new Map<string, Value>();
  /**
   * Training graphs: the random masks of dropout and stochastic depth, as graph inputs the trainer
   * fills each step from its seeded generator (so a run is reproducible and resumable), keyed by
   * input name (`classifier.0.mask`).
   */
  readonly randomMasks = new Map<string, RandomMask>();
  private readonly captureOutputs: Set<string>;
  private readonly captureInputs: Set<string>;
  private readonly paths = new Map<Module, string>();
  private readonly bound = new Map<string, Value>();
  private macsSoFar = 0;

  readonly training: boolean;
  /** Module paths that run with eval semantics in a training graph (see ForwardOptions.frozen). */
  readonly frozen: (path: string) => boolean;
  /** Overrides every BatchNorm's momentum when set (see ForwardOptions.batchNormMomentum). */
  readonly batchNormMomentum: number | null;
  private readonly bind: ParameterBinding;
  private readonly dropoutOverride: number | undefined;

  constructor(
    readonly g: Graph,
    readonly root: Module,
    options: ForwardOptions,
  ) {
    this.training = options.training;
    this.bind = options.bind;
    this.frozen = options.frozen ?? (() => false);
    this.batchNormMomentum = options.batchNormMomentum ?? null;
    this.dropoutOverride = options.dropout;
    this.captureOutputs = new Set(options.capture?.outputs ?? []);
    this.captureInputs = new Set(options.capture?.inputs ?? []);
    for (const [path, m] of root.namedModules()) if (!this.paths.has(m)) this.paths.set(m, path);
  }

  pathOf(m: Module): string {
    const path = this.paths.get(m);
    if (path === undefined) throw new Error(`${m.typeName} is not part of the model being built`);
    return path;
  }

  /** The graph value for `m`'s own parameter or buffer `name`, bound once per build. */
  param(m: Module, name: string): Value {
    const own = m.ownParams().find(([n]) => n === name);
    if (!own) throw new Error(`${m.typeName} has no parameter "${name}"`);
    const path = this.pathOf(m);
    const key = path ? `${path}.${name}` : name;
    let v = this.bound.get(key);
    if (!v) {
      v = this.bind(key, own[1]);
      this.bound.set(key, v);
    }
    return v;
  }

  /** True when `m` runs in training mode: a training graph and `m` not frozen. */
  isTraining(m: Module): boolean {
    return this.training && !this.frozen(this.pathOf(m));
  }

  /** The rate a Dropout layer with rate `p` uses in this graph. */
  dropoutRate(p: number): number {
    return this.dropoutOverride ?? p;
  }

  /** A fresh random-mask input for `m` (see randomMasks); the shape must be static. */
  randomMask(m: Module, keep: number, shape: Shape): Value {
    const dims = shape.map((d) => {
      if (typeof d !== "number") this.g.fail(`${m.typeName} in training mode needs a static batch size, got [${shape.join(", ")}]`);
      return d;
    });
    const path = this.pathOf(m);
    const name = path ? `${path}.mask` : "mask";
    if (this.randomMasks.has(name))
      this.g.fail(`${m.typeName} at ${path} is called twice in one training graph; each call needs its own mask`);
    this.randomMasks.set(name, { name, keep, shape: dims });
    return this.g.addInput(name, "float32", dims);
  }

  /** Runs `m.forward` under its path as scope (so shape errors name it) and records the call. */
  call(m: Module, x: Value): Value {
    const path = this.pathOf(m);
    const macsBefore = this.macsSoFar;
    const index = this.records.length;
    if (this.captureInputs.has(path) && !this.capturedInputs.has(path)) this.capturedInputs.set(path, x);
    const y = this.g.withAbsoluteScope(path, () => m.forward(this, x));
    const leaf = m.children().length === 0;
    if (leaf) this.macsSoFar += m.macs(x, y);
    const record: LayerRecord = {
      name: path,
      type: m.typeName,
      depth: path === "" ? 0 : path.split(".").length,
      leaf,
      outputShape: y.shape,
      params: m.parameterCount(),
      macs: this.macsSoFar - macsBefore,
    };
    // Parents are inserted before their children so records read top-down.
    this.records.splice(index, 0, record);
    if (this.captureOutputs.has(path) && !this.capturedOutputs.has(path)) this.capturedOutputs.set(path, y);
    return y;
  }

  /** Total conv + linear MACs per image recorded so far. */
  get totalMacs(): number {
    return this.macsSoFar;
  }
}
