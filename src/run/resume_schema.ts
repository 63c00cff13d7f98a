/**
 * Every field of a resume file checked before the run continues: its type and its range, and the
 * fields that must agree with each other (the epoch with the history, the step with the data). A
 * field of the wrong type used to end in a TypeError's stack trace; a negative epoch, a huge step or
 * an unknown strategy "resumed" and trained nothing at learning rate 0 with exit code 0. Now each is
 * one line naming the file, the field, what was expected and what was found.
 *
 * The schema is zod's (types and ranges declared once). Objects are loose: a field this version
 * does not know is left alone (a newer convzoo may add settings), a field it knows must be right.
 */
import { z } from "zod";
import { WeightsError } from "../errors.js";
import { INTERPOLATIONS } from "../models/preprocessing.js";
import { shown } from "../text.js";

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.number().int().min(min).max(max);
const optionalNull = <T extends z.ZodType>(t: T) => t.nullable().optional();
/** [0, 1) */
const fractionBelowOne = z.number().min(0).lt(1);
const uint32 = int(0, 2 ** 32 - 1);
/**
 * random.ts's getState(): xoshiro128**'s four words (never all zero: that state only ever yields 0)
 * and the spare normal draw (NaN, so null in JSON, when there is none).
 */
const randomState = z
  .tuple([uint32, uint32, uint32, uint32, z.number().nullable()])
  .refine((s) => s.slice(0, 4).some((w) => w !== 0), "a generator state of four zero words (it would only ever draw 0)");

const colorJitterValue = z.union([z.number().min(0), z.tuple([z.number(), z.number()])]);

const optimizer = z.discriminatedUnion("kind", [
  z.looseObject({
    kind: z.literal("sgd"),
    momentum: fractionBelowOne.optional(),
    weightDecay: z.number().min(0).optional(),
    nesterov: z.boolean().optional(),
  }),
  z.looseObject({
    kind: z.literal("adamw"),
    betas: z.tuple([fractionBelowOne, fractionBelowOne]).optional(),
    eps: z.number().positive().optional(),
    weightDecay: z.number().min(0).optional(),
  }),
]);

/** RunSettings (settings.ts) as run.ts writes it. */
const settings = z.looseObject({
  data: z.string(),
  valData: z.string().nullable(),
  valSplit: fractionBelowOne,
  strategy: z.enum(["full", "head", "partial", "auto: full", "auto: head", "auto: partial"]),
  frozen: z.array(z.string()),
  initialWeights: optionalNull(z.string()),
  epochs: int(1, 1_000_000),
  batchSize: int(1, 65_536),
  resolution: int(1, 16_384),
  optimizer,
  lr: z.number().positive(),
  schedule: z.enum(["constant", "step", "cosine", "onecycle"]),
  warmupEpochs: z.number().min(0).optional(),
  labelSmoothing: fractionBelowOne.optional(),
  dropout: optionalNull(fractionBelowOne),
  augment: z.boolean(),
  colorJitter: optionalNull(
    z.looseObject({
      brightness: colorJitterValue.optional(),
      contrast: colorJitterValue.optional(),
      saturation: colorJitterValue.optional(),
      hue: colorJitterValue.optional(),
    }),
  ),
  shuffle: z.boolean(),
  seed: int(0),
  cacheFeatures: z.boolean().optional(),
  recalibrateBatchNorm: z.boolean().optional(),
  patience: optionalNull(int(1)),
  saveEpoch: z.enum(["best", "last"]).optional(),
  stepEpochs: optionalNull(int(1)),
  gamma: optionalNull(z.number().positive().max(1)),
  minLr: optionalNull(z.number().min(0)),
  pctStart: optionalNull(z.number().positive().lt(1)),
  divFactor: optionalNull(z.number().positive()),
  finalDivFactor: optionalNull(z.number().positive()),
  clipGradNorm: optionalNull(z.number().positive()),
  accumulate: optionalNull(int(1, 65_536)),
  lrMultipliers: optionalNull(z.record(z.string(), z.number().min(0))),
  classWeights: optionalNull(z.array(z.number().positive())),
  ema: optionalNull(z.looseObject({ decay: fractionBelowOne })),
  autoAugment: optionalNull(z.enum(["none", "trivialaugment", "randaugment"])),
  randomErasing: optionalNull(z.number().min(0).max(1)),
  mixup: optionalNull(
    z.looseObject({
      mixupAlpha: z.number().min(0).optional(),
      cutmixAlpha: z.number().min(0).optional(),
      prob: z.number().min(0).max(1).optional(),
      switchProb: z.number().min(0).max(1).optional(),
    }),
  ),
});

const accuracy = z.number().min(0).max(1);
const epochMetrics = z.looseObject({
  epoch: int(1),
  lr: z.number().min(0),
  trainLoss: z.number().min(0),
  trainAccuracy: accuracy,
  valLoss: z.number().min(0).nullable(),
  valAccuracy: accuracy.nullable(),
  seconds: z.number().min(0),
  imagesPerSecond: z.number().min(0),
});

/** FitProgress (train/fit.ts) without the optimizer slots, which are tensors checked by the trainer. */
const progress = z.looseObject({
  epoch: int(0),
  stepInEpoch: int(0),
  dataRandom: randomState,
  trainer: z.looseObject({ steps: int(0), random: randomState }),
  history: z.array(epochMetrics),
  bestEpoch: int(1).nullable(),
  bestValAccuracy: accuracy.nullable(),
  partial: z
    .looseObject({ lossSum: z.number().min(0), correct: int(0), seen: int(0), seconds: z.number().min(0) })
    .refine((p) => p.correct <= p.seen, "more correct answers than images seen"),
});

const preprocessing = z.looseObject({
  resizeSize: int(1, 16_384),
  cropSize: int(1, 16_384),
  interpolation: z.enum(INTERPOLATIONS as [string, ...string[]]),
  mean: z.tuple([z.number(), z.number(), z.number()]),
  std: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]),
});

const resumeMetadata = z
  .looseObject({ classes: z.array(z.string()).min(2), preprocessing, training: settings, resume: progress })
  .superRefine((m, ctx) => {
    const p = m.resume;
    const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: "custom", path, message });
    // The run may have been lengthened with --epochs since, so the epoch is bounded by the history, not the settings.
    if (p.history.length !== p.epoch) issue(["resume", "epoch"], `expected the number of epochs in the history (${p.history.length})`);
    p.history.forEach((h, i) => {
      if (h.epoch !== i + 1) issue(["resume", "history", i, "epoch"], `expected ${i + 1} (the history in order)`);
    });
    if (p.bestEpoch !== null && p.bestEpoch > p.epoch) issue(["resume", "bestEpoch"], `expected at most the epoch reached (${p.epoch})`);
    if (m.preprocessing.cropSize > m.preprocessing.resizeSize)
      issue(["preprocessing", "cropSize"], `expected at most the resize size (${m.preprocessing.resizeSize})`);
  });

/** The value at `path` in `data`, for the message. */
function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let v = data;
  for (const key of path) v = v !== null && typeof v === "object" ? (v as Record<PropertyKey, unknown>)[key] : undefined;
  return v;
}

/** Throws a one-line WeightsError naming `file`, the first bad field, what it expects and what it holds. */
export function checkResumeMetadata(file: string, metadata: unknown): void {
  const result = resumeMetadata.safeParse(metadata);
  if (result.success) return;
  const first = result.error.issues[0];
  const field = first.path
    .map((k) => (typeof k === "number" ? `[${k}]` : `.${String(k)}`))
    .join("")
    .slice(1);
  const found = valueAt(metadata, first.path);
  const more = result.error.issues.length > 1 ? ` (and ${result.error.issues.length - 1} more problems)` : "";
  throw new WeightsError(
    `${file}: resume field "${shown(field, 80)}" is ${found === undefined ? "missing" : shown(JSON.stringify(found), 60)}: ` +
      `${first.message.replace(/^Invalid (input|option): /, "")}${more}`,
  );
}

/** A resumed step past the end of its epoch (the data's steps per epoch) would skip the whole epoch. */
export function checkResumeStep(file: string, stepInEpoch: number, stepsPerEpoch: number): void {
  if (stepInEpoch >= stepsPerEpoch) {
    throw new WeightsError(
      `${file}: resume field "resume.stepInEpoch" is ${stepInEpoch}: ` +
        `expected less than the ${stepsPerEpoch} steps of an epoch on this data`,
    );
  }
}
