/**
 * The training loop (Node): epochs through the Trainer, lr per step from the schedule, validation per epoch,
 * the best epoch by validation accuracy, early stopping, a clean stop on abort (Ctrl-C), and exact resume
 * (everything the run depends on is in FitProgress). Deterministic for a seed. The `head` strategy without
 * augmentation trains on cached features (cacheFeatures). Details: docs/training.md#the-loop
 */
import { performance } from "node:perf_hooks";
import type { ColorJitter } from "../data/augment.js";
import type { Sample } from "../data/folder.js";
import { batchCount, epochBatches, skippedFileMessage } from "../data/loader.js";
import type { Preprocessing } from "../models/preprocessing.js";
import { OptionError, ShapeError } from "../errors.js";
import { headInferenceGraph } from "../models/inference_graph.js";
import { headModule } from "../models/bind.js";
import type { Model } from "../models/model.js";
import { toOnnx } from "../onnx/serialize.js";
import { Random } from "../random.js";
import { Session } from "../runtime/session.js";
import { checkEpochFinite, checkEpochTrained } from "./epoch_checks.js";
import { evaluateSamples } from "./evaluate.js";
import { extractFeatures, type Features } from "./features.js";
import { targetDistribution } from "./training_graph.js";
import type { AutoAugmentPolicy } from "../data/auto_augment.js";
import { mixBatch, type MixOptions } from "../data/mix.js";
import { underPrefix } from "../models/bind.js";
import { classificationMetrics } from "./metrics.js";
import type { OptimizerOptions } from "./optimizers.js";
import { BatchNormRecalibrator } from "./recalibrate.js";
import { makeSchedule, type ScheduleKind } from "./schedules.js";
import { Trainer } from "./trainer.js";
import { checkEma, type EmaOptions, type TrainerState } from "./state.js";
import { checkClassWeights } from "./training_graph.js";

/**
 * What decides a loop's arithmetic (a run's settings record these, and resume restores them).
 * `null` stands for "not set" where a setting is stored as JSON.
 */
export interface LoopSettings {
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
  dropout?: number | null;
  augment: boolean;
  /** torchvision ColorJitter on the augmented images (only with augment). */
  colorJitter?: ColorJitter | null;
  shuffle: boolean;
  seed: number;
  /**
   * Train the head alone on backbone features computed once (the `head` strategy without
   * augmentation: every parameter outside the head must be frozen).
   */
  cacheFeatures?: boolean;
  /**
   * After each epoch, recompute the running statistics of the BatchNorm layers that train from a
   * pass over the training images (torch's update_bn; see recalibrate.ts) before validating.
   */
  recalibrateBatchNorm?: boolean;
  /** Early stopping: stop after this many epochs without a better validation accuracy. */
  patience?: number | null;
  /**
   * Which epoch is kept (EpochEnd.improved, FitResult.bestEpoch): the one with the best validation
   * accuracy (default), or the last, where the validation set is too small to pick by.
   */
  saveEpoch?: "best" | "last";
  /** step schedule: decay every this many epochs (StepLR's step_size; default a third of the run). */
  stepEpochs?: number | null;
  /** step schedule: decay factor (StepLR's gamma; default 0.1). */
  gamma?: number | null;
  /** cosine schedule: the rate it anneals to (eta_min; default 0). */
  minLr?: number | null;
  /** one-cycle: fraction of the run rising to `lr` (default 0.3, torch's; fastai 0.25). */
  pctStart?: number | null;
  /** one-cycle: start at lr / divFactor (default 25). */
  divFactor?: number | null;
  /** one-cycle: end at lr / divFactor / finalDivFactor (default 1e4). */
  finalDivFactor?: number | null;
  /** Clip gradients by their global 2-norm (torch's clip_grad_norm_). */
  clipGradNorm?: number | null;
  /**
   * Gradient accumulation: micro-batches (of batchSize) per optimizer step; an epoch's last group may
   * be shorter. The schedule counts optimizer steps.
   */
  accumulate?: number | null;
  /** Per-parameter learning-rate factors by prefix (see TrainingGraphOptions.lrMultipliers, layerwiseLrMultipliers). */
  lrMultipliers?: Readonly<Record<string, number>> | null;
  /** Cross-entropy class weights (torch's CrossEntropyLoss(weight); see balancedClassWeights). */
  classWeights?: readonly number[] | null;
  /**
   * Keep an EMA of the weights (timm's ModelEmaV2): validation, the best epoch and EpochEnd.ema are the
   * EMA's; with recalibrateBatchNorm, the EMA's statistics are the ones recalibrated.
   */
  ema?: EmaOptions | null;
  /** torchvision's TrivialAugmentWide or RandAugment on each training image (after crop and flip). */
  autoAugment?: AutoAugmentPolicy | null;
  /** torchvision's RandomErasing probability on each normalised training image (timm's --reprob). */
  randomErasing?: number | null;
  /** timm's Mixup/CutMix on each training batch (the targets mixed with the images). */
  mixup?: MixOptions | null;
}

/** The loop's settings plus what it runs on: the samples, the preprocessing, threads, callbacks. */
export interface FitOptions extends LoopSettings {
  train: readonly Sample[];
  val: readonly Sample[];
  threads?: number;
  /** Mean, std and interpolation used for every image. */
  preprocessing: Preprocessing;
  /** Continue from a saved run (its weights must already be in the model). */
  resume?: FitProgress;
  /** When aborted (Ctrl-C), the loop stops after the current step and returns its progress. */
  signal?: AbortSignal;
  /** After each epoch, with the epoch's weights in the model: save checkpoints here. */
  onEpochEnd?: (e: EpochEnd) => Promise<void> | void;
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

/** Where a run is: what resume needs besides the weights (JSON-serialisable except the slots). */
export interface FitProgress {
  /** Epochs completed. */
  epoch: number;
  /** Steps done in the epoch after those (0 at an epoch boundary). */
  stepInEpoch: number;
  /** The data generator's state at the start of that epoch (shuffle and augmentation draws). */
  dataRandom: number[];
  trainer: TrainerState;
  history: EpochMetrics[];
  bestEpoch: number | null;
  bestValAccuracy: number | null;
  /** Running sums of the unfinished epoch. */
  partial: { lossSum: number; correct: number; seen: number; seconds: number };
}

export interface EpochEnd {
  /** With EMA, the validation figures are the EMA weights'. */
  metrics: EpochMetrics;
  /**
   * With EMA: writes the EMA weights (trained parameters and BatchNorm statistics) into `model` (the
   * trained model itself, or a copy), to save as the checkpoint. The loop restores the trained weights
   * in its own model after onEpochEnd returns. null without EMA.
   */
  ema: { writeTo(model: Model): void } | null;
  /**
   * True when this epoch is the one to keep: the best so far (highest validation accuracy), or the
   * last (no validation, or saveEpoch "last").
   */
  improved: boolean;
  progress: () => FitProgress;
}

export type FitEvent =
  | {
      type: "start";
      epochs: number;
      stepsPerEpoch: number;
      trainImages: number;
      valImages: number;
      trainable: number;
      frozen: readonly string[];
      cachedFeatures: boolean;
      resumedAt: { epoch: number; step: number } | null;
    }
  | { type: "features"; done: number; total: number }
  | { type: "step"; epoch: number; step: number; steps: number; loss: number; lr: number; imagesPerSecond: number }
  | ({ type: "epoch"; best: boolean } & EpochMetrics)
  | { type: "warning"; message: string };

export type StopReason = "completed" | "early-stopped" | "interrupted";

export interface FitResult {
  history: EpochMetrics[];
  /** 1-based epoch kept: the best validation accuracy's (the last without validation, or with saveEpoch "last"). */
  bestEpoch: number | null;
  stopped: StopReason;
  progress: FitProgress;
}

function argmaxRow(data: Float32Array, k: number, row: number): number {
  let best = 0;
  for (let j = 1; j < k; j++) if (data[row * k + j] > data[row * k + best]) best = j;
  return best;
}

/** The batches of one epoch: images through the loader, or rows of the cached features. */
type EpochSource = (rng: Random) => AsyncIterable<{ input: Float32Array; labels: number[] }>;

/** Trains `model` in place (its Parameters hold the last epoch's weights at the end). */
export async function fit(model: Model, o: FitOptions): Promise<FitResult> {
  if (!Number.isInteger(o.epochs) || o.epochs < 1) throw new OptionError(`epochs must be a positive integer, got ${o.epochs}`);
  const patience = o.patience ?? undefined;
  if (patience !== undefined && !(Number.isInteger(patience) && patience >= 1))
    throw new OptionError(`patience must be a positive integer, got ${o.patience}`);
  if (patience !== undefined && o.saveEpoch === "last")
    throw new OptionError('patience stops after the best epoch by validation accuracy: not with saveEpoch "last"');
  if (o.train.length === 0) throw new OptionError("no training images");
  const emit = o.onEvent ?? (() => undefined);
  const k = model.options.numClasses;
  for (const s of [...o.train, ...o.val]) {
    if (s.label >= k) throw new OptionError(`${s.path}: label ${s.label} but the model has ${k} classes`);
  }
  const onBadFile = (path: string, reason: string) => emit({ type: "warning", message: skippedFileMessage(path, reason) });
  const stepsPerEpoch = batchCount(o.train.length, o.batchSize);
  const accumulate = o.accumulate ?? 1;
  if (!(Number.isInteger(accumulate) && accumulate >= 1))
    throw new OptionError(`accumulate must be a whole number of batches >= 1, got ${o.accumulate}`);
  if (o.classWeights) checkClassWeights(o.classWeights, k);
  checkEma(o.ema);
  const schedule = makeSchedule({
    kind: o.schedule,
    lr: o.lr,
    epochs: o.epochs,
    stepsPerEpoch: Math.ceil(stepsPerEpoch / accumulate),
    warmupEpochs: o.warmupEpochs,
    stepEpochs: o.stepEpochs ?? undefined,
    gamma: o.gamma ?? undefined,
    minLr: o.minLr ?? undefined,
    pctStart: o.pctStart ?? undefined,
    divFactor: o.divFactor ?? undefined,
    finalDivFactor: o.finalDivFactor ?? undefined,
  });

  let cached: { train: Features; val: Features } | null = null;
  if (o.cacheFeatures) {
    const head = headModule(model);
    const loose = [...model.net.namedParameters()].filter(
      ([key, p]) => p.kind === "parameter" && !underPrefix(key, [head]) && !underPrefix(key, o.frozen),
    );
    if (loose.length) throw new OptionError(`cached features train the head alone, but ${loose[0][0]} is not frozen`);
    const total = o.train.length + o.val.length;
    const fo = { resolution: o.resolution, preprocessing: o.preprocessing, batchSize: o.batchSize, threads: o.threads, onBadFile };
    const train = await extractFeatures(model, o.train, { ...fo, onProgress: (done) => emit({ type: "features", done, total }) });
    const val = await extractFeatures(model, o.val, {
      ...fo,
      onProgress: (done) => emit({ type: "features", done: train.labels.length + done, total }),
    });
    cached = { train, val };
  }

  const trainer = await Trainer.create(model, {
    batchSize: o.batchSize,
    resolution: o.resolution,
    frozen: o.frozen,
    optimizer: o.optimizer,
    dropout: o.dropout ?? undefined,
    threads: o.threads,
    seed: o.seed,
    featureDims: cached?.train.dims,
    clipGradNorm: o.clipGradNorm ?? undefined,
    accumulate,
    lrMultipliers: o.lrMultipliers ?? undefined,
    ema: o.ema ?? undefined,
  });
  const dataRng = new Random(o.seed + 1);
  const r = o.resume;
  if (r) {
    if (r.epoch >= o.epochs) throw new OptionError(`resume: the run already completed ${r.epoch} of ${o.epochs} epochs`);
    trainer.importState(r.trainer);
    dataRng.setState(r.dataRandom);
  }
  const history: EpochMetrics[] = r ? [...r.history] : [];
  let bestEpoch = r?.bestEpoch ?? null;
  let bestValAccuracy = r?.bestValAccuracy ?? null;
  if (o.colorJitter && !o.augment) throw new OptionError("colour jitter is an augmentation: it needs augmentation on (drop --no-augment)");
  const erasing = o.randomErasing ? { p: o.randomErasing } : undefined;
  if (cached && (o.autoAugment || erasing || o.mixup)) {
    throw new OptionError(
      "cached features are computed once: augmentation policies, random erasing and mixup need the images (drop them or augment)",
    );
  }
  if (o.mixup && o.classWeights) throw new OptionError("class weights do not combine with mixup's soft targets: choose one");
  const transform = {
    resolution: o.resolution,
    augment: o.augment,
    preprocessing: o.preprocessing,
    colorJitter: o.colorJitter ?? undefined,
    autoAugment: o.autoAugment ?? undefined,
    erasing,
  };
  const source: EpochSource = cached
    ? (rng) => featureBatches(cached.train, o.batchSize, o.shuffle, rng)
    : (rng) => imageBatches(o.train, { batchSize: o.batchSize, shuffle: o.shuffle, transform, rng, onBadFile });
  /** Short-batch sizes the network cannot train on (see the step loop). */
  const untrainable = new Set<number>();
  let stopped: StopReason = "completed";
  let progress!: FitProgress;
  /** Built at the first recalibration, kept for the run (its sessions take each epoch's weights). */
  let recalibrator: BatchNormRecalibrator | undefined;
  emit({
    type: "start",
    epochs: o.epochs,
    stepsPerEpoch,
    trainImages: o.train.length,
    valImages: o.val.length,
    trainable: trainer.spec.trainable.length,
    frozen: o.frozen,
    cachedFeatures: cached !== null,
    resumedAt: r ? { epoch: r.epoch + 1, step: r.stepInEpoch } : null,
  });
  try {
    for (let epoch = r?.epoch ?? 0; epoch < o.epochs; epoch++) {
      const resuming = r && epoch === r.epoch ? r : null;
      const sums = resuming ? { ...resuming.partial } : { lossSum: 0, correct: 0, seen: 0, seconds: 0 };
      const skip = resuming?.stepInEpoch ?? 0;
      const epochStart = dataRng.getState();
      const t0 = performance.now() - sums.seconds * 1000;
      let step = 0;
      let lr = o.lr;
      const snapshot = (stepInEpoch: number): FitProgress => ({
        epoch: stepInEpoch === 0 ? epoch + 1 : epoch,
        stepInEpoch,
        dataRandom: stepInEpoch === 0 ? dataRng.getState() : epochStart,
        trainer: trainer.exportState(),
        history: [...history],
        bestEpoch,
        bestValAccuracy,
        partial:
          stepInEpoch === 0 ? { lossSum: 0, correct: 0, seen: 0, seconds: 0 } : { ...sums, seconds: (performance.now() - t0) / 1000 },
      });
      for await (const batch of source(dataRng)) {
        // Resuming mid-epoch: the epoch's order and draws are replayed from its start; the batches
        // already trained on are passed over.
        if (step < skip) {
          step++;
          continue;
        }
        const b = batch.labels.length;
        if (untrainable.has(b)) {
          step++;
          continue;
        }
        lr = schedule(trainer.stepCount);
        let loss: number;
        try {
          let input = batch.input;
          let target: Float32Array;
          if (o.mixup) {
            // Its own generator per step (seed, epoch, step), so a resumed run mixes the same way.
            const mixRng = new Random(o.seed * 1_000_003 + epoch * 100_003 + step + 17);
            const shape = [b, 3, o.resolution, o.resolution] as const;
            const mixed = mixBatch(batch.input, batch.labels, k, shape, mixRng, { ...o.mixup, labelSmoothing: o.labelSmoothing ?? 0 });
            input = mixed.images;
            target = mixed.targets;
          } else target = targetDistribution(batch.labels, k, o.labelSmoothing ?? 0, o.classWeights);
          // Accumulation groups start at the epoch's start; the epoch's last batch applies its (shorter) group.
          // (A last batch the network cannot train on leaves its group's gradient to the next group.)
          const control = accumulate > 1 ? { apply: (step + 1) % accumulate === 0 || step + 1 === stepsPerEpoch } : {};
          loss = await trainer.step(input, target, lr, control);
        } catch (e) {
          // A last short batch the network cannot train on (BatchNorm needs two values per channel:
          // one image at a 1×1 feature map) is left out, as torch's drop_last would; the main batch
          // size compiled, so only the size can be at fault.
          if (!(e instanceof ShapeError) || b >= o.batchSize) throw e;
          untrainable.add(b);
          emit({ type: "warning", message: `the last batch of ${b} image${b > 1 ? "s" : ""} is left out of every epoch: ${e.message}` });
          step++;
          continue;
        }
        if (!Number.isFinite(loss))
          throw new OptionError(
            `training diverged: loss is ${loss} at epoch ${epoch + 1}, step ${step + 1}; nothing from this epoch was saved (lower --lr?)`,
          );
        const logits = trainer.lastLogits;
        for (let i = 0; i < b; i++) if (argmaxRow(logits, k, i) === batch.labels[i]) sums.correct++;
        sums.lossSum += loss * b;
        sums.seen += b;
        step++;
        emit({
          type: "step",
          epoch: epoch + 1,
          step,
          steps: stepsPerEpoch,
          loss,
          lr,
          imagesPerSecond: (sums.seen * 1000) / (performance.now() - t0),
        });
        if (o.signal?.aborted && step < stepsPerEpoch) {
          trainer.writeBack(model);
          progress = snapshot(step);
          stopped = "interrupted";
          return { history, bestEpoch, stopped, progress };
        }
      }
      checkEpochTrained(epoch + 1, sums.seen, o.train.length);
      trainer.writeBack(model);
      // With EMA the model holds the EMA weights while validating (and its statistics are the ones recalibrated).
      if (o.ema) trainer.writeBack(model, { ema: true });
      if (o.recalibrateBatchNorm && !cached) {
        // The trainer carries the new statistics on, so a resumed run (which starts from the
        // model's) continues exactly as this one does.
        recalibrator ??= new BatchNormRecalibrator(model, {
          batchSize: o.batchSize,
          resolution: o.resolution,
          preprocessing: o.preprocessing,
          frozen: o.frozen,
          threads: o.threads,
          onBadFile,
        });
        trainer.setRunningStatistics(await recalibrator.run(o.train), { ema: !!o.ema });
        if (o.ema) trainer.writeBack(model, { ema: true });
      }
      const val =
        o.val.length === 0 ? null : cached ? await evaluateFeatures(model, cached.val, o.threads) : await evaluate(model, o.val, o);
      if (o.ema) trainer.writeBack(model);
      checkEpochFinite(model, epoch + 1, val?.loss ?? null);
      const seconds = (performance.now() - t0) / 1000;
      const m: EpochMetrics = {
        epoch: epoch + 1,
        lr,
        trainLoss: sums.lossSum / Math.max(1, sums.seen),
        trainAccuracy: sums.correct / Math.max(1, sums.seen),
        valLoss: val?.loss ?? null,
        valAccuracy: val?.accuracy ?? null,
        seconds,
        imagesPerSecond: sums.seen / seconds,
      };
      const improved = m.valAccuracy === null || bestValAccuracy === null || m.valAccuracy > bestValAccuracy;
      if (improved) bestValAccuracy = m.valAccuracy;
      // The epoch kept: the best so far, or every epoch as it ends with saveEpoch "last".
      const kept = improved || o.saveEpoch === "last";
      if (kept) bestEpoch = m.epoch;
      history.push(m);
      emit({ type: "epoch", best: improved, ...m });
      progress = snapshot(0);
      const ema = o.ema ? { writeTo: (target: Model) => trainer.writeBack(target, { ema: true }) } : null;
      await o.onEpochEnd?.({ metrics: m, improved: kept, progress: () => progress, ema });
      if (o.ema) trainer.writeBack(model);
      if (
        patience !== undefined &&
        bestEpoch !== null &&
        m.valAccuracy !== null &&
        m.epoch - bestEpoch >= patience &&
        epoch + 1 < o.epochs
      ) {
        stopped = "early-stopped";
        break;
      }
      if (o.signal?.aborted && epoch + 1 < o.epochs) {
        stopped = "interrupted";
        break;
      }
    }
  } finally {
    try {
      await recalibrator?.release();
    } finally {
      await trainer.release();
    }
  }
  return { history, bestEpoch, stopped, progress };
}

async function* imageBatches(samples: readonly Sample[], o: Parameters<typeof epochBatches>[1]) {
  for await (const batch of epochBatches(samples, o)) yield { input: batch.images, labels: batch.labels };
}

async function* featureBatches(f: Features, batchSize: number, shuffle: boolean, rng: Random) {
  const rows = Array.from({ length: f.labels.length }, (_, i) => i);
  if (shuffle) rng.shuffle(rows);
  for (let start = 0; start < rows.length; start += batchSize) {
    const take = rows.slice(start, start + batchSize);
    const input = new Float32Array(take.length * f.dims);
    take.forEach((row, j) => input.set(f.data.subarray(row * f.dims, (row + 1) * f.dims), j * f.dims));
    yield { input, labels: take.map((row) => f.labels[row]) };
  }
}

/** The head (eval mode) on cached validation features: mean cross-entropy and top-1 accuracy. */
async function evaluateFeatures(model: Model, f: Features, threads?: number) {
  const session = await Session.create(toOnnx(headInferenceGraph(model, f.dims)), { threads });
  try {
    const out = await session.run({ input: { dtype: "float32", shape: [f.labels.length, f.dims], data: f.data } });
    const m = classificationMetrics(out.probabilities.data, f.labels, model.options.numClasses);
    return { loss: m.loss, accuracy: m.top1 };
  } finally {
    await session.release();
  }
}

/** Mean cross-entropy and top-1 accuracy of `model` on samples (the no-augmentation transform). */
export async function evaluate(
  model: Model,
  samples: readonly Sample[],
  o: Pick<FitOptions, "batchSize" | "resolution" | "preprocessing" | "threads" | "onEvent">,
) {
  const onBadFile = (path: string, reason: string) => o.onEvent?.({ type: "warning", message: skippedFileMessage(path, reason) });
  const m = await evaluateSamples(model, samples, {
    resolution: o.resolution,
    preprocessing: o.preprocessing,
    batchSize: o.batchSize,
    threads: o.threads,
    onBadFile,
  });
  return { loss: m.loss, accuracy: m.top1 };
}
