/**
 * The training loop (Node): epochs of batches from an image list through the Trainer, the learning
 * rate from the schedule per step, validation after each epoch with the inference graph, events for
 * progress display. Deterministic for a seed: the shuffle, the augmentation and the dropout masks all
 * come from seeded generators.
 */
import { performance } from "node:perf_hooks";
import { Predictor } from "../api/predictor.js";
import type { Sample } from "../data/folder.js";
import { batchCount, epochBatches } from "../data/loader.js";
import type { Preprocessing } from "../data/preprocess.js";
import { OptionError } from "../errors.js";
import type { Model } from "../models/model.js";
import { Random } from "../random.js";
import { targetDistribution } from "./graph.js";
import type { OptimizerOptions } from "./optimizers.js";
import { makeSchedule, type ScheduleKind } from "./schedules.js";
import { Trainer } from "./session.js";

export interface FitOptions {
  train: readonly Sample[];
  val: readonly Sample[];
  epochs: number;
  batchSize: number;
  resolution: number;
  optimizer: OptimizerOptions;
  lr: number;
  schedule: ScheduleKind;
  warmupEpochs?: number;
  labelSmoothing?: number;
  /** Parameter-path prefixes that stay fixed (see trainingGraph). */
  frozen: readonly string[];
  /** Overrides every Dropout layer's rate. */
  dropout?: number;
  augment: boolean;
  shuffle: boolean;
  seed: number;
  threads?: number;
  /** Mean, std and interpolation used for every image. */
  preprocessing: Preprocessing;
  onEvent?: (e: FitEvent) => void;
}

export interface EpochMetrics {
  epoch: number;
  lr: number;
  trainLoss: number;
  trainAccuracy: number;
  valLoss: number | null;
  valAccuracy: number | null;
  seconds: number;
  imagesPerSecond: number;
}

export type FitEvent =
  | { type: "start"; epochs: number; stepsPerEpoch: number; trainImages: number; valImages: number; trainable: number; frozen: readonly string[] }
  | { type: "step"; epoch: number; step: number; steps: number; loss: number; lr: number; imagesPerSecond: number }
  | ({ type: "epoch" } & EpochMetrics)
  | { type: "warning"; message: string };

export interface FitResult {
  history: EpochMetrics[];
}

function argmaxRows(data: Float32Array, k: number, row: number): number {
  let best = 0;
  for (let j = 1; j < k; j++) if (data[row * k + j] > data[row * k + best]) best = j;
  return best;
}

/** Trains `model` in place (its Parameters hold the trained weights at the end). */
export async function fit(model: Model, o: FitOptions): Promise<FitResult> {
  if (!Number.isInteger(o.epochs) || o.epochs < 1) throw new OptionError(`epochs must be a positive integer, got ${o.epochs}`);
  if (o.train.length === 0) throw new OptionError("no training images");
  const emit = o.onEvent ?? (() => undefined);
  const k = model.options.numClasses;
  for (const s of [...o.train, ...o.val]) {
    if (s.label >= k) throw new OptionError(`${s.path}: label ${s.label} but the model has ${k} classes`);
  }
  const stepsPerEpoch = batchCount(o.train.length, o.batchSize);
  const schedule = makeSchedule({ kind: o.schedule, lr: o.lr, epochs: o.epochs, stepsPerEpoch, warmupEpochs: o.warmupEpochs });
  const trainer = await Trainer.create(model, {
    batchSize: o.batchSize,
    resolution: o.resolution,
    frozen: o.frozen,
    optimizer: o.optimizer,
    dropout: o.dropout,
    threads: o.threads,
    seed: o.seed,
  });
  const dataRng = new Random(o.seed + 1);
  const transform = { resolution: o.resolution, augment: o.augment, preprocessing: o.preprocessing };
  const onBadFile = (path: string, reason: string) => emit({ type: "warning", message: `skipped ${path}: ${reason}` });
  const history: EpochMetrics[] = [];
  emit({ type: "start", epochs: o.epochs, stepsPerEpoch, trainImages: o.train.length, valImages: o.val.length, trainable: trainer.spec.trainable.length, frozen: o.frozen });
  try {
    for (let epoch = 0; epoch < o.epochs; epoch++) {
      const t0 = performance.now();
      let lossSum = 0;
      let correct = 0;
      let seen = 0;
      let step = 0;
      let lr = o.lr;
      for await (const batch of epochBatches(o.train, { batchSize: o.batchSize, shuffle: o.shuffle, transform, rng: dataRng, onBadFile })) {
        lr = schedule(trainer.stepCount);
        const b = batch.labels.length;
        const loss = await trainer.step(batch.images, targetDistribution(batch.labels, k, o.labelSmoothing ?? 0), lr);
        if (!Number.isFinite(loss)) throw new OptionError(`training diverged: loss is ${loss} at epoch ${epoch + 1}, step ${step + 1} (lower --lr?)`);
        const logits = trainer.lastLogits;
        for (let i = 0; i < b; i++) if (argmaxRows(logits, k, i) === batch.labels[i]) correct++;
        lossSum += loss * b;
        seen += b;
        step++;
        emit({ type: "step", epoch: epoch + 1, step, steps: stepsPerEpoch, loss, lr, imagesPerSecond: (seen * 1000) / (performance.now() - t0) });
      }
      trainer.writeBack(model);
      const val = o.val.length ? await evaluate(model, o.val, o) : null;
      const seconds = (performance.now() - t0) / 1000;
      const m: EpochMetrics = {
        epoch: epoch + 1,
        lr,
        trainLoss: lossSum / Math.max(1, seen),
        trainAccuracy: correct / Math.max(1, seen),
        valLoss: val?.loss ?? null,
        valAccuracy: val?.accuracy ?? null,
        seconds,
        imagesPerSecond: seen / seconds,
      };
      history.push(m);
      emit({ type: "epoch", ...m });
    }
  } finally {
    await trainer.release();
  }
  return { history };
}

/** Mean cross-entropy and top-1 accuracy of `model` on samples (the no-augmentation transform). */
export async function evaluate(model: Model, samples: readonly Sample[], o: Pick<FitOptions, "batchSize" | "resolution" | "preprocessing" | "threads" | "onEvent">) {
  const predictor = await Predictor.create(model, { resolution: o.resolution, threads: o.threads, output: "probabilities" });
  const k = model.options.numClasses;
  let loss = 0;
  let correct = 0;
  let seen = 0;
  try {
    const transform = { resolution: o.resolution, augment: false, preprocessing: o.preprocessing };
    const onBadFile = (path: string, reason: string) => o.onEvent?.({ type: "warning", message: `skipped ${path}: ${reason}` });
    for await (const batch of epochBatches(samples, { batchSize: o.batchSize, shuffle: false, transform, rng: new Random(0), onBadFile })) {
      const b = batch.labels.length;
      const probs = (await predictor.predict({ dtype: "float32", shape: [b, 3, o.resolution, o.resolution], data: batch.images })).data;
      for (let i = 0; i < b; i++) {
        loss -= Math.log(Math.max(probs[i * k + batch.labels[i]], 1e-12));
        if (argmaxRows(probs, k, i) === batch.labels[i]) correct++;
      }
      seen += b;
    }
  } finally {
    await predictor.release();
  }
  return { loss: loss / Math.max(1, seen), accuracy: correct / Math.max(1, seen), images: seen };
}
