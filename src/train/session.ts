/**
 * Trainer: one ONNX Runtime session over a training graph, created once; each step feeds the
 * batch, the target distribution, the learning rate and the current state, and keeps the state
 * outputs as the next step's inputs (no graph rebuild, no session re-creation, no copies).
 */
import { OptionError } from "../errors.js";
import type { Model } from "../models/model.js";
import { toOnnx } from "../onnx/serialize.js";
import { Session, type SessionOptions } from "../runtime/session.js";
import type { Tensor } from "../tensor.js";
import { trainingGraph, type StateEntry, type TrainingGraph, type TrainingGraphOptions } from "./graph.js";

export interface TrainerOptions extends TrainingGraphOptions, SessionOptions {}

export class Trainer {
  private readonly values = new Map<string, Float32Array>();
  private steps = 0;
  /** Steps since the last writeBack (for num_batches_tracked). */
  private pending = 0;

  private constructor(
    readonly spec: TrainingGraph,
    private readonly session: Session,
    model: Model,
  ) {
    const params = new Map(model.net.namedParameters());
    for (const s of spec.state) {
      // Parameters and running statistics start from the model (copied: the model keeps its
      // own data until writeBack); momentum buffers from zero (torch's first step then matches).
      this.values.set(s.input, s.kind === "momentum" ? new Float32Array(size(s.shape)) : (params.get(s.key)!.tensor.data as Float32Array).slice());
    }
  }

  static async create(model: Model, options: TrainerOptions): Promise<Trainer> {
    const spec = trainingGraph(model, options);
    const session = await Session.create(toOnnx(spec.graph), { threads: options.threads });
    return new Trainer(spec, session, model);
  }

  /** Steps run so far. */
  get stepCount(): number {
    return this.steps;
  }

  /** One optimizer step on a batch [B, 3, R, R] with targets [B, K]; returns the loss. */
  async step(images: Float32Array, target: Float32Array, lr: number): Promise<number> {
    const { batchSize: b, resolution: r, numClasses: k } = this.spec;
    if (images.length !== b * 3 * r * r) throw new OptionError(`Trainer.step: images must be [${b}, 3, ${r}, ${r}] (${b * 3 * r * r} values), got ${images.length}`);
    if (target.length !== b * k) throw new OptionError(`Trainer.step: target must be [${b}, ${k}] (${b * k} values), got ${target.length}`);
    if (!Number.isFinite(lr)) throw new OptionError(`Trainer.step: learning rate must be finite, got ${lr}`);
    const feeds: Record<string, Tensor<"float32">> = {
      input: { dtype: "float32", shape: [b, 3, r, r], data: images },
      target: { dtype: "float32", shape: [b, k], data: target },
      lr: { dtype: "float32", shape: [], data: new Float32Array([lr]) },
    };
    for (const s of this.spec.state) feeds[s.input] = { dtype: "float32", shape: s.shape, data: this.values.get(s.input)! };
    const out = await this.session.run(feeds);
    for (const s of this.spec.state) this.values.set(s.input, out[s.output].data);
    this.steps++;
    this.pending++;
    return out.loss.data[0];
  }

  /** The current value of a state entry (a parameter, momentum buffer or running statistic). */
  current(entry: StateEntry): Float32Array {
    return this.values.get(entry.input)!;
  }

  /**
   * Copies trained parameters and BatchNorm running statistics into the model's Parameters (and
   * advances `num_batches_tracked` of the BatchNorm layers that trained), so stateDict(model)
   * gives the trained weights.
   */
  writeBack(model: Model): void {
    const params = new Map(model.net.namedParameters());
    for (const s of this.spec.state) {
      if (s.kind === "momentum") continue;
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

  async release(): Promise<void> {
    await this.session.release();
  }
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, d) => a * d, 1);
}
