import type { Command } from "commander";
import { Option } from "commander";
import { loadModel } from "../../api/load.js";
import { readImageFolder, stratifiedSplit } from "../../data/folder.js";
import { OptionError } from "../../errors.js";
import { initializeWeights } from "../../models/graphs.js";
import { fit, type FitEvent } from "../../train/fit.js";
import type { OptimizerOptions } from "../../train/optimizers.js";
import { SCHEDULES, type ScheduleKind } from "../../train/schedules.js";
import { frozenPrefixes, STRATEGIES, type Strategy } from "../../train/strategy.js";
import { saveCheckpoint } from "../../weights/files.js";
import { stateDict } from "../../weights/load.js";
import { type ArchFlags, addArchFlags, nonNegativeNumber, positiveInt, positiveNumber } from "../options.js";

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
  threads?: number;
  save: string;
  json?: boolean;
}

function fraction(flag: string) {
  const parse = nonNegativeNumber(flag);
  return (text: string): number => {
    const v = parse(text);
    if (v >= 1) throw new OptionError(`${flag} expects a number in [0, 1), got "${text}"`);
    return v;
  };
}

/** Human-readable progress on stderr (a line per epoch; a live step counter on a terminal). */
function reporter(json: boolean): (e: FitEvent) => void {
  const live = process.stderr.isTTY && !json;
  return (e) => {
    if (e.type === "warning") console.error(`warning: ${e.message}`);
    else if (e.type === "start") {
      if (!json) console.error(`training ${e.trainImages} images (${e.valImages} for validation), ${e.stepsPerEpoch} steps per epoch, ${e.trainable} trainable tensors${e.frozen.length ? `, frozen: ${e.frozen.join(", ")}` : ""}`);
    } else if (e.type === "step") {
      if (live) process.stderr.write(`\repoch ${e.epoch} step ${e.step}/${e.steps} loss ${e.loss.toFixed(4)} ${e.imagesPerSecond.toFixed(1)} img/s`);
    } else {
      if (live) process.stderr.write("\r\x1b[K");
      if (json) console.log(JSON.stringify(e));
      else {
        const val = e.valAccuracy === null ? "" : `  val loss ${e.valLoss!.toFixed(4)} acc ${(e.valAccuracy * 100).toFixed(1)}%`;
        console.error(`epoch ${e.epoch}: loss ${e.trainLoss.toFixed(4)} acc ${(e.trainAccuracy * 100).toFixed(1)}%${val}  lr ${e.lr.toExponential(2)}  ${e.seconds.toFixed(1)}s (${e.imagesPerSecond.toFixed(1)} img/s)`);
      }
    }
  };
}

export function registerTrain(program: Command): void {
  addArchFlags(program.command("train <dataDir>"))
    .description("train or fine-tune on an image folder (one sub-folder per class) and save a safetensors checkpoint")
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
    .option("--threads <T>", "ONNX Runtime threads (default: all cores)", positiveInt("--threads"))
    .requiredOption("--save <file>", "checkpoint to write (safetensors, torchvision keys + metadata)")
    .option("--json", "print one JSON line per epoch on stdout")
    .action(async (dataDir: string, opts: TrainOptions) => {
      const folder = await readImageFolder(dataDir);
      if (folder.skipped.length) console.error(`warning: skipped ${folder.skipped.length} non-image file${folder.skipped.length > 1 ? "s" : ""} (first: ${folder.skipped[0]})`);
      const loaded = await loadModel({
        arch: opts.arch,
        weights: opts.weights,
        widthMult: opts.widthMult,
        phi: opts.phi,
        dropPath: opts.dropPath,
        numClasses: folder.classes.length,
      });
      for (const note of loaded.notes) console.error(`note: ${note}`);
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
      const lr = opts.lr ?? (opts.optimizer === "adamw" ? 1e-3 : 0.01);
      const { train, val } = stratifiedSplit(folder.samples, opts.valSplit, opts.seed);
      // Training and evaluation resize the shorter side to R and centre-crop R; the checkpoint
      // records that, so `classify` and `export` preprocess the same way.
      const preprocessing = { ...loaded.preprocessing, resizeSize: resolution, cropSize: resolution };
      const { history } = await fit(model, {
        train,
        val,
        epochs: opts.epochs,
        batchSize: opts.batchSize,
        resolution,
        optimizer,
        lr,
        schedule: opts.schedule,
        warmupEpochs: opts.warmupEpochs,
        labelSmoothing: opts.labelSmoothing,
        frozen,
        dropout: opts.dropout,
        augment: opts.augment,
        shuffle: opts.shuffle,
        seed: opts.seed,
        threads: opts.threads,
        preprocessing,
        onEvent: reporter(opts.json ?? false),
      });
      await saveCheckpoint(opts.save, stateDict(model), {
        arch: model.arch,
        options: model.options,
        classes: folder.classes,
        preprocessing,
        resolution,
        training: {
          data: dataDir,
          strategy: opts.strategy,
          frozen,
          epochs: opts.epochs,
          batchSize: opts.batchSize,
          optimizer,
          lr,
          schedule: opts.schedule,
          warmupEpochs: opts.warmupEpochs,
          labelSmoothing: opts.labelSmoothing,
          dropout: opts.dropout,
          augment: opts.augment,
          shuffle: opts.shuffle,
          seed: opts.seed,
          initialWeights: opts.weights ?? null,
        },
        metrics: history[history.length - 1],
      });
      if (!opts.json) console.error(`saved ${opts.save}`);
    });
}
