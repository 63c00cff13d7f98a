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
import { bindModel } from "../models/bind.js";
import type { Model } from "../models/model.js";
import type { RandomMask } from "../nn/context.js";
import {
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
}

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
}

/**
 * Host-side target distribution [B, K] for class indices: one-hot, or with label smoothing ε
 * (1 − ε)·one-hot + ε/K, as torch.nn.CrossEntropyLoss(label_smoothing=ε).
 */
export function targetDistribution(labels: readonly number[], numClasses: number, smoothing = 0): Float32Array {
  if (!(smoothing >= 0 && smoothing < 1)) throw new OptionError(`label smoothing must be in [0, 1), got ${smoothing}`);
  const t = new Float32Array(labels.length * numClasses).fill(smoothing / numClasses);
  labels.forEach((label, i) => {
    if (!Number.isInteger(label) || label < 0 || label >= numClasses)
      throw new OptionError(`label ${label} is not a class index in [0, ${numClasses})`);
    t[i * numClasses + label] += 1 - smoothing;
  });
  return t;
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

  const state: StateEntry[] = [];
  const slotNames = optimizerSlots(optimizer);
  for (const key of trainable) {
    const p = paramInputs.get(key)!;
    const shape = p.shape as number[];
    const slots = Object.fromEntries(slotNames.map((n) => [n, g.addInput(`${key}.${n}`, "float32", shape)]));
    const grad = grads.get(p.name);
    // No gradient reaches it (PyTorch's None): the optimizer leaves it and its slots alone.
    const next = grad
      ? g.withAbsoluteScope(`${optimizer.kind}/${key}`, () => optimizerUpdate(optimizer, { g, param: p, grad, slots, scalars }))
      : { param: ops.identity(g, p), slots: Object.fromEntries(slotNames.map((n) => [n, ops.identity(g, slots[n])])) };
    state.push({ kind: "parameter", key, input: key, output: g.markOutput(next.param, `${key}.new`).name, shape });
    for (const n of slotNames) {
      state.push({ kind: "slot", key, slot: n, input: slots[n].name, output: g.markOutput(next.slots[n], `${key}.${n}.new`).name, shape });
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
  };
}
