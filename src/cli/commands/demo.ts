import type { Command } from "commander";
import { mkdir } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { DEMO_STRATEGIES, runDemo, type DemoRow } from "../../demo/demo.js";
import { table } from "../format.js";
import { positiveInt } from "../options.js";
import { TrainingDisplay } from "../progress.js";

interface DemoFlags {
  out?: string;
  threads?: number;
  seed: number;
  json?: boolean;
}

const DESCRIPTIONS: Record<DemoRow["strategy"], string> = {
  pretrain: "pretrain on digits 0-4 (full)",
  head: "head: the classifier only",
  partial: "partial: the last stage + classifier",
  full: "full: everything, from pretrained",
  scratch: "scratch: everything, from random",
};

/**
 * Where the demo writes (92 MB of digits, checkpoints and reports) unless --out says otherwise: the
 * user's cache folder, not the current one, where it would show up in `git status`.
 */
export function defaultDemoDir(env: NodeJS.ProcessEnv = process.env): string {
  const cache = env.XDG_CACHE_HOME || (process.platform === "win32" && env.LOCALAPPDATA) || join(homedir(), ".cache");
  return join(cache, "convzoo", "demo");
}

export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description(
      `transfer learning on MNIST digits (shipped by the mnist package): pretrain mobilenet_v3_small on ` +
        `0-4, adapt to 5-9 from 20 images per class with ${DEMO_STRATEGIES.join(", ")}; prints validation ` +
        `accuracy and time of each`,
    )
    .option("--out <dir>", "folder for the data, checkpoints and reports (default: $XDG_CACHE_HOME/convzoo/demo or ~/.cache/convzoo/demo)")
    .option("--threads <T>", "ONNX Runtime threads (default: all cores)", positiveInt("--threads"))
    .option("--seed <N>", "seed of the data selection, initialisation and shuffles", positiveInt("--seed"), 1)
    .option("--json", "print the result table as JSON on the last line of stdout")
    .action(async (opts: DemoFlags) => {
      const out = opts.out ?? defaultDemoDir();
      await mkdir(out, { recursive: true });
      const display = new TrainingDisplay(opts.json ?? false, { quiet: true });
      const say = (line: string) => {
        display.stopBar();
        console.error(line);
      };
      say(`convzoo demo: writing to ${out} (--out to change): MNIST digits in data/, then 5 training runs (a few minutes on 2 cores)`);
      const result = await runDemo({
        out,
        seed: opts.seed,
        threads: opts.threads,
        display,
        onStage: (stage, row) => {
          if (stage === "auto") return;
          if (!row) say(`${DESCRIPTIONS[stage]} …`);
          else say(`  val accuracy ${(row.valAccuracy * 100).toFixed(1)}% in ${row.seconds.toFixed(1)} s → ${row.checkpoint}`);
        },
      });
      const rows = [result.pretrained, ...result.rows];
      say("");
      for (const line of result.auto.lines) say(line);
      say("");
      console.error(
        table(
          ["strategy", "val accuracy", "seconds", "checkpoint"],
          rows.map((r) => [
            r.strategy === "pretrain" ? "pretrain (digits 0-4)" : r.strategy,
            `${(r.valAccuracy * 100).toFixed(1)}%`,
            r.seconds.toFixed(1),
            r.checkpoint,
          ]),
          ["left", "right", "right", "left"],
        ),
      );
      const scratch = result.rows.find((r) => r.strategy === "scratch")!;
      const bestTransfer = result.rows.filter((r) => r.strategy !== "scratch").reduce((a, b) => (b.valAccuracy > a.valAccuracy ? b : a));
      console.error(
        `\nbest transfer (${bestTransfer.strategy}) ${(bestTransfer.valAccuracy * 100).toFixed(1)}% vs from ` +
          `scratch ${(scratch.valAccuracy * 100).toFixed(1)}%; reports: ${out}/<strategy>.report.html`,
      );
      if (opts.json)
        console.log(JSON.stringify(result.rows.map((r) => ({ strategy: r.strategy, valAccuracy: r.valAccuracy, seconds: r.seconds }))));
    });
}
