/**
 * ONNX Runtime sessions on Node (onnxruntime-node). One place sets the threading and optimisation
 * options, so every command and the benchmarks measure the same configuration.
 */
import { availableParallelism } from "node:os";
import { ort } from "./ort_node.js";
import { OptionError } from "../errors.js";
import type { Tensor } from "../tensor.js";

export interface SessionOptions {
  /** Intra-op threads; all cores by default. */
  threads?: number;
  /**
   * ONNX Runtime's memory-pattern planning (default true, as before). Training sessions are better
   * off without it: on a resnet18 training step (batch 16, 224) it raised peak RSS from 1.27 GB to
   * 2.09 GB for no measurable speed (bench/README.md, `ab_train.ts` findings, "Memory").
   */
  memoryPattern?: boolean;
  /**
   * Fold DequantizeLinear of constant weights into float weights at load (ONNX Runtime's
   * `session.disable_quant_qdq`, which also turns off its int8 QDQ fusions): for weight-only int8
   * models, whose compute is float32 anyway; without it every run dequantizes every weight again.
   */
  dequantizeWeightsAtLoad?: boolean;
  /**
   * ONNX Runtime's CPU memory arena (default true). Off, a run's buffers go back to the system when
   * it ends instead of staying reserved for the next: for sessions kept alive but run rarely (a
   * run's BatchNorm recalibration, once per epoch beside the training session).
   */
  memoryArena?: boolean;
}

export function resolveThreads(threads: number | undefined): number {
  const t = threads ?? availableParallelism();
  if (!Number.isInteger(t) || t < 1 || t > 1024) throw new OptionError(`threads must be a positive integer, got ${threads}`);
  return t;
}

/** The ONNX Runtime options convzoo uses everywhere (also by the raw-ORT baseline in bench/). */
export function ortSessionOptions(options: SessionOptions = {}): ort.InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: resolveThreads(options.threads),
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
    ...(options.memoryPattern === false ? { enableMemPattern: false } : {}),
    ...(options.memoryArena === false ? { enableCpuMemArena: false } : {}),
    ...(options.dequantizeWeightsAtLoad ? { extra: { session: { disable_quant_qdq: "1" } } } : {}),
  };
}

export class Session {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly threads: number,
  ) {}

  static async create(onnx: Uint8Array, options: SessionOptions = {}): Promise<Session> {
    const opts = ortSessionOptions(options);
    return new Session(await ort.InferenceSession.create(onnx, opts), opts.intraOpNumThreads!);
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  /** Runs the graph; float32 inputs and outputs only (what convzoo's graphs use). */
  async run(feeds: Record<string, Tensor<"float32">>): Promise<Record<string, Tensor<"float32">>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor("float32", t.data, [...t.shape]);
    const results = await this.session.run(ortFeeds);
    const out: Record<string, Tensor<"float32">> = {};
    for (const [name, t] of Object.entries(results)) {
      out[name] = { dtype: "float32", shape: t.dims.map(Number), data: t.data as Float32Array };
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
