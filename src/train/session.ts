/**
 * Trainer (Node): ONNX Runtime sessions over the training graph, created once per batch size (the
 * graph's batch is static; a last short batch gets its own session, built once). Each step feeds
 * the batch, the target distribution, the optimizer's scalars, fresh dropout / stochastic-depth masks
 * from the trainer's seeded generator and the current state, and keeps the state outputs as the next
 * step's inputs: no graph rebuild, no session re-creation, no copies.
 */
import { OptionError } from "../errors.js";
import type { Model } from "../models/model.js";
import { toOnnx } from "../onnx/serialize.js";
import { Random } from "../random.js";
import { Session, type SessionOptions } from "../runtime/session.js";
import { numel, type Tensor } from "../tensor.js";
import { trainingGraph, type StateEntry, type TrainingGraph, type TrainingGraphOptions } from "./graph.js";
import { optimizerScalarValues } from "./optimizers.js";

export interface TrainerOptions extends TrainingGraphOptions, SessionOptions {
  /** Seed of the generator that draws the dropout and stochastic-depth masks; default 0. */
  seed?: number;
}

interface Compiled {
  spec: TrainingGraph;
  session: Session;
}

/** What resume needs besides the weights: optimizer slots, the step count and the mask generator. */
export interface TrainerState {
  steps: number;
  random: number[];
  /** Optimizer slots by `<key>.<slot>` (`layer1.0.conv1.weight.momentum`). */
  slots: Map<string, Float32Array>;
}

export class Trainer {
  private readonly values = new Map<string, Float32Array>();
  private readonly compiled = new Map<number, Compiled>();
  private readonly random: Random;
  private steps = 0;
  /** Steps since the last writeBack (for num_batches_tracked). */
  private pending = 0;
  private logits: Float32Array = new Float32Array(0);

  private constructor(
    private readonly model: Model,
    private readonly options: TrainerOptions,
    first: Compiled,
  ) {
    this.compiled.set(first.spec.batchSize, first);
    this.random = new Random(options.seed ?? 0);
    const params = new Map(model.net.namedParameters());
    for (const s of first.spec.state) {
      // Parameters and running statistics start from the model (copied: the model keeps its
      // own data until writeBack); optimizer slots from zero (as torch's first step).
      this.values.set(s.input, s.kind === "slot" ? new Float32Array(numel(s.shape)) : (params.get(s.key)!.tensor.data as Float32Array).slice());
    }
  }

  static async create(model: Model, options: TrainerOptions): Promise<Trainer> {
    return new Trainer(model, options, await compile(model, options, options.batchSize));
  }

  /** The graph of the main batch size. */
  get spec(): TrainingGraph {
    return this.compiled.get(this.options.batchSize)!.spec;
  }

  /** Steps run so far. */
  get stepCount(): number {
    return this.steps;
  }

  /** The main head's logits [B, K] of the last step (before its update). */
  get lastLogits(): Float32Array {
    return this.logits;
  }

  /**
   * One optimizer step on a batch [b, 3, R, R] with targets [b, K] (b the trainer's batch size, or
   * fewer for a last short batch); returns the loss.
   */
  async step(images: Float32Array, target: Float32Array, lr: number): Promise<number> {
    const { resolution: r, numClasses: k } = this.spec;
    const b = images.length / (3 * r * r);
    if (!Number.isInteger(b) || b < 1 || b > this.options.batchSize) {
      throw new OptionError(`Trainer.step: images must be [b, 3, ${r}, ${r}] with 1 ≤ b ≤ ${this.options.batchSize}, got ${images.length} values`);
    }
    if (target.length !== b * k) throw new OptionError(`Trainer.step: target must be [${b}, ${k}] (${b * k} values), got ${target.length}`);
    if (!Number.isFinite(lr)) throw new OptionError(`Trainer.step: learning rate must be finite, got ${lr}`);
    const { spec, session } = await this.compiledFor(b);
    const feeds: Record<string, Tensor<"float32">> = {
      input: { dtype: "float32", shape: [b, 3, r, r], data: images },
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
    const out = await session.run(feeds);
    for (const s of spec.state) this.values.set(s.input, out[s.output].data);
    this.logits = out.logits.data;
    this.steps++;
    this.pending++;
    return out.loss.data[0];
  }

  /** The current value of a state entry (a parameter, optimizer slot or running statistic). */
  current(entry: StateEntry): Float32Array {
    return this.values.get(entry.input)!;
  }

  /**
   * Copies trained parameters and BatchNorm running statistics into the model's Parameters (and
   * advances `num_batches_tracked` of the BatchNorm layers that trained), so stateDict(model)
   * gives the trained weights.
   */
  writeBack(model: Model = this.model): void {
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

  /** Optimizer slots, step count and generator state (call writeBack for the weights). */
  exportState(): TrainerState {
    const slots = new Map<string, Float32Array>();
    for (const s of this.spec.state) if (s.kind === "slot") slots.set(s.input, this.values.get(s.input)!.slice());
    return { steps: this.steps, random: this.random.getState(), slots };
  }

  /** Restores what exportState gave (the weights come from the model the trainer was created with). */
  importState(state: TrainerState): void {
    for (const s of this.spec.state) {
      if (s.kind !== "slot") continue;
      const v = state.slots.get(s.input);
      if (!v) throw new OptionError(`resume: the saved optimizer state has no ${s.input} (was it saved with another optimizer or strategy?)`);
      if (v.length !== numel(s.shape)) throw new OptionError(`resume: ${s.input} has ${v.length} values, expected [${s.shape.join(", ")}]`);
      this.values.set(s.input, v.slice());
    }
    this.steps = state.steps;
    this.random.setState(state.random);
  }

  async release(): Promise<void> {
    for (const c of this.compiled.values()) await c.session.release();
    this.compiled.clear();
  }

  private async compiledFor(batchSize: number): Promise<Compiled> {
    let c = this.compiled.get(batchSize);
    if (!c) {
      c = await compile(this.model, this.options, batchSize);
      this.compiled.set(batchSize, c);
    }
    return c;
  }
}

async function compile(model: Model, options: TrainerOptions, batchSize: number): Promise<Compiled> {
  const spec = trainingGraph(model, { ...options, batchSize });
  const session = await Session.create(toOnnx(spec.graph), { threads: options.threads });
  return { spec, session };
}
