/**
 * BatchNorm recalibration (Node), torch.optim.swa_utils.update_bn's rule: each training BatchNorm's running
 * statistics become the average batch mean and unbiased variance over one un-augmented pass of the training images.
 * Why: with momentum 0.1 (0.01 for MobileNetV3/EfficientNet) they still remember the initial or pre-training
 * statistics after a few hundred steps, and the eval-mode network can be far worse than the training-mode one.
 * Dropout and stochastic depth are off; frozen layers keep their statistics. docs/training.md#batchnorm-recalibration
 */
import type { Sample } from "../data/folder.js";
import { epochBatches } from "../data/loader.js";
import type { Preprocessing } from "../models/preprocessing.js";
import { ShapeError } from "../errors.js";
import type { Model } from "../models/model.js";
import { toOnnx } from "../onnx/serialize.js";
import { Random } from "../random.js";
import { Session } from "../runtime/session.js";
import { BatchNormStatistics, batchNormStatisticsGraph, trainingBatchNorms } from "./batchnorm_statistics.js";

export interface RecalibrateOptions {
  batchSize: number;
  resolution: number;
  preprocessing: Preprocessing;
  /** Prefixes whose BatchNorm layers are frozen (their statistics stay). */
  frozen: readonly string[];
  threads?: number;
  onBadFile?: (path: string, reason: string) => void;
}

/**
 * Recomputes the statistics in the model (its Parameters) and returns them by state_dict key;
 * an empty map when no BatchNorm trains. A last short batch the network cannot run in training
 * mode (one image at a 1×1 map) is left out.
 */
export async function recalibrateBatchNorm(
  model: Model,
  samples: readonly Sample[],
  o: RecalibrateOptions,
): Promise<Map<string, Float32Array>> {
  const batchNorms = trainingBatchNorms(model, o.frozen);
  if (batchNorms.size === 0) return new Map();
  const statistics = new BatchNormStatistics();
  const sessions = new Map<number, Session | null>();
  try {
    const transform = { resolution: o.resolution, augment: false, preprocessing: o.preprocessing };
    for await (const batch of epochBatches(samples, {
      batchSize: o.batchSize,
      shuffle: false,
      transform,
      rng: new Random(0),
      onBadFile: o.onBadFile,
    })) {
      const b = batch.labels.length;
      if (!sessions.has(b)) {
        try {
          const graph = batchNormStatisticsGraph(model, b, o.resolution, batchNorms);
          sessions.set(b, await Session.create(toOnnx(graph), { threads: o.threads }));
        } catch (e) {
          if (!(e instanceof ShapeError) || b >= o.batchSize) throw e;
          sessions.set(b, null);
        }
      }
      const session = sessions.get(b);
      if (!session) continue;
      statistics.add(await session.run({ input: { dtype: "float32", shape: [b, 3, o.resolution, o.resolution], data: batch.images } }));
    }
  } finally {
    for (const s of sessions.values()) await s?.release();
  }
  return statistics.writeTo(model);
}
