import type { Command } from "commander";
import { OptionError } from "../../errors.js";
import { executeRun, prepareResumedRun, prepareRun, writeRunReport } from "../../run/run.js";
import { flagName, RUN_OPTIONS, type RunRequest } from "../../run/settings.js";
import { downloadOptions, optionFrom, positiveInt } from "../options.js";
import { TrainingDisplay } from "../progress.js";

/** The parsed flags: the run request's fields and the command's own. */
interface TrainOptions extends Omit<RunRequest, "data" | "save"> {
  offline?: boolean;
  save?: string;
  resume?: string;
  threads?: number;
  report: boolean;
  json?: boolean;
}

export function registerTrain(program: Command): void {
  const command = program
    .command("train [dataDir]")
    .description(
      "train or fine-tune on labelled images (a folder with one sub-folder per class, a path,label CSV, or DIR/train + DIR/val); " +
        "writes a checkpoint (the best or the last epoch: --save-epoch), a resume file and an HTML report",
    );
  for (const row of RUN_OPTIONS) command.addOption(optionFrom(row));
  command
    .option("--threads <T>", "ONNX Runtime threads (default: all cores)", positiveInt("--threads"))
    .option("--save <file>", "checkpoint to write: the epoch --save-epoch says (safetensors, torchvision keys + metadata)")
    .option("--resume <file>", "continue a run from its .resume.safetensors file, exactly where it stopped")
    .option("--no-report", "do not write the HTML report beside the checkpoint")
    .option("--offline", "never use the network: named --weights must already be cached (also CONVZOO_OFFLINE=1)")
    .option("--json", "print JSON lines on stdout (start, epoch, done)")
    .action(async (dataDir: string | undefined, opts: TrainOptions) => {
      const display = new TrainingDisplay(opts.json ?? false);
      let run;
      if (opts.resume) {
        const given = RUN_OPTIONS.filter((o) => o.fixedOnResume && command.getOptionValueSource(o.field) === "cli");
        if (given.length) {
          const drop = given.map(flagName).join(", ");
          throw new OptionError(
            `--resume continues a run with its own settings; drop ${drop} (only --epochs, --threads, --save, ` +
              `--no-report and --json may be given)`,
          );
        }
        const epochs = command.getOptionValueSource("epochs") === "cli" ? opts.epochs : undefined;
        run = await prepareResumedRun(opts.resume, { data: dataDir, epochs, save: opts.save }, display);
      } else {
        if (!dataDir) throw new OptionError("train needs a data folder (one sub-folder per class), or --resume <file>");
        if (!opts.save) throw new OptionError("train needs --save <file.safetensors> (where the checkpoint goes)");
        run = await prepareRun({ ...opts, data: dataDir, save: opts.save }, display, { download: downloadOptions(opts, opts.weights) });
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
        saveEpoch: run.settings.saveEpoch ?? "best",
      });
      const how =
        result.stopped === "interrupted"
          ? `interrupted; continue with: convzoo train --resume ${outcome.resume}`
          : result.stopped === "early-stopped"
            ? "stopped early (no better validation accuracy)"
            : "done";
      const which = run.settings.saveEpoch === "last" ? "last epoch" : "best epoch";
      const bestText = best?.valAccuracy != null ? `, ${which} ${best.epoch} (val acc ${(best.valAccuracy * 100).toFixed(1)}%)` : "";
      display.note(`${how}${bestText}; saved ${outcome.checkpoint}${report ? `, report ${report.path}` : ""}`);
      if (result.stopped === "interrupted") process.exitCode = 130;
    });
}
