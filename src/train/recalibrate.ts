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
import type { Graph } from "../graph/ir.js";
import { bindModel, underPrefix } from "../models/bind.js";
import type { Model } from "../models/model.js";
import { BatchNorm2d } from "../nn/layers.js";
import { toOnnx } from "../onnx/serialize.js";
import { Random } from "../random.js";
import { Session } from "../runtime/session.js";

export interface RecalibrateOptions {
  batchSize: number;
  resolution: number;
  preprocessing: Preprocessing;
  /** Prefixes whose BatchNorm layers are frozen (their statistics stay). */
  frozen: readonly string[];
  threads?: number;
  onBadFile?: (path: string, reason: string) => void;
}

/** Output names: `<state_dict key>.batch` (the key itself names the initializer). */
const BATCH_SUFFIX = ".batch";

/** A training-mode forward whose outputs are each trained BatchNorm's batch mean and unbiased variance. */
function statisticsGraph(model: Model, batchSize: number, resolution: number, batchNorms: ReadonlySet<string>): Graph {
  // Only the BatchNorm layers run in training mode (dropout and stochastic depth are identities);
  // momentum 1: each running-statistics update is the batch statistic itself.
  const { graph: g, context } = bindModel(model, {
    mode: "train",
    weights: "constants",
    batch: batchSize,
    resolution,
    onlyBatchNormsTrain: batchNorms,
    batchNormMomentum: 1,
    name: `${model.arch}_bn_statistics`,
  });
  for (const [key, value] of context.bufferUpdates) g.markOutput(value, `${key}${BATCH_SUFFIX}`);
  return g;
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
  const batchNorms = new Set<string>();
  for (const [path, m] of model.net.namedModules()) if (m instanceof BatchNorm2d && !underPrefix(path, o.frozen)) batchNorms.add(path);
  const sums = new Map<string, Float64Array>();
  if (batchNorms.size === 0) return new Map();
  const sessions = new Map<number, Session | null>();
  let batches = 0;
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
          sessions.set(b, await Session.create(toOnnx(statisticsGraph(model, b, o.resolution, batchNorms)), { threads: o.threads }));
        } catch (e) {
          if (!(e instanceof ShapeError) || b >= o.batchSize) throw e;
          sessions.set(b, null);
        }
      }
      const session = sessions.get(b);
      if (!session) continue;
      const out = await session.run({ input: { dtype: "float32", shape: [b, 3, o.resolution, o.resolution], data: batch.images } });
      for (const [name, t] of Object.entries(out)) {
        const key = name.slice(0, -BATCH_SUFFIX.length);
        let sum = sums.get(key);
        if (!sum) sums.set(key, (sum = new Float64Array(t.data.length)));
        for (let i = 0; i < sum.length; i++) sum[i] += t.data[i];
      }
      batches++;
    }
  } finally {
    for (const s of sessions.values()) await s?.release();
  }
  const stats = new Map<string, Float32Array>();
  if (batches === 0) return stats;
  const params = new Map(model.net.namedParameters());
  for (const [key, sum] of sums) {
    const mean = Float32Array.from(sum, (v) => v / batches);
    params.get(key)!.assign(mean);
    stats.set(key, mean);
  }
  return stats;
}
