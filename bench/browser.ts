/**
 * The studio's speed, side by side in one run (by hand, not in CI):
 *
 *   node --import tsx bench/browser.ts            # full run (a few minutes)
 *   node --import tsx bench/browser.ts --quick    # smoke test: 1 round, 2 steps; numbers not meaningful
 *   node --import tsx bench/browser.ts --json     # stdout: one JSON object (the table goes to stderr)
 *   ONLY_MANY=1 node --import tsx bench/browser.ts   # only the 1,000-image check
 *
 * mobilenet_v3_small, random weights, 10 classes, AdamW, 2 threads on both sides:
 *   page  the studio's engine worker in Debian's headless Chromium (onnxruntime-web, WebAssembly SIMD, threads:
 *         the server makes the page cross-origin isolated): WebTrainer steps, as the studio trains;
 *   node  onnxruntime-node's Trainer (the CLI's path, NCHWc-lowered convs) on the same graph options.
 * Configs: full fine-tuning at 96 px (batch 16) and 224 px (batch 8); the head on cached 576-d features (batch 16:
 * "a head epoch over 200 cached images" = 12 steps); the frozen backbone's embeddings at 224 px (batch 16, the cost
 * of caching them). Each config runs in rounds, page and node alternating (never at once: 2 cores), warm-up steps
 * first; the table has the median over all timed steps and the ratio page / node speed. Also: page load (navigation
 * to the engine ready) median over 5 loads, and the bundle's sizes (raw and gzip). Last, "1,000 images stay usable":
 * 4 classes × 250 synthetic 96 px PNGs added through the page's file inputs (time until every count shows), a reload
 * (time until the project is back from IndexedDB), and head training on them at 96 px through the page's controls
 * (embeddings of all 1,000, then 10 epochs), timed end to end.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { gzipSync } from "node:zlib";
import puppeteer, { type ElementHandle, type Page } from "puppeteer-core";
import sharp from "sharp";
import "../src/models/index.js";
import { initializeWeights } from "../src/models/bind.js";
import { featureInfo } from "../src/models/inference_graph.js";
import { createModel } from "../src/models/registry.js";
import { Random } from "../src/random.js";
import { buildStudio } from "../src/studio/build.js";
import { startStudioServer } from "../src/studio/server.js";
import type { BenchRequest, BenchResult } from "../src/studio_app/protocol.js";
import { median } from "../src/tools/bench.js";
import { Trainer } from "../src/train/trainer.js";
import { targetDistribution } from "../src/train/training_graph.js";
import { Predictor } from "../src/inference/predictor.js";
import { preprocessingForResolution } from "../src/models/preprocessing.js";
import { recalibrateBatchNorm } from "../src/train/recalibrate.js";
import { saveCheckpoint } from "../src/weights/files.js";
import { stateDict } from "../src/weights/load.js";
import { frozenPrefixes } from "../src/transfer/strategy.js";

const args = process.argv.slice(2);
for (const a of args)
  if (a !== "--quick" && a !== "--json") throw new Error(`unknown argument ${a}; usage: bench/browser.ts [--quick] [--json]`);
const quick = args.includes("--quick");
const json = args.includes("--json");
const ROUNDS = quick ? 1 : Number(process.env.ROUNDS ?? 3);
const STEPS = quick ? 2 : Number(process.env.STEPS ?? 4);
const WARMUP = 1;
const THREADS = 2;
const ARCH = "mobilenet_v3_small";
const CHROMIUM = process.env.CONVZOO_CHROMIUM ?? "/usr/bin/chromium";

const CONFIGS: { name: string; bench: Omit<BenchRequest, "warmup" | "steps">; stepsPerUnit?: number }[] = [
  { name: "full 96 px, batch 16", bench: { arch: ARCH, mode: "full", resolution: 96, batchSize: 16 } },
  { name: "full 224 px, batch 8", bench: { arch: ARCH, mode: "full", resolution: 224, batchSize: 8 } },
  { name: "head on 576-d features, batch 16", bench: { arch: ARCH, mode: "head", resolution: 224, batchSize: 16 } },
  { name: "embeddings 224 px, batch 16", bench: { arch: ARCH, mode: "embed", resolution: 224, batchSize: 16 } },
];

const log = (m: string) => process.stderr.write(`${m}\n`);

/** The same measurement on onnxruntime-node: Trainer (the CLI's training path) or Predictor (pooled features). */
async function nodeBench(b: BenchRequest): Promise<BenchResult> {
  const model = initializeWeights(createModel(b.arch, { numClasses: 10 }), 0);
  const rng = new Random(1);
  const random = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
  const stepMs: number[] = [];
  const t0 = performance.now();
  const time = async (step: () => Promise<unknown>) => {
    for (let i = 0; i < b.warmup + b.steps; i++) {
      const s = performance.now();
      await step();
      if (i >= b.warmup) stepMs.push(performance.now() - s);
    }
  };
  if (b.mode === "embed") {
    const p = await Predictor.create(model, { resolution: b.resolution, output: "pooled", threads: THREADS });
    const setupMs = performance.now() - t0;
    const shape = [b.batchSize, 3, b.resolution, b.resolution];
    const input = { dtype: "float32" as const, shape, data: random(shape.reduce((x, y) => x * y, 1)) };
    await time(() => p.predict(input));
    await p.release();
    return { setupMs, stepMs, threads: THREADS };
  }
  const dims = b.mode === "head" ? featureInfo(model).at(-1)!.channels : undefined;
  const trainer = await Trainer.create(model, {
    batchSize: b.batchSize,
    resolution: b.resolution,
    frozen: b.mode === "head" ? frozenPrefixes(model, "head") : [],
    optimizer: { kind: "adamw", weightDecay: 0.01 },
    featureDims: dims,
    threads: THREADS,
  });
  const setupMs = performance.now() - t0;
  const input = random(b.batchSize * (dims ?? 3 * b.resolution * b.resolution));
  const target = targetDistribution(
    Array.from({ length: b.batchSize }, (_, i) => i % 10),
    10,
  );
  await time(() => trainer.step(input, target, 1e-3));
  await trainer.release();
  return { setupMs, stepMs, threads: THREADS };
}

/** The measurement in the page: a fresh engine worker (the studio's engine.js) per call. */
async function pageBench(page: Page, b: BenchRequest): Promise<BenchResult> {
  return page.evaluate(
    (bench) =>
      new Promise<BenchResult>((resolve, reject) => {
        const worker = new Worker("engine.js", { type: "module" });
        worker.onmessage = (e) => {
          if (!("id" in e.data)) return;
          worker.terminate();
          if (e.data.ok) resolve(e.data.result);
          else reject(new Error(e.data.error));
        };
        worker.postMessage({ id: 1, request: { type: "bench", bench } });
      }),
    b,
  );
}

/** 4 classes × `perClass` PNGs (a colour per class, per-image noise) under dir/<class>/; returns the paths by class. */
async function writeImages(dir: string, perClass: number, seed = 3): Promise<string[][]> {
  const rng = new Random(seed);
  const colours = [
    [200, 60, 40],
    [40, 160, 70],
    [50, 80, 200],
    [210, 190, 60],
  ];
  return Promise.all(
    colours.map(async (c, k) => {
      mkdirSync(join(dir, `c${k}`), { recursive: true });
      const paths: string[] = [];
      for (let i = 0; i < perClass; i++) {
        const px = Buffer.alloc(96 * 96 * 3);
        for (let j = 0; j < px.length; j++) px[j] = Math.max(0, Math.min(255, c[j % 3] + Math.round((rng.uniform() - 0.5) * 120)));
        const path = join(dir, `c${k}`, `${i}.png`);
        await sharp(px, { raw: { width: 96, height: 96, channels: 3 } })
          .png()
          .toFile(path);
        paths.push(path);
      }
      return paths;
    }),
  );
}

/** The 1,000-image check through the page's own controls (see the module comment). */
async function thousandImages(page: Page, url: string, dir: string): Promise<Record<string, number | string>> {
  const files = await writeImages(dir, quick ? 25 : 250);
  await page.goto(url);
  await page.waitForFunction(() => document.body.dataset.state === "ready");
  await page.click("#add-class");
  await page.click("#add-class");
  const t0 = performance.now();
  for (const [k, list] of files.entries()) {
    const input = (await page.$(`.class-card:nth-child(${k + 1}) .file-input`)) as ElementHandle<HTMLInputElement>;
    await input.uploadFile(...list);
    await page.waitForFunction(
      (i, n) => Number((document.querySelectorAll(".class-card .count")[i] as HTMLElement).dataset.count) === n,
      { timeout: 600_000 },
      k,
      list.length,
    );
  }
  const addSeconds = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  await page.reload();
  await page.waitForFunction(() => document.body.dataset.state === "ready", { timeout: 600_000 });
  const reloadSeconds = (performance.now() - t1) / 1000;
  const counts = await page.$$eval(".class-card .count", (els) => els.map((e) => (e as HTMLElement).dataset.count).join(","));
  const set = async (sel: string, v: string) =>
    page.$eval(
      sel,
      (el, value) => {
        (el as HTMLInputElement).value = value;
        el.dispatchEvent(new Event("change"));
      },
      v,
    );
  await set("#resolution", "96");
  await page.select("#strategy", "head");
  await set("#epochs", "10");
  const t2 = performance.now();
  await page.click("#train");
  // Done when trained, or failed (the status says so).
  await page.waitForFunction(
    () => document.body.dataset.state === "trained" || /^failed/.test(document.getElementById("train-status")!.textContent ?? ""),
    { timeout: 1_200_000 },
  );
  const trainSeconds = (performance.now() - t2) / 1000;
  const status = await page.$eval("#train-status", (e) => e.textContent ?? "");
  return { images: files.flat().length, addSeconds, reloadSeconds, counts, trainSeconds, status };
}

async function main(): Promise<void> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM} (apt-get install chromium, or set CONVZOO_CHROMIUM)`);
  const app = await buildStudio();
  const sizes = [...app.files].map(([name, bytes]) => ({ name, bytes: bytes.length, gzip: gzipSync(bytes).length }));
  const profile = mkdtempSync(join(tmpdir(), "convzoo-bench-browser-"));
  // Served starting weights for the 1,000-image check: no pretrained weights here, and a random initialisation's frozen
  // features are ~1e-9 (useless for head); random convolutions with BatchNorm statistics recalibrated on other images
  // are (as in tests/studio/studio.test.ts).
  const start = initializeWeights(createModel(ARCH, { numClasses: 10 }), 1);
  const calibration = (await writeImages(join(profile, "calibration"), 16, 9)).flat().map((path) => ({ path, label: 0 }));
  await recalibrateBatchNorm(start, calibration, {
    batchSize: 16,
    resolution: 96,
    preprocessing: preprocessingForResolution(start.preprocessing, 96),
    frozen: [],
  });
  const weights = join(profile, "start.safetensors");
  await saveCheckpoint(weights, stateDict(start), { arch: ARCH, options: start.options });
  const server = await startStudioServer({
    host: "127.0.0.1",
    port: 0,
    app,
    weights: { path: weights, file: "start.safetensors", name: null, arch: ARCH, preprocessing: null },
  });
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir: profile,
    args: ["--no-sandbox"],
    // Long waits (training 1,000 images) are one protocol call each.
    protocolTimeout: 1_800_000,
  });
  try {
    const page = await browser.newPage();
    const loads: number[] = [];
    let threads = 0;
    for (let i = 0; i < (quick ? 1 : 5); i++) {
      const t0 = performance.now();
      await page.goto(server.url);
      await page.waitForFunction(() => document.body.dataset.state === "ready", { polling: 10 });
      loads.push(performance.now() - t0);
      threads = Number(await page.$eval("body", (b) => b.dataset.threads));
    }
    log(`page load: median ${median(loads).toFixed(0)} ms over ${loads.length} (wasm threads ${threads}, cross-origin isolated)`);
    const rows = [];
    for (const c of process.env.ONLY_MANY ? [] : CONFIGS) {
      const page_: number[] = [];
      const node: number[] = [];
      const setup = { page: [] as number[], node: [] as number[] };
      for (let round = 0; round < ROUNDS; round++) {
        const request = { ...c.bench, warmup: WARMUP, steps: STEPS };
        const order = round % 2 === 0 ? ["page", "node"] : ["node", "page"];
        for (const who of order) {
          const r = who === "page" ? await pageBench(page, request) : await nodeBench(request);
          (who === "page" ? page_ : node).push(...r.stepMs);
          setup[who as "page" | "node"].push(r.setupMs);
        }
        log(`${c.name}: round ${round + 1}/${ROUNDS}: page ${median(page_).toFixed(0)} ms, node ${median(node).toFixed(0)} ms`);
      }
      const b = c.bench.batchSize;
      const row = {
        config: c.name,
        pageMs: median(page_),
        nodeMs: median(node),
        pageImagesPerSecond: (b * 1000) / median(page_),
        nodeImagesPerSecond: (b * 1000) / median(node),
        pageOverNodeSpeed: median(node) / median(page_),
        pageSetupMs: median(setup.page),
        nodeSetupMs: median(setup.node),
        pageTimesMs: page_,
        nodeTimesMs: node,
      };
      rows.push(row);
    }
    const head = rows.find((r) => r.config.startsWith("head"));
    const headEpoch200 = head ? Math.floor(200 / 16) * head.pageMs : NaN;
    log("");
    log("| config | page ms/step | page img/s | node ms/step | node img/s | page / node speed | page setup | node setup |");
    log("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for (const r of rows)
      log(
        `| ${r.config} | ${r.pageMs.toFixed(1)} | ${r.pageImagesPerSecond.toFixed(1)} | ${r.nodeMs.toFixed(1)} | ` +
          `${r.nodeImagesPerSecond.toFixed(1)} | ${r.pageOverNodeSpeed.toFixed(2)}x | ${(r.pageSetupMs / 1000).toFixed(1)} s | ` +
          `${(r.nodeSetupMs / 1000).toFixed(1)} s |`,
      );
    log(`head epoch over 200 cached images in the page (12 steps of 16): ${headEpoch200.toFixed(0)} ms`);
    const many = await thousandImages(page, server.url, join(profile, "images"));
    log(
      `${many.images} images: added through the file inputs in ${Number(many.addSeconds).toFixed(1)} s; back after a reload in ` +
        `${Number(many.reloadSeconds).toFixed(1)} s (counts ${many.counts}); head at 96 px, 10 epochs, end to end ` +
        `${Number(many.trainSeconds).toFixed(1)} s: ${many.status}`,
    );
    log(`page load (localhost, to the engine ready): ${median(loads).toFixed(0)} ms`);
    for (const s of sizes) log(`bundle: ${s.name} ${(s.bytes / 1024).toFixed(0)} KiB (gzip ${(s.gzip / 1024).toFixed(0)} KiB)`);
    if (json)
      console.log(
        JSON.stringify({ rounds: ROUNDS, steps: STEPS, threads, loadsMs: loads, sizes, headEpoch200Ms: headEpoch200, rows, many }),
      );
  } finally {
    await browser.close();
    await server.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

await main();
