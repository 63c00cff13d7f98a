/**
 * What `convzoo serve` serves: a model source runs normalised image batches [N, 3, R, R] and knows
 * how to make them (its preprocessing) and how to name its outputs (its classes). Two sources exist:
 * a convzoo model compiled in process (weights file or registry name) and an ONNX file written by
 * `convzoo export`; a quantized ONNX file (issue 18) is the second kind too.
 */
import { readFile } from "node:fs/promises";
import { InputFileError, OptionError, WeightsError } from "../errors.js";
import { exportOnnx } from "../inference/export.js";
import { defaultClassNames } from "../inference/load.js";
import type { Predictor } from "../inference/predictor.js";
import type { Model } from "../models/model.js";
import { preprocessingForResolution, validatePreprocessing, type Preprocessing } from "../models/preprocessing.js";
import { fromOnnx } from "../onnx/serialize.js";
import type { SessionOptions } from "../runtime/session.js";
import type { Tensor } from "../tensor.js";
import { WorkerSession } from "./worker_session.js";

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
  /** Runs one normalised batch [N, 3, R, R]; returns [N, classes.length] rows of `output`. */
  run(batch: Tensor<"float32">): Promise<Tensor<"float32">>;
  release(): Promise<void>;
}

export interface CompileOptions {
  resolution?: number;
  classes?: readonly string[];
  preprocessing?: Preprocessing;
  /** ONNX Runtime intra-op threads; all cores by default. */
  threads?: number;
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
  const session = await WorkerSession.create(onnx, options.threads);
  return {
    name,
    platform: "convzoo",
    arch: model.arch,
    resolution,
    classes,
    preprocessing,
    output: "logits",
    run: (batch) => session.run(batch, "logits"),
    release: () => session.release(),
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
    run: (batch) => predictor.predict(batch),
    release: () => predictor.release(),
  };
}

/**
 * An ONNX file written by `convzoo export` (probabilities or logits): input `input` [N, 3, R, R], its
 * metadata_props naming the arch, resolution, output, classes and preprocessing.
 */
export async function onnxFileSource(name: string | undefined, path: string, options: SessionOptions = {}): Promise<ModelSource> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new InputFileError(`${path}: cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let decoded: ReturnType<typeof fromOnnx>;
  try {
    decoded = fromOnnx(bytes);
  } catch (e) {
    throw new WeightsError(`${path}: not an ONNX model (${(e as Error).message.split("\n")[0]})`);
  }
  const meta = decoded.metadata;
  const output = meta.output;
  if (output !== "logits" && output !== "probabilities") {
    throw new WeightsError(
      `${path}: expected an ONNX file from \`convzoo export\` with output probabilities or logits ` +
        `(metadata "output"), found ${output === undefined ? "no convzoo metadata" : `output "${output}"`}`,
    );
  }
  if (!decoded.inputs.includes("input") || !decoded.outputs.includes(output)) {
    throw new WeightsError(`${path}: expected input "input" and output "${output}", found [${decoded.inputs}] -> [${decoded.outputs}]`);
  }
  const resolution = Number(meta.resolution);
  if (!Number.isInteger(resolution) || resolution < 1) throw new WeightsError(`${path}: metadata "resolution" is not a positive integer`);
  const preprocessing = validatePreprocessing(parseJson(meta.preprocessing, path, "preprocessing"), path);
  const classes = meta.classes === undefined ? undefined : parseJson(meta.classes, path, "classes");
  if (classes !== undefined && (!Array.isArray(classes) || !classes.every((c) => typeof c === "string"))) {
    throw new WeightsError(`${path}: metadata "classes" must be a list of strings`);
  }
  const session = await WorkerSession.create(bytes, options.threads);
  let names = classes as string[] | undefined;
  // Without class names, the class count comes from one run (the graph's output width).
  if (!names) {
    const zeros = new Float32Array(3 * resolution ** 2);
    const probe = await session.run({ dtype: "float32", shape: [1, 3, resolution, resolution], data: zeros }, output);
    names = Array.from({ length: probe.shape[1] }, (_, i) => `class_${i}`);
  }
  const arch = meta.arch ?? "onnx";
  return {
    name: name ?? arch,
    platform: "onnxruntime_onnx",
    arch,
    resolution,
    classes: names,
    preprocessing: preprocessingForResolution(preprocessing, resolution),
    output,
    run: (batch) => session.run(batch, output),
    release: () => session.release(),
  };
}

function parseJson(text: string | undefined, path: string, key: string): unknown {
  if (text === undefined) throw new WeightsError(`${path}: metadata "${key}" is missing (expected an ONNX file from \`convzoo export\`)`);
  try {
    return JSON.parse(text);
  } catch {
    throw new WeightsError(`${path}: metadata "${key}" is not valid JSON`);
  }
}
