/**
 * Batches for training and evaluation (Node): an epoch's samples in folder order or seeded-shuffled, decoded
 * and transformed in data worker threads by default (workers.ts; `workers: 0` on this thread), later batches
 * loading while the current one trains. Both paths give the same bytes (each sample's augmentation has its own
 * forked generator). The last short batch is kept; an undecodable file is reported and skipped. docs/data.md#loader
 */
import { InputFileError } from "../errors.js";
import type { Random } from "../random.js";
import { trainTransformRGB, type TrainTransform } from "./augment.js";
import type { Sample } from "./folder.js";
import { decodeImageRGB } from "./image.js";
import { DataWorkerPool, defaultDataWorkers, type SampleResult } from "./workers.js";

export interface Batch {
  /** [b, 3, R, R] normalised. */
  images: Float32Array;
  labels: number[];
  paths: string[];
}

export interface BatchOptions {
  batchSize: number;
  shuffle: boolean;
  transform: TrainTransform;
  /** Draws the shuffle and the augmentation (in that order, sample by sample within a batch). */
  rng: Random;
  /** Called once per file that cannot be decoded. */
  onBadFile?: (path: string, reason: string) => void;
  /**
   * Data worker threads that decode and transform; 0 = all on this thread. Default: the shared
   * pool of defaultDataWorkers() threads (available cores − 1, 1 to 4) for an epoch of at least
   * MIN_SAMPLES_FOR_WORKERS samples, this thread for a smaller one (starting workers costs more).
   */
  workers?: number;
  /** A pool to use (overrides `workers`); the caller closes it. */
  pool?: DataWorkerPool;
  /** Batches loading ahead of the one being consumed (default 2 with workers, 1 without). */
  prefetch?: number;
}

/** Below this many samples an epoch is loaded on this thread unless `workers` is given. */
export const MIN_SAMPLES_FOR_WORKERS = 64;

/** Parallel decodes per batch (sharp runs them on libuv's pool of 4 threads). */
const DECODE_CONCURRENCY = 4;

async function loadBatch(samples: readonly Sample[], o: BatchOptions, draws: Random[]): Promise<Batch> {
  const r = o.transform.resolution;
  const size = 3 * r * r;
  const images: (Uint8Array | null)[] = new Array(samples.length).fill(null);
  const dims: { width: number; height: number }[] = new Array(samples.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < samples.length) {
      const i = next++;
      try {
        const img = await decodeImageRGB(samples[i].path);
        images[i] = img.data;
        dims[i] = img;
      } catch (e) {
        if (!(e instanceof InputFileError)) throw e;
        o.onBadFile?.(samples[i].path, e.message);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(DECODE_CONCURRENCY, samples.length) }, worker));
  const kept = samples.map((_, i) => i).filter((i) => images[i] !== null);
  const out = new Float32Array(kept.length * size);
  kept.forEach((i, j) => trainTransformRGB(images[i]!, dims[i].width, dims[i].height, o.transform, draws[i], out, j * size));
  return { images: out, labels: kept.map((i) => samples[i].label), paths: kept.map((i) => samples[i].path) };
}

/** The number of batches an epoch of `n` samples has (the last short batch kept). */
export function batchCount(n: number, batchSize: number): number {
  return Math.ceil(n / batchSize);
}

/**
 * Pools shared by epochBatches calls that name no pool, by size: started once per process (a
 * worker costs ~0.1–0.3 s to start, more under tsx) and reused by every epoch and evaluation. Idle
 * workers do not keep the process alive; closeDataWorkers() terminates them.
 */
const sharedPools = new Map<number, DataWorkerPool>();

function sharedPool(size: number): DataWorkerPool {
  let pool = sharedPools.get(size);
  // A pool whose worker crashed fails every job: start afresh rather than fail every later epoch.
  if (!pool || !pool.usable) {
    pool = new DataWorkerPool(size);
    sharedPools.set(size, pool);
  }
  return pool;
}

/** Terminates the shared data worker pools (they restart on the next use). */
export async function closeDataWorkers(): Promise<void> {
  const pools = [...sharedPools.values()];
  sharedPools.clear();
  await Promise.all(pools.map((p) => p.close()));
}

/** The batch of samples [start, end) assembled from the pool's per-sample results, in order. */
async function loadBatchInWorkers(
  pool: DataWorkerPool,
  samples: readonly Sample[],
  o: BatchOptions,
  draws: Random[],
  owner: object,
): Promise<Batch> {
  const size = 3 * o.transform.resolution * o.transform.resolution;
  const results: SampleResult[] = await Promise.all(samples.map((s, i) => pool.run(s.path, draws[i].getState(), o.transform, owner)));
  const kept: number[] = [];
  results.forEach((r, i) => {
    if ("bad" in r) o.onBadFile?.(samples[i].path, r.bad);
    else kept.push(i);
  });
  const out = new Float32Array(kept.length * size);
  kept.forEach((i, j) => out.set((results[i] as { data: Float32Array }).data, j * size));
  return { images: out, labels: kept.map((i) => samples[i].label), paths: kept.map((i) => samples[i].path) };
}

/**
 * One epoch of batches. Each sample gets its own generator forked from `rng` in sample order, so
 * the augmentation does not depend on which decode finishes first, nor on the thread doing it.
 * Stopping early (break, return, throw in the consumer) cancels the batches not yet started; with
 * a pool of its own (`workers` given) the pool is closed, so no thread outlives the epoch.
 */
export async function* epochBatches(samples: readonly Sample[], o: BatchOptions): AsyncGenerator<Batch> {
  if (o.workers !== undefined && !(Number.isInteger(o.workers) && o.workers >= 0))
    throw new RangeError(`workers must be a whole number ≥ 0, got ${o.workers}`);
  if (o.prefetch !== undefined && !(Number.isInteger(o.prefetch) && o.prefetch >= 1))
    throw new RangeError(`prefetch must be a whole number ≥ 1, got ${o.prefetch}`);
  const order = o.shuffle ? o.rng.shuffle([...samples]) : [...samples];
  const draws = order.map(() => o.rng.fork());
  const starts: number[] = [];
  for (let i = 0; i < order.length; i += o.batchSize) starts.push(i);
  if (!starts.length) return;

  let pool: DataWorkerPool | null = o.pool ?? null;
  let ownPool = false;
  if (!pool && o.workers !== 0) {
    if (o.workers !== undefined) {
      pool = new DataWorkerPool(o.workers);
      ownPool = true;
    } else if (order.length >= MIN_SAMPLES_FOR_WORKERS) {
      pool = sharedPool(defaultDataWorkers());
    }
  }
  const owner = {}; // tags this epoch's jobs in a shared pool, for cancel()
  const prefetch = o.prefetch ?? (pool ? 2 : 1);
  const load = (k: number): Promise<Batch> => {
    const part = order.slice(starts[k], starts[k] + o.batchSize);
    const rngs = draws.slice(starts[k], starts[k] + o.batchSize);
    const p = pool ? loadBatchInWorkers(pool, part, o, rngs, owner) : loadBatch(part, o, rngs);
    // If the consumer stops early, a failure of a prefetched batch must not go unhandled.
    p.catch(() => undefined);
    return p;
  };
  const pending: Promise<Batch>[] = [];
  let next = 0;
  try {
    for (let k = 0; k < starts.length; k++) {
      // Keep `prefetch` batches loading beyond the current one.
      while (next < starts.length && next <= k + prefetch) pending.push(load(next++));
      const batch = await pending.shift()!;
      if (batch.labels.length) yield batch;
    }
  } finally {
    if (pool) {
      pool.cancel(owner);
      if (ownPool) await pool.close();
    }
  }
}

/** The warning for a file left out: `skipped <path>: <why>` (decoder messages already start with the path). */
export function skippedFileMessage(path: string, reason: string): string {
  return `skipped ${reason.startsWith(path) ? reason : `${path}: ${reason}`}`;
}
