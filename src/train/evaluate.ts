/**
 * Evaluation of a model on labelled image files (Node): the inference graph ("probabilities") over
 * batches without augmentation or shuffling — the shorter side resized to R, then the centre R×R
 * crop, the transform training's validation uses — and the metrics of metrics.ts over the result.
 */
import { Predictor, softmaxRows } from "../inference/predictor.js";
import type { Sample } from "../data/folder.js";
import { epochBatches } from "../data/loader.js";
import type { Preprocessing } from "../models/preprocessing.js";
import { InputFileError, OptionError } from "../errors.js";
import type { Model } from "../models/model.js";
import { Random } from "../random.js";
import { classificationMetrics, type ClassificationMetrics } from "./metrics.js";

export interface EvaluateOptions {
  /** Names of the model's outputs (default `class_i`). */
  classes?: readonly string[];
  /** Input side R. */
  resolution: number;
  /** Mean, std and interpolation (the resize and crop sizes come from `resolution`). */
  preprocessing: Preprocessing;
  /** Images per inference run (default 32). */
  batchSize?: number;
  threads?: number;
  /** Called once per file that cannot be decoded; the file is left out of the figures. */
  onBadFile?: (path: string, reason: string) => void;
  /** Called after each batch with the number of samples handled (decoded or skipped) so far. */
  onProgress?: (done: number, total: number) => void;
}

export interface Evaluation extends ClassificationMetrics {
  /** File of each evaluated sample, index-aligned with the metrics' sample indices. */
  paths: string[];
  /** Files that could not be decoded (not counted in `images`). */
  skipped: string[];
  /** The top-1 class of each evaluated sample, index-aligned with `paths`. */
  predictions?: number[];
}

/** Runs `model` on `samples` (labels index the model's outputs) and measures it. */
export async function evaluateSamples(model: Model, samples: readonly Sample[], o: EvaluateOptions): Promise<Evaluation> {
  const k = model.options.numClasses;
  const classes = o.classes ?? Array.from({ length: k }, (_, i) => `class_${i}`);
  if (classes.length !== k) throw new OptionError(`${classes.length} class names given for a ${k}-class model`);
  if (samples.length === 0) throw new OptionError("nothing to evaluate: no images");
  const predictor = await Predictor.create(model, { resolution: o.resolution, threads: o.threads, output: "probabilities", classes });
  try {
    return await evaluatePredictor(predictor, samples, o);
  } finally {
    await predictor.release();
  }
}

/**
 * Runs a predictor (a model's, or an ONNX model's: `Predictor.fromOnnx`) on `samples` and measures
 * it; `o.resolution` must be the predictor's. The predictor is not released.
 */
export async function evaluatePredictor(predictor: Predictor, samples: readonly Sample[], o: EvaluateOptions): Promise<Evaluation> {
  const classes = predictor.classes;
  const k = classes.length;
  if (samples.length === 0) throw new OptionError("nothing to evaluate: no images");
  for (const s of samples) {
    if (!Number.isInteger(s.label) || s.label < 0 || s.label >= k)
      throw new OptionError(`${s.path}: label ${s.label} but the model has ${k} classes`);
  }
  const r = predictor.resolution;
  const batchSize = o.batchSize ?? 32;
  const probabilities = new Float32Array(samples.length * k);
  const labels: number[] = [];
  const paths: string[] = [];
  const skipped: string[] = [];
  // Progress counts every sample up to the last one of the batch, the skipped ones included.
  const position = new Map(samples.map((s, i) => [s.path, i]));
  const transform = { resolution: r, augment: false, preprocessing: o.preprocessing };
  const onBadFile = (path: string, reason: string) => {
    skipped.push(path);
    o.onBadFile?.(path, reason);
  };
  // Batches come back in sample order, less the undecodable files; rng is unused without shuffle or augmentation.
  for await (const batch of epochBatches(samples, { batchSize, shuffle: false, transform, rng: new Random(0), onBadFile })) {
    const b = batch.labels.length;
    let out = await predictor.predict({ dtype: "float32", shape: [b, 3, r, r], data: batch.images });
    if (predictor.output === "logits") out = softmaxRows(out);
    probabilities.set(out.data, labels.length * k);
    labels.push(...batch.labels);
    paths.push(...batch.paths);
    o.onProgress?.(position.get(batch.paths[b - 1])! + 1, samples.length);
  }
  if (labels.length === 0) throw new InputFileError(`none of the ${samples.length} images could be decoded (first: ${skipped[0]})`);
  const scores = probabilities.subarray(0, labels.length * k);
  const predictions = labels.map((_, i) => {
    let best = 0;
    for (let j = 1; j < k; j++) if (scores[i * k + j] > scores[i * k + best]) best = j;
    return best;
  });
  return { ...classificationMetrics(scores, labels, classes), paths, skipped, predictions };
}
