/**
 * The one way a Model becomes a Graph. Every graph convzoo builds — inference and export, the
 * structure trace behind `summary`, the training step, BatchNorm statistics, auto's measurements —
 * is a `bindModel` call with its options fixed up front (as onnxblock's Forward/Training blocks, or
 * torchvision's create_feature_extractor: trace once, then take the views you need).
 *
 * Binding never changes the model: weights must already have data (initializeWeights, loadModel),
 * and training-only overrides (dropout, BatchNorm momentum, frozen layers) live in the build.
 */
import { OptionError } from "../errors.js";
import { Graph, type Value } from "../graph/ir.js";
import { ForwardContext, type CaptureRequest } from "../nn/context.js";
import type { Parameter } from "../nn/parameter.js";
import { Random } from "../random.js";
import type { Model } from "./model.js";

/**
 * How parameters and buffers enter the graph:
 *   - "constants": every one is an initializer holding its data (inference: ONNX Runtime folds
 *     BatchNorm into the convs; export keeps torchvision's names);
 *   - "placeholders": every one is a graph input without data (a structure trace: no weights are
 *     touched, so `summary efficientnet_v2_xl` allocates nothing);
 *   - "trainable": parameters and BatchNorm running statistics outside the frozen prefixes are
 *     graph inputs (a training step's state), everything else an initializer.
 */
export type WeightBinding = "constants" | "placeholders" | "trainable";

export interface BindOptions {
  /** "train": layers in training mode (batch statistics, dropout masks, auxiliary heads). */
  mode: "eval" | "train";
  weights: WeightBinding;
  /** Images per graph run: a number for a static batch (training graphs), "N" (default) for dynamic. */
  batch?: number | "N";
  /** Input side; the architecture's default when omitted. */
  resolution?: number;
  /**
   * Run the head module alone on pooled features [batch, D] instead of the whole net on images
   * (a head trained or evaluated on cached backbone features).
   */
  headOnFeatures?: number;
  /** Path prefixes frozen in a training graph: their layers run with eval semantics. */
  frozen?: readonly string[];
  /** Module paths whose BatchNorm runs in training mode while every other layer is frozen. */
  onlyBatchNormsTrain?: ReadonlySet<string>;
  /** See ForwardOptions.batchNormMomentum. */
  batchNormMomentum?: number;
  /** Overrides every Dropout layer's rate in this graph. */
  dropout?: number;
  capture?: CaptureRequest;
  /** Graph name; `<arch>` by default. */
  name?: string;
}

export interface BoundModel {
  graph: Graph;
  /** `input`: [batch, 3, R, R] normalised images, or [batch, D] features (headOnFeatures). */
  input: Value;
  /** The net's (or head's) logits [batch, K]. */
  logits: Value;
  /** The build's record: layer records, captured values, auxiliary outputs, buffer updates, masks. */
  context: ForwardContext;
  /** With weights "trainable": the graph inputs that stand for trainable parameters, by key. */
  parameterInputs: Map<string, Value>;
  /** With weights "trainable": the graph inputs of BatchNorm running statistics, by key. */
  statisticInputs: Map<string, Value>;
  resolution: number;
}

/** Checks the input side against the network's minimum (each stride-2 stage needs a pixel). */
export function checkResolution(model: Model, resolution: number): number {
  if (!Number.isInteger(resolution) || resolution < model.minResolution || resolution > 4096) {
    throw new OptionError(`${model.arch}: resolution must be an integer in [${model.minResolution}, 4096], got ${resolution}`);
  }
  return resolution;
}

/** True when `key` (a parameter or module path) lies under one of the prefixes (dotted boundaries). */
export function underPrefix(key: string, prefixes: readonly string[]): boolean {
  return prefixes.some((p) => p === "" || key === p || key.startsWith(`${p}.`));
}

/**
 * Gives every parameter without data its initial value, in state_dict order, from one seed (the
 * families' initialisers, as torchvision's constructors). Returns the model, for
 * `initializeWeights(createModel("resnet18"), 42)`.
 */
export function initializeWeights(model: Model, seed = 0): Model {
  const rng = new Random(seed);
  for (const [, p] of model.net.namedParameters()) p.materialize(rng);
  return model;
}

/**
 * The one module that is the head (every family's head is a single top-level module applied to the
 * flattened pooled features: `fc`, `classifier`).
 */
export function headModule(model: Model): string {
  if (model.head.length !== 1) throw new Error(`${model.arch}: expected one head module, got ${model.head.join(", ")}`);
  return model.head[0];
}

function isRunningStatistic(key: string): boolean {
  return key.endsWith(".running_mean") || key.endsWith(".running_var");
}

export function bindModel(model: Model, o: BindOptions): BoundModel {
  const resolution = checkResolution(model, o.resolution ?? model.defaultResolution);
  if (o.dropout !== undefined && !(o.dropout >= 0 && o.dropout < 1)) throw new OptionError(`dropout must be in [0, 1), got ${o.dropout}`);
  const batch = o.batch ?? "N";
  const frozenPrefixes = o.frozen ?? [];
  const g = new Graph(o.name ?? model.arch);
  const parameterInputs = new Map<string, Value>();
  const statisticInputs = new Map<string, Value>();

  const constant = (key: string, p: Parameter): Value => {
    if (!p.isMaterialized)
      throw new Error(`${model.arch}: ${key} has no data yet: load weights (loadModel) or call initializeWeights(model, seed) first`);
    return g.addInitializer(key, p.tensor);
  };
  const bind = (key: string, p: Parameter): Value => {
    if (o.weights === "placeholders") return g.addInput(key, p.dtype, p.shape);
    if (o.weights === "trainable" && p.dtype === "float32" && !underPrefix(key, frozenPrefixes)) {
      if (p.kind === "parameter" || isRunningStatistic(key)) {
        const v = g.addInput(key, "float32", p.shape);
        (p.kind === "parameter" ? parameterInputs : statisticInputs).set(key, v);
        return v;
      }
    }
    return constant(key, p);
  };
  const onlyBatchNorms = o.onlyBatchNormsTrain;
  const frozen = onlyBatchNorms ? (path: string) => !onlyBatchNorms.has(path) : (path: string) => underPrefix(path, frozenPrefixes);
  const context = new ForwardContext(g, model.net, {
    training: o.mode === "train",
    bind,
    capture: o.capture,
    frozen,
    batchNormMomentum: o.batchNormMomentum,
    dropout: o.dropout,
  });

  let input: Value;
  let logits: Value;
  if (o.headOnFeatures === undefined) {
    input = g.addInput("input", "float32", [batch, 3, resolution, resolution]);
    logits = context.call(model.net, input);
  } else {
    const dims = o.headOnFeatures;
    if (!(Number.isInteger(dims) && dims > 0)) throw new OptionError(`feature width must be a positive integer, got ${dims}`);
    input = g.addInput("input", "float32", [batch, dims]);
    logits = context.call(model.net.child(headModule(model))!, input);
  }
  return { graph: g, input, logits, context, parameterInputs, statisticInputs, resolution };
}
