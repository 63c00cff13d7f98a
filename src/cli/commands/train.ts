import { existsSync, statSync } from "node:fs";
import { dirname } from "node:path";
import type { Command } from "commander";
import { Option } from "commander";
import { loadModel } from "../../api/load.js";
import { readImageFolder, stratifiedSplit, type Sample } from "../../data/folder.js";
import type { Preprocessing } from "../../data/preprocess.js";
import { InputFileError, OptionError } from "../../errors.js";
import { initializeWeights } from "../../models/graphs.js";
import type { Model } from "../../models/model.js";
import { fit, type FitProgress, type FitResult } from "../../train/fit.js";
import type { OptimizerOptions } from "../../train/optimizers.js";
import { readResumeFile, saveResumeFile, saveRunCheckpoint, siblingPath, type RunDescription, type RunSettings } from "../../train/run_files.js";
import { SCHEDULES, type ScheduleKind } from "../../train/schedules.js";
import { frozenPrefixes, STRATEGIES, type Strategy } from "../../train/strategy.js";
import { type ArchFlags, addArchFlags, nonNegativeNumber, positiveInt, positiveNumber } from "../options.js";
import { TrainingDisplay } from "../progress.js";

interface TrainOptions extends ArchFlags {
  arch?: string;
  weights?: string;
  strategy: Strategy;
  freeze?: string;
  epochs: number;
  batchSize: number;
  optimizer: "sgd" | "adamw";
  lr?: number;
  momentum: number;
  nesterov?: boolean;
  weightDecay?: number;
  schedule: ScheduleKind;
  warmupEpochs: number;
  labelSmoothing: number;
  resolution?: number;
  valSplit: number;
  dropout?: number;
  dropPath?: number;
  augment: boolean;
  shuffle: boolean;
  seed: number;
  patience?: number;
  threads?: number;
  save?: string;
  resume?: string;
  json?: boolean;
}

/** The flags that decide a run's arithmetic: with --resume they come from the resume file. */
const RUN_FLAGS = ["arch", "weights", "strategy", "freeze", "batchSize", "optimizer", "lr", "momentum", "nesterov", "weightDecay", "schedule", "warmupEpochs", "labelSmoothing", "resolution", "valSplit", "dropout", "dropPath", "augment", "shuffle", "seed", "patience", "widthMult", "phi"] as const;

function fraction(flag: string) {
  const parse = nonNegativeNumber(flag);
  return (text: string): number => {
    const v = parse(text);
    if (v >= 1) throw new OptionError(`${flag} expects a number in [0, 1), got "${text}"`);
    return v;
  };
}

/** A prepared run: the model with its starting weights, the data, the settings, maybe progress. */
interface PreparedRun extends RunDescription {
  model: Model;
  train: Sample[];
  val: Sample[];
  progress: FitProgress | null;
  save: string;
  decision: string[];
}

async function readData(dataDir: string, display: TrainingDisplay) {
  const folder = await readImageFolder(dataDir);
  if (folder.skipped.length) display.warn(`skipped ${folder.skipped.length} non-image file${folder.skipped.length > 1 ? "s" : ""} (first: ${folder.skipped[0]})`);
  return folder;
}

async function newRun(dataDir: string | undefined, opts: TrainOptions, display: TrainingDisplay): Promise<PreparedRun> {
  if (!dataDir) throw new OptionError("train needs a data folder (one sub-folder per class), or --resume <file>");
  if (!opts.save) throw new OptionError("train needs --save <file.safetensors> (where the checkpoint goes)");
  const folder = await readData(dataDir, display);
  const loaded = await loadModel({
    arch: opts.arch,
    weights: opts.weights,
    widthMult: opts.widthMult,
    phi: opts.phi,
    dropPath: opts.dropPath,
    numClasses: folder.classes.length,
  });
  for (const note of loaded.notes) display.note(`note: ${note}`);
  const model = loaded.model;
  // Whatever the weights did not provide (everything, or a re-initialised classifier) starts from --seed.
  initializeWeights(model, opts.seed);
  const freeze = opts.freeze ? opts.freeze.split(",").map((s) => s.trim()).filter(Boolean) : [];
  const frozen = frozenPrefixes(model, opts.strategy, freeze);
  const resolution = opts.resolution ?? model.defaultResolution;
  const optimizer: OptimizerOptions =
    opts.optimizer === "adamw"
      ? { kind: "adamw", weightDecay: opts.weightDecay ?? 0.01 }
      : { kind: "sgd", momentum: opts.momentum, nesterov: opts.nesterov ?? false, weightDecay: opts.weightDecay ?? 1e-4 };
  const { train, val } = stratifiedSplit(folder.samples, opts.valSplit, opts.seed);
  // Training and evaluation resize the shorter side to R and centre-crop R; the checkpoint
  // records that, so `classify` and `export` preprocess the same way.
  const preprocessing: Preprocessing = { ...loaded.preprocessing, resizeSize: resolution, cropSize: resolution };
  const settings: RunSettings = {
    data: dataDir,
    valData: null,
    valSplit: opts.valSplit,
    strategy: opts.strategy,
    frozen,
    // The head alone trains on features computed once when nothing varies between epochs.
    cacheFeatures: opts.strategy === "head" && !opts.augment,
    epochs: opts.epochs,
    batchSize: opts.batchSize,
    resolution,
    optimizer,
    lr: opts.lr ?? (opts.optimizer === "adamw" ? 1e-3 : 0.01),
    schedule: opts.schedule,
    warmupEpochs: opts.warmupEpochs,
    labelSmoothing: opts.labelSmoothing,
    dropout: opts.dropout ?? null,
    augment: opts.augment,
    shuffle: opts.shuffle,
    seed: opts.seed,
    patience: opts.patience ?? null,
    initialWeights: opts.weights ?? null,
  };
  return { model, classes: folder.classes, preprocessing, settings, train, val, progress: null, save: opts.save, decision: [] };
}

async function resumedRun(resumeFile: string, dataDir: string | undefined, opts: TrainOptions, command: Command, display: TrainingDisplay): Promise<PreparedRun> {
  const given = RUN_FLAGS.filter((f) => command.getOptionValueSource(f) === "cli");
  if (given.length) {
    const flags = given.map((f) => `--${f.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
    throw new OptionError(`--resume continues a run with its own settings; drop ${flags.join(", ")} (only --epochs, --threads, --save and --json may be given)`);
  }
  const resumed = await readResumeFile(resumeFile);
  const settings = { ...resumed.settings };
  if (command.getOptionValueSource("epochs") === "cli" && opts.epochs !== settings.epochs) {
    // A longer run changes the schedule from here on (cosine spans the new length).
    display.note(`note: --epochs ${opts.epochs} replaces the run's ${settings.epochs}; the learning-rate schedule is recomputed for ${opts.epochs} epochs`);
    settings.epochs = opts.epochs;
  }
  const dir = dataDir ?? settings.data;
  const folder = await readData(dir, display);
  if (folder.classes.join("\n") !== resumed.classes.join("\n")) {
    throw new InputFileError(`${dir}: classes ${folder.classes.join(", ")} differ from the resumed run's ${resumed.classes.join(", ")}`);
  }
  const { train, val } = stratifiedSplit(folder.samples, settings.valSplit, settings.seed);
  const save = opts.save ?? (resumeFile.endsWith(".resume.safetensors") ? `${resumeFile.slice(0, -".resume.safetensors".length)}.safetensors` : undefined);
  if (!save) throw new OptionError(`${resumeFile}: pass --save <file> (the checkpoint to write)`);
  return { ...resumed, settings, train, val, save, decision: [] };
}

function checkWritable(path: string): void {
  const dir = dirname(path);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new InputFileError(`${path}: folder ${dir} does not exist`);
}

export function registerTrain(program: Command): void {
  addArchFlags(program.command("train [dataDir]"))
    .description("train or fine-tune on an image folder (one sub-folder per class); writes the best checkpoint, a resume file and an HTML report")
    .option("--arch <arch>", "architecture (optional with a convzoo checkpoint as --weights)")
    .option("--weights <file>", "start from these weights (torchvision .pth or safetensors; the classifier is re-initialised for the folder's classes)")
    .addOption(new Option("--strategy <s>", "what trains: full (everything), head (the classifier only), partial (all but --freeze)").choices(STRATEGIES).default("full"))
    .option("--freeze <prefixes>", "partial: comma-separated parameter prefixes that stay fixed (conv1,bn1,layer1)")
    .option("--epochs <E>", "passes over the training images", positiveInt("--epochs"), 10)
    .option("--batch-size <B>", "images per step", positiveInt("--batch-size"), 32)
    .addOption(new Option("--optimizer <o>", "optimizer").choices(["sgd", "adamw"]).default("sgd"))
    .option("--lr <L>", "base learning rate (default 0.01 for sgd, 0.001 for adamw)", positiveNumber("--lr"))
    .option("--momentum <M>", "SGD momentum", nonNegativeNumber("--momentum"), 0.9)
    .option("--nesterov", "SGD with Nesterov momentum")
    .option("--weight-decay <W>", "weight decay (default 1e-4 for sgd as L2, 0.01 for adamw decoupled)", nonNegativeNumber("--weight-decay"))
    .addOption(new Option("--schedule <s>", "learning-rate schedule").choices(SCHEDULES).default("cosine"))
    .option("--warmup-epochs <K>", "linear warm-up length in epochs", nonNegativeNumber("--warmup-epochs"), 0)
    .option("--label-smoothing <S>", "label smoothing ε", fraction("--label-smoothing"), 0)
    .option("--resolution <R>", "training input side (default: the architecture's)", positiveInt("--resolution"))
    .option("--val-split <V>", "fraction of each class held out for validation (stratified, seeded)", fraction("--val-split"), 0.1)
    .option("--dropout <P>", "override the rate of every dropout layer", fraction("--dropout"))
    .option("--drop-path <P>", "override the stochastic-depth rate (EfficientNet)", fraction("--drop-path"))
    .option("--no-augment", "no random crops or flips: resize the shorter side to R and centre-crop")
    .option("--no-shuffle", "take batches in folder order (classes sorted, files sorted)")
    .option("--seed <N>", "seed for initialisation, split, shuffle, augmentation and dropout", (t) => {
      const n = Number(t);
      if (!Number.isInteger(n) || n < 0) throw new OptionError(`--seed expects an integer ≥ 0, got "${t}"`);
      return n;
    }, 0)
    .option("--patience <N>", "early stopping: stop after N epochs without a better validation accuracy", positiveInt("--patience"))
    .option("--threads <T>", "ONNX Runtime threads (default: all cores)", positiveInt("--threads"))
    .option("--save <file>", "checkpoint to write: the best epoch by validation accuracy (safetensors, torchvision keys + metadata)")
    .option("--resume <file>", "continue a run from its .resume.safetensors file, exactly where it stopped")
    .option("--json", "print JSON lines on stdout (start, epoch, done)")
    .action(async (dataDir: string | undefined, opts: TrainOptions, command: Command) => {
      const display = new TrainingDisplay(opts.json ?? false);
      const run = opts.resume ? await resumedRun(opts.resume, dataDir, opts, command, display) : await newRun(dataDir, opts, display);
      checkWritable(run.save);
      for (const line of run.decision) display.note(line);
      const resumePath = siblingPath(run.save, ".resume.safetensors");
      const s = run.settings;

      // Ctrl-C: finish the current step, save where the run is, exit 130; a second Ctrl-C quits now.
      const controller = new AbortController();
      const onSigint = () => {
        if (controller.signal.aborted) process.exit(130);
        display.stopBar();
        display.note("stopping after this step (Ctrl-C again to quit without saving)");
        controller.abort();
      };
      process.on("SIGINT", onSigint);
      let savedCheckpoint = run.progress !== null && existsSync(run.save);
      let result: FitResult;
      try {
        result = await fit(run.model, {
          train: run.train,
          val: run.val,
          epochs: s.epochs,
          batchSize: s.batchSize,
          resolution: s.resolution,
          optimizer: s.optimizer,
          lr: s.lr,
          schedule: s.schedule,
          warmupEpochs: s.warmupEpochs,
          labelSmoothing: s.labelSmoothing,
          frozen: s.frozen,
          dropout: s.dropout ?? undefined,
          augment: s.augment,
          shuffle: s.shuffle,
          seed: s.seed,
          threads: opts.threads,
          preprocessing: run.preprocessing,
          cacheFeatures: s.cacheFeatures,
          patience: s.patience ?? undefined,
          resume: run.progress ?? undefined,
          signal: controller.signal,
          onEvent: display.onEvent,
          onEpochEnd: async ({ metrics, improved, progress }) => {
            if (improved) {
              await saveRunCheckpoint(run.save, run.model, run, { metrics, bestEpoch: metrics.epoch, decision: run.decision });
              savedCheckpoint = true;
            }
            await saveResumeFile(resumePath, run.model, run, progress());
          },
        });
      } finally {
        process.off("SIGINT", onSigint);
        display.stopBar();
      }
      if (result.stopped === "interrupted") {
        await saveResumeFile(resumePath, run.model, run, result.progress);
        // Nothing finished an epoch yet: the checkpoint is the weights so far.
        if (!savedCheckpoint) await saveRunCheckpoint(run.save, run.model, run, { metrics: null, bestEpoch: null, decision: run.decision });
      }
      const best = result.bestEpoch === null ? null : result.history[result.bestEpoch - 1];
      const done = {
        checkpoint: run.save,
        resume: resumePath,
        stopped: result.stopped,
        epochs: result.history.length,
        bestEpoch: result.bestEpoch,
        bestValAccuracy: best?.valAccuracy ?? null,
      };
      display.record("done", done);
      const how = result.stopped === "interrupted" ? `interrupted; continue with: convzoo train --resume ${resumePath}` : result.stopped === "early-stopped" ? "stopped early (no better validation accuracy)" : "done";
      const bestText = best?.valAccuracy != null ? `, best epoch ${best.epoch} (val acc ${(best.valAccuracy * 100).toFixed(1)}%)` : "";
      display.note(`${how}${bestText}; saved ${run.save}`);
      if (result.stopped === "interrupted") process.exitCode = 130;
    });
}
