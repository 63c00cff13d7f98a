/**
 * The pieces of BatchNorm recalibration (torch.optim.swa_utils.update_bn's rule) that Node and the browser
 * share (browser-safe): which BatchNorm layers train, the graph whose outputs are their batch statistics,
 * and the average over batches written into the model. recalibrate.ts runs it with Node sessions over image
 * files; the studio's engine with onnxruntime-web over decoded images.
 */
import type { Graph } from "../graph/ir.js";
import { bindModel, underPrefix } from "../models/bind.js";
import type { Model } from "../models/model.js";
import { BatchNorm2d } from "../nn/layers.js";

/** Output names: `<state_dict key>.batch` (the key itself names the initializer). */
const BATCH_SUFFIX = ".batch";

/** Module paths of the BatchNorm layers outside the frozen prefixes (the ones whose statistics are recomputed). */
export function trainingBatchNorms(model: Model, frozen: readonly string[]): Set<string> {
  const batchNorms = new Set<string>();
  for (const [path, m] of model.net.namedModules()) if (m instanceof BatchNorm2d && !underPrefix(path, frozen)) batchNorms.add(path);
  return batchNorms;
}

/**
 * A training-mode forward whose outputs are each trained BatchNorm's batch mean and unbiased variance.
 * `weights`: baked in as constants (one pass), or graph inputs named by state_dict key, so one
 * session serves every epoch of a run fed that epoch's weights (recalibrate.ts).
 */
export function batchNormStatisticsGraph(
  model: Model,
  batchSize: number,
  resolution: number,
  batchNorms: ReadonlySet<string>,
  weights: "constants" | "placeholders" = "constants",
): Graph {
  // Only the BatchNorm layers run in training mode (dropout and stochastic depth are identities);
  // momentum 1: each running-statistics update is the batch statistic itself.
  const { graph: g, context } = bindModel(model, {
    mode: "train",
    weights,
    batch: batchSize,
    resolution,
    onlyBatchNormsTrain: batchNorms,
    batchNormMomentum: 1,
    name: `${model.arch}_bn_statistics`,
  });
  for (const [key, value] of context.bufferUpdates) g.markOutput(value, `${key}${BATCH_SUFFIX}`);
  return g;
}

/** Sums of the statistics graph's outputs over batches (float64), then their mean written into the model. */
export class BatchNormStatistics {
  private readonly sums = new Map<string, Float64Array>();
  private batches = 0;

  /** One batch's outputs of batchNormStatisticsGraph, by output name. */
  add(outputs: Record<string, { data: ArrayLike<number> }>): void {
    for (const [name, t] of Object.entries(outputs)) {
      const key = name.slice(0, -BATCH_SUFFIX.length);
      let sum = this.sums.get(key);
      if (!sum) this.sums.set(key, (sum = new Float64Array(t.data.length)));
      for (let i = 0; i < sum.length; i++) sum[i] += t.data[i];
    }
    this.batches++;
  }

  /** Assigns the means to the model's buffers and returns them by state_dict key (empty after no batch). */
  writeTo(model: Model): Map<string, Float32Array> {
    const stats = new Map<string, Float32Array>();
    if (this.batches === 0) return stats;
    const params = new Map(model.net.namedParameters());
    for (const [key, sum] of this.sums) {
      const mean = Float32Array.from(sum, (v) => v / this.batches);
      params.get(key)!.assign(mean);
      stats.set(key, mean);
    }
    return stats;
  }
}
