/**
 * Training in the browser: the same one-graph training step as Trainer, run by any ONNX Runtime JavaScript API
 * passed in (onnxruntime-web, or onnxruntime-node: both share onnxruntime-common). convzoo does not import the
 * runtime here, so this module is browser-safe; the app brings its own and configures `ort.env.wasm`.
 * Usage example: docs/training.md#training-in-the-browser
 */
import type { Model } from "../models/model.js";
import { toOnnx } from "../onnx/serialize.js";
import { trainingGraph, type StateEntry, type TrainingGraph, type TrainingGraphOptions } from "./training_graph.js";
import { TrainingState, type EmaOptions, type StepControl } from "./state.js";

/** The part of an ONNX Runtime tensor the trainer reads. */
export interface OrtTensorLike {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: unknown;
}

/** The part of an ONNX Runtime InferenceSession the trainer uses. */
export interface OrtSessionLike {
  run(feeds: Record<string, OrtTensorLike>): Promise<Record<string, OrtTensorLike>>;
  release(): Promise<void>;
}

/** The part of an ONNX Runtime module (`import * as ort from "onnxruntime-web"`) the trainer uses. */
export interface OrtLike {
  InferenceSession: {
    create(model: Uint8Array, options?: object): Promise<OrtSessionLike>;
  };
  Tensor: new (type: "float32", data: Float32Array, dims: readonly number[]) => OrtTensorLike;
}

export interface WebTrainerOptions extends TrainingGraphOptions {
  /**
   * InferenceSession options, as the runtime takes them; default
   * `{ executionProviders: ["wasm"], graphOptimizationLevel: "all" }` for onnxruntime-web; with
   * onnxruntime-node pass its own (e.g. ortSessionOptions() from src/runtime/session.ts).
   */
  sessionOptions?: object;
  /** Seed of the generator that draws the dropout and stochastic-depth masks; default 0. */
  seed?: number;
  /** Keep an exponential moving average of the weights (timm's ModelEmaV2). */
  ema?: EmaOptions | null;
}

/**
 * One InferenceSession over a training graph; each step feeds the state outputs back. Unlike the
 * Node Trainer, the batch size is the graph's only (no second session for a last short batch).
 */
export class WebTrainer {
  private constructor(
    readonly spec: TrainingGraph,
    private readonly ort: OrtLike,
    private readonly session: OrtSessionLike,
    private readonly state: TrainingState,
  ) {}

  static async create(ort: OrtLike, model: Model, options: WebTrainerOptions): Promise<WebTrainer> {
    const spec = trainingGraph(model, options);
    const sessionOptions = options.sessionOptions ?? { executionProviders: ["wasm"], graphOptimizationLevel: "all" };
    const session = await ort.InferenceSession.create(toOnnx(spec.graph), sessionOptions);
    return new WebTrainer(spec, ort, session, new TrainingState(spec, model, options.seed, { ema: options.ema }));
  }

  /** Steps run so far. */
  get stepCount(): number {
    return this.state.stepCount;
  }

  /** One optimizer step (with accumulation: micro-batch) on a batch [B, 3, R, R] with targets [B, K]; returns the loss. */
  async step(images: Float32Array, target: Float32Array, lr: number, control: StepControl = {}): Promise<number> {
    const feeds: Record<string, OrtTensorLike> = {};
    for (const [name, t] of Object.entries(this.state.feeds(images, target, lr, this.spec, control)))
      feeds[name] = new this.ort.Tensor("float32", t.data, [...t.shape]);
    const results = await this.session.run(feeds);
    const outputs: Record<string, { data: Float32Array }> = {};
    for (const [name, t] of Object.entries(results)) {
      if (t.type !== "float32" || !(t.data instanceof Float32Array))
        throw new Error(`training step: output ${name} is ${t.type}, expected float32 on the CPU`);
      outputs[name] = { data: t.data };
    }
    return this.state.advance(outputs);
  }

  /** The main head's logits [B, K] of the last step (before its update). */
  get lastLogits(): Float32Array {
    return this.state.lastLogits;
  }

  /** The current value of a state entry (a parameter, optimizer slot or running statistic). */
  current(entry: StateEntry): Float32Array {
    return this.state.current(entry);
  }

  /** Copies trained parameters and running statistics (and num_batches_tracked) into the model; `{ ema: true }`: their EMA. */
  writeBack(model: Model, o: { ema?: boolean } = {}): void {
    this.state.writeBack(model, o);
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
