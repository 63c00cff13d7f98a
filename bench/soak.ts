/**
 * Soak (issue 15, point 8): many predictions and many model load/unload cycles in one process, the resident
 * set sampled as it goes. Goal: flat within 10% after warm-up. Two phases, on a checkpoint written at start:
 *   1. --predictions N (default 10,000) images through one Predictor by `classifyFiles` (decode with sharp,
 *      the weights' transform, ONNX Runtime), the path `convzoo classify` takes;
 *   2. --cycles N (default 100) times: `loadModel` from the file (read, checks, build), `Predictor.create`
 *      (ONNX export, session), one prediction, `release`.
 * Printed: RSS / V8 heap / external memory at each sample, and per phase the RSS at the end of warm-up (the
 * first 10% of the phase), the largest after it, the last, and the drift (largest / warm-up − 1).
 *
 *   nice -n 10 node --import tsx bench/soak.ts [--arch mobilenet_v2] [--predictions 10000] [--cycles 100] [--batch 16]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { Predictor, createModel, initializeWeights, loadModel, saveCheckpoint, stateDict } from "../src/index.js";

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const arch = flag("--arch", "mobilenet_v2");
const predictions = Number(flag("--predictions", "10000"));
const cycles = Number(flag("--cycles", "100"));
const batch = Number(flag("--batch", "16"));
const IMAGES = 32;
const WARMUP = 0.1;

interface Sample {
  phase: string;
  done: number;
  rssMB: number;
  heapMB: number;
  externalMB: number;
}
const samples: Sample[] = [];
const mb = (bytes: number) => bytes / 2 ** 20;
function sample(phase: string, done: number): void {
  const m = process.memoryUsage();
  const s = { phase, done, rssMB: mb(m.rss), heapMB: mb(m.heapUsed), externalMB: mb(m.external + m.arrayBuffers) };
  samples.push(s);
  console.log(
    `${phase.padEnd(12)} ${String(done).padStart(6)}  rss ${s.rssMB.toFixed(0).padStart(5)} MB  heap ${s.heapMB.toFixed(0).padStart(4)} MB  external ${s.externalMB.toFixed(0).padStart(4)} MB`,
  );
}

function summary(phase: string, total: number): string {
  const own = samples.filter((s) => s.phase === phase);
  const warm = own.filter((s) => s.done <= total * WARMUP).at(-1) ?? own[0];
  const after = own.filter((s) => s.done > warm.done);
  const largest = Math.max(...after.map((s) => s.rssMB));
  const last = own.at(-1)!.rssMB;
  const drift = largest / warm.rssMB - 1;
  return (
    `${phase}: RSS after warm-up (${warm.done}) ${warm.rssMB.toFixed(0)} MB, largest after ${largest.toFixed(0)} MB, ` +
    `last ${last.toFixed(0)} MB: drift ${(100 * drift).toFixed(1)}% (${drift <= 0.1 ? "flat within 10%" : "NOT within 10%"})`
  );
}

const dir = mkdtempSync(join(tmpdir(), "convzoo-soak-"));
try {
  const model = initializeWeights(createModel(arch, { numClasses: 10 }), 1);
  const weights = join(dir, `${arch}.safetensors`);
  await saveCheckpoint(weights, stateDict(model), { arch, options: model.options });
  const files: string[] = [];
  for (let i = 0; i < IMAGES; i++) {
    const path = join(dir, `img${i}.jpg`);
    const noise = Buffer.from(Array.from({ length: 320 * 240 * 3 }, (_, k) => (k * 7 + i * 13) & 0xff));
    await sharp(noise, { raw: { width: 320, height: 240, channels: 3 } })
      .jpeg()
      .toFile(path);
    files.push(path);
  }
  console.log(`soak: ${arch}, ${predictions} predictions (batch ${batch}), ${cycles} load/unload cycles, node ${process.version}`);
  const started = performance.now();

  sample("predictions", 0);
  const loaded = await loadModel({ weights });
  const predictor = await Predictor.create(loaded.model, { classes: loaded.classes, preprocessing: loaded.preprocessing });
  const every = Math.max(batch, Math.round(predictions / 40 / batch) * batch);
  for (let done = 0; done < predictions; ) {
    const n = Math.min(batch, predictions - done);
    const chunk = Array.from({ length: n }, (_, k) => files[(done + k) % files.length]);
    await predictor.classifyFiles(chunk, 5, batch);
    done += n;
    if (done % every === 0 || done === predictions) sample("predictions", done);
  }
  await predictor.release();
  const predictSeconds = (performance.now() - started) / 1000;

  const cyclesStarted = performance.now();
  sample("load/unload", 0);
  for (let c = 1; c <= cycles; c++) {
    const l = await loadModel({ weights });
    const p = await Predictor.create(l.model, { classes: l.classes, preprocessing: l.preprocessing });
    await p.classifyFiles([files[c % files.length]], 1);
    await p.release();
    if (c % Math.max(1, Math.round(cycles / 20)) === 0 || c === cycles) sample("load/unload", c);
  }
  const cycleSeconds = (performance.now() - cyclesStarted) / 1000;
  console.log("");
  console.log(`${summary("predictions", predictions)}; ${predictSeconds.toFixed(0)} s`);
  console.log(`${summary("load/unload", cycles)}; ${cycleSeconds.toFixed(0)} s`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
