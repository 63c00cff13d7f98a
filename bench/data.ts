/**
 * The data pipeline's speed, side by side in one run (run by hand, not in CI):
 *
 *   node --import tsx bench/data.ts            # full run, a few minutes
 *   node --import tsx bench/data.ts --quick    # smoke test: 1 round, numbers not meaningful
 *   node --import tsx bench/data.ts --json     # stdout is one JSON object (the table goes to stderr)
 *   IMAGES=384 ROUNDS=7 RESOLUTION=112 WORKERS=0,1,2,3 node --import tsx bench/data.ts
 *
 * On a generated folder of photo-sized JPEGs (400×300, 3 classes), training transform
 * RandomResizedCrop(R) + flip + normalise, batch 32, it times whole epochs of
 *   loader   `epochBatches` alone (the batches consumed and dropped), per worker count
 *            (0 = decode on libuv's pool and transform on the main thread, the old path);
 *   train    the same epoch feeding `Trainer.step` (mobilenet_v3_small, SGD momentum 0.9, the
 *            whole network trained, 2 ONNX Runtime threads), per worker count, and the steps alone
 *            on batches decoded beforehand (what the engine does when the data costs nothing).
 * Contenders run interleaved in rounds, order rotated each round; we report medians over rounds.
 * Pools are started once per worker count before timing (their start-up is reported apart).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { median } from "../src/tools/bench.js";
import type { TrainTransform } from "../src/data/augment.js";
import type { Sample } from "../src/data/folder.js";
import { epochBatches, type Batch } from "../src/data/loader.js";
import { IMAGENET_EVAL, preprocessingForResolution } from "../src/models/preprocessing.js";
import { DataWorkerPool, defaultDataWorkers } from "../src/data/workers.js";
import "../src/models/index.js";
import { initializeWeights } from "../src/models/bind.js";
import { createModel } from "../src/models/registry.js";
import { Random } from "../src/random.js";
import { targetDistribution } from "../src/train/training_graph.js";
import { Trainer } from "../src/train/trainer.js";
import { writeJpegFolder } from "../tests/data/jpegs.js";

const args = process.argv.slice(2);
for (const a of args)
  if (a !== "--quick" && a !== "--json") throw new Error(`unknown argument ${a}; usage: bench/data.ts [--quick] [--json]`);
const quick = args.includes("--quick");
const json = args.includes("--json");

const ARCH = process.env.ARCH ?? "mobilenet_v3_small";
const RESOLUTION = Number(process.env.RESOLUTION ?? 128);
const BATCH = Number(process.env.BATCH ?? 32);
const CLASSES = 3;
const IMAGES = quick ? BATCH * 2 : Number(process.env.IMAGES ?? 192);
const ROUNDS = quick ? 1 : Number(process.env.ROUNDS ?? 5);
const THREADS = 2;
const WORKERS = (process.env.WORKERS ?? "0,1,2").split(",").map(Number);

const log = (msg: string) => process.stderr.write(`${msg}\n`);

const dir = mkdtempSync(join(tmpdir(), "convzoo-bench-data-"));
try {
  log(`writing ${IMAGES} JPEGs of 400x300 to ${dir} …`);
  const paths = await writeJpegFolder(dir, { classes: CLASSES, perClass: Math.ceil(IMAGES / CLASSES), seed: 1 });
  const samples: Sample[] = paths.slice(0, IMAGES).map((path) => ({ path, label: Number(path.split("/").at(-2)!.slice(1)) }));
  const transform: TrainTransform = {
    resolution: RESOLUTION,
    augment: true,
    preprocessing: preprocessingForResolution(IMAGENET_EVAL, RESOLUTION),
  };

  const pools = new Map<number, DataWorkerPool>();
  const startupMs: Record<number, number> = {};
  for (const w of WORKERS.filter((w) => w > 0)) {
    const t0 = performance.now();
    const pool = new DataWorkerPool(w);
    // Started = every worker has answered one job.
    await Promise.all(
      Array.from({ length: w * 2 }, (_, i) => pool.run(samples[i % samples.length].path, new Random(i).getState(), transform, {})),
    );
    startupMs[w] = performance.now() - t0;
    pools.set(w, pool);
  }
  const epoch = (w: number, seed: number) =>
    epochBatches(samples, {
      batchSize: BATCH,
      shuffle: true,
      transform,
      rng: new Random(seed),
      ...(w === 0 ? { workers: 0 } : { pool: pools.get(w)! }),
    });

  const model = createModel(ARCH, { numClasses: CLASSES });
  initializeWeights(model, 0);
  const t0 = performance.now();
  const trainer = await Trainer.create(model, {
    batchSize: BATCH,
    resolution: RESOLUTION,
    optimizer: { kind: "sgd", momentum: 0.9 },
    threads: THREADS,
  });
  const trainerSetupMs = performance.now() - t0;
  const step = (b: Batch) => trainer.step(b.images, targetDistribution(b.labels, CLASSES), 0.01);
  // Pre-decoded batches for the steps-alone contender.
  const preloaded: Batch[] = [];
  for await (const b of epoch(0, 99)) preloaded.push(b);
  for (const b of preloaded.slice(0, 2)) await step(b); // warm-up

  type Name = string;
  const contenders: [Name, () => Promise<number>][] = [];
  for (const w of WORKERS) {
    contenders.push([
      `loader workers=${w}`,
      async () => {
        let n = 0;
        for await (const b of epoch(w, 1)) n += b.labels.length;
        return n;
      },
    ]);
  }
  for (const w of WORKERS) {
    contenders.push([
      `train workers=${w}`,
      async () => {
        let n = 0;
        for await (const b of epoch(w, 2)) {
          await step(b);
          n += b.labels.length;
        }
        return n;
      },
    ]);
  }
  contenders.push([
    "train steps alone",
    async () => {
      let n = 0;
      for (const b of preloaded) {
        await step(b);
        n += b.labels.length;
      }
      return n;
    },
  ]);

  const times = new Map<Name, number[]>(contenders.map(([name]) => [name, []]));
  const load: number[] = [loadavg()[0]];
  for (let r = 0; r < ROUNDS; r++) {
    const order = contenders.map((_, i) => contenders[(i + r) % contenders.length]);
    for (const [name, run] of order) {
      const s = performance.now();
      const n = await run();
      const ms = performance.now() - s;
      if (n !== IMAGES) throw new Error(`${name}: ${n} images instead of ${IMAGES}`);
      times.get(name)!.push(ms);
    }
    load.push(loadavg()[0]);
    log(`round ${r + 1}/${ROUNDS} done (load average ${loadavg()[0].toFixed(1)})`);
  }
  await trainer.release();
  for (const p of pools.values()) await p.close();

  const rows = contenders.map(([name]) => {
    const m = median(times.get(name)!);
    return { name, medianMs: m, imagesPerSecond: (IMAGES * 1000) / m, timesMs: times.get(name)! };
  });
  const base = (prefix: string) => rows.find((r) => r.name === `${prefix} workers=0`)?.imagesPerSecond;
  const meta = {
    cpu: cpus()[0]?.model ?? "unknown",
    cores: availableParallelism(),
    defaultWorkers: defaultDataWorkers(),
    loadAverage: load,
    arch: ARCH,
    resolution: RESOLUTION,
    batchSize: BATCH,
    images: IMAGES,
    rounds: ROUNDS,
    ortThreads: THREADS,
    workerStartupMs: startupMs,
    trainerSetupMs,
  };
  const table = [
    `${meta.cpu}, ${meta.cores} cores (default workers ${meta.defaultWorkers}); load average ${load.map((l) => l.toFixed(1)).join(" → ")}`,
    `${ARCH} @${RESOLUTION}, batch ${BATCH}, ${IMAGES} JPEGs 400x300, RandomResizedCrop + flip, ${ROUNDS} rounds, medians`,
    `worker pool start-up: ${
      Object.entries(startupMs)
        .map(([w, t]) => `${w} → ${t.toFixed(0)} ms`)
        .join(", ") || "n/a"
    }`,
    "",
    "contender            | epoch ms | images/s | vs workers=0",
    "---------------------|----------|----------|-------------",
    ...rows.map((r) => {
      const b = base(r.name.split(" ")[0]);
      const ratio = b && r.name.includes("workers=") ? `${(r.imagesPerSecond / b).toFixed(2)}x` : "";
      return `${r.name.padEnd(20)} | ${r.medianMs.toFixed(0).padStart(8)} | ${r.imagesPerSecond.toFixed(1).padStart(8)} | ${ratio}`;
    }),
  ].join("\n");
  log(`\n${table}`);
  if (json) process.stdout.write(`${JSON.stringify({ meta, results: rows })}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
