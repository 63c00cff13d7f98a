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
import { ACCUMULATE_APPLY, ACCUMULATE_WEIGHT, type StateEntry, type TrainingGraph } from "./training_graph.js";
import { optimizerScalarValues } from "./optimizers.js";

/**
 * What resume needs besides the weights: optimizer slots, the step count and the mask generator.
 * With gradient accumulation the slots also hold `<key>.grad_acc` and `accumulation` ([micro-batches,
 * images] of the unfinished group); with EMA, `ema.<key>` for every trained parameter and running
 * statistic: so a resume file that stores the slots as tensors stores them too.
 */
export interface TrainerState {
  /** Optimizer steps (with accumulation: applied groups, not micro-batches). */
  steps: number;
  random: number[];
  /** Optimizer slots by `<key>.<slot>` (`layer1.0.conv1.weight.momentum`), and the entries above. */
  slots: Map<string, Float32Array>;
}

/** Exponential moving average of the weights (timm's ModelEmaV2). */
export interface EmaOptions {
  /** ema ← decay·ema + (1 − decay)·value after every optimizer step; timm's default 0.9998. */
  decay: number;
}

export const EMA_PREFIX = "ema.";
const ACCUMULATION = "accumulation";

/** Checks EMA options (decay in [0, 1)). */
export function checkEma(ema: EmaOptions | null | undefined): void {
  if (ema && !(ema.decay >= 0 && ema.decay < 1)) throw new OptionError(`EMA decay must be in [0, 1), got ${ema.decay}`);
}

export interface TrainingStateOptions {
  ema?: EmaOptions | null;
}

/** With accumulation: whether a micro-batch ends its group (default: the k-th since the last). */
export interface StepControl {
  apply?: boolean;
}

/** The values of every state entry, keyed by the entry's graph input name. */
export class TrainingState {
  private readonly values = new Map<string, Float32Array>();
  private readonly random: Random;
  private steps = 0;
  private logits: Float32Array = new Float32Array(0);
  /** Micro-batches since the last writeBack (for num_batches_tracked). */
  private pending = 0;
  /** Accumulation: micro-batches and images of the unfinished group; the apply decision of the fed step. */
  private group = { micro: 0, images: 0 };
  private fed: { apply: boolean; images: number } | null = null;
  private applied = true;
  /** EMA of every parameter and running statistic the graph trains, by state_dict key (timm's ModelEmaV2). */
  private readonly ema: Map<string, Float32Array> | null = null;
  private readonly emaDecay: number = 0;

  /**
   * Parameters and running statistics start from the model (copied: the model keeps its own data
   * until writeBack); optimizer slots from zero (as torch's first step). `seed` seeds the
   * generator of the dropout and stochastic-depth masks (default 0, as Trainer's).
   */
  constructor(
    readonly spec: TrainingGraph,
    model: Model,
    seed = 0,
    options: TrainingStateOptions = {},
  ) {
    this.random = new Random(seed);
    checkEma(options.ema);
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
    if (options.ema) {
      this.emaDecay = options.ema.decay;
      this.ema = new Map();
      for (const s of spec.state) if (s.kind !== "slot") this.ema.set(s.key, this.values.get(s.input)!.slice());
    }
  }

  /** Whether the last step applied an optimizer update (always, without accumulation). */
  get lastApplied(): boolean {
    return this.applied;
  }

  /** Micro-batches in the unfinished accumulation group (0 without accumulation). */
  get pendingMicroBatches(): number {
    return this.group.micro;
  }

  /** The EMA weights by state_dict key (trained parameters and running statistics), or null without EMA. */
  get emaValues(): ReadonlyMap<string, Float32Array> | null {
    return this.ema;
  }

  /**
   * timm ModelEmaV2's update, in float32 as torch computes it: ema ← f32(decay)·ema + f32(1 − decay)·value
   * for every trained parameter and BatchNorm running statistic. Frozen parameters are constant (their EMA
   * is themselves); num_batches_tracked is copied (as ModelEmaV3).
   */
  private updateEma(): void {
    if (!this.ema) return;
    const d = Math.fround(this.emaDecay);
    const w = Math.fround(1 - this.emaDecay);
    for (const s of this.spec.state) {
      if (s.kind === "slot") continue;
      const e = this.ema.get(s.key)!;
      const v = this.values.get(s.input)!;
      for (let i = 0; i < e.length; i++) e[i] = Math.fround(d * e[i]) + Math.fround(w * v[i]);
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
  setRunningStatistics(stats: ReadonlyMap<string, Float32Array>, o: { ema?: boolean } = {}): void {
    if (o.ema && !this.ema) throw new OptionError("setRunningStatistics({ ema: true }): the trainer keeps no EMA");
    for (const s of this.spec.state) {
      if (s.kind !== "running_mean" && s.kind !== "running_var") continue;
      const v = stats.get(s.key);
      if (!v) continue;
      if (o.ema) this.ema!.set(s.key, v.slice());
      else this.values.set(s.input, v.slice());
    }
  }

  /** Optimizer slots, step count and generator state: what resume needs besides the weights. */
  exportState(): TrainerState {
    const slots = new Map<string, Float32Array>();
    for (const s of this.spec.state) if (s.kind === "slot") slots.set(s.input, this.values.get(s.input)!.slice());
    if (this.spec.accumulate > 1) slots.set(ACCUMULATION, Float32Array.of(this.group.micro, this.group.images));
    if (this.ema) for (const [key, v] of this.ema) slots.set(`${EMA_PREFIX}${key}`, v.slice());
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
    if (this.spec.accumulate > 1) {
      const a = state.slots.get(ACCUMULATION);
      if (!a || a.length !== 2)
        throw new OptionError("resume: the saved state has no gradient-accumulation progress (was it saved without --accumulate?)");
      this.group = { micro: a[0], images: a[1] };
    }
    if (this.ema) {
      for (const [key, e] of this.ema) {
        const v = state.slots.get(`${EMA_PREFIX}${key}`);
        if (!v) throw new OptionError(`resume: the saved state has no EMA of ${key} (was it saved without EMA?)`);
        if (v.length !== e.length) throw new OptionError(`resume: the EMA of ${key} has ${v.length} values, expected ${e.length}`);
        this.ema.set(key, v.slice());
      }
    }
    this.steps = state.steps;
    this.random.setState(state.random);
  }

  /**
   * Checks one step's batch and returns every graph input: batch, target, the optimizer's scalars
   * for this step, fresh random masks and the current state.
   */
  feeds(
    images: Float32Array,
    target: Float32Array,
    lr: number,
    spec: TrainingGraph = this.spec,
    control: StepControl = {},
  ): Record<string, Tensor<"float32">> {
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
    if (spec.accumulate > 1) {
      const apply = control.apply ?? this.group.micro + 1 >= spec.accumulate;
      const images = this.group.images + b;
      feeds[ACCUMULATE_WEIGHT] = { dtype: "float32", shape: [], data: Float32Array.of(b) };
      feeds[ACCUMULATE_APPLY] = { dtype: "float32", shape: [], data: Float32Array.of(apply ? 1 / images : 0) };
      this.fed = { apply, images: b };
    } else if (control.apply === false) {
      throw new OptionError("training step: apply: false needs a graph built with accumulate > 1");
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
    this.pending++;
    if (spec.accumulate > 1) {
      const fed = this.fed;
      if (!fed) throw new Error("training step: advance without feeds");
      this.fed = null;
      this.applied = fed.apply;
      this.group = fed.apply ? { micro: 0, images: 0 } : { micro: this.group.micro + 1, images: this.group.images + fed.images };
    }
    if (this.applied) {
      this.steps++;
      this.updateEma();
    }
    return outputs.loss.data[0];
  }

  /**
   * Copies trained parameters and BatchNorm running statistics into the model's Parameters (and
   * advances `num_batches_tracked` of the BatchNorm layers that trained), so stateDict(model)
   * gives the trained weights; `{ ema: true }`: their EMA instead (the same num_batches_tracked).
   */
  writeBack(model: Model, o: { ema?: boolean } = {}): void {
    if (o.ema && !this.ema) throw new OptionError("writeBack({ ema: true }): the trainer keeps no EMA (no ema option)");
    const params = new Map(model.net.namedParameters());
    for (const s of this.spec.state) {
      if (s.kind === "slot") continue;
      const p = params.get(s.key);
      if (!p) throw new Error(`writeBack: ${model.arch} has no parameter ${s.key}`);
      p.assign((o.ema ? this.ema!.get(s.key)! : this.values.get(s.input)!).slice());
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
