/**
 * Training speed, side by side in one run (run by hand, not in CI):
 *
 *   node --import tsx bench/train.ts            # full run, several minutes
 *   node --import tsx bench/train.ts --quick    # smoke test: few runs, numbers not meaningful
 *   node --import tsx bench/train.ts --json     # stdout is one JSON object (the table goes to stderr)
 *   ARCHS=resnet18 ROUNDS=3 node --import tsx bench/train.ts   # a subset
 *
 * For mobilenet_v2 and resnet18 at 224x224, batch 16, 1000 classes, 2 threads everywhere, it times
 * one SGD step (momentum 0.9, the whole network trained, train mode, dropout 0):
 *   convzoo  benchTraining() from src/tools/bench.ts: `Trainer.step`, forward + cross-entropy +
 *            gradients + SGD update as one ONNX Runtime session run, state fed back;
 *   PyTorch  torchvision's model of the same arch on CPU with Debian's /usr/bin/python3
 *            (bench/torch_train.py): zero_grad, forward, CrossEntropyLoss, backward, SGD step.
 * Weights are random (speed does not depend on values). Machines are shared and noisy, so each
 * config runs in rounds, the contenders interleaved (order rotated every round), each in a fresh
 * session/process warmed up before its timed steps; we report the median over all steps of each
 * contender and the ratio of medians. Peak RSS is each contender's whole process (convzoo: this
 * Node process so far, so it only grows across configs; PyTorch: one process per round).
 */
import { execFile } from "node:child_process";
import { availableParallelism, cpus } from "node:os";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import * as ort from "onnxruntime-node";
import { benchTraining, median } from "../src/tools/bench.js";
import "../src/models/index.js";
import { initializeWeights } from "../src/models/bind.js";
import { createModel } from "../src/models/registry.js";

const ARCHS = (process.env.ARCHS ?? "mobilenet_v2,resnet18").split(",");
const BATCH = 16;
const RESOLUTION = 224;
const CLASSES = 1000;
const THREADS = 2;
const PYTHON = "/usr/bin/python3"; // Debian's torch, not whatever python3 is first on PATH
const TORCH_SCRIPT = fileURLToPath(new URL("./torch_train.py", import.meta.url));

const args = process.argv.slice(2);
for (const a of args)
  if (a !== "--quick" && a !== "--json") throw new Error(`unknown argument ${a}; usage: bench/train.ts [--quick] [--json]`);
const quick = args.includes("--quick");
const json = args.includes("--json");

/** Rounds per config, and warm-up and timed steps per contender per round. */
const ROUNDS = quick ? 1 : Number(process.env.ROUNDS ?? 5);
const WARMUP = 1;
const RUNS = quick ? 1 : Number(process.env.RUNS ?? 3);

const log = (msg: string) => process.stderr.write(`${msg}\n`);
const ms = (t: number) => `${t.toFixed(0)} ms`;

type Contender = "convzoo" | "torch";

interface Timing {
  medianMs: number;
  imagesPerSecond: number;
  peakRssMB: number;
  timesMs: number[];
}

interface ConfigResult {
  arch: string;
  batchSize: number;
  resolution: number;
  convzoo: Timing & { setupMs: number };
  torch: Timing | null;
  /** convzoo speed / PyTorch speed = PyTorch median / convzoo median (> 1: convzoo faster). */
  speedVsTorch: number | null;
}

function timing(timesMs: number[], peakRssMB: number): Timing {
  const m = median(timesMs);
  return { medianMs: m, imagesPerSecond: (BATCH * 1000) / m, peakRssMB, timesMs };
}

interface TorchOutput {
  torch: string;
  threads: number;
  times: number[];
  peakRssMB: number;
}

async function torchRound(arch: string): Promise<TorchOutput> {
  const argv = [TORCH_SCRIPT, "--arch", arch, "--batch", String(BATCH), "--resolution", String(RESOLUTION), "--classes", String(CLASSES)];
  argv.push("--threads", String(THREADS), "--warmup", String(WARMUP), "--runs", String(RUNS));
  const { stdout } = await promisify(execFile)(PYTHON, argv, { maxBuffer: 1 << 24 });
  return JSON.parse(stdout) as TorchOutput;
}

/** Whether PyTorch runs at all here; without it the table shows n/a rather than failing. */
let torchVersion: string | null | undefined;
let torchError = "";

async function benchConfig(arch: string): Promise<ConfigResult> {
  const model = createModel(arch, { numClasses: CLASSES, dropout: 0 });
  initializeWeights(model, 0);
  const times: Record<Contender, number[]> = { convzoo: [], torch: [] };
  const rss: Record<Contender, number> = { convzoo: 0, torch: 0 };
  const setup: number[] = [];
  const contenders: Contender[] = ["convzoo", "torch"];
  const tag = `[${arch} b${BATCH}]`;

  for (let round = 0; round < ROUNDS; round++) {
    const order = contenders.map((_, i) => contenders[(i + round) % contenders.length]);
    for (const who of order) {
      const t0 = performance.now();
      if (who === "convzoo") {
        const r = await benchTraining(model, { batchSize: BATCH, resolution: RESOLUTION, runs: RUNS, warmup: WARMUP, threads: THREADS });
        times.convzoo.push(...r.timesMs);
        setup.push(r.setupMs);
        rss.convzoo = Math.max(rss.convzoo, r.peakRssMB);
        log(`${tag} round ${round + 1}/${ROUNDS} convzoo: ${r.timesMs.map(ms).join(", ")}`);
      } else if (torchVersion !== null) {
        try {
          const out = await torchRound(arch);
          torchVersion = out.torch;
          times.torch.push(...out.times);
          rss.torch = Math.max(rss.torch, out.peakRssMB);
          log(`${tag} round ${round + 1}/${ROUNDS} PyTorch: ${out.times.map(ms).join(", ")}`);
        } catch (e) {
          torchVersion = null;
          torchError = (e as Error).message.split("\n").slice(0, 3).join(" ");
          log(`${tag} PyTorch unavailable, skipping it from now on: ${torchError}`);
          continue;
        }
      }
      log(`${tag}   (${((performance.now() - t0) / 1000).toFixed(1)} s with set-up)`);
    }
  }
  const convzoo = { ...timing(times.convzoo, rss.convzoo), setupMs: median(setup) };
  const torch = times.torch.length ? timing(times.torch, rss.torch) : null;
  return { arch, batchSize: BATCH, resolution: RESOLUTION, convzoo, torch, speedVsTorch: torch ? torch.medianMs / convzoo.medianMs : null };
}

function table(results: ConfigResult[]): string {
  const head = [
    "model",
    "batch",
    "convzoo ms/step",
    "PyTorch ms/step",
    "convzoo img/s",
    "PyTorch img/s",
    "convzoo/PyTorch speed",
    "convzoo peak RSS",
    "PyTorch peak RSS",
  ];
  const rows = results.map((r) => [
    r.arch,
    String(r.batchSize),
    r.convzoo.medianMs.toFixed(0),
    r.torch ? r.torch.medianMs.toFixed(0) : "n/a",
    r.convzoo.imagesPerSecond.toFixed(1),
    r.torch ? r.torch.imagesPerSecond.toFixed(1) : "n/a",
    r.speedVsTorch ? `${r.speedVsTorch.toFixed(2)}x` : "n/a",
    `${r.convzoo.peakRssMB.toFixed(0)} MB`,
    r.torch ? `${r.torch.peakRssMB.toFixed(0)} MB` : "n/a",
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

const started = performance.now();
const results: ConfigResult[] = [];
for (const arch of ARCHS) results.push(await benchConfig(arch));

const meta = {
  date: new Date().toISOString(),
  quick,
  rounds: ROUNDS,
  stepsPerRound: RUNS,
  warmupPerRound: WARMUP,
  threads: THREADS,
  batchSize: BATCH,
  resolution: RESOLUTION,
  classes: CLASSES,
  cpu: `${cpus()[0]?.model ?? "unknown"} (${availableParallelism()} available)`,
  node: process.version,
  onnxruntime: ort.env.versions.node ?? ort.env.versions.common,
  torch: torchVersion ?? null,
  python: PYTHON,
  ...(torchError ? { torchError } : {}),
  seconds: Math.round((performance.now() - started) / 1000),
};

const text = [
  `Training step (SGD momentum 0.9, full network), ${RESOLUTION}x${RESOLUTION}, batch ${BATCH}, ${THREADS} threads, ` +
    `median ms over ${ROUNDS} interleaved rounds x ${RUNS} steps per contender${quick ? " -- QUICK, not meaningful" : ""}`,
  `onnxruntime-node ${meta.onnxruntime}, PyTorch ${meta.torch ?? "n/a"} (${PYTHON}), node ${meta.node}, ${meta.cpu}`,
  "",
  table(results),
  "",
  "convzoo/PyTorch speed = PyTorch ms / convzoo ms (> 1: convzoo faster; goal >= 1.0x).",
].join("\n");

if (json) {
  log(text);
  process.stdout.write(`${JSON.stringify({ meta, results })}\n`);
} else {
  console.log(text);
}
