/**
 * The data pipeline: worker threads and this thread give bit-identical batches for the same seed
 * (each sample draws from its own generator forked in sample order), corrupt files are reported
 * by path and skipped on both paths, errors surface instead of hanging, and a consumer that stops
 * early leaves no thread keeping the process alive — from the sources under tsx and from dist/.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";
import type { TrainTransform } from "../../src/data/augment.js";
import type { Sample } from "../../src/data/folder.js";
import { closeDataWorkers, epochBatches, type Batch, type BatchOptions } from "../../src/data/loader.js";
import { IMAGENET_EVAL } from "../../src/models/preprocessing.js";
import { DataWorkerPool, defaultDataWorkers, workerEntry } from "../../src/data/workers.js";
import { Random } from "../../src/random.js";
import { writeJpegFolder } from "./jpegs.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
let dir: string;
let samples: Sample[];
let corrupt: string;
let truncated: string;

const jitter: TrainTransform = {
  resolution: 48,
  augment: true,
  preprocessing: IMAGENET_EVAL,
  colorJitter: { brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1 },
};

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "convzoo-loader-"));
  const paths = await writeJpegFolder(dir, { classes: 3, perClass: 6, width: 160, height: 120, seed: 3 });
  samples = paths.map((path) => ({ path, label: Number(path.split("/").at(-2)!.slice(1)) }));
  corrupt = join(dir, "c1", "corrupt.jpg");
  writeFileSync(corrupt, "this is not a jpeg");
  truncated = join(dir, "c2", "truncated.jpg");
  const whole = (await import("node:fs")).readFileSync(paths[0]);
  writeFileSync(truncated, whole.subarray(0, whole.length >> 1));
  samples.splice(4, 0, { path: corrupt, label: 1 });
  samples.push({ path: truncated, label: 2 });
});

after(async () => {
  await closeDataWorkers();
  rmSync(dir, { recursive: true, force: true });
});

async function collect(s: readonly Sample[], o: Omit<BatchOptions, "rng"> & { seed: number }) {
  const batches: Batch[] = [];
  const bad: string[] = [];
  for await (const b of epochBatches(s, { ...o, rng: new Random(o.seed), onBadFile: (p) => bad.push(p) })) batches.push(b);
  return { batches, bad };
}

function digest(batches: Batch[]): string {
  const h = createHash("sha256");
  for (const b of batches) {
    h.update(new Uint8Array(b.images.buffer, b.images.byteOffset, b.images.byteLength));
    h.update(JSON.stringify([b.labels, b.paths]));
  }
  return h.digest("hex");
}

test("worker threads and this thread give bit-identical batches, corrupt files skipped on both", async () => {
  for (const transform of [jitter, { resolution: 40, augment: false, preprocessing: IMAGENET_EVAL }]) {
    const o = { batchSize: 4, shuffle: true, transform, seed: 21 };
    const here = await collect(samples, { ...o, workers: 0 });
    const there = await collect(samples, { ...o, workers: 2 });
    assert.equal(here.batches.length, Math.ceil(samples.length / 4));
    assert.equal(digest(there.batches), digest(here.batches));
    assert.deepEqual(
      there.batches.map((b) => b.labels),
      here.batches.map((b) => b.labels),
    );
    assert.deepEqual([...there.bad].sort(), [corrupt, truncated].sort());
    assert.deepEqual([...here.bad].sort(), [corrupt, truncated].sort());
    const kept = here.batches.reduce((n, b) => n + b.labels.length, 0);
    assert.equal(kept, samples.length - 2);
    assert.ok(here.batches.every((b) => b.images.length === b.labels.length * 3 * transform.resolution ** 2));
    // The prefetch depth changes timing only.
    assert.equal(digest((await collect(samples, { ...o, workers: 1, prefetch: 5 })).batches), digest(here.batches));
  }
});

test("a sample's augmentation depends on its place in the epoch, not on the batch size or the thread", async () => {
  const clean = samples.filter((s) => s.path !== corrupt && s.path !== truncated);
  const size = 3 * 48 * 48;
  const rows = (batches: Batch[]) =>
    batches.flatMap((b) =>
      b.paths.map((_, i) => Buffer.from(b.images.buffer, b.images.byteOffset + i * size * 4, size * 4).toString("base64")),
    );
  const a = rows((await collect(clean, { batchSize: 3, shuffle: false, transform: jitter, seed: 5, workers: 0 })).batches);
  const b = rows((await collect(clean, { batchSize: 7, shuffle: false, transform: jitter, seed: 5, workers: 2 })).batches);
  assert.equal(a.length, clean.length);
  assert.deepEqual(b, a);
  // And the augmentation really is random: another seed, other pixels.
  const c = rows((await collect(clean, { batchSize: 3, shuffle: false, transform: jitter, seed: 6, workers: 0 })).batches);
  assert.notDeepEqual(c, a);
});

test("an error inside a worker ends the epoch with it, naming the file, rather than hanging", async () => {
  const bad = { ...jitter, preprocessing: { ...IMAGENET_EVAL, interpolation: "sideways" as never } };
  await assert.rejects(collect(samples.slice(0, 6), { batchSize: 3, shuffle: false, transform: bad, seed: 1, workers: 0 }));
  await assert.rejects(
    collect(samples.slice(0, 6), { batchSize: 3, shuffle: false, transform: bad, seed: 1, workers: 2 }),
    /data worker failed on .*c0\/000[0-5]\.jpg: TypeError/,
  );
});

test("a pool given by the caller is reused across epochs and left open; early stop cancels its queued work", async () => {
  const pool = new DataWorkerPool(2);
  try {
    const ref = digest((await collect(samples, { batchSize: 4, shuffle: true, transform: jitter, seed: 2, workers: 0 })).batches);
    for (let e = 0; e < 2; e++)
      assert.equal(digest((await collect(samples, { batchSize: 4, shuffle: true, transform: jitter, seed: 2, pool })).batches), ref);
    let n = 0;
    for await (const _ of epochBatches(samples, { batchSize: 2, shuffle: false, transform: jitter, rng: new Random(0), pool, prefetch: 4 }))
      if (++n === 1) break;
    // Still usable after an early stop.
    assert.equal(digest((await collect(samples, { batchSize: 4, shuffle: true, transform: jitter, seed: 2, pool })).batches), ref);
  } finally {
    await pool.close();
  }
  await assert.rejects(pool.run(samples[0].path, new Random(0).getState(), jitter, {}), /closed/);
});

test("options are checked, and the default worker count fits the machine", async () => {
  const n = defaultDataWorkers();
  assert.ok(Number.isInteger(n) && n >= 1 && n <= 4);
  await assert.rejects(
    collect(samples, { batchSize: 4, shuffle: false, transform: jitter, seed: 0, workers: -1 }),
    /workers must be a whole number ≥ 0, got -1/,
  );
  await assert.rejects(
    collect(samples, { batchSize: 4, shuffle: false, transform: jitter, seed: 0, prefetch: 0 }),
    /prefetch must be a whole number ≥ 1/,
  );
  assert.throws(() => new DataWorkerPool(0), /at least|≥ 1/);
  assert.ok(workerEntry().pathname.endsWith("/src/data/worker.ts"), "under tsx the entry is the TypeScript source");
});

for (const layout of ["src (node --import tsx)", "dist (node)"] as const) {
  test(`from ${layout}: same bytes in workers as in this thread, and an early stop lets the process exit`, (t) => {
    const fromDist = layout.startsWith("dist");
    const loader = fromDist ? join(ROOT, "dist/data/loader.js") : join(ROOT, "src/data/loader.ts");
    if (fromDist)
      assert.ok(existsSync(join(ROOT, "dist/data/worker.js")), "dist/data/worker.js is missing: run npm run build (npm test does)");
    const list = join(dir, "samples.json");
    writeFileSync(list, JSON.stringify(samples));
    const args = [...(fromDist ? [] : ["--import", "tsx"]), join(ROOT, "tests/data/pipeline_child.mjs"), pathToFileURL(loader).href, list];
    const r = spawnSync(process.execPath, args, {
      cwd: ROOT,
      encoding: "utf8",
      timeout: 120_000,
      env: { ...process.env, NODE_OPTIONS: "" },
    });
    assert.equal(r.error, undefined, `the child did not exit by itself: ${r.error?.message}`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.trim(), "", "no warnings or unhandled rejections");
    const out = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    assert.equal(out.inWorkers.hash, out.inThread.hash);
    assert.deepEqual(out.inWorkers.bad.sort(), [corrupt, truncated].sort());
    assert.equal(out.inThread.batches, Math.ceil(samples.length / 5));
    if (out.threads !== null) {
      const n = out.threads;
      const counts = `threads before ${n.before}, during ${n.during}, after ${n.after}; ${n.started} started, ${n.ended} of them ended`;
      assert.ok(n.started >= 2, `two worker threads while the epoch runs (${counts})`);
      assert.ok(n.ended >= 2, `the epoch's own pool is closed when the consumer breaks: its two threads end (${counts})`);
    }
    t.diagnostic(`${layout}: epoch hash ${out.inThread.hash.slice(0, 12)}…`);
  });
}

test("the in-process and the child's epochs agree (same generator, same files)", async () => {
  const here = await collect(samples, { batchSize: 5, shuffle: true, transform: jitter, seed: 11, workers: 0 });
  const list = join(dir, "samples.json");
  writeFileSync(list, JSON.stringify(samples));
  const r = spawnSync(
    process.execPath,
    [join(ROOT, "tests/data/pipeline_child.mjs"), pathToFileURL(join(ROOT, "dist/data/loader.js")).href, list],
    { cwd: ROOT, encoding: "utf8", timeout: 120_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout.trim().split("\n").at(-1)!).inThread.hash, digest(here.batches));
});

test("the browser-safe transforms bundle for the browser without Node built-ins", async () => {
  const entry = join(ROOT, "src/data/augment.ts");
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    platform: "browser",
    format: "esm",
    write: false,
    metafile: true,
    logLevel: "silent",
  });
  const inputs = Object.keys(result.metafile.inputs);
  assert.deepEqual(
    inputs.filter((p) => /^node:|node_modules\/sharp|worker/.test(p)),
    [],
  );
  const browser = await build({
    entryPoints: [join(ROOT, "src/browser.ts")],
    bundle: true,
    platform: "browser",
    format: "esm",
    write: false,
    metafile: true,
    logLevel: "silent",
  });
  assert.deepEqual(
    Object.keys(browser.metafile.inputs).filter((p) => /worker_threads|src\/data\/(workers|worker|loader)\.ts/.test(p)),
    [],
  );
});
