/**
 * What `convzoo serve` serves: a model source runs normalised image batches [N, 3, R, R] and knows
 * how to make them (its preprocessing) and how to name its outputs (its classes). Two sources exist:
 * a convzoo model compiled in process (weights file or registry name) and an ONNX file written by
 * `convzoo export`; a quantized ONNX file (issue 18) is the second kind too.
 */
import { defaultClassNames } from "../data/imagenet_classes.js";
import { OptionError, WeightsError } from "../errors.js";
import { exportOnnx } from "../inference/export.js";
import { readOnnxModel } from "../inference/onnx_model.js";
import type { Predictor } from "../inference/predictor.js";
import type { Model } from "../models/model.js";
import { preprocessingForResolution, type Preprocessing } from "../models/preprocessing.js";
import type { Tensor } from "../tensor.js";
import { SessionPool, type PoolOptions } from "./session_pool.js";

/** What the network's output rows hold: logits (probabilities are then computed) or softmax probabilities. */
export type SourceOutput = "logits" | "probabilities";

export interface ModelSource {
  /** The name clients use in `/v2/models/{name}`. */
  readonly name: string;
  /** Reported as the model's platform in its metadata. */
  readonly platform: string;
  readonly arch: string;
  /** The input side R of [N, 3, R, R]. */
  readonly resolution: number;
  readonly classes: readonly string[];
  /** The transform an encoded image goes through before the network (the weights' own). */
  readonly preprocessing: Preprocessing;
  readonly output: SourceOutput;
  /** Batches that may run at once (Triton's instance_group count): the batcher never exceeds it. */
  readonly instances: number;
  /** ONNX Runtime threads of each instance. */
  readonly threads: number;
  /** Runs one normalised batch [N, 3, R, R]; returns [N, classes.length] rows of `output`. */
  run(batch: Tensor<"float32">): Promise<Tensor<"float32">>;
  release(): Promise<void>;
}

export interface CompileOptions {
  resolution?: number;
  classes?: readonly string[];
  preprocessing?: Preprocessing;
  /** ONNX Runtime intra-op threads per instance; by default the cores shared out among the instances. */
  threads?: number;
  /** Sessions of the model, each running its own batches (default 1). */
  instances?: number;
}

/**
 * A convzoo model compiled to its ONNX inference graph (logits) and run in a worker thread, so the
 * server's main thread keeps taking requests while a batch computes (worker_session.ts). What
 * `convzoo serve --weights` uses.
 */
export async function modelSource(name: string, model: Model, options: CompileOptions = {}): Promise<ModelSource> {
  const resolution = options.resolution ?? model.defaultResolution;
  const preprocessing = preprocessingForResolution(options.preprocessing ?? model.preprocessing, resolution);
  const classes = options.classes ?? defaultClassNames(model.options.numClasses);
  if (classes.length !== model.options.numClasses) {
    throw new OptionError(`${classes.length} class names given for a ${model.options.numClasses}-class model`);
  }
  const onnx = exportOnnx(model, { resolution, output: "logits", classes, preprocessing });
  const pool = await SessionPool.create(onnx, { threads: options.threads, instances: options.instances });
  return {
    name,
    platform: "convzoo",
    arch: model.arch,
    resolution,
    classes,
    preprocessing,
    output: "logits",
    instances: pool.instances,
    threads: pool.threads,
    run: (batch) => pool.run(batch, "logits"),
    release: () => pool.release(),
  };
}

/** A Predictor run on the calling thread (no worker): its output must be logits or probabilities. */
export function predictorSource(name: string, predictor: Predictor): ModelSource {
  if (predictor.output !== "logits" && predictor.output !== "probabilities") {
    throw new WeightsError(`model ${name}: a served model must output logits or probabilities, not ${predictor.output}`);
  }
  return {
    name,
    platform: "convzoo",
    arch: predictor.arch,
    resolution: predictor.resolution,
    classes: predictor.classes,
    preprocessing: predictor.preprocessing,
    output: predictor.output,
    instances: 1,
    threads: predictor.threads,
    run: (batch) => predictor.predict(batch),
    release: () => predictor.release(),
  };
}

/**
 * An ONNX file written by `convzoo export` or `convzoo quantize` (probabilities or logits), read and
 * checked as `classify --onnx` reads it (inference/onnx_model.ts).
 */
export async function onnxFileSource(name: string | undefined, path: string, options: PoolOptions = {}): Promise<ModelSource> {
  const onnx = await readOnnxModel(path);
  const pool = await SessionPool.create(onnx.bytes, {
    ...options,
    dequantizeWeightsAtLoad: onnx.quantization?.mode === "dynamic",
  });
  return {
    name: name ?? onnx.arch,
    platform: "onnxruntime_onnx",
    arch: onnx.arch,
    resolution: onnx.resolution,
    classes: onnx.classes,
    preprocessing: preprocessingForResolution(onnx.preprocessing, onnx.resolution),
    output: onnx.output,
    instances: pool.instances,
    threads: pool.threads,
    run: (batch) => pool.run(batch, onnx.output),
    release: () => pool.release(),
  };
}
