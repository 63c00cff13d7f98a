/**
 * Inference (Node): a model compiled once to an ONNX Runtime session, then run on tensors or on
 * image files with the weights' own preprocessing.
 */
import { loadImageBatch } from "../data/image.js";
import { preprocessingForResolution, type Preprocessing } from "../models/preprocessing.js";
import { OptionError, ShapeError } from "../errors.js";
import { inferenceGraph, type InferenceOutput } from "../models/inference_graph.js";
import type { Model } from "../models/model.js";
import type { OnnxModel } from "./onnx_model.js";
import { toOnnx } from "../onnx/serialize.js";
import { Session, type SessionOptions } from "../runtime/session.js";
import type { Tensor } from "../tensor.js";
import { formatShape } from "../tensor.js";

export interface PredictorOptions extends SessionOptions {
  resolution?: number;
  output?: InferenceOutput;
  classes?: readonly string[];
  preprocessing?: Preprocessing;
}

export interface Prediction {
  label: string;
  index: number;
  probability: number;
}

export interface Classification {
  file: string;
  top: Prediction[];
}

export class Predictor {
  private constructor(
    /** The model, or null for a predictor made from an ONNX file (`fromOnnx`). */
    readonly model: Model | null,
    readonly arch: string,
    readonly resolution: number,
    readonly output: InferenceOutput,
    readonly classes: readonly string[],
    readonly preprocessing: Preprocessing,
    private readonly session: Session,
  ) {}

  static async create(model: Model, options: PredictorOptions = {}): Promise<Predictor> {
    const resolution = options.resolution ?? model.defaultResolution;
    const output = options.output ?? "probabilities";
    const onnx = toOnnx(inferenceGraph(model, { resolution, output }));
    const session = await Session.create(onnx, options);
    const classes = options.classes ?? Array.from({ length: model.options.numClasses }, (_, i) => `class_${i}`);
    if (classes.length !== model.options.numClasses) {
      throw new OptionError(`${classes.length} class names given for a ${model.options.numClasses}-class model`);
    }
    const preprocessing = preprocessingForResolution(options.preprocessing ?? model.preprocessing, resolution);
    return new Predictor(model, model.arch, resolution, output, classes, preprocessing, session);
  }

  /**
   * A predictor for an ONNX model convzoo wrote (`export`, `quantize`: float32, int8 or fp16 inside,
   * float32 in and out), fed with the preprocessing its metadata records (or `options.preprocessing`).
   */
  static async fromOnnx(onnx: OnnxModel, options: SessionOptions & { preprocessing?: Preprocessing } = {}): Promise<Predictor> {
    const session = await Session.create(onnx.bytes, { ...options, dequantizeWeightsAtLoad: onnx.quantization?.mode === "dynamic" });
    const preprocessing = preprocessingForResolution(options.preprocessing ?? onnx.preprocessing, onnx.resolution);
    return new Predictor(null, onnx.arch, onnx.resolution, onnx.output, onnx.classes, preprocessing, session);
  }

  /** Intra-op threads of the underlying ONNX Runtime session. */
  get threads(): number {
    return this.session.threads;
  }

  /** Runs a normalised batch [N, 3, R, R]; returns [N, numClasses] probabilities (or logits). */
  async predict(batch: Tensor<"float32">): Promise<Tensor<"float32">> {
    const r = this.resolution;
    const s = batch.shape;
    if (s.length !== 4 || s[1] !== 3 || s[2] !== r || s[3] !== r) {
      throw new ShapeError(`${this.arch} expects input [N, 3, ${r}, ${r}], got ${formatShape(s)}`);
    }
    const out = await this.session.run({ input: batch });
    return out[this.output];
  }

  /** Decodes, preprocesses and classifies image files; `topk` best labels per file, sorted. */
  async classifyFiles(files: readonly string[], topk = 5, batchSize = 16): Promise<Classification[]> {
    if (!Number.isInteger(topk) || topk < 1) throw new OptionError(`topk must be a positive integer, got ${topk}`);
    const results: Classification[] = [];
    for (let i = 0; i < files.length; i += batchSize) {
      const chunk = files.slice(i, i + batchSize);
      const batch = await loadImageBatch(chunk, this.preprocessing);
      const out = await this.predict(batch);
      const scores = this.output === "probabilities" ? out : softmaxRows(out);
      chunk.forEach((file, row) => results.push({ file, top: topK(scores, row, topk, this.classes) }));
    }
    return results;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** Softmax over each row of [N, K] logits. */
export function softmaxRows(t: Tensor<"float32">): Tensor<"float32"> {
  const [n, k] = t.shape;
  const out = new Float32Array(t.data.length);
  for (let r = 0; r < n; r++) {
    let max = -Infinity;
    for (let j = 0; j < k; j++) max = Math.max(max, t.data[r * k + j]);
    let sum = 0;
    for (let j = 0; j < k; j++) sum += out[r * k + j] = Math.exp(t.data[r * k + j] - max);
    for (let j = 0; j < k; j++) out[r * k + j] /= sum;
  }
  return { dtype: "float32", shape: t.shape, data: out };
}

function topK(probs: Tensor<"float32">, row: number, k: number, classes: readonly string[]): Prediction[] {
  const n = probs.shape[1];
  const idx = Array.from({ length: n }, (_, j) => j);
  const p = (j: number) => probs.data[row * n + j];
  idx.sort((a, b) => p(b) - p(a));
  return idx.slice(0, Math.min(k, n)).map((j) => ({ label: classes[j], index: j, probability: p(j) }));
}
