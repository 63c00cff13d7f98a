/**
 * The embedded demo (Node): the lecture's transfer-learning story on data an npm package ships. Pretrain
 * mobilenet_v3_small (32×32) on MNIST digits 0–4, adapt it to digits 5–9 from 20 images per class with head,
 * partial, full and from scratch, and report each one's validation accuracy (100 images per class) and time.
 * Every run goes through `convzoo train`'s path (prepareRun → executeRun → writeRunReport). Details:
 * docs/transfer-learning.md#demo
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { closeDataWorkers } from "../data/loader.js";
import { executeRun, prepareRun, writeRunReport, type RunDisplay } from "../run/run.js";
import { type RunRequest } from "../run/settings.js";
import type { Strategy } from "../transfer/strategy.js";
import { writeDigitFolders } from "./mnist.js";

export type DemoStrategy = "head" | "partial" | "full" | "scratch";
export const DEMO_STRATEGIES: readonly DemoStrategy[] = ["head", "partial", "full", "scratch"];

export interface DemoOptions {
  /** Folder for the data, the checkpoints and the reports. */
  out: string;
  arch?: string;
  resolution?: number;
  seed?: number;
  threads?: number;
  /** Pretraining images per digit (0–4), and epochs over them. */
  pretrainPerClass?: number;
  pretrainEpochs?: number;
  /** Labelled images per digit (5–9) for the adaptation, validation images per digit, and epochs (default: sized from the data). */
  adaptPerClass?: number;
  valPerClass?: number;
  adaptEpochs?: number;
  display: RunDisplay;
  /** Called when a stage starts ("pretrain", "head" …) and ends, for a person watching. */
  onStage?: (stage: DemoRow["strategy"] | "auto", done: DemoRow | null) => void;
}

export interface DemoRow {
  strategy: DemoStrategy | "pretrain";
  /** Best validation accuracy of the run. */
  valAccuracy: number;
  /** Wall time of the run (data loading, feature caching, training, validation). */
  seconds: number;
  checkpoint: string;
  report: string;
}

export interface DemoResult {
  pretrained: DemoRow;
  rows: DemoRow[];
  /** What `--strategy auto` picks for the adaptation, and its figures. */
  auto: { strategy: string; lines: string[] };
}

/** Which strategy a demo row runs, and from which weights. */
function adaptation(strategy: DemoStrategy, pretrained: string): Pick<RunRequest, "strategy" | "weights" | "unfreezeStages"> {
  switch (strategy) {
    case "head":
      return { strategy: "head", weights: pretrained };
    case "partial":
      // The deepest stage and the head train; the earlier, more generic stages stay as pretrained.
      return { strategy: "partial", weights: pretrained, unfreezeStages: 1 };
    case "full":
      return { strategy: "full", weights: pretrained };
    case "scratch":
      return { strategy: "full" as Strategy };
  }
}

export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const seed = o.seed ?? 0;
  const arch = o.arch ?? "mobilenet_v3_small";
  const resolution = o.resolution ?? 32;
  const data = join(o.out, "data");
  await rm(data, { recursive: true, force: true });
  // Disjoint sets, each in the DIR/train + DIR/val layout the training run detects.
  await writeDigitFolders(
    [0, 1, 2, 3, 4],
    [
      { dir: join(data, "digits0-4", "train"), perClass: o.pretrainPerClass ?? 200 },
      { dir: join(data, "digits0-4", "val"), perClass: 50 },
    ],
    seed,
  );
  await writeDigitFolders(
    [5, 6, 7, 8, 9],
    [
      { dir: join(data, "digits5-9", "train"), perClass: o.adaptPerClass ?? 20 },
      { dir: join(data, "digits5-9", "val"), perClass: o.valPerClass ?? 100 },
    ],
    seed + 1,
  );

  // The pretraining stands in for ImageNet's, with its own fixed recipe. Digits are centred and
  // upright: no crops or flips (a 8%-area crop of a digit is not a digit). It recomputes its BatchNorm
  // statistics after each epoch: mobilenet_v3_small's momentum is 0.01 (torchvision's), and a short
  // run's running statistics would otherwise still be near their start.
  const pretrainRecipe = {
    arch,
    resolution,
    optimizer: "sgd",
    momentum: 0.9,
    schedule: "cosine",
    augment: false,
    shuffle: true,
    seed,
    recalibrateBn: true,
  } as const;
  const timed = async (strategy: DemoRow["strategy"], req: RunRequest): Promise<DemoRow> => {
    o.onStage?.(strategy, null);
    const t0 = performance.now();
    const run = await prepareRun(req, o.display);
    const outcome = await executeRun(run, { display: o.display, threads: o.threads });
    const report = await writeRunReport(run, outcome, { display: o.display, threads: o.threads });
    const best = outcome.result.history[(outcome.result.bestEpoch ?? outcome.result.history.length) - 1];
    const row = {
      strategy,
      valAccuracy: best.valAccuracy ?? 0,
      seconds: (performance.now() - t0) / 1000,
      checkpoint: outcome.checkpoint,
      report: report.path,
    };
    o.onStage?.(strategy, row);
    return row;
  };
  try {
    const pretrained = await timed("pretrain", {
      ...pretrainRecipe,
      data: join(data, "digits0-4"),
      strategy: "full",
      epochs: o.pretrainEpochs ?? 6,
      batchSize: 32,
      lr: 0.05,
      save: join(o.out, "pretrained.safetensors"),
    });
    const adapt = join(data, "digits5-9");
    // The adaptation runs as a person would run it: the data, the starting weights, the strategy,
    // and every other setting sized from the data (run/sizing.ts).
    // What auto would choose here (measured: data size × a linear probe of the pretrained features).
    const probe = await prepareRun(
      { data: adapt, weights: pretrained.checkpoint, strategy: "auto", seed, save: join(o.out, "auto.safetensors"), threads: o.threads },
      o.display,
    );
    const auto = { strategy: probe.settings.strategy, lines: probe.decision };
    o.onStage?.("auto", null);
    const rows: DemoRow[] = [];
    for (const strategy of DEMO_STRATEGIES) {
      rows.push(
        await timed(strategy, {
          ...adaptation(strategy, pretrained.checkpoint),
          // From scratch, the model is defined by the architecture and the side (a checkpoint carries both).
          ...(strategy === "scratch" ? { arch, resolution } : {}),
          data: adapt,
          seed,
          epochs: o.adaptEpochs,
          save: join(o.out, `${strategy}.safetensors`),
        }),
      );
    }
    return { pretrained, rows, auto };
  } finally {
    await closeDataWorkers();
  }
}
