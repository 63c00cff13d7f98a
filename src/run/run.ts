/**
 * A training run as a person asks for it (Node): data, starting weights, strategy, settings → the
 * prepared run (model, split, frozen prefixes) → the loop, with the best checkpoint, the resume
 * file and the report written beside each other. `convzoo train` and `convzoo demo` both go
 * through here; the CLI only parses flags.
 */
import { existsSync } from "node:fs";
import { loadModel } from "../inference/load.js";
import { readDataset } from "../data/dataset.js";
import { stratifiedSplit, type Sample } from "../data/folder.js";
import { batchCount, skippedFileMessage } from "../data/loader.js";
import { preprocessingForResolution, type Preprocessing } from "../models/preprocessing.js";
import type { FetchOptions } from "../hub/download.js";
import { InputFileError, OptionError } from "../errors.js";
import type { Model } from "../models/model.js";
import { evaluateSamples, type Evaluation } from "../train/evaluate.js";
import { fit, type FitEvent, type FitProgress, type FitResult } from "../train/fit.js";
import type { OptimizerOptions } from "../train/optimizers.js";
import { writeReport } from "./report.js";
import { checkResumeStep } from "./resume_schema.js";
import { checkSaveWritable, checkTrainableData } from "./checks.js";
import { readResumeFile, saveResumeFile, saveRunCheckpoint, siblingPath, type RunDescription } from "./files.js";
import { withDefaults, type RunRequest, type RunSettings } from "./settings.js";
import {
  chooseAugmentation,
  chooseBatchSize,
  chooseEpochs,
  chooseOptimizer,
  chooseLearningRate,
  chooseSaveEpoch,
  chooseRecalibration,
  chooseValSplit,
  type Choice,
} from "./sizing.js";
import { underPrefix } from "../models/bind.js";
import { BatchNorm2d } from "../nn/layers.js";
import { balancedClassWeights } from "../train/training_graph.js";
import { layerwiseLrMultipliers } from "../train/lr_multipliers.js";
import { lrFind } from "../train/lr_find.js";
import { chooseStrategy } from "../transfer/auto.js";
import { frozenPrefixes, unfreezeStagesPrefixes, type Strategy } from "../transfer/strategy.js";
import { shown, shownList } from "../text.js";

/** Where a run's messages go (the CLI's TrainingDisplay; something quieter for a library user). */
export interface RunDisplay {
  note(line: string): void;
  warn(message: string): void;
  record(type: string, fields: Record<string, unknown>): void;
  onEvent(e: FitEvent): void;
  stopBar?(): void;
}

/** A prepared run: the model with its starting weights, the data, the settings, maybe progress. */
export interface PreparedRun extends RunDescription {
  model: Model;
  train: Sample[];
  val: Sample[];
  progress: FitProgress | null;
  save: string;
  /** Lines explaining how the strategy was chosen (auto), shown and kept in the checkpoint. */
  decision: string[];
}

/**
 * The training and validation samples: a separate validation set when there is one (given, or
 * found as DIR/train + DIR/val), else a stratified, seeded split of the training set.
 */
async function readSplit(
  data: string,
  val: string | null,
  valSplit: number | undefined,
  seed: number,
  display: RunDisplay,
  sized: string[] = [],
) {
  const ds = await readDataset({ path: data, val: val ?? undefined });
  for (const problem of ds.unreadable) display.warn(problem);
  if (ds.skipped.length)
    display.warn(`skipped ${ds.skipped.length} non-image file${ds.skipped.length > 1 ? "s" : ""} (first: ${ds.skipped[0]})`);
  display.note(ds.description);
  const fraction = ds.val ? 0 : (valSplit ?? sizedBy(chooseValSplit(ds.train.length, ds.classes.length), sized));
  const split = ds.val ? { train: ds.train, val: ds.val } : stratifiedSplit(ds.train, fraction, seed);
  return { classes: ds.classes, ...split, valSource: ds.valSource, valSplit: fraction };
}

/**
 * A folder too small to train anything is an error that says what is needed; a class with a single
 * image (which cannot be both learnt from and checked) a warning.
 */
function checkEnoughImages(source: string, classes: readonly string[], counts: readonly number[], display: RunDisplay): void {
  const single = classes.filter((_, i) => counts[i] < 2);
  if (single.length === classes.length) {
    throw new OptionError(
      `${source}: ${counts.reduce((a, b) => a + b, 0)} image(s) in ${classes.length} class(es) is too few ` +
        "to train and check a classifier: " +
        "give each class at least 2 images (10 or more for a usable model)",
    );
  }
  if (single.length)
    display.warn(`class${single.length > 1 ? "es" : ""} ${shownList(single)} ha${single.length > 1 ? "ve" : "s"} one image only`);
}

/** Largest to smallest class size at which a folder counts as imbalanced. */
const IMBALANCE_RATIO = 3;

function classCounts(samples: readonly Sample[], numClasses: number): number[] {
  const counts = new Array<number>(numClasses).fill(0);
  for (const s of samples) counts[s.label]++;
  return counts;
}

/** A data-sized choice's value, its reason kept for the start line. */
function sizedBy<T>(choice: Choice<T>, reasons: string[]): T {
  reasons.push(choice.reason);
  return choice.value;
}

/** The smallest torch momentum among the BatchNorm layers that train (null: none trains). */
function slowestTrainingBatchNorm(model: Model, frozen: readonly string[]): number | null {
  let slowest: number | null = null;
  for (const [path, m] of model.net.namedModules()) {
    if (m instanceof BatchNorm2d && !underPrefix(path, frozen)) slowest = Math.min(slowest ?? 1, m.momentum);
  }
  return slowest;
}

/**
 * `o.download`: how named starting weights are fetched (offline, progress); see hub/download.ts.
 */
export async function prepareRun(request: RunRequest, display: RunDisplay, o: { download?: FetchOptions } = {}): Promise<PreparedRun> {
  const req = withDefaults(request);
  for (const orphan of await checkSaveWritable(req.save)) display.note(`removed ${orphan} (left by an interrupted save)`);
  if (req.classWeights === "balanced" && (req.mixup || req.cutmix)) {
    throw new OptionError("class weights do not combine with mixup's soft targets: choose one");
  }
  if (req.saveEpoch === "last" && req.patience !== undefined)
    throw new OptionError("--patience stops after the best epoch by validation accuracy: not with --save-epoch last");
  const sized: string[] = [];
  const data = await readSplit(req.data, req.val ?? null, req.valSplit, req.seed, display, sized);
  const loaded = await loadModel({
    arch: req.arch,
    weights: req.weights,
    widthMult: req.widthMult,
    phi: req.phi,
    dropPath: req.dropPath,
    numClasses: data.classes.length,
    // Whatever the weights do not provide (everything, or a re-initialised classifier) starts from the seed.
    seed: req.seed,
    download: o.download,
  });
  for (const note of loaded.notes) display.note(`note: ${note}`);
  const model = loaded.model;
  if (req.unfreezeStages !== undefined && req.freeze?.length) throw new OptionError("give --freeze or --unfreeze-stages, not both");
  if (req.unfreezeStages !== undefined && req.strategy !== "partial")
    throw new OptionError(`--unfreeze-stages applies to --strategy partial, not ${req.strategy}`);
  if (req.strategy === "auto" && req.freeze?.length) throw new OptionError("--strategy auto chooses what to freeze; drop --freeze");
  checkTrainableData(req.data, data.classes, data.train.length);
  // A checkpoint trains on at the side it was trained at; named weights at theirs (Keras MobileNet V1: ρ).
  const fromCheckpoint = typeof loaded.metadata?.resolution === "number" ? loaded.metadata.resolution : undefined;
  const resolution = req.resolution ?? fromCheckpoint ?? loaded.entry?.transforms.cropSize ?? model.defaultResolution;
  if (req.resolution === undefined && fromCheckpoint !== undefined) sized.push(`resolution ${resolution}: the checkpoint's`);
  // Training and evaluation resize the shorter side to R and centre-crop R; the checkpoint
  // records that, so `classify` and `export` preprocess the same way.
  // Named (or recognised torchvision) weights keep their resize/crop ratio and interpolation at R.
  const base: Preprocessing = {
    ...loaded.preprocessing,
    interpolation: req.interpolation ?? loaded.preprocessing.interpolation,
    mean: req.mean ?? loaded.preprocessing.mean,
    std: req.std ?? loaded.preprocessing.std,
  };
  const preprocessing: Preprocessing = loaded.entry
    ? preprocessingForResolution(base, resolution)
    : { ...base, resizeSize: resolution, cropSize: resolution };
  if (loaded.entry)
    display.note(
      `starting from ${loaded.entry.name}; validation: resize ${preprocessing.resizeSize}, crop ` +
        `${resolution}, ${preprocessing.interpolation}`,
    );
  let strategy: Strategy;
  let frozen: string[];
  let decision: string[] = [];
  if (req.strategy === "auto") {
    const choice = await chooseStrategy(model, data.train, {
      classes: data.classes,
      resolution,
      preprocessing,
      threads: req.threads,
      seed: req.seed,
      hasPretrainedWeights: req.weights !== undefined,
      onBadFile: (path, reason) => display.warn(skippedFileMessage(path, reason)),
      onProgress: (phase, done, total) => display.onEvent({ type: "features", done, total }),
    });
    display.stopBar?.();
    strategy = choice.strategy;
    frozen = choice.freeze;
    decision = ["auto strategy:", ...choice.lines.map((l) => `  ${l}`)];
  } else {
    strategy = req.strategy;
    frozen =
      req.unfreezeStages !== undefined
        ? unfreezeStagesPrefixes(model, req.unfreezeStages)
        : frozenPrefixes(model, req.strategy, req.freeze ?? []);
  }
  // After the flags are checked (a wrong flag is the first thing to hear about), before any training.
  checkEnoughImages(req.data, data.classes, classCounts([...data.train, ...data.val], data.classes.length), display);
  const batchSize = req.batchSize ?? sizedBy(chooseBatchSize(data.train.length), sized);
  const epochs = req.epochs ?? sizedBy(chooseEpochs(data.train.length, batchSize), sized);
  const totalSteps = epochs * Math.ceil(data.train.length / batchSize);
  const fromWeights = req.weights !== undefined;
  const optimizerKind = req.optimizer ?? sizedBy(chooseOptimizer(fromWeights), sized);
  // The rate follows the batch an optimizer step sees: the micro-batches of --accumulate together.
  const stepBatch = batchSize * (req.accumulate ?? 1);
  const lrChoice = chooseLearningRate(optimizerKind, stepBatch);
  // Printed among the sized choices only when it is used as is (not with --lr N or --lr auto).
  const sizedLr = req.lr === undefined ? sizedBy(lrChoice, sized) : lrChoice.value;
  const augment = req.augment ?? sizedBy(chooseAugmentation(resolution), sized);
  // Early stopping watches the best epoch: with --patience the best is kept unless told otherwise.
  const saveEpoch =
    req.saveEpoch ?? (req.patience !== undefined || data.val.length === 0 ? "best" : sizedBy(chooseSaveEpoch(data.val.length), sized));
  const headEpochs = req.headEpochs ?? 0;
  if (headEpochs > 0 && strategy === "head")
    throw new OptionError("--head-epochs warms the head up before unfreezing: not with --strategy head");
  const imagesVary = augment || (req.autoAugment ?? "none") !== "none" || !!req.randomErasing || !!req.mixup || !!req.cutmix;
  // The head alone trains on features computed once when nothing varies between epochs.
  const cacheFeatures = strategy === "head" && !imagesVary;
  const momentum = cacheFeatures ? null : slowestTrainingBatchNorm(model, frozen);
  const recalibrate = req.recalibrateBn ?? sizedBy(chooseRecalibration(momentum, totalSteps), sized);
  if (sized.length) display.note(`sized from the data (flags override): ${sized.join("; ")}`);
  const counts = classCounts(data.train, data.classes.length);
  const [fewest, most] = [Math.min(...counts), Math.max(...counts)];
  // 3:1 or worse: the loss is dominated by the big classes (the usual rule of thumb for "imbalanced").
  if (req.classWeights === undefined && fewest > 0 && most / fewest >= IMBALANCE_RATIO) {
    const listed = data.classes
      .map((c, i) => `${shown(c, 40)} ${counts[i]}`)
      .slice(0, 12)
      .join(", ");
    display.warn(
      `imbalanced classes (${listed}${data.classes.length > 12 ? ", …" : ""}; ${most}:${fewest}): ` +
        "--class-weights balanced weights the loss by n / (K · count)",
    );
  }
  const optimizer: OptimizerOptions =
    optimizerKind === "adamw"
      ? { kind: "adamw", weightDecay: req.weightDecay ?? 0.01 }
      : { kind: "sgd", momentum: req.momentum ?? 0.9, nesterov: req.nesterov ?? false, weightDecay: req.weightDecay ?? 1e-4 };
  const classWeights = req.classWeights === "balanced" ? balancedClassWeights(classCounts(data.train, data.classes.length)) : null;
  const lrMultipliers = req.layerDecay !== undefined ? layerwiseLrMultipliers(model, { decay: req.layerDecay }) : null;
  let lr = typeof req.lr === "number" ? req.lr : sizedLr;
  if (req.lr === "auto") {
    // fastai's learning-rate range test on the training images, with this run's strategy and settings.
    const found = await lrFind(model, data.train, {
      batchSize,
      resolution,
      preprocessing,
      frozen,
      optimizer,
      augment,
      labelSmoothing: req.labelSmoothing,
      classWeights,
      lrMultipliers,
      clipGradNorm: req.clipGrad ?? null,
      seed: req.seed,
      threads: req.threads,
      onBadFile: (path, reason) => display.warn(skippedFileMessage(path, reason)),
    });
    const pick = found.suggestions.valley ?? found.suggestions.minimum;
    if (pick === null) display.note(`--lr auto: the range test found no usable rate (${found.iterations} steps); using ${sizedLr}`);
    else {
      lr = pick;
      const how = found.suggestions.valley !== null ? "valley" : "minimum/10";
      display.note(`--lr auto: ${lr.toExponential(2)}, lr-find's ${how} (${found.iterations} steps from ${found.lrs[0].toExponential(0)})`);
    }
  }
  const settings: RunSettings = {
    data: req.data,
    valData: data.valSource,
    valSplit: data.valSplit,
    strategy: req.strategy === "auto" ? `auto: ${strategy}` : strategy,
    frozen,
    cacheFeatures,
    headEpochs,
    epochs,
    batchSize,
    resolution,
    optimizer,
    lr,
    schedule: req.schedule,
    warmupEpochs: req.warmupEpochs ?? 0,
    labelSmoothing: req.labelSmoothing ?? 0,
    dropout: req.dropout ?? null,
    augment,
    colorJitter: req.colorJitter ?? null,
    shuffle: req.shuffle,
    seed: req.seed,
    patience: req.patience ?? null,
    saveEpoch,
    recalibrateBatchNorm: recalibrate,
    autoAugment: req.autoAugment && req.autoAugment !== "none" ? req.autoAugment : null,
    randomErasing: req.randomErasing || null,
    mixup: req.mixup || req.cutmix ? { mixupAlpha: req.mixup ?? 0, cutmixAlpha: req.cutmix ?? 0 } : null,
    clipGradNorm: req.clipGrad ?? null,
    accumulate: req.accumulate ?? null,
    ema: req.ema ? { decay: req.ema } : null,
    classWeights,
    lrMultipliers,
    minLr: req.minLr ?? null,
    stepEpochs: req.stepEpochs ?? null,
    gamma: req.gamma ?? null,
    initialWeights: req.weights ?? null,
  };
  return {
    model,
    classes: data.classes,
    preprocessing,
    settings,
    train: data.train,
    val: data.val,
    progress: null,
    save: req.save,
    decision,
  };
}

/**
 * A run continued from its resume file: its own settings, the data folder it was trained on (or
 * `dataDir`, e.g. after moving it), and `epochs` to lengthen it.
 */
export async function prepareResumedRun(
  resumeFile: string,
  o: { data?: string; epochs?: number; save?: string },
  display: RunDisplay,
): Promise<PreparedRun> {
  const resumed = await readResumeFile(resumeFile);
  const settings = { ...resumed.settings };
  if (o.epochs !== undefined && o.epochs !== settings.epochs) {
    // A longer run changes the schedule from here on (cosine spans the new length).
    display.note(
      `note: ${o.epochs} epochs replace the run's ${settings.epochs}; the learning-rate schedule is recomputed for ${o.epochs} epochs`,
    );
    settings.epochs = o.epochs;
  }
  const dir = o.data ?? settings.data;
  const { classes, train, val } = await readSplit(dir, o.data ? null : settings.valData, settings.valSplit, settings.seed, display);
  checkResumeStep(resumeFile, resumed.progress.stepInEpoch, batchCount(train.length, settings.batchSize));
  if (classes.join("\n") !== resumed.classes.join("\n")) {
    throw new InputFileError(`${dir}: classes ${shownList(classes)} differ from the resumed run's ${shownList(resumed.classes)}`);
  }
  const save =
    o.save ??
    (resumeFile.endsWith(".resume.safetensors") ? `${resumeFile.slice(0, -".resume.safetensors".length)}.safetensors` : undefined);
  if (!save) throw new OptionError(`${resumeFile}: pass --save <file> (the checkpoint to write)`);
  for (const orphan of await checkSaveWritable(save)) display.note(`removed ${orphan} (left by an interrupted save)`);
  return { ...resumed, settings, train, val, save, decision: [] };
}

export interface RunOutcome {
  result: FitResult;
  checkpoint: string;
  resume: string;
}

/**
 * Runs the loop: after each epoch the resume file is rewritten and, when the epoch is the best so
 * far, the checkpoint; on an abort (Ctrl-C) the run's position is saved for --resume.
 */
export async function executeRun(
  run: PreparedRun,
  o: { display: RunDisplay; threads?: number; signal?: AbortSignal },
): Promise<RunOutcome> {
  const s = run.settings;
  const resume = siblingPath(run.save, ".resume.safetensors");
  for (const line of run.decision) o.display.note(line);
  if (run.decision.length) o.display.record("decision", { strategy: s.strategy, frozen: s.frozen, lines: run.decision });
  let savedCheckpoint = run.progress !== null && existsSync(run.save);
  // A fresh run warms the head up first; a resumed one is past that (its weights hold the warm-up).
  if ((s.headEpochs ?? 0) > 0 && run.progress === null) await warmUpHead(run, o);
  const result = await fit(run.model, {
    ...s,
    train: run.train,
    val: run.val,
    threads: o.threads,
    preprocessing: run.preprocessing,
    resume: run.progress ?? undefined,
    signal: o.signal,
    onEvent: (e) => o.display.onEvent(e),
    onEpochEnd: async ({ metrics, improved, progress, ema }) => {
      // The resume file holds the trained weights; the checkpoint, with --ema, the averaged ones.
      await saveResumeFile(resume, run.model, run, progress());
      if (improved) {
        ema?.writeTo(run.model);
        await saveRunCheckpoint(run.save, run.model, run, {
          metrics,
          bestEpoch: metrics.epoch,
          history: progress().history,
          decision: run.decision,
        });
        savedCheckpoint = true;
      }
    },
  });
  if (result.stopped === "interrupted") {
    await saveResumeFile(resume, run.model, run, result.progress);
    // Nothing finished an epoch yet: the checkpoint is the weights so far.
    if (!savedCheckpoint)
      await saveRunCheckpoint(run.save, run.model, run, {
        metrics: null,
        bestEpoch: null,
        history: result.history,
        decision: run.decision,
      });
  }
  return { result, checkpoint: run.save, resume };
}

/**
 * fastai's fine_tune first phase: the new head trains alone for `headEpochs` epochs (on features
 * computed once when nothing varies the images, so it costs one pass of the backbone), with the
 * run's optimizer and rate on a cosine schedule of its own; nothing is saved. The run's own epochs
 * then start from these weights with a fresh optimizer state and schedule.
 */
export async function warmUpHead(run: PreparedRun, o: { display: RunDisplay; threads?: number; signal?: AbortSignal }): Promise<void> {
  const s = run.settings;
  const imagesVary = s.augment || !!s.autoAugment || !!s.randomErasing || !!s.mixup;
  const epochs = s.headEpochs ?? 0;
  o.display.note(`head warm-up: ${epochs} epoch${epochs > 1 ? "s" : ""} of ${run.model.head} alone, then ${s.strategy}`);
  await fit(run.model, {
    ...s,
    epochs,
    frozen: frozenPrefixes(run.model, "head"),
    cacheFeatures: !imagesVary,
    schedule: "cosine",
    warmupEpochs: 0,
    patience: null,
    recalibrateBatchNorm: false,
    ema: null,
    accumulate: null,
    lrMultipliers: null,
    stepEpochs: null,
    gamma: null,
    train: run.train,
    val: run.val,
    threads: o.threads,
    preprocessing: run.preprocessing,
    signal: o.signal,
    // Its epochs are not the run's: recorded as "head-epoch", so the run's history and JSON stay the run's own.
    onEvent: (e) => {
      if (e.type === "start") return;
      if (e.type !== "epoch") return o.display.onEvent(e);
      o.display.stopBar?.();
      const { type: _, ...fields } = e;
      o.display.record("head-epoch", fields);
      const val = e.valAccuracy === null ? "" : `, val acc ${(e.valAccuracy * 100).toFixed(1)}%`;
      o.display.note(`head warm-up ${e.epoch}/${epochs}: loss ${e.trainLoss.toFixed(4)} acc ${(e.trainAccuracy * 100).toFixed(1)}%${val}`);
    },
  });
}

/**
 * The HTML report beside the checkpoint: the run's curves, and the best checkpoint evaluated on the
 * validation images (per-class figures, confusion matrix, mistakes). Returns its path and the
 * evaluation (null without validation images).
 */
export async function writeRunReport(
  run: PreparedRun,
  outcome: RunOutcome,
  o: { threads?: number; display: RunDisplay },
): Promise<{ path: string; evaluation: Evaluation | null }> {
  const best = await loadModel({ weights: outcome.checkpoint });
  const onBadFile = (path: string, reason: string) => o.display.warn(skippedFileMessage(path, reason));
  const evaluation = run.val.length
    ? await evaluateSamples(best.model, run.val, {
        classes: run.classes,
        resolution: run.settings.resolution,
        preprocessing: run.preprocessing,
        batchSize: run.settings.batchSize,
        threads: o.threads,
        onBadFile,
      })
    : null;
  const path = siblingPath(outcome.checkpoint, ".report.html");
  await writeReport(path, {
    title: `${run.model.arch} on ${run.settings.data}`,
    arch: run.model.arch,
    strategy: run.settings.strategy,
    data: run.settings.data,
    classes: run.classes,
    history: outcome.result.history,
    bestEpoch: outcome.result.bestEpoch,
    saveEpoch: run.settings.saveEpoch,
    evaluation,
    decision: run.decision.length ? run.decision : undefined,
    createdAt: new Date().toISOString(),
  });
  return { path, evaluation };
}
