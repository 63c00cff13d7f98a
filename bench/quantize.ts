/**
 * Quantized inference speed and size, side by side in one run (run by hand, not in CI):
 *
 *   node --import tsx bench/quantize.ts                      # full run (tens of minutes on 2 cores)
 *   node --import tsx bench/quantize.ts --quick              # smoke test: few runs, numbers not meaningful
 *   node --import tsx bench/quantize.ts --arch resnet50      # one architecture (repeatable)
 *   node --import tsx bench/quantize.ts --json               # stdout: one JSON object; the table goes to stderr
 *
 * For resnet18, resnet50, mobilenet_v2, mobilenet_v3_large and efficientnet_b0 at 224x224, batch 1
 * and 16, 2 threads: the float32 model (`convzoo export`'s graph), static int8 (QDQ, per-channel,
 * percentile over 16 calibration images), the same with the depthwise convolutions left in float32, dynamic (weight-only int8, dequantized once at load as
 * Predictor.fromOnnx does) and fp16, each made by
 * `quantizeModel` and run by onnxruntime-node with the session options every command uses
 * (ortSessionOptions), a pre-built input, timing only session.run. Weights are seeded random and the
 * calibration images random normal: speed does not depend on the values (accuracy is measured on
 * trained checkpoints by `convzoo quantize`, see the README). Each variant is warmed up, then they
 * run one run each in turn (order rotated) so load changes hit all alike; medians over all runs and
 * ratios of medians.
 */
import { availableParallelism, cpus } from "node:os";
import { performance } from "node:perf_hooks";
import * as ort from "onnxruntime-node";
import { exportOnnx } from "../src/inference/export.js";
import "../src/models/index.js";
import { createModel } from "../src/models/registry.js";
import { initializeWeights } from "../src/models/bind.js";
import { quantizeModel, type QuantizeMode } from "../src/quantize/quantize.js";
import { Random } from "../src/random.js";
import { ortSessionOptions } from "../src/runtime/session.js";
import { median } from "../src/tools/bench.js";

const ALL_ARCHS = ["resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0"];
const BATCHES = [1, 16];
const RESOLUTION = 224;
const THREADS = 2;
const VARIANTS = ["fp32", "int8", "int8dw", "dynamic", "fp16"] as const;
type Variant = (typeof VARIANTS)[number];

const args = process.argv.slice(2);
const archs: string[] = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--arch") archs.push(args[++i]);
  else if (args[i] !== "--quick" && args[i] !== "--json")
    throw new Error(`unknown argument ${args[i]}; usage: bench/quantize.ts [--quick] [--json] [--arch A ...]`);
}
const quick = args.includes("--quick");
const json = args.includes("--json");
const ROUNDS = quick ? 1 : 3;
const plan = (batch: number) => (quick ? { warmup: 1, runs: 2 } : batch === 1 ? { warmup: 3, runs: 10 } : { warmup: 1, runs: 3 });
const log = (msg: string) => process.stderr.write(`${msg}\n`);

function randomBatch(n: number, seed: number): Float32Array {
  const rng = new Random(seed);
  return Float32Array.from({ length: n * 3 * RESOLUTION * RESOLUTION }, () => rng.normal());
}

interface Row {
  arch: string;
  batchSize: number;
  medianMs: Record<Variant, number>;
  speedup: Record<Variant, number>;
}

const sizes: Record<string, Record<Variant, number>> = {};
const rows: Row[] = [];
for (const arch of archs.length ? archs : ALL_ARCHS) {
  const model = initializeWeights(createModel(arch), 0);
  const calibration = [0, 1].map((s) => ({ dtype: "float32" as const, shape: [8, 3, RESOLUTION, RESOLUTION], data: randomBatch(8, s) }));
  const bytes: Record<Variant, Uint8Array> = {
    fp32: exportOnnx(model, { resolution: RESOLUTION }),
    ...(Object.fromEntries(
      await Promise.all(
        (["int8", "int8dw", "dynamic", "fp16"] as const).map(async (v) => {
          const mode: QuantizeMode = v === "int8" || v === "int8dw" ? "static" : v;
          const options = { mode, resolution: RESOLUTION, calibration, threads: THREADS, fp32Depthwise: v === "int8dw" };
          return [v, (await quantizeModel(model, options)).onnx] as const;
        }),
      ),
    ) as Record<Exclude<Variant, "fp32">, Uint8Array>),
  };
  sizes[arch] = Object.fromEntries(VARIANTS.map((v) => [v, bytes[v].length])) as Record<Variant, number>;
  const sessions = Object.fromEntries(
    await Promise.all(
      VARIANTS.map(
        async (v) =>
          [
            v,
            await ort.InferenceSession.create(bytes[v], ortSessionOptions({ threads: THREADS, dequantizeWeightsAtLoad: v === "dynamic" })),
          ] as const,
      ),
    ),
  ) as Record<Variant, ort.InferenceSession>;
  for (const batch of BATCHES) {
    const input = new ort.Tensor("float32", randomBatch(batch, 7), [batch, 3, RESOLUTION, RESOLUTION]);
    const times = Object.fromEntries(VARIANTS.map((v) => [v, [] as number[]])) as Record<Variant, number[]>;
    const { warmup, runs } = plan(batch);
    for (const v of VARIANTS) for (let i = 0; i < warmup; i++) await sessions[v].run({ input });
    // One run of each variant in turn (order rotated), so a change in the machine's load hits all of them alike.
    for (let i = 0; i < ROUNDS * runs; i++) {
      for (let k = 0; k < VARIANTS.length; k++) {
        const v = VARIANTS[(k + i) % VARIANTS.length];
        const t0 = performance.now();
        await sessions[v].run({ input });
        times[v].push(performance.now() - t0);
      }
    }
    const medianMs = Object.fromEntries(VARIANTS.map((v) => [v, median(times[v])])) as Record<Variant, number>;
    const speedup = Object.fromEntries(VARIANTS.map((v) => [v, medianMs.fp32 / medianMs[v]])) as Record<Variant, number>;
    rows.push({ arch, batchSize: batch, medianMs, speedup });
    log(
      `${arch} batch ${batch}: ` +
        VARIANTS.map((v) => `${v} ${medianMs[v].toFixed(1)} ms${v === "fp32" ? "" : ` (${speedup[v].toFixed(2)}x)`}`).join(", "),
    );
  }
  for (const s of Object.values(sessions)) await s.release();
}

const mb = (n: number) => (n / 1e6).toFixed(1);
const table = [
  "| arch | batch | fp32 ms | int8 ms (x fp32) | int8, depthwise fp32 ms (x) | dynamic ms (x) | fp16 ms (x) |",
  "| --- | --- | --- | --- | --- | --- | --- |",
  ...rows.map(
    (r) =>
      `| ${r.arch} | ${r.batchSize} | ${r.medianMs.fp32.toFixed(1)} | ` +
      (["int8", "int8dw", "dynamic", "fp16"] as const).map((v) => `${r.medianMs[v].toFixed(1)} (${r.speedup[v].toFixed(2)}x)`).join(" | ") +
      " |",
  ),
  "",
  "| arch | fp32 MB | int8 MB | int8, depthwise fp32 MB | dynamic MB | fp16 MB |",
  "| --- | --- | --- | --- | --- | --- |",
  ...Object.entries(sizes).map(([arch, s]) => `| ${arch} | ${VARIANTS.map((v) => mb(s[v])).join(" | ")} |`),
];
const meta = {
  cpu: cpus()[0]?.model,
  cores: availableParallelism(),
  threads: THREADS,
  resolution: RESOLUTION,
  rounds: ROUNDS,
  quick,
  ort: ort.env.versions,
};
log(table.join("\n"));
if (json) console.log(JSON.stringify({ meta, rows, sizes }));
