/**
 * Inference speed, side by side in one run (run by hand, not in CI):
 *
 *   node --import tsx bench/infer.ts            # full run, several minutes
 *   node --import tsx bench/infer.ts --quick    # smoke test: few runs, numbers not meaningful
 *   node --import tsx bench/infer.ts --json     # stdout is one JSON object (the table goes to stderr)
 *
 * For resnet50 and mobilenet_v2 at 224x224, batch 1 and 16, 2 threads everywhere, it times:
 *   convzoo  benchInference() from src/tools/bench.ts: the Predictor path `convzoo classify` uses;
 *   raw ORT  onnxruntime-node directly on the same exported model (exportOnnx, logits) with the same
 *            session options (ortSessionOptions), a pre-built ort.Tensor input, timing only session.run:
 *            convzoo/raw ORT is convzoo's overhead (goal: at most +5%);
 *   PyTorch  torchvision's model of the same arch on CPU with Debian's /usr/bin/python3
 *            (bench/torch_infer.py), eval mode, the faster of no_grad and inference_mode.
 * Weights are random (speed does not depend on values). Machines are shared and noisy, so each
 * config runs in rounds, the contenders interleaved (order rotated every round), each warmed up
 * before its runs; we report the median over all runs of each contender and ratios of medians.
 */
import { execFile } from "node:child_process";
import { availableParallelism, cpus } from "node:os";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import * as ort from "onnxruntime-node";
import { benchInference, median } from "../src/tools/bench.js";
import { exportOnnx } from "../src/inference/export.js";
import "../src/models/index.js";
import type { Model } from "../src/models/model.js";
import { createModel } from "../src/models/registry.js";
import { Random } from "../src/random.js";
import { ortSessionOptions } from "../src/runtime/session.js";

const ARCHS = ["resnet50", "mobilenet_v2"];
const BATCHES = [1, 16];
const RESOLUTION = 224;
const THREADS = 2;
const PYTHON = "/usr/bin/python3"; // Debian's torch, not whatever python3 is first on PATH
const TORCH_SCRIPT = fileURLToPath(new URL("./torch_infer.py", import.meta.url));

const args = process.argv.slice(2);
for (const a of args)
  if (a !== "--quick" && a !== "--json") throw new Error(`unknown argument ${a}; usage: bench/infer.ts [--quick] [--json]`);
const quick = args.includes("--quick");
const json = args.includes("--json");

/** Rounds per config, and warm-up and timed runs per contender per round (batch 1 is cheap: more runs). */
const ROUNDS = quick ? 2 : 5;
const plan = (batch: number) =>
  quick ? { warmup: 1, runs: batch === 1 ? 3 : 1 } : batch === 1 ? { warmup: 3, runs: 10 } : { warmup: 1, runs: 3 };

const log = (msg: string) => process.stderr.write(`${msg}\n`);
const ms = (t: number) => `${t.toFixed(1)} ms`;

type Contender = "convzoo" | "rawOrt" | "torch";
type TorchMode = "no_grad" | "inference_mode";

interface Timing {
  medianMs: number;
  imagesPerSecond: number;
  timesMs: number[];
}

interface ConfigResult {
  arch: string;
  batchSize: number;
  resolution: number;
  convzoo: Timing;
  rawOrt: Timing;
  torch: (Timing & { mode: TorchMode; medianMsByMode: Partial<Record<TorchMode, number>> }) | null;
  /** convzoo / raw ORT − 1, in percent (median times). */
  overheadPct: number;
  /** PyTorch / convzoo (median times): how many times faster convzoo is. */
  speedupVsTorch: number | null;
}

function timing(timesMs: number[], batchSize: number): Timing {
  const m = median(timesMs);
  return { medianMs: m, imagesPerSecond: (batchSize * 1000) / m, timesMs };
}

/** Raw ONNX Runtime: a fresh session on the exported bytes (as convzoo makes one per benchInference call). */
async function rawOrtRound(onnx: Uint8Array, input: ort.Tensor, warmup: number, runs: number): Promise<number[]> {
  const session = await ort.InferenceSession.create(onnx, ortSessionOptions({ threads: THREADS }));
  try {
    const feeds = { [session.inputNames[0]]: input };
    for (let i = 0; i < warmup; i++) await session.run(feeds);
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await session.run(feeds);
      times.push(performance.now() - t0);
    }
    return times;
  } finally {
    await session.release();
  }
}

interface TorchOutput {
  torch: string;
  threads: number;
  modes: Partial<Record<TorchMode, number[]>>;
}

async function torchRound(arch: string, batch: number, warmup: number, runs: number): Promise<TorchOutput> {
  const argv = [TORCH_SCRIPT, "--arch", arch, "--batch", String(batch), "--resolution", String(RESOLUTION)];
  argv.push("--threads", String(THREADS), "--warmup", String(warmup), "--runs", String(runs));
  const { stdout } = await promisify(execFile)(PYTHON, argv, { maxBuffer: 1 << 24 });
  return JSON.parse(stdout) as TorchOutput;
}

/** Whether PyTorch runs at all here; without it the table shows n/a rather than failing. */
let torchVersion: string | null | undefined;
let torchError = "";

async function benchConfig(model: Model, onnx: Uint8Array, batchSize: number): Promise<ConfigResult> {
  const { warmup, runs } = plan(batchSize);
  const shape = [batchSize, 3, RESOLUTION, RESOLUTION];
  const rng = new Random(1);
  const input = new ort.Tensor(
    "float32",
    Float32Array.from({ length: batchSize * 3 * RESOLUTION * RESOLUTION }, () => rng.normal()),
    shape,
  );
  const times: Record<Contender, number[]> = { convzoo: [], rawOrt: [], torch: [] };
  const torchTimes: Partial<Record<TorchMode, number[]>> = {};
  const contenders: Contender[] = ["convzoo", "rawOrt", "torch"];
  const tag = `[${model.arch} b${batchSize}]`;

  for (let round = 0; round < ROUNDS; round++) {
    const order = contenders.map((_, i) => contenders[(i + round) % contenders.length]);
    for (const who of order) {
      const t0 = performance.now();
      if (who === "convzoo") {
        const r = await benchInference(model, { batchSize, resolution: RESOLUTION, runs, warmup, threads: THREADS });
        times.convzoo.push(...r.timesMs);
        log(`${tag} round ${round + 1}/${ROUNDS} convzoo: median ${ms(median(r.timesMs))}`);
      } else if (who === "rawOrt") {
        const t = await rawOrtRound(onnx, input, warmup, runs);
        times.rawOrt.push(...t);
        log(`${tag} round ${round + 1}/${ROUNDS} raw ORT: median ${ms(median(t))}`);
      } else if (torchVersion !== null) {
        try {
          const out = await torchRound(model.arch, batchSize, warmup, runs);
          torchVersion = out.torch;
          for (const [mode, t] of Object.entries(out.modes) as [TorchMode, number[]][]) (torchTimes[mode] ??= []).push(...t);
          const medians = Object.entries(out.modes).map(([mode, t]) => `${mode} ${ms(median(t))}`);
          log(`${tag} round ${round + 1}/${ROUNDS} PyTorch: median ${medians.join(", ")}`);
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

  const convzoo = timing(times.convzoo, batchSize);
  const rawOrt = timing(times.rawOrt, batchSize);
  let torch: ConfigResult["torch"] = null;
  const modes = Object.keys(torchTimes) as TorchMode[];
  if (modes.length) {
    const medianMsByMode = Object.fromEntries(modes.map((m) => [m, median(torchTimes[m]!)]));
    const best = modes.reduce((a, b) => (medianMsByMode[b]! < medianMsByMode[a]! ? b : a));
    torch = { ...timing(torchTimes[best]!, batchSize), mode: best, medianMsByMode };
  }
  return {
    arch: model.arch,
    batchSize,
    resolution: RESOLUTION,
    convzoo,
    rawOrt,
    torch,
    overheadPct: (convzoo.medianMs / rawOrt.medianMs - 1) * 100,
    speedupVsTorch: torch ? torch.medianMs / convzoo.medianMs : null,
  };
}

function table(results: ConfigResult[]): string {
  const head = [
    "model",
    "batch",
    "convzoo ms",
    "raw ORT ms",
    "PyTorch ms",
    "convzoo img/s",
    "raw ORT img/s",
    "PyTorch img/s",
    "overhead",
    "PyTorch/convzoo",
    "torch mode",
  ];
  const rows = results.map((r) => [
    r.arch,
    String(r.batchSize),
    r.convzoo.medianMs.toFixed(1),
    r.rawOrt.medianMs.toFixed(1),
    r.torch ? r.torch.medianMs.toFixed(1) : "n/a",
    r.convzoo.imagesPerSecond.toFixed(1),
    r.rawOrt.imagesPerSecond.toFixed(1),
    r.torch ? r.torch.imagesPerSecond.toFixed(1) : "n/a",
    `${r.overheadPct >= 0 ? "+" : ""}${r.overheadPct.toFixed(1)}%`,
    r.speedupVsTorch ? `${r.speedupVsTorch.toFixed(2)}x` : "n/a",
    r.torch ? r.torch.mode : "n/a",
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  // Text columns left-aligned, numbers right-aligned.
  const left = new Set([0, 10]);
  const line = (cells: string[]) => cells.map((c, i) => (left.has(i) ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

const started = performance.now();
const results: ConfigResult[] = [];
for (const arch of ARCHS) {
  const model = createModel(arch);
  log(`${arch}: exporting ONNX at ${RESOLUTION}x${RESOLUTION} (random weights) ...`);
  const onnx = exportOnnx(model, { resolution: RESOLUTION, output: "logits" });
  for (const batchSize of BATCHES) results.push(await benchConfig(model, onnx, batchSize));
}

const { warmup: w1, runs: r1 } = plan(1);
const { warmup: w16, runs: r16 } = plan(16);
const meta = {
  date: new Date().toISOString(),
  quick,
  rounds: ROUNDS,
  runsPerRound: { batch1: r1, batch16: r16 },
  warmupPerRound: { batch1: w1, batch16: w16 },
  threads: THREADS,
  resolution: RESOLUTION,
  cpu: `${cpus()[0]?.model ?? "unknown"} (${availableParallelism()} available)`,
  node: process.version,
  onnxruntime: ort.env.versions.node ?? ort.env.versions.common,
  torch: torchVersion ?? null,
  python: PYTHON,
  ...(torchError ? { torchError } : {}),
  seconds: Math.round((performance.now() - started) / 1000),
};

const text = [
  `Inference, ${RESOLUTION}x${RESOLUTION}, ${THREADS} threads, median ms over ${ROUNDS} interleaved rounds ` +
    `(batch 1: ${ROUNDS}x${r1} runs, batch 16: ${ROUNDS}x${r16} runs per contender)${quick ? " -- QUICK, not meaningful" : ""}`,
  `onnxruntime-node ${meta.onnxruntime}, PyTorch ${meta.torch ?? "n/a"} (${PYTHON}), node ${meta.node}, ${meta.cpu}`,
  "",
  table(results),
  "",
  "overhead = convzoo / raw ORT - 1 (goal <= +5%); PyTorch/convzoo > 1 means convzoo is faster.",
].join("\n");

if (json) {
  log(text);
  process.stdout.write(`${JSON.stringify({ meta, results })}\n`);
} else {
  console.log(text);
}
