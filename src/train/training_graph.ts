/**
 * The training step as one graph: forward in training mode, softmax cross-entropy against a target distribution,
 * gradients for the trainable parameters only, and the optimizer update. Everything that changes per step
 * (images, targets, lr, parameters, optimizer slots, BatchNorm running statistics, dropout masks drawn on the
 * host) is an input `<key>` with its next value as output `<key>.new`, so one session runs every step with the
 * outputs fed back. Frozen parameters stay initializers and their layers run in eval mode. Outputs: `loss`
 * (GoogLeNet adds 0.3 × each aux head's), `logits` and the new state. Inputs and outputs: docs/training.md#the-training-step
 */
import { OptionError } from "../errors.js";
import { gradients } from "../autodiff/gradients.js";
import { Graph, prune, type Value } from "../graph/ir.js";
import { lowerConvsToNchwc } from "../graph/nchwc.js";
import { poolBeforeRelu } from "../graph/pool_before_relu.js";
import * as ops from "../graph/ops.js";
import { bindModel, underPrefix } from "../models/bind.js";
import type { Model } from "../models/model.js";
import type { RandomMask } from "../nn/context.js";
import {
  optimizerLrScalars,
  optimizerScalars,
  optimizerSlots,
  optimizerUpdate,
  resolveOptimizer,
  type OptimizerOptions,
  type ResolvedOptimizer,
} from "./optimizers.js";

export interface TrainingGraphOptions {
  /** Images per step: fixed in the graph (a last short batch needs its own graph). */
  batchSize: number;
  /** Input side; the architecture's default when omitted. */
  resolution?: number;
  /**
   * Path prefixes whose parameters stay fixed (`conv1`, `layer1`, `features.0`): matched on
   * dotted boundaries. Their BatchNorm layers use and keep their running statistics.
   */
  frozen?: readonly string[];
  optimizer?: OptimizerOptions;
  /** Weight of each auxiliary classifier's loss (GoogLeNet); default 0.3. */
  auxLossWeight?: number;
  /**
   * Overrides the rate of every Dropout layer (the classifier's, and GoogLeNet's auxiliary heads');
   * the stochastic-depth rate is a model option (`dropPath`).
   */
  dropout?: number;
  /**
   * Train the head alone on pooled backbone features [B, D] (the inference graph's `pooled`
   * output) instead of images: the `head` strategy with features computed once and cached. Only
   * the head module is in the graph; the backbone is not run (and so not trained).
   */
  featureDims?: number;
  /**
   * Build for ONNX Runtime's NCHWc CPU kernels with this channel block (runtime/nchwc_block.ts
   * on onnxruntime-node): spatial convs are lowered to them (graph/nchwc.ts) and gradient
   * formulations that pay off there are chosen. Absent or 1: plain NCHW (onnxruntime-web).
   */
  nchwcBlock?: number;
  /**
   * Clip the gradients by their global 2-norm before the update (torch.nn.utils.clip_grad_norm_): with
   * the total norm n over every trainable gradient, each is multiplied by min(1, max / (n + 1e-6)).
   * Absent: no clipping.
   */
  clipGradNorm?: number;
  /**
   * Gradient accumulation over k micro-batches per optimizer step (k > 1; 1 or absent: none). The graph
   * then carries a `<key>.grad_acc` slot per trainable parameter and takes two more scalars,
   * `accumulate_weight` (the micro-batch's image count b) and `accumulate_apply` (0, or 1/N on the step
   * that applies, N the group's images): acc ← acc + b·∇; on the apply step the optimizer runs on
   * (acc + b·∇)/N — the gradient of the mean loss over the group — and acc restarts from 0. The host
   * (TrainingState) decides which step applies; BatchNorm statistics update every micro-batch.
   */
  accumulate?: number;
  /**
   * Per-parameter learning-rate factors (discriminative learning rates), as constants in the update:
   * a function of the state_dict key, or prefix → factor (the longest matching prefix on dotted
   * boundaries wins; unmatched: 1). A factor scales the learning rate as a torch param group's lr
   * would (AdamW's decoupled decay too). See layerwiseLrMultipliers.
   */
  lrMultipliers?: LrMultipliers;
}

export type LrMultipliers = ((key: string) => number) | Readonly<Record<string, number>>;

/** The scalar inputs gradient accumulation adds (see TrainingGraphOptions.accumulate). */
export const ACCUMULATE_WEIGHT = "accumulate_weight";
export const ACCUMULATE_APPLY = "accumulate_apply";

/** One piece of state carried from a step to the next: fed as `input`, read back from `output`. */
export interface StateEntry {
  kind: "parameter" | "slot" | "running_mean" | "running_var";
  /** The state_dict key of the parameter or buffer it belongs to. */
  key: string;
  /** For optimizer slots: the slot's name (`momentum`, `exp_avg`, `exp_avg_sq`). */
  slot?: string;
  input: string;
  output: string;
  shape: readonly number[];
}

export interface TrainingGraph {
  graph: Graph;
  state: StateEntry[];
  batchSize: number;
  resolution: number;
  /** One sample's input shape: [3, R, R] images, or [D] pooled features (featureDims). */
  sampleShape: readonly number[];
  numClasses: number;
  /** Trainable parameter keys, state_dict order. */
  trainable: string[];
  /** Non-frozen BatchNorm running-statistics keys whose `num_batches_tracked` advances per step. */
  trackedBatchNorms: string[];
  optimizer: ResolvedOptimizer;
  /** Scalar inputs fed per step (see optimizers.ts). */
  scalars: string[];
  /** Random-mask inputs fed per step (dropout, stochastic depth). */
  masks: RandomMask[];
  /** Micro-batches per optimizer step (1: no accumulation; then the graph has no accumulation inputs). */
  accumulate: number;
}

/**
 * Host-side target distribution [B, K] for class indices: one-hot, or with label smoothing ε
 * (1 − ε)·one-hot + ε/K, as torch.nn.CrossEntropyLoss(label_smoothing=ε).
 *
 * With `classWeights` w (one per class), the rows are scaled so that the graph's mean cross-entropy
 * −(1/B)·Σᵢ Σ_c T[i, c]·log p[i, c] is torch.nn.CrossEntropyLoss(weight=w, label_smoothing=ε) in
 * torch 1.13's formula (mean reduction divides by Σᵢ w[yᵢ], the smoothing term included):
 * T[i, c] = B·((1 − ε)·w[yᵢ]·[c = yᵢ] + (ε/K)·w[c]) / Σⱼ w[yⱼ]. The graph is unchanged.
 */
export function targetDistribution(
  labels: readonly number[],
  numClasses: number,
  smoothing = 0,
  classWeights?: readonly number[] | null,
): Float32Array {
  if (!(smoothing >= 0 && smoothing < 1)) throw new OptionError(`label smoothing must be in [0, 1), got ${smoothing}`);
  for (const label of labels) {
    if (!Number.isInteger(label) || label < 0 || label >= numClasses)
      throw new OptionError(`label ${label} is not a class index in [0, ${numClasses})`);
  }
  if (classWeights) {
    checkClassWeights(classWeights, numClasses);
    const t = new Float32Array(labels.length * numClasses);
    const norm = labels.reduce((sum, y) => sum + classWeights[y], 0);
    if (!(norm > 0)) throw new OptionError("class weights: every class in the batch has weight 0");
    const scale = labels.length / norm;
    labels.forEach((y, i) => {
      for (let c = 0; c < numClasses; c++) {
        t[i * numClasses + c] = scale * ((c === y ? (1 - smoothing) * classWeights[y] : 0) + (smoothing / numClasses) * classWeights[c]);
      }
    });
    return t;
  }
  const t = new Float32Array(labels.length * numClasses).fill(smoothing / numClasses);
  labels.forEach((label, i) => {
    t[i * numClasses + label] += 1 - smoothing;
  });
  return t;
}

/** Checks a class-weight vector (one finite weight ≥ 0 per class, not all 0). */
export function checkClassWeights(w: readonly number[], numClasses: number): void {
  if (w.length !== numClasses) throw new OptionError(`class weights: expected one per class (${numClasses}), got ${w.length}`);
  const bad = w.findIndex((v) => !(v >= 0 && Number.isFinite(v)));
  if (bad >= 0) throw new OptionError(`class weights must be finite numbers >= 0, got ${w[bad]} for class ${bad}`);
  if (w.every((v) => v === 0)) throw new OptionError("class weights: all are 0");
}

/**
 * Class-balanced loss weights from the per-class image counts: n_samples / (n_classes · count_c), as
 * sklearn's compute_class_weight("balanced") (a class with half the mean count weighs 2).
 */
export function balancedClassWeights(counts: readonly number[]): number[] {
  if (counts.length === 0) throw new OptionError("balanced class weights: no classes");
  const bad = counts.findIndex((n) => !(Number.isInteger(n) && n > 0));
  if (bad >= 0) throw new OptionError(`balanced class weights: class ${bad} has ${counts[bad]} images; every class needs at least one`);
  const total = counts.reduce((a, b) => a + b, 0);
  return counts.map((n) => total / (counts.length * n));
}

/** Mean softmax cross-entropy of logits [B, K] against the target distribution [B, K]. */
function crossEntropy(g: Graph, logits: Value, target: Value, batchSize: number): Value {
  const logp = ops.logSoftmax(g, logits, 1);
  const total = ops.reduceSum(g, ops.mul(g, target, logp), [0, 1], false);
  return ops.mul(g, total, ops.scalarConstant(g, -1 / batchSize));
}

export function trainingGraph(model: Model, options: TrainingGraphOptions): TrainingGraph {
  const batchSize = options.batchSize;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new OptionError(`batch size must be a positive integer, got ${batchSize}`);
  const frozen = options.frozen ?? [];
  const optimizer = resolveOptimizer(options.optimizer);
  const numClasses = model.options.numClasses;
  // MLAS's NCHWc blocks (runtime/nchwc_block.ts); anything else would reorder weights wrongly.
  const nchwcBlock = options.nchwcBlock ?? 1;
  if (![1, 8, 16].includes(nchwcBlock))
    throw new OptionError(`nchwcBlock must be 1 (no NCHWc lowering), 8 or 16 (the CPU's block, from nchwcBlockSize()), got ${nchwcBlock}`);
  const bound = bindModel(model, {
    mode: "train",
    weights: "trainable",
    batch: batchSize,
    resolution: options.resolution,
    headOnFeatures: options.featureDims,
    frozen,
    dropout: options.dropout,
    name: `${model.arch}_train`,
  });
  const { graph: g, logits, context: ctx, parameterInputs: paramInputs, statisticInputs: statInputs, resolution } = bound;
  const sampleShape = bound.input.shape.slice(1) as number[];
  const target = g.addInput("target", "float32", [batchSize, numClasses]);
  const scalarNames = optimizerScalars(optimizer);
  const scalars = Object.fromEntries(scalarNames.map((n) => [n, g.addInput(n, "float32", [])]));

  let loss = crossEntropy(g, logits, target, batchSize);
  const auxWeight = options.auxLossWeight ?? 0.3;
  for (const aux of ctx.auxOutputs.values()) {
    loss = ops.add(g, loss, ops.mul(g, crossEntropy(g, aux, target, batchSize), ops.scalarConstant(g, auxWeight)));
  }
  g.markOutput(loss, "loss");
  g.markOutput(ops.identity(g, logits), "logits");
  // Before the gradients are built, so that the ReLU's backward runs on the pooled map too.
  poolBeforeRelu(g);

  // Trainable parameters in state_dict order (the binding saw them in call order).
  const trainable = [...model.net.namedParameters()].filter(([k]) => paramInputs.has(k)).map(([k]) => k);
  if (trainable.length === 0) throw new OptionError(`${model.arch}: nothing to train: every parameter is frozen (${frozen.join(", ")})`);
  const grads = gradients(
    g,
    loss,
    trainable.map((k) => paramInputs.get(k)!),
    { nchwcBlock },
  );

  const accumulate = options.accumulate ?? 1;
  if (!(Number.isInteger(accumulate) && accumulate >= 1))
    throw new OptionError(`accumulate must be a whole number of micro-batches >= 1, got ${options.accumulate}`);
  const clip = options.clipGradNorm;
  if (clip !== undefined && !(clip > 0 && Number.isFinite(clip)))
    throw new OptionError(`clipGradNorm must be a positive number (the largest global gradient norm), got ${clip}`);
  const multiplier = lrMultiplierOf(
    options.lrMultipliers,
    [...model.net.namedParameters()].map(([k]) => k),
  );

  // The gradient each update sees: with accumulation, (acc + b·∇)/N; then clipped by the global norm.
  const withGrad = trainable.filter((k) => grads.has(paramInputs.get(k)!.name));
  const effective = new Map<string, Value>();
  const accumulated = new Map<string, { input: Value; sum: Value }>();
  let apply: Value | null = null;
  if (accumulate > 1) {
    const weight = g.addInput(ACCUMULATE_WEIGHT, "float32", []);
    const applyScale = g.addInput(ACCUMULATE_APPLY, "float32", []);
    scalarNames.push(ACCUMULATE_WEIGHT, ACCUMULATE_APPLY);
    apply = ops.greater(g, applyScale, ops.scalarConstant(g, 0));
    for (const key of withGrad) {
      const p = paramInputs.get(key)!;
      const acc = g.addInput(`${key}.grad_acc`, "float32", p.shape);
      const sum = ops.add(g, acc, ops.mul(g, grads.get(p.name)!, weight));
      accumulated.set(key, { input: acc, sum });
      effective.set(key, ops.mul(g, sum, applyScale));
    }
  } else {
    for (const key of withGrad) effective.set(key, grads.get(paramInputs.get(key)!.name)!);
  }
  if (clip !== undefined && withGrad.length > 0) {
    const squares = withGrad.map((key) => {
      const v = effective.get(key)!;
      return ops.reduceSum(
        g,
        ops.mul(g, v, v),
        v.shape.map((_, i) => i),
        false,
      );
    });
    const total = ops.sqrt(g, squares.length === 1 ? squares[0] : ops.sum(g, squares));
    const coef = ops.clip(g, ops.div(g, ops.scalarConstant(g, clip), ops.add(g, total, ops.scalarConstant(g, 1e-6))), 0, 1);
    g.markOutput(ops.identity(g, total), "grad_norm");
    for (const key of withGrad) effective.set(key, ops.mul(g, effective.get(key)!, coef));
  }
  const lrScalars = optimizerLrScalars(optimizer);

  const state: StateEntry[] = [];
  const slotNames = optimizerSlots(optimizer);
  for (const key of trainable) {
    const p = paramInputs.get(key)!;
    const shape = p.shape as number[];
    const slots = Object.fromEntries(slotNames.map((n) => [n, g.addInput(`${key}.${n}`, "float32", shape)]));
    const grad = effective.get(key);
    const m = multiplier(key);
    const own =
      m === 1
        ? scalars
        : { ...scalars, ...Object.fromEntries(lrScalars.map((n) => [n, ops.mul(g, scalars[n], ops.scalarConstant(g, m))])) };
    // No gradient reaches it (PyTorch's None): the optimizer leaves it and its slots alone.
    let next = grad
      ? g.withAbsoluteScope(`${optimizer.kind}/${key}`, () => optimizerUpdate(optimizer, { g, param: p, grad, slots, scalars: own }))
      : { param: ops.identity(g, p), slots: Object.fromEntries(slotNames.map((n) => [n, ops.identity(g, slots[n])])) };
    if (grad && apply) {
      // Only the apply step changes the parameter and its slots (Where: bit for bit the update or the old value).
      const a = apply;
      next = {
        param: ops.where(g, a, next.param, p),
        slots: Object.fromEntries(slotNames.map((n) => [n, ops.where(g, a, next.slots[n], slots[n])])),
      };
    }
    state.push({ kind: "parameter", key, input: key, output: g.markOutput(next.param, `${key}.new`).name, shape });
    for (const n of slotNames) {
      state.push({ kind: "slot", key, slot: n, input: slots[n].name, output: g.markOutput(next.slots[n], `${key}.${n}.new`).name, shape });
    }
    const acc = accumulated.get(key);
    if (acc && apply) {
      const restarted = ops.where(g, apply, ops.scalarConstant(g, 0), acc.sum);
      state.push({
        kind: "slot",
        key,
        slot: "grad_acc",
        input: acc.input.name,
        output: g.markOutput(restarted, `${key}.grad_acc.new`).name,
        shape,
      });
    }
  }
  const trackedBatchNorms: string[] = [];
  for (const [key, v] of statInputs) {
    const next = ctx.bufferUpdates.get(key);
    if (!next) throw new Error(`${key} is a training input but its layer produced no update`);
    const kind = key.endsWith(".running_mean") ? "running_mean" : "running_var";
    state.push({ kind, key, input: v.name, output: g.markOutput(next, `${key}.new`).name, shape: v.shape as number[] });
    if (kind === "running_mean") trackedBatchNorms.push(key.slice(0, -".running_mean".length));
  }
  lowerConvsToNchwc(g, nchwcBlock);
  // What the lowering left unread (an input gradient's transposed weight, now blocked from its
  // source) would still run: ONNX Runtime executes dead nodes.
  prune(g);
  return {
    graph: g,
    state,
    batchSize,
    resolution,
    sampleShape,
    numClasses,
    trainable,
    trackedBatchNorms,
    optimizer,
    scalars: scalarNames,
    masks: [...ctx.randomMasks.values()],
    accumulate,
  };
}

/** The learning-rate factor of each parameter key (see TrainingGraphOptions.lrMultipliers), checked. */
export function lrMultiplierOf(m: LrMultipliers | undefined, keys: readonly string[]): (key: string) => number {
  if (m === undefined) return () => 1;
  const check = (key: string, f: number): number => {
    if (!(f >= 0 && Number.isFinite(f))) throw new OptionError(`learning-rate multiplier of ${key} must be a finite number >= 0, got ${f}`);
    return f;
  };
  if (typeof m === "function") return (key) => check(key, m(key));
  const prefixes = Object.keys(m).sort((a, b) => b.length - a.length);
  for (const p of prefixes) {
    check(p || "(every parameter)", m[p]);
    if (!keys.some((k) => underPrefix(k, [p]))) throw new OptionError(`learning-rate multipliers: no parameters under "${p}"`);
  }
  return (key) => {
    const p = prefixes.find((q) => underPrefix(key, [q]));
    return p === undefined ? 1 : m[p];
  };
}
