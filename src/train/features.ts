/**
 * Frozen-backbone features (Node): the `pooled` output of the inference graph (the head's input)
 * for a list of samples, decoded and transformed without augmentation. The inference graph has the
 * weights as initializers, so ONNX Runtime folds BatchNorm into the convs and the backbone runs at
 * inference speed. Used by the `head` strategy (features computed once, cached, then only the
 * head trains on them) and by `auto` (a linear probe on these features measures similarity).
 */
import { Predictor } from "../inference/predictor.js";
import type { Sample } from "../data/folder.js";
import { epochBatches } from "../data/loader.js";
import type { Model } from "../models/model.js";
import { Random } from "../random.js";
import type { EvaluateOptions } from "./evaluate.js";

/** Evaluation's options less the class names: the same images, transform and batching. */
export type FeatureOptions = Omit<EvaluateOptions, "classes">;

export interface Features {
  /** [n, dims] row-major, rows in sample order (files that failed to decode left out). */
  data: Float32Array;
  dims: number;
  labels: number[];
  paths: string[];
}

export async function extractFeatures(model: Model, samples: readonly Sample[], o: FeatureOptions): Promise<Features> {
  const predictor = await Predictor.create(model, { resolution: o.resolution, threads: o.threads, output: "pooled" });
  const rows: Float32Array[] = [];
  const labels: number[] = [];
  const paths: string[] = [];
  let dims = 0;
  try {
    const transform = { resolution: o.resolution, augment: false, preprocessing: o.preprocessing };
    const batches = epochBatches(samples, {
      batchSize: o.batchSize ?? 32,
      shuffle: false,
      transform,
      rng: new Random(0),
      onBadFile: o.onBadFile,
    });
    for await (const batch of batches) {
      const b = batch.labels.length;
      const out = await predictor.predict({ dtype: "float32", shape: [b, 3, o.resolution, o.resolution], data: batch.images });
      dims = out.shape[1];
      rows.push(out.data);
      labels.push(...batch.labels);
      paths.push(...batch.paths);
      o.onProgress?.(labels.length, samples.length);
    }
  } finally {
    await predictor.release();
  }
  const data = new Float32Array(labels.length * dims);
  let offset = 0;
  for (const r of rows) {
    data.set(r, offset);
    offset += r.length;
  }
  return { data, dims, labels, paths };
}
