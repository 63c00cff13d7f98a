/**
 * The settings of a training run, once: a table of every field a person can set (its flag, help,
 * value kind, default and whether a resumed run keeps the original value). The CLI generates
 * `convzoo train`'s options from it, `withDefaults` fills a library request from it, and the
 * resolved RunSettings (the loop's settings plus where the data came from) is what a checkpoint
 * records and `--resume` restores.
 */
import type { ColorJitter } from "../data/augment.js";
import { OptionError } from "../errors.js";
import { shown } from "../text.js";
import { INTERPOLATIONS, type Interpolation } from "../models/preprocessing.js";
import type { AutoAugmentPolicy } from "../data/auto_augment.js";
import type { LoopSettings } from "../train/fit.js";
import { SCHEDULES, type ScheduleKind } from "../train/schedules.js";
import { STRATEGIES, type Strategy } from "../transfer/strategy.js";

/** A training run as a person asks for it: every field optional but the data and the checkpoint. */
export interface RunRequest {
  /** Class-per-sub-folder image folder, a `path,label` CSV list, or a folder holding train/ and val/. */
  data: string;
  /** The checkpoint to write (the epoch saveEpoch keeps); the resume file and report go beside it. */
  save: string;
  /** Validation images (folder or CSV); default: DIR/val beside DIR/train, else a split of the data. */
  val?: string;
  arch?: string;
  /** Starting weights (torchvision .pth or safetensors); the classifier is re-initialised for the data's classes. */
  weights?: string;
  widthMult?: number;
  phi?: number;
  dropPath?: number;
  /** What trains; `auto` measures the data and picks one (see transfer/auto.ts). */
  strategy?: Strategy | "auto";
  /** partial: parameter prefixes that stay fixed. */
  freeze?: string[];
  /** partial: train the last K stages of the feature info (and the head), freeze the rest. */
  unfreezeStages?: number;
  /**
   * Train the new head alone for this many epochs first, then what the strategy trains (fastai's
   * fine_tune freeze_epochs); 0: no warm-up.
   */
  headEpochs?: number;
  epochs?: number;
  batchSize?: number;
  optimizer?: "sgd" | "adamw";
  /** A rate, or "auto": the learning-rate range test (train/lr_find.ts) picks it. */
  lr?: number | "auto";
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
  schedule?: ScheduleKind;
  warmupEpochs?: number;
  labelSmoothing?: number;
  resolution?: number;
  valSplit?: number;
  dropout?: number;
  augment?: boolean;
  /** torchvision ColorJitter on the augmented images. */
  colorJitter?: ColorJitter;
  shuffle?: boolean;
  seed?: number;
  patience?: number;
  /** Which epoch --save keeps (sized from the validation set's size when absent). */
  saveEpoch?: "best" | "last";
  /** Recompute the trained BatchNorm layers' running statistics after each epoch (train/recalibrate.ts). */
  recalibrateBn?: boolean;
  /** torchvision's TrivialAugmentWide or RandAugment on training images. */
  autoAugment?: AutoAugmentPolicy;
  /** torchvision's RandomErasing probability (timm's --reprob). */
  randomErasing?: number;
  /** timm's Mixup / CutMix Beta(α, α) parameters (0 or absent: off). */
  mixup?: number;
  cutmix?: number;
  /** Clip gradients by their global 2-norm. */
  clipGrad?: number;
  /** Micro-batches per optimizer step. */
  accumulate?: number;
  /** EMA of the weights with this decay (timm's ModelEmaV2); validated and saved instead of the weights. */
  ema?: number;
  /** "balanced": cross-entropy class weights n / (K · count) from the training images. */
  classWeights?: "none" | "balanced";
  /** Layer-wise learning rates: each stage's factor is this times the next deeper one's. */
  layerDecay?: number;
  /** Schedules: cosine's floor; step's period (epochs) and factor. */
  minLr?: number;
  stepEpochs?: number;
  gamma?: number;
  /** Overrides of the starting weights' transform (timm's flags): resize interpolation, normalisation. */
  interpolation?: Interpolation;
  mean?: [number, number, number];
  std?: [number, number, number];
  /** ONNX Runtime threads for the measurements before training (auto). */
  threads?: number;
}

/** Everything that decides a run's arithmetic: what resume restores, and what a checkpoint records. */
export interface RunSettings extends LoopSettings {
  data: string;
  valData: string | null;
  valSplit: number;
  /** The strategy that ran (`auto: partial` when auto chose it). */
  strategy: string;
  frozen: string[];
  /** Epochs of the head alone before the run's own epochs (absent in runs saved before it existed: 0). */
  headEpochs?: number;
  initialWeights: string | null;
}

/**
 * How a flag's text becomes a value. Each kind is checked the same way by the CLI and by
 * `withDefaults` for library requests.
 */
export type ValueKind =
  | "string"
  | "list"
  | "positiveInt"
  | "nonNegativeInt"
  | "positiveNumber"
  | "positiveNumberOrAuto"
  | "nonNegativeNumber"
  | "fraction"
  | "boolean"
  | "negatable"
  | "colorJitter"
  | "rgb"
  | "positiveRgb"
  | { choices: readonly string[] };

/** One row of the table: a RunRequest field and how a person sets it. */
export interface RunOption {
  field: Exclude<keyof RunRequest, "data" | "save" | "threads">;
  /** The CLI flag with its value placeholder (`--batch-size <B>`), or `--no-augment` for a negatable boolean. */
  flag: string;
  help: string;
  kind: ValueKind;
  default?: string | number | boolean;
  /** A resumed run keeps its original value; giving the flag with --resume is an error. */
  fixedOnResume: boolean;
}

export const RUN_OPTIONS: readonly RunOption[] = [
  {
    field: "arch",
    flag: "--arch <arch>",
    kind: "string",
    fixedOnResume: true,
    help: "architecture (optional with a convzoo checkpoint as --weights)",
  },
  {
    field: "weights",
    flag: "--weights <file|name>",
    kind: "string",
    fixedOnResume: true,
    help:
      "start from these weights: a torchvision .pth or safetensors file, or a name (mobilenet_v3_large.DEFAULT; `convzoo weights list`); " +
      "the classifier is re-initialised for the folder's classes",
  },
  { field: "widthMult", flag: "--width-mult <A>", kind: "positiveNumber", fixedOnResume: true, help: "width multiplier α (MobileNets)" },
  {
    field: "phi",
    flag: "--phi <φ>",
    kind: "nonNegativeNumber",
    fixedOnResume: true,
    help: "compound scaling coefficient φ (efficientnet)",
  },
  {
    field: "strategy",
    flag: "--strategy <s>",
    kind: { choices: [...STRATEGIES, "auto"] },
    default: "full",
    fixedOnResume: true,
    help:
      "what trains: full (everything), head (the classifier only), partial (all but --freeze / " +
      "--unfreeze-stages), auto (measured on the data: size x similarity)",
  },
  {
    field: "freeze",
    flag: "--freeze <prefixes>",
    kind: "list",
    fixedOnResume: true,
    help: "partial: comma-separated parameter prefixes that stay fixed (conv1,bn1,layer1)",
  },
  {
    field: "unfreezeStages",
    flag: "--unfreeze-stages <K>",
    kind: "nonNegativeInt",
    fixedOnResume: true,
    help: "partial: the last K stages (listed by convzoo summary) and the head train; the rest stays fixed",
  },
  {
    field: "headEpochs",
    flag: "--head-epochs <K>",
    kind: "nonNegativeInt",
    fixedOnResume: true,
    help:
      "train the new classifier alone for K epochs first, then what --strategy trains " +
      "(fastai's fine_tune; on cached features when no augmentation varies the images; default 0)",
  },
  {
    field: "epochs",
    flag: "--epochs <E>",
    kind: "positiveInt",
    fixedOnResume: false,
    help: "passes over the training images (default: sized from the data, ~400 steps for a small set; with --resume: lengthens the run)",
  },
  {
    field: "batchSize",
    flag: "--batch-size <B>",
    kind: "positiveInt",
    fixedOnResume: true,
    help: "images per step (default: the largest power of two ≤ 32 that leaves 8 steps per epoch)",
  },
  {
    field: "optimizer",
    flag: "--optimizer <o>",
    kind: { choices: ["sgd", "adamw"] },
    fixedOnResume: true,
    help: "optimizer (default: adamw to fine-tune from weights, sgd from scratch)",
  },
  {
    field: "lr",
    flag: "--lr <L>",
    kind: "positiveNumberOrAuto",
    fixedOnResume: true,
    help:
      "base learning rate, or auto: fastai's range test picks it (lr-find's valley); sized when left out: " +
      "0.01 for sgd; for adamw 1e-3 at batch 4 times the square root of batch/4, at most 2e-3",
  },
  { field: "momentum", flag: "--momentum <M>", kind: "nonNegativeNumber", default: 0.9, fixedOnResume: true, help: "SGD momentum" },
  { field: "nesterov", flag: "--nesterov", kind: "boolean", fixedOnResume: true, help: "SGD with Nesterov momentum" },
  {
    field: "weightDecay",
    flag: "--weight-decay <W>",
    kind: "nonNegativeNumber",
    fixedOnResume: true,
    help: "weight decay (default 1e-4 for sgd as L2, 0.01 for adamw decoupled)",
  },
  {
    field: "schedule",
    flag: "--schedule <s>",
    kind: { choices: SCHEDULES },
    default: "cosine",
    fixedOnResume: true,
    help: "learning-rate schedule",
  },
  {
    field: "warmupEpochs",
    flag: "--warmup-epochs <K>",
    kind: "nonNegativeNumber",
    default: 0,
    fixedOnResume: true,
    help: "linear warm-up length in epochs",
  },
  { field: "labelSmoothing", flag: "--label-smoothing <S>", kind: "fraction", default: 0, fixedOnResume: true, help: "label smoothing ε" },
  {
    field: "resolution",
    flag: "--resolution <R>",
    kind: "positiveInt",
    fixedOnResume: true,
    help: "training input side (default: the architecture's)",
  },
  {
    field: "val",
    flag: "--val <path>",
    kind: "string",
    fixedOnResume: true,
    help: "validation images: a class-per-sub-folder folder or a path,label CSV (default: DIR/val beside DIR/train, else --val-split)",
  },
  {
    field: "valSplit",
    flag: "--val-split <V>",
    kind: "fraction",
    fixedOnResume: true,
    help: "without a validation set: the fraction of each class held out, stratified and seeded (default: 0.2 below 1000 images, else 0.1)",
  },
  {
    field: "interpolation",
    flag: "--interpolation <mode>",
    kind: { choices: INTERPOLATIONS },
    fixedOnResume: true,
    help: "override the starting weights' resize interpolation (training and validation images)",
  },
  { field: "mean", flag: "--mean <r,g,b>", kind: "rgb", fixedOnResume: true, help: "override the starting weights' normalisation mean" },
  {
    field: "std",
    flag: "--std <r,g,b>",
    kind: "positiveRgb",
    fixedOnResume: true,
    help: "override the starting weights' normalisation std",
  },
  {
    field: "autoAugment",
    flag: "--auto-augment <policy>",
    kind: { choices: ["none", "trivialaugment", "randaugment"] },
    fixedOnResume: true,
    help: "torchvision's TrivialAugmentWide or RandAugment (2 ops, magnitude 9) on each training image, after crop and flip",
  },
  {
    field: "randomErasing",
    flag: "--random-erasing <P>",
    kind: "fraction",
    fixedOnResume: true,
    help: "torchvision's RandomErasing with probability P on each normalised training image (timm's --reprob)",
  },
  {
    field: "mixup",
    flag: "--mixup <A>",
    kind: "nonNegativeNumber",
    fixedOnResume: true,
    help: "timm's Mixup on each batch with Beta(A, A)",
  },
  {
    field: "cutmix",
    flag: "--cutmix <A>",
    kind: "nonNegativeNumber",
    fixedOnResume: true,
    help: "timm's CutMix with Beta(A, A) (with --mixup: half the batches each)",
  },
  {
    field: "clipGrad",
    flag: "--clip-grad <N>",
    kind: "positiveNumber",
    fixedOnResume: true,
    help: "clip gradients to a global 2-norm of N",
  },
  {
    field: "accumulate",
    flag: "--accumulate <K>",
    kind: "positiveInt",
    fixedOnResume: true,
    help: "accumulate K batches' gradients per optimizer step",
  },
  {
    field: "ema",
    flag: "--ema <decay>",
    kind: "fraction",
    fixedOnResume: true,
    help: "keep an EMA of the weights (timm's ModelEmaV2, e.g. 0.999); validation and the checkpoint use it",
  },
  {
    field: "classWeights",
    flag: "--class-weights <w>",
    kind: { choices: ["none", "balanced"] },
    fixedOnResume: true,
    help: "balanced: weight the loss by n / (K · count) per class (for imbalanced folders)",
  },
  {
    field: "layerDecay",
    flag: "--layer-decay <F>",
    kind: "positiveNumber",
    fixedOnResume: true,
    help: "discriminative learning rates: each stage's rate is F times the next deeper stage's (the head's is --lr)",
  },
  { field: "minLr", flag: "--min-lr <L>", kind: "nonNegativeNumber", fixedOnResume: true, help: "cosine schedule: the rate it ends at" },
  { field: "stepEpochs", flag: "--step-epochs <E>", kind: "positiveInt", fixedOnResume: true, help: "step schedule: decay every E epochs" },
  {
    field: "gamma",
    flag: "--gamma <G>",
    kind: "positiveNumber",
    fixedOnResume: true,
    help: "step schedule: multiply the rate by G (default 0.1)",
  },
  { field: "dropout", flag: "--dropout <P>", kind: "fraction", fixedOnResume: true, help: "override the rate of every dropout layer" },
  {
    field: "dropPath",
    flag: "--drop-path <P>",
    kind: "fraction",
    fixedOnResume: true,
    help: "override the stochastic-depth rate (EfficientNet)",
  },
  {
    field: "augment",
    flag: "--augment",
    kind: "boolean",
    fixedOnResume: true,
    help: "random resized crops and flips on training images (default: above 64 px)",
  },
  {
    field: "augment",
    flag: "--no-augment",
    kind: "negatable",
    fixedOnResume: true,
    help: "no random crops or flips: resize the shorter side to R and centre-crop",
  },
  {
    field: "colorJitter",
    flag: "--color-jitter <b,c,s,h>",
    kind: "colorJitter",
    fixedOnResume: true,
    help: "torchvision ColorJitter strengths: brightness, contrast, saturation, hue (e.g. 0.4,0.4,0.4,0.1)",
  },
  {
    field: "shuffle",
    flag: "--no-shuffle",
    kind: "negatable",
    default: true,
    fixedOnResume: true,
    help: "take batches in folder order (classes sorted, files sorted)",
  },
  {
    field: "seed",
    flag: "--seed <N>",
    kind: "nonNegativeInt",
    default: 0,
    fixedOnResume: true,
    help: "seed for initialisation, split, shuffle, augmentation and dropout",
  },
  {
    field: "patience",
    flag: "--patience <N>",
    kind: "positiveInt",
    fixedOnResume: true,
    help: "early stopping: stop after N epochs without a better validation accuracy",
  },
  {
    field: "saveEpoch",
    flag: "--save-epoch <which>",
    kind: { choices: ["best", "last"] },
    fixedOnResume: true,
    help:
      "the epoch --save keeps: best (highest validation accuracy) or last (default: best with 100 or more validation " +
      "images, else last: a smaller set picks by noise)",
  },
  {
    field: "recalibrateBn",
    flag: "--recalibrate-bn",
    kind: "boolean",
    fixedOnResume: true,
    help:
      "after each epoch, recompute the running statistics of the BatchNorm layers that train from a pass over the training images " +
      "(torch's update_bn), so the eval-mode model matches the training-mode one (default: when their running averages cannot converge)",
  },
  {
    field: "recalibrateBn",
    flag: "--no-recalibrate-bn",
    kind: "negatable",
    fixedOnResume: true,
    help: "never recompute the BatchNorm statistics, even where the run is too short for them to converge",
  },
];

export function runOption(field: RunOption["field"]): RunOption {
  const row = RUN_OPTIONS.find((o) => o.field === field);
  if (!row) throw new Error(`no run option "${field}"`);
  return row;
}

/** Every row of a field: a boolean sized from the data has its flag and its negation (--augment, --no-augment). */
export function runOptionRows(field: RunOption["field"]): RunOption[] {
  const rows = RUN_OPTIONS.filter((o) => o.field === field);
  if (!rows.length) throw new Error(`no run option "${field}"`);
  return rows;
}

/** `--batch-size <B>` → `--batch-size`. */
export function flagName(o: Pick<RunOption, "flag">): string {
  return o.flag.split(" ")[0];
}

/**
 * Parses a flag's text by its kind; the message names the flag and the expected form. `fail`
 * makes the error (the CLI passes commander's InvalidArgumentError so usage errors stay one line).
 */
export function parseValue(
  o: Pick<RunOption, "flag" | "kind">,
  text: string,
  fail: (message: string) => Error = (m) => new OptionError(m),
): string | number | boolean | string[] | number[] | ColorJitter {
  const flag = flagName(o);
  const n = Number(text);
  const blank = text.trim() === "";
  const kind = o.kind;
  if (typeof kind === "object") {
    if (!kind.choices.includes(text)) throw fail(`${flag} expects one of ${kind.choices.join(", ")}, got "${text}"`);
    return text;
  }
  switch (kind) {
    case "string":
      return text;
    case "list":
      return text
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);
    case "positiveInt":
      if (!Number.isInteger(n) || n < 1) throw fail(`${flag} expects a positive integer, got "${text}"`);
      return n;
    case "nonNegativeInt":
      if (blank || !Number.isInteger(n) || n < 0) throw fail(`${flag} expects an integer ≥ 0, got "${text}"`);
      return n;
    case "positiveNumberOrAuto":
      if (text === "auto") return text;
      if (!Number.isFinite(n) || n <= 0) throw fail(`${flag} expects a positive number or auto, got "${text}"`);
      return n;
    case "positiveNumber":
      if (!Number.isFinite(n) || n <= 0) throw fail(`${flag} expects a positive number, got "${text}"`);
      return n;
    case "nonNegativeNumber":
      if (blank || !Number.isFinite(n) || n < 0) throw fail(`${flag} expects a number ≥ 0, got "${text}"`);
      return n;
    case "fraction":
      if (blank || !Number.isFinite(n) || n < 0) throw fail(`${flag} expects a number ≥ 0, got "${text}"`);
      if (n >= 1) throw fail(`${flag} expects a number in [0, 1), got "${text}"`);
      return n;
    case "colorJitter":
      return parseColorJitter(text, fail);
    case "rgb":
    case "positiveRgb": {
      const v = text.split(",").map((p) => Number(p.trim()));
      const positive = kind === "positiveRgb";
      if (v.length !== 3 || v.some((x) => !Number.isFinite(x) || (positive && x <= 0))) {
        throw fail(`${flag} expects 3 comma-separated${positive ? " positive" : ""} numbers (R,G,B), got "${text}"`);
      }
      return v;
    }
    case "boolean":
    case "negatable":
      return true;
  }
}

function parseColorJitter(text: string, fail: (message: string) => Error): ColorJitter {
  const parts = text.split(",").map((p) => Number(p.trim()));
  if (parts.length !== 4 || parts.some((v) => !Number.isFinite(v) || v < 0) || parts[3] > 0.5) {
    throw fail(`--color-jitter expects brightness,contrast,saturation,hue (each ≥ 0, hue ≤ 0.5), got "${text}"`);
  }
  const [brightness, contrast, saturation, hue] = parts;
  return { brightness, contrast, saturation, hue };
}

/** A request with the table's defaults filled in where the caller gave nothing. */
export type CompleteRequest = RunRequest &
  Required<Pick<RunRequest, "strategy" | "momentum" | "schedule" | "warmupEpochs" | "labelSmoothing" | "shuffle" | "seed">>;

/** Kinds whose values a library request gives as the parsed value itself (not text to parse). */
const UNCHECKED_KINDS = new Set<ValueKind>(["string", "list", "boolean", "negatable", "colorJitter"]);

/**
 * The request with the table's defaults filled in where the caller gave nothing. A library caller's
 * values are checked as the CLI checks flags (a choice not in the list, a count that is not a positive
 * integer …), the message naming the request field.
 */
export function withDefaults(req: RunRequest): CompleteRequest {
  const out: Record<string, unknown> = { ...req };
  for (const o of RUN_OPTIONS) {
    const value = out[o.field];
    if (value === undefined) {
      if (o.default !== undefined) out[o.field] = o.default;
      continue;
    }
    if (UNCHECKED_KINDS.has(o.kind)) continue;
    const asField = (m: string) => new OptionError(m.replace(flagName(o), o.field));
    const rgb = o.kind === "rgb" || o.kind === "positiveRgb";
    const expected =
      typeof o.kind === "object" ? "string" : rgb ? "array" : o.kind === "positiveNumberOrAuto" && value === "auto" ? "string" : "number";
    const given = Array.isArray(value) ? "array" : typeof value;
    if (given !== expected)
      throw asField(`${flagName(o)} expects a ${expected}, got ${given === "string" ? `"${shown(value, 40)}"` : given}`);
    parseValue(o, Array.isArray(value) ? value.join(",") : String(value), asField);
  }
  return out as unknown as CompleteRequest;
}
