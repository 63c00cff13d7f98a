import type { Command } from "commander";
import { Option } from "commander";
import type { ColorJitter } from "../../data/augment.js";
import { OptionError } from "../../errors.js";
import { executeRun, prepareResumedRun, prepareRun, writeRunReport, type RunRequest } from "../../run/run.js";
import { SCHEDULES } from "../../train/schedules.js";
import { STRATEGIES } from "../../transfer/strategy.js";
import { addArchFlags, nonNegativeInt, nonNegativeNumber, positiveInt, positiveNumber } from "../options.js";
import { TrainingDisplay } from "../progress.js";

/** The parsed flags: the run request's fields (with the CLI's defaults) and the command's own. */
interface TrainOptions extends Omit<RunRequest, "data" | "save" | "freeze"> {
  freeze?: string;
  save?: string;
  resume?: string;
  threads?: number;
  report: boolean;
  json?: boolean;
}

/** The flags that decide a run's arithmetic: with --resume they come from the resume file. */
const RUN_FLAGS: readonly (keyof RunRequest)[] = ["arch", "weights", "strategy", "freeze", "unfreezeStages", "batchSize", "optimizer", "lr", "momentum", "nesterov", "weightDecay", "schedule", "warmupEpochs", "labelSmoothing", "resolution", "valSplit", "val", "dropout", "dropPath", "augment", "colorJitter", "shuffle", "seed", "patience", "recalibrateBn", "widthMult", "phi"];

function fraction(flag: string) {
  const parse = nonNegativeNumber(flag);
  return (text: string): number => {
    const v = parse(text);
    if (v >= 1) throw new OptionError(`${flag} expects a number in [0, 1), got "${text}"`);
    return v;
  };
}

function parseColorJitter(text: string): ColorJitter {
  const parts = text.split(",").map((p) => Number(p.trim()));
  const bad = () => new OptionError(`--color-jitter expects brightness,contrast,saturation,hue (each ≥ 0, hue ≤ 0.5), got "${text}"`);
  if (parts.length !== 4 || parts.some((v) => !Number.isFinite(v) || v < 0) || parts[3] > 0.5) throw bad();
  const [brightness, contrast, saturation, hue] = parts;
  return { brightness, contrast, saturation, hue };
}

const kebab = (flag: string) => `--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

export function registerTrain(program: Command): void {
  addArchFlags(program.command("train [dataDir]"))
    .description("train or fine-tune on labelled images (a folder with one sub-folder per class, a path,label CSV, or DIR/train + DIR/val); writes the best checkpoint, a resume file and an HTML report")
    .option("--arch <arch>", "architecture (optional with a convzoo checkpoint as --weights)")
    .option("--weights <file>", "start from these weights (torchvision .pth or safetensors; the classifier is re-initialised for the folder's classes)")
    .addOption(
      new Option("--strategy <s>", "what trains: full (everything), head (the classifier only), partial (all but --freeze / --unfreeze-stages), auto (measured on the data: size x similarity)")
        .choices([...STRATEGIES, "auto"])
        .default("full"),
    )
    .option("--freeze <prefixes>", "partial: comma-separated parameter prefixes that stay fixed (conv1,bn1,layer1)")
    .option("--unfreeze-stages <K>", "partial: the last K stages (see convzoo summary's feature info) and the head train; the rest stays fixed", nonNegativeInt("--unfreeze-stages"))
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
    .option("--val <path>", "validation images: a class-per-sub-folder folder or a path,label CSV (default: DIR/val beside DIR/train, else --val-split)")
    .option("--val-split <V>", "without a validation set: the fraction of each class held out (stratified, seeded)", fraction("--val-split"), 0.1)
    .option("--dropout <P>", "override the rate of every dropout layer", fraction("--dropout"))
    .option("--drop-path <P>", "override the stochastic-depth rate (EfficientNet)", fraction("--drop-path"))
    .option("--no-augment", "no random crops or flips: resize the shorter side to R and centre-crop")
    .option("--color-jitter <b,c,s,h>", "torchvision ColorJitter strengths: brightness, contrast, saturation, hue (e.g. 0.4,0.4,0.4,0.1)", parseColorJitter)
    .option("--no-shuffle", "take batches in folder order (classes sorted, files sorted)")
    .option("--seed <N>", "seed for initialisation, split, shuffle, augmentation and dropout", nonNegativeInt("--seed"), 0)
    .option("--patience <N>", "early stopping: stop after N epochs without a better validation accuracy", positiveInt("--patience"))
    .option("--recalibrate-bn", "after each epoch, recompute the running statistics of the BatchNorm layers that train from a pass over the training images (torch's update_bn), so the eval-mode model matches the training-mode one")
    .option("--threads <T>", "ONNX Runtime threads (default: all cores)", positiveInt("--threads"))
    .option("--save <file>", "checkpoint to write: the best epoch by validation accuracy (safetensors, torchvision keys + metadata)")
    .option("--resume <file>", "continue a run from its .resume.safetensors file, exactly where it stopped")
    .option("--no-report", "do not write the HTML report beside the checkpoint")
    .option("--json", "print JSON lines on stdout (start, epoch, done)")
    .action(async (dataDir: string | undefined, opts: TrainOptions, command: Command) => {
      const display = new TrainingDisplay(opts.json ?? false);
      let run;
      if (opts.resume) {
        const given = RUN_FLAGS.filter((f) => command.getOptionValueSource(f) === "cli");
        if (given.length) throw new OptionError(`--resume continues a run with its own settings; drop ${given.map(kebab).join(", ")} (only --epochs, --threads, --save, --no-report and --json may be given)`);
        const epochs = command.getOptionValueSource("epochs") === "cli" ? opts.epochs : undefined;
        run = await prepareResumedRun(opts.resume, { data: dataDir, epochs, save: opts.save }, display);
      } else {
        if (!dataDir) throw new OptionError("train needs a data folder (one sub-folder per class), or --resume <file>");
        if (!opts.save) throw new OptionError("train needs --save <file.safetensors> (where the checkpoint goes)");
        run = await prepareRun(
          {
            ...opts,
            data: dataDir,
            save: opts.save,
            freeze: opts.freeze ? opts.freeze.split(",").map((s) => s.trim()).filter(Boolean) : [],
          },
          display,
        );
      }

      // Ctrl-C: finish the current step, save where the run is, exit 130; a second Ctrl-C quits now.
      const controller = new AbortController();
      const onSigint = () => {
        if (controller.signal.aborted) process.exit(130);
        display.stopBar();
        display.note("stopping after this step (Ctrl-C again to quit without saving)");
        controller.abort();
      };
      process.on("SIGINT", onSigint);
      let outcome;
      try {
        outcome = await executeRun(run, { display, threads: opts.threads, signal: controller.signal });
      } finally {
        process.off("SIGINT", onSigint);
        display.stopBar();
      }
      const { result } = outcome;
      const report = opts.report && result.history.length ? await writeRunReport(run, outcome, { threads: opts.threads, display }) : null;
      const best = result.bestEpoch === null ? null : result.history[result.bestEpoch - 1];
      display.record("done", {
        checkpoint: outcome.checkpoint,
        resume: outcome.resume,
        report: report?.path ?? null,
        stopped: result.stopped,
        epochs: result.history.length,
        bestEpoch: result.bestEpoch,
        bestValAccuracy: best?.valAccuracy ?? null,
      });
      const how = result.stopped === "interrupted" ? `interrupted; continue with: convzoo train --resume ${outcome.resume}` : result.stopped === "early-stopped" ? "stopped early (no better validation accuracy)" : "done";
      const bestText = best?.valAccuracy != null ? `, best epoch ${best.epoch} (val acc ${(best.valAccuracy * 100).toFixed(1)}%)` : "";
      display.note(`${how}${bestText}; saved ${outcome.checkpoint}${report ? `, report ${report.path}` : ""}`);
      if (result.stopped === "interrupted") process.exitCode = 130;
    });
}
