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
import { TrainingState, type TrainerState } from "./state.js";

export interface TrainerOptions extends TrainingGraphOptions, SessionOptions {
  /** Seed of the generator that draws the dropout and stochastic-depth masks; default 0. */
  seed?: number;
  /**
   * Run the spatial convolutions on ONNX Runtime's blocked-channel kernels where the CPU has them
   * (graph/nchwc.ts); default true. Off builds the portable plain-NCHW graph, the one
   * onnxruntime-web runs (to check a web step against Node's, or where the lowering is unwanted).
   */
  nchwc?: boolean;
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
    this.state = new TrainingState(first.spec, model, options.seed ?? 0);
  }

  static async create(model: Model, options: TrainerOptions): Promise<Trainer> {
    return new Trainer(model, options, await compile(model, options, options.batchSize));
  }

  /** The graph of the main batch size. */
  get spec(): TrainingGraph {
    return this.state.spec;
  }

  /** Steps run so far. */
  get stepCount(): number {
    return this.state.stepCount;
  }

  /** The main head's logits [b, K] of the last step (before its update). */
  get lastLogits(): Float32Array {
    return this.state.lastLogits;
  }

  /**
   * One optimizer step on a batch [b, 3, R, R] with targets [b, K] (b the trainer's batch size, or
   * fewer for a last short batch); returns the loss.
   */
  async step(images: Float32Array, target: Float32Array, lr: number): Promise<number> {
    const sample = numel(this.spec.sampleShape);
    const b = images.length / sample;
    if (!Number.isInteger(b) || b < 1 || b > this.options.batchSize) {
      throw new OptionError(
        `Trainer.step: input must be [b, ${this.spec.sampleShape.join(", ")}] with 1 ≤ b ≤ ` +
          `${this.options.batchSize}, got ${images.length} values`,
      );
    }
    const { spec, session } = await this.compiledFor(b);
    return this.state.advance(await session.run(this.state.feeds(images, target, lr, spec)), spec);
  }

  /** The current value of a state entry (a parameter, optimizer slot or running statistic). */
  current(entry: StateEntry): Float32Array {
    return this.state.current(entry);
  }

  /** Copies the trained values into the model (see TrainingState.writeBack). */
  writeBack(model: Model = this.model): void {
    this.state.writeBack(model);
  }

  /** See TrainingState.setRunningStatistics. */
  setRunningStatistics(stats: ReadonlyMap<string, Float32Array>): void {
    this.state.setRunningStatistics(stats);
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
