/**
 * Trainer (Node): ONNX Runtime sessions over the training graph, created once per batch size (the
 * graph's batch is static; a last short batch gets its own session, built once, over the same
 * state). The host side of each step (feeds, masks, optimizer scalars, taking the outputs as the
 * next state) is TrainingState's, shared with the browser's WebTrainer: no graph rebuild, no
 * session re-creation, no copies per step.
 */
import { OptionError } from "../errors.js";
import type { Model } from "../models/model.js";
import { toOnnx } from "../onnx/serialize.js";
import { numel } from "../tensor.js";
import { nchwcBlockSize } from "../runtime/nchwc_block.js";
import { Session, type SessionOptions } from "../runtime/session.js";
import { trainingGraph, type StateEntry, type TrainingGraph, type TrainingGraphOptions } from "./training_graph.js";
import { TrainingState, type EmaOptions, type StepControl, type TrainerState } from "./state.js";

export interface TrainerOptions extends TrainingGraphOptions, SessionOptions {
  /** Seed of the generator that draws the dropout and stochastic-depth masks; default 0. */
  seed?: number;
  /**
   * Run the spatial convolutions on ONNX Runtime's blocked-channel kernels where the CPU has them
   * (graph/nchwc.ts); default true. Off builds the portable plain-NCHW graph, the one
   * onnxruntime-web runs (to check a web step against Node's, or where the lowering is unwanted).
   */
  nchwc?: boolean;
  /** Keep an exponential moving average of the weights (timm's ModelEmaV2), updated after every optimizer step. */
  ema?: EmaOptions | null;
}

interface Compiled {
  spec: TrainingGraph;
  session: Session;
}

export class Trainer {
  private readonly compiled = new Map<number, Compiled>();
  private readonly state: TrainingState;

  private constructor(
    private readonly model: Model,
    private readonly options: TrainerOptions,
    first: Compiled,
  ) {
    this.compiled.set(first.spec.batchSize, first);
    this.state = new TrainingState(first.spec, model, options.seed ?? 0, { ema: options.ema });
  }

  static async create(model: Model, options: TrainerOptions): Promise<Trainer> {
    return new Trainer(model, options, await compile(model, options, options.batchSize));
  }

  /** The graph of the main batch size. */
  get spec(): TrainingGraph {
    return this.state.spec;
  }

  /** Optimizer steps run so far (with accumulation: applied groups). */
  get stepCount(): number {
    return this.state.stepCount;
  }

  /** Whether the last step applied an optimizer update (always, without accumulation). */
  get lastApplied(): boolean {
    return this.state.lastApplied;
  }

  /** Micro-batches in the unfinished accumulation group. */
  get pendingMicroBatches(): number {
    return this.state.pendingMicroBatches;
  }

  /** The EMA weights by state_dict key (trained parameters and running statistics), or null without EMA. */
  get emaValues(): ReadonlyMap<string, Float32Array> | null {
    return this.state.emaValues;
  }

  /** The main head's logits [b, K] of the last step (before its update). */
  get lastLogits(): Float32Array {
    return this.state.lastLogits;
  }

  /**
   * One optimizer step on a batch [b, 3, R, R] with targets [b, K] (b the trainer's batch size, or
   * fewer for a last short batch); returns the loss. With accumulation, one micro-batch: the update
   * applies on the k-th since the last, or where `control.apply` says (an epoch's last group).
   */
  async step(images: Float32Array, target: Float32Array, lr: number, control: StepControl = {}): Promise<number> {
    const sample = numel(this.spec.sampleShape);
    const b = images.length / sample;
    if (!Number.isInteger(b) || b < 1 || b > this.options.batchSize) {
      throw new OptionError(
        `Trainer.step: input must be [b, ${this.spec.sampleShape.join(", ")}] with 1 ≤ b ≤ ` +
          `${this.options.batchSize}, got ${images.length} values`,
      );
    }
    const { spec, session } = await this.compiledFor(b);
    return this.state.advance(await session.run(this.state.feeds(images, target, lr, spec, control)), spec);
  }

  /** The current value of a state entry (a parameter, optimizer slot or running statistic). */
  current(entry: StateEntry): Float32Array {
    return this.state.current(entry);
  }

  /** Copies the trained values (or with `{ ema: true }` their EMA) into the model (see TrainingState.writeBack). */
  writeBack(model: Model = this.model, o: { ema?: boolean } = {}): void {
    this.state.writeBack(model, o);
  }

  /** See TrainingState.setRunningStatistics (`{ ema: true }`: the EMA's). */
  setRunningStatistics(stats: ReadonlyMap<string, Float32Array>, o: { ema?: boolean } = {}): void {
    this.state.setRunningStatistics(stats, o);
  }

  /** Optimizer slots, step count and generator state (call writeBack for the weights). */
  exportState(): TrainerState {
    return this.state.exportState();
  }

  importState(state: TrainerState): void {
    this.state.importState(state);
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
  const spec = trainingGraph(model, { ...options, batchSize, nchwcBlock: options.nchwc === false ? 1 : await nchwcBlockSize() });
  // Without ORT's memory pattern a resnet18 b16@224 step peaks at 1.27 GB instead of 2.09 GB, at the
  // same speed (bench/README.md, findings).
  const session = await Session.create(toOnnx(spec.graph), { threads: options.threads, memoryPattern: false });
  return { spec, session };
}
