/**
 * BatchNorm recalibration (Node), torch.optim.swa_utils.update_bn's rule: each training BatchNorm's running
 * statistics become the average batch mean and unbiased variance over one un-augmented pass of the training images.
 * Why: with momentum 0.1 (0.01 for MobileNetV3/EfficientNet) they still remember the initial or pre-training
 * statistics after a few hundred steps, and the eval-mode network can be far worse than the training-mode one.
 * Dropout and stochastic depth are off; frozen layers keep their statistics. docs/training.md#batchnorm-recalibration
 */
import type { Sample } from "../data/folder.js";
import { epochBatches } from "../data/loader.js";
import { ShapeError } from "../errors.js";
import { lowerConvsToNchwc } from "../graph/nchwc.js";
import type { Preprocessing } from "../models/preprocessing.js";
import type { Model } from "../models/model.js";
import { toOnnx } from "../onnx/serialize.js";
import { Random } from "../random.js";
import { nchwcBlockSize } from "../runtime/nchwc_block.js";
import { Session } from "../runtime/session.js";
import type { Tensor } from "../tensor.js";
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
 * Recalibration for every epoch of one run. The statistics graphs take the weights as inputs
 * (lowered to NCHWc as the trainer's graph is), so each batch size's session is built once and
 * fed the model's current weights on each pass: rebuilding graph and session every epoch cost
 * ~0.3 s per batch size, more than the pass itself on a small set (bench/README.md, "Per-epoch
 * sessions (BatchNorm recalibration)").
 */
export class BatchNormRecalibrator {
  private readonly batchNorms: Set<string>;
  /** By batch size; null: a last short batch the network cannot run in training mode (one image at a 1×1 map). */
  private readonly sessions = new Map<number, Session | null>();

  constructor(
    private readonly model: Model,
    private readonly o: RecalibrateOptions,
  ) {
    this.batchNorms = trainingBatchNorms(model, o.frozen);
  }

  /**
   * Recomputes the statistics from the model's current weights, writes them into the model (its
   * Parameters) and returns them by state_dict key; an empty map when no BatchNorm trains.
   */
  async run(samples: readonly Sample[]): Promise<Map<string, Float32Array>> {
    if (this.batchNorms.size === 0) return new Map();
    const statistics = new BatchNormStatistics();
    const weights = this.weightFeeds();
    const o = this.o;
    const transform = { resolution: o.resolution, augment: false, preprocessing: o.preprocessing };
    for await (const batch of epochBatches(samples, {
      batchSize: o.batchSize,
      shuffle: false,
      transform,
      rng: new Random(0),
      onBadFile: o.onBadFile,
    })) {
      const b = batch.labels.length;
      const session = await this.session(b);
      if (!session) continue;
      const feeds: Record<string, Tensor<"float32">> = {};
      for (const name of session.inputNames) if (name !== "input") feeds[name] = weights.get(name)!;
      feeds.input = { dtype: "float32", shape: [b, 3, o.resolution, o.resolution], data: batch.images };
      statistics.add(await session.run(feeds));
    }
    return statistics.writeTo(this.model);
  }

  async release(): Promise<void> {
    for (const s of this.sessions.values()) await s?.release();
    this.sessions.clear();
  }

  /** The model's parameters and buffers by state_dict key, as the graphs' inputs name them. */
  private weightFeeds(): Map<string, Tensor<"float32">> {
    const feeds = new Map<string, Tensor<"float32">>();
    for (const [key, p] of this.model.net.namedParameters())
      if (p.tensor.dtype === "float32") feeds.set(key, p.tensor as Tensor<"float32">);
    return feeds;
  }

  private async session(b: number): Promise<Session | null> {
    if (this.sessions.has(b)) return this.sessions.get(b)!;
    let session: Session | null;
    try {
      const graph = batchNormStatisticsGraph(this.model, b, this.o.resolution, this.batchNorms, "placeholders");
      lowerConvsToNchwc(graph, await nchwcBlockSize());
      // Kept for the run but used once per epoch: no arena holding a full forward pass's buffers
      // beside the training session in between.
      session = await Session.create(toOnnx(graph), { threads: this.o.threads, memoryArena: false });
    } catch (e) {
      if (!(e instanceof ShapeError) || b >= this.o.batchSize) throw e;
      session = null;
    }
    this.sessions.set(b, session);
    return session;
  }
}

/** One recalibration pass (see BatchNormRecalibrator, which a run of many epochs keeps). */
export async function recalibrateBatchNorm(
  model: Model,
  samples: readonly Sample[],
  o: RecalibrateOptions,
): Promise<Map<string, Float32Array>> {
  const recalibrator = new BatchNormRecalibrator(model, o);
  try {
    return await recalibrator.run(samples);
  } finally {
    await recalibrator.release();
  }
}
