/**
 * Run settings sized from the data when the user leaves them out: the validation split, the batch
 * size, the number of epochs, the optimizer, the augmentation and whether
 * BatchNorm statistics are recalibrated. Each choice comes
 * with the reason the start of a run prints ("150 images → 38 epochs of 10 steps, batch 16 …").
 * Pure functions of a few counts, so the rules are testable on small, medium and large folders.
 */

// The constants below were chosen on bench/small_data.ts (its flag search, bench/small_data_search.json,
// runs on its own draws and validation images, never the test images the table reports).

/** Images below which a set is "small": a fifth of each class is held out for validation. */
const SMALL_SET = 1000;
/**
 * Images per class (on average) below which nothing is held out: 2–3 validation images per class
 * pick a "best epoch" by noise, and the images are worth more as training data (the search: +4 to
 * +5 points at 5 and 10 images per class).
 */
const TINY_PER_CLASS = 15;
/** Steps a short run is sized to; a long one gets at least LONG_RUN_EPOCHS epochs. */
const SMALL_DATA_STEPS = 400;
/** Below this many training images twice the steps: the search's best runs at 5–20 per class were twice as long. */
const TINY_DATA_IMAGES = 100;
const TINY_DATA_STEPS = 800;
const MIN_STEPS_PER_EPOCH = 8;
const MAX_BATCH = 32;
const MIN_BATCH = 4;
const MAX_SMALL_EPOCHS = 120;
const MAX_EPOCHS = 60;
/**
 * Input side at or below which random crops and flips are off by default: RandomResizedCrop's
 * scale down to 8% leaves a few pixels of a 32 px image (the search: −10 to −26 points at 32 px on
 * every task, digits and shapes, fine-tuned and from scratch).
 */
const SMALL_IMAGE = 64;
const LONG_RUN_EPOCHS = 10;
const LONG_RUN_STEPS = 2000;
/**
 * BatchNorm running averages remember their start with weight (1 − m)^steps (torch's momentum m);
 * above this share the eval-mode statistics are not the data's yet, so they are recalibrated.
 */
const STALE_SHARE = 0.01;

export interface Choice<T> {
  value: T;
  /** Why, for the start line: "150 training images: 10 steps per epoch at batch 16". */
  reason: string;
}

/**
 * The share of each class held out when there is no separate validation set: a fifth of a small
 * set (so a handful of images per class still gives a usable estimate), a tenth of a large one.
 */
export function chooseValSplit(totalImages: number, numClasses: number): Choice<number> {
  if (totalImages < TINY_PER_CLASS * numClasses) {
    return {
      value: 0,
      reason:
        `${totalImages} images in ${numClasses} classes (< ${TINY_PER_CLASS} per class): all of them train, none held out ` +
        "(the last epoch is saved; --val-split holds some out)",
    };
  }
  if (totalImages < SMALL_SET)
    return { value: 0.2, reason: `${totalImages} images (< ${SMALL_SET}): a fifth of each class held out for validation` };
  return { value: 0.1, reason: `${totalImages} images: a tenth of each class held out for validation` };
}

/** The largest power of two up to 32 that still gives at least 8 steps per epoch (at least 4). */
export function chooseBatchSize(trainImages: number): Choice<number> {
  let b = MAX_BATCH;
  while (b > MIN_BATCH && Math.ceil(trainImages / b) < MIN_STEPS_PER_EPOCH) b /= 2;
  const steps = Math.ceil(trainImages / b);
  return { value: b, reason: `batch ${b}: ${steps} steps per epoch over ${trainImages} training images` };
}

/**
 * Epochs for a sensible number of optimizer steps: small sets get ~400 steps (the small-data
 * recipes reach their best after a few hundred AdamW steps; 10 epochs of 2–5 steps do not), tiny
 * ones (< 100 training images) ~800, capped at 120 epochs; larger sets 2000 steps, within 10–60 epochs.
 */
export function chooseEpochs(trainImages: number, batchSize: number): Choice<number> {
  const steps = Math.ceil(trainImages / batchSize);
  const small = trainImages < SMALL_SET;
  const target = !small ? LONG_RUN_STEPS : trainImages < TINY_DATA_IMAGES ? TINY_DATA_STEPS : SMALL_DATA_STEPS;
  const epochs = small
    ? Math.max(1, Math.min(MAX_SMALL_EPOCHS, Math.ceil(target / steps)))
    : Math.max(LONG_RUN_EPOCHS, Math.min(MAX_EPOCHS, Math.ceil(target / steps)));
  return { value: epochs, reason: `${epochs} epochs of ${steps} steps (${epochs * steps} steps; aiming at ~${target})` };
}

/**
 * Recalibrate the BatchNorm layers that train after each epoch when their running averages cannot
 * have forgotten their start over the run: (1 − m)^steps > 1% for the slowest momentum m
 * (MobileNetV3 and EfficientNet use torch momentum 0.01: 459 steps to get there).
 */
export function chooseRecalibration(slowestMomentum: number | null, totalSteps: number): Choice<boolean> {
  if (slowestMomentum === null) return { value: false, reason: "no BatchNorm layer trains" };
  const stale = (1 - slowestMomentum) ** totalSteps;
  if (stale > STALE_SHARE) {
    return {
      value: true,
      reason:
        `BatchNorm momentum ${slowestMomentum} over ${totalSteps} steps leaves ${(stale * 100).toFixed(1)}% of the start in the ` +
        "running statistics: recomputed after each epoch",
    };
  }
  return { value: false, reason: `BatchNorm running statistics converge over ${totalSteps} steps (momentum ${slowestMomentum})` };
}

/**
 * AdamW (decoupled weight decay 0.01) to fine-tune from weights, as fastai's fine_tune does; SGD
 * with momentum from scratch. The search: AdamW +0 to +11 points fine-tuning at 32 px, SGD +12
 * points training mobilenet_v3_small from scratch on 250 digits.
 */
export function chooseOptimizer(fromWeights: boolean): Choice<"sgd" | "adamw"> {
  return fromWeights
    ? { value: "adamw", reason: "AdamW: fine-tuning from weights" }
    : { value: "sgd", reason: "SGD with momentum 0.9: training from scratch" };
}

/** AdamW's rate at batch 4 (the search's best at 5 images per class: 3e-3 lost 15 points there). */
const ADAMW_LR_AT_BATCH_4 = 1e-3;
/** fastai's fine_tune base rate: the ceiling of the batch scaling below. */
const ADAMW_MAX_LR = 2e-3;
const SGD_LR = 0.01;

/**
 * The base learning rate. SGD: 0.01. AdamW: 1e-3 at batch 4, scaled with the square root of the
 * batch size (the square-root rule for adaptive optimizers, Malladi et al. 2022, "On the SDEs and
 * Scaling Rules for Adaptive Gradient Algorithms"), at most 2e-3 (fastai's fine_tune). The search
 * found 1e-3 best at batch 4 and 3e-3 at batch 16 (+5 points on 50 digits per class, −1 on shapes).
 */
export function chooseLearningRate(optimizer: "sgd" | "adamw", batchSize: number): Choice<number> {
  if (optimizer === "sgd") return { value: SGD_LR, reason: `lr ${SGD_LR}` };
  const scaled = ADAMW_LR_AT_BATCH_4 * Math.sqrt(batchSize / 4);
  const lr = Number(Math.min(ADAMW_MAX_LR, scaled).toPrecision(2));
  const why = scaled > ADAMW_MAX_LR ? `at most ${ADAMW_MAX_LR}` : "1e-3 at batch 4, by the square root of the batch";
  return { value: lr, reason: `lr ${lr} (${why})` };
}

/**
 * Validation images from which the best epoch is picked by them. Below, an accuracy measured on
 * them has a standard error of 4 points or more (√(p(1−p)/n) at p = 0.8), larger than the
 * differences between the late epochs of an annealed run: the "best" of many epochs is then chosen
 * by noise, often an early one (the bench's mnist@20: epoch 13 of 80 on 20 validation images).
 */
const MIN_VAL_TO_PICK = 100;

/** Keep the best epoch by validation accuracy with 100+ validation images, else the last. */
export function chooseSaveEpoch(valImages: number): Choice<"best" | "last"> {
  if (valImages >= MIN_VAL_TO_PICK)
    return { value: "best", reason: `the best epoch by validation accuracy is saved (${valImages} validation images)` };
  return {
    value: "last",
    reason: `the last epoch is saved (${valImages} validation images are too few to pick the best by; they are still reported)`,
  };
}

/** Random crops and flips (torchvision's RandomResizedCrop + flip) above 64 px; none at or below. */
export function chooseAugmentation(resolution: number): Choice<boolean> {
  if (resolution <= SMALL_IMAGE)
    return { value: false, reason: `no random crops or flips at ${resolution} px (≤ ${SMALL_IMAGE}: a crop of a few pixels says nothing)` };
  return { value: true, reason: `random resized crops and flips at ${resolution} px` };
}
