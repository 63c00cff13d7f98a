/**
 * The host side of a training step, independent of the runtime that executes the graph: the state
 * a training graph carries from step to step (initial values from the model, optimizer slots from
 * zero), the feeds of one step (batch, target, the optimizer's scalars, fresh dropout /
 * stochastic-depth masks from a seeded generator, the state), taking the outputs as the next state,
 * and writing trained values back into the model. The same arithmetic as Trainer's; browser-safe,
 * so any ONNX Runtime flavour (onnxruntime-node, onnxruntime-web) can run the step.
 */
import { OptionError } from "../errors.js";
import type { Model } from "../models/model.js";
import { Random } from "../random.js";
import { numel, type Tensor } from "../tensor.js";
import type { StateEntry, TrainingGraph } from "./training_graph.js";
import { optimizerScalarValues } from "./optimizers.js";

/** What resume needs besides the weights: optimizer slots, the step count and the mask generator. */
export interface TrainerState {
  steps: number;
  random: number[];
  /** Optimizer slots by `<key>.<slot>` (`layer1.0.conv1.weight.momentum`). */
  slots: Map<string, Float32Array>;
}

/** The values of every state entry, keyed by the entry's graph input name. */
export class TrainingState {
  private readonly values = new Map<string, Float32Array>();
  private readonly random: Random;
  private steps = 0;
  private logits: Float32Array = new Float32Array(0);
  /** Steps since the last writeBack (for num_batches_tracked). */
  private pending = 0;

  /**
   * Parameters and running statistics start from the model (copied: the model keeps its own data
   * until writeBack); optimizer slots from zero (as torch's first step). `seed` seeds the
   * generator of the dropout and stochastic-depth masks (default 0, as Trainer's).
   */
  constructor(
    readonly spec: TrainingGraph,
    model: Model,
    seed = 0,
  ) {
    this.random = new Random(seed);
    const params = new Map(model.net.namedParameters());
    for (const s of spec.state) {
      if (s.kind === "slot") {
        this.values.set(s.input, new Float32Array(numel(s.shape)));
        continue;
      }
      const p = params.get(s.key);
      if (!p || p.dtype !== "float32") throw new Error(`${model.arch} has no float32 parameter ${s.key} (state entry ${s.input})`);
      this.values.set(s.input, (p.tensor.data as Float32Array).slice());
    }
  }

  /** Steps recorded so far. */
  get stepCount(): number {
    return this.steps;
  }

  /** The main head's logits [B, K] of the last step (before its update). */
  get lastLogits(): Float32Array {
    return this.logits;
  }

  /** The current value of a state entry (a parameter, optimizer slot or running statistic). */
  current(entry: StateEntry): Float32Array {
    return this.values.get(entry.input)!;
  }

  /**
   * Replaces the running statistics the graph carries (BatchNorm recalibration); keys without a
   * state entry (frozen layers) are ignored.
   */
  setRunningStatistics(stats: ReadonlyMap<string, Float32Array>): void {
    for (const s of this.spec.state) {
      if (s.kind !== "running_mean" && s.kind !== "running_var") continue;
      const v = stats.get(s.key);
      if (v) this.values.set(s.input, v.slice());
    }
  }

  /** Optimizer slots, step count and generator state: what resume needs besides the weights. */
  exportState(): TrainerState {
    const slots = new Map<string, Float32Array>();
    for (const s of this.spec.state) if (s.kind === "slot") slots.set(s.input, this.values.get(s.input)!.slice());
    return { steps: this.steps, random: this.random.getState(), slots };
  }

  /** Restores what exportState gave (the weights come from the model the state was created from). */
  importState(state: TrainerState): void {
    for (const s of this.spec.state) {
      if (s.kind !== "slot") continue;
      const v = state.slots.get(s.input);
      if (!v)
        throw new OptionError(`resume: the saved optimizer state has no ${s.input} (was it saved with another optimizer or strategy?)`);
      if (v.length !== numel(s.shape)) throw new OptionError(`resume: ${s.input} has ${v.length} values, expected [${s.shape.join(", ")}]`);
      this.values.set(s.input, v.slice());
    }
    this.steps = state.steps;
    this.random.setState(state.random);
  }

  /**
   * Checks one step's batch and returns every graph input: batch, target, the optimizer's scalars
   * for this step, fresh random masks and the current state.
   */
  feeds(images: Float32Array, target: Float32Array, lr: number, spec: TrainingGraph = this.spec): Record<string, Tensor<"float32">> {
    const { batchSize: b, sampleShape, numClasses: k } = spec;
    const shape = [b, ...sampleShape];
    if (images.length !== numel(shape))
      throw new OptionError(`training step: input must be [${shape.join(", ")}] (${numel(shape)} values), got ${images.length}`);
    if (target.length !== b * k)
      throw new OptionError(`training step: target must be [${b}, ${k}] (${b * k} values), got ${target.length}`);
    if (!Number.isFinite(lr)) throw new OptionError(`training step: learning rate must be finite, got ${lr}`);
    const feeds: Record<string, Tensor<"float32">> = {
      input: { dtype: "float32", shape, data: images },
      target: { dtype: "float32", shape: [b, k], data: target },
    };
    for (const [name, value] of Object.entries(optimizerScalarValues(spec.optimizer, this.steps + 1, lr))) {
      feeds[name] = { dtype: "float32", shape: [], data: new Float32Array([value]) };
    }
    for (const m of spec.masks) {
      const data = new Float32Array(numel(m.shape));
      for (let i = 0; i < data.length; i++) data[i] = this.random.uniform() < m.keep ? 1 / m.keep : 0;
      feeds[m.name] = { dtype: "float32", shape: m.shape, data };
    }
    for (const s of spec.state) feeds[s.input] = { dtype: "float32", shape: s.shape, data: this.values.get(s.input)! };
    return feeds;
  }

  /**
   * Takes a step's outputs as the next state; returns the loss. `spec` is the graph that ran: the
   * trainer's, or one built for another batch size over the same state (a last short batch).
   */
  advance(outputs: Record<string, { readonly data: Float32Array }>, spec: TrainingGraph = this.spec): number {
    for (const s of spec.state) {
      const out = outputs[s.output];
      if (!out) throw new Error(`training step: the runtime returned no output ${s.output}`);
      this.values.set(s.input, out.data);
    }
    if (outputs.logits) this.logits = outputs.logits.data;
    this.steps++;
    this.pending++;
    return outputs.loss.data[0];
  }

  /**
   * Copies trained parameters and BatchNorm running statistics into the model's Parameters (and
   * advances `num_batches_tracked` of the BatchNorm layers that trained), so stateDict(model)
   * gives the trained weights.
   */
  writeBack(model: Model): void {
    const params = new Map(model.net.namedParameters());
    for (const s of this.spec.state) {
      if (s.kind === "slot") continue;
      const p = params.get(s.key);
      if (!p) throw new Error(`writeBack: ${model.arch} has no parameter ${s.key}`);
      p.assign(this.values.get(s.input)!.slice());
    }
    for (const bn of this.spec.trackedBatchNorms) {
      const p = params.get(`${bn}.num_batches_tracked`);
      if (!p || p.dtype !== "int64") continue;
      const t = (p.tensor.data as BigInt64Array).slice();
      t[0] += BigInt(this.pending);
      p.assign(t);
    }
    this.pending = 0;
  }
}
