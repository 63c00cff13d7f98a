/**
 * Run settings sized from the data when the user leaves them out: the validation split, the batch
 * size, the number of epochs and whether BatchNorm statistics are recalibrated. Each choice comes
 * with the reason the start of a run prints ("150 images → 38 epochs of 10 steps, batch 16 …").
 * Pure functions of a few counts, so the rules are testable on small, medium and large folders.
 */

/** Images per class below which a class is "small": a fifth of them are held out for validation. */
const SMALL_SET = 1000;
/** Steps a short run is sized to; a long one gets at least LONG_RUN_EPOCHS epochs. */
const SMALL_DATA_STEPS = 400;
const MIN_STEPS_PER_EPOCH = 8;
const MAX_BATCH = 32;
const MIN_BATCH = 4;
const MAX_EPOCHS = 60;
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
export function chooseValSplit(totalImages: number): Choice<number> {
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
 * recipes reach their best after a few hundred AdamW steps; 10 epochs of 2–5 steps do not), capped
 * at 60 epochs; larger ones 2000 steps, within 10–60 epochs.
 */
export function chooseEpochs(trainImages: number, batchSize: number): Choice<number> {
  const steps = Math.ceil(trainImages / batchSize);
  const small = trainImages < SMALL_SET;
  const target = small ? SMALL_DATA_STEPS : LONG_RUN_STEPS;
  const epochs = Math.max(small ? 1 : LONG_RUN_EPOCHS, Math.min(MAX_EPOCHS, Math.ceil(target / steps)));
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
