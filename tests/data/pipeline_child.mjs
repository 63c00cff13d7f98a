// Child process of tests/data/loader.test.ts, plain JS so that it runs both under plain `node`
// (importing dist/) and under `node --import tsx` (importing src/):
//   node [--import tsx] pipeline_child.mjs LOADER_MODULE_URL SAMPLES.json
// It prints one JSON line: the hash of an epoch's batches in this thread and in worker threads,
// the files reported bad, then stops two epochs early (one with its own pool, one on the shared
// pool, abandoned without return()) and ends without process.exit: the process must exit by itself.
/* global process, URL, console */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";

const [loaderUrl, samplesFile] = process.argv.slice(2);
const { epochBatches } = await import(loaderUrl);
const { Random } = await import(new URL("../random.js", loaderUrl).href);
const { IMAGENET_EVAL } = await import(new URL("../models/preprocessing.js", loaderUrl).href);
const samples = JSON.parse(readFileSync(samplesFile, "utf8"));
const transform = {
  resolution: 48,
  augment: true,
  preprocessing: IMAGENET_EVAL,
  colorJitter: { brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1 },
};

async function epoch(workers) {
  const hash = createHash("sha256");
  const bad = [];
  let batches = 0;
  const o = { batchSize: 5, shuffle: true, transform, rng: new Random(11), workers, onBadFile: (p) => bad.push(p) };
  for await (const b of epochBatches(samples, o)) {
    hash.update(new Uint8Array(b.images.buffer, b.images.byteOffset, b.images.byteLength));
    hash.update(JSON.stringify([b.labels, b.paths]));
    batches++;
  }
  return { hash: hash.digest("hex"), bad, batches };
}

const inThread = await epoch(0);
const inWorkers = await epoch(2);
// Early stop with a pool of its own: break closes it, so its threads are gone afterwards. Linux
// lists a process's threads by id in /proc/self/task. The pool's two threads start before its first
// batch, so they are among the ids that appear between "before" and "during", and must be gone from
// "after". Ids, not counts: a thread the runtime or libvips starts meanwhile (under load) and keeps
// would otherwise look like a pool thread left running.
const threadIds = () => (existsSync("/proc/self/task") ? readdirSync("/proc/self/task") : null);
const before = threadIds();
let during = null;
for await (const _ of epochBatches(samples, { batchSize: 5, shuffle: false, transform, rng: new Random(1), workers: 2 })) {
  during = threadIds();
  break;
}
const after = threadIds();
const started = before && during ? during.filter((id) => !before.includes(id)) : null;
const threads = started && {
  before: before.length,
  during: during.length,
  after: after.length,
  started: started.length,
  ended: started.filter((id) => !after.includes(id)).length,
};
// The shared pool (no `workers`; enough samples for it), abandoned after one batch without return().
const many = Array.from({ length: 80 }, (_, i) => samples[i % samples.length]);
await epochBatches(many, { batchSize: 8, shuffle: false, transform, rng: new Random(2) }).next();
console.log(JSON.stringify({ inThread, inWorkers, threads }));
