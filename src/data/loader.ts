/**
 * Batches for training and evaluation (Node): an epoch's samples in folder order or shuffled by the
 * seeded generator, decoded with sharp (on libuv's pool) and transformed, the next batch loading
 * while the current one trains. The last short batch is kept. A file that cannot be decoded is
 * reported by path and left out of its batch; it never stops an epoch.
 */
import { InputFileError } from "../errors.js";
import type { Random } from "../random.js";
import { trainTransformRGB, type TrainTransform } from "./augment.js";
import type { Sample } from "./folder.js";
import { decodeImageRGB } from "./image.js";

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
}

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
 * One epoch of batches. Each sample gets its own generator forked from `rng` in sample order, so
 * the augmentation does not depend on which decode finishes first.
 */
export async function* epochBatches(samples: readonly Sample[], o: BatchOptions): AsyncGenerator<Batch> {
  const order = o.shuffle ? o.rng.shuffle([...samples]) : [...samples];
  const draws = order.map(() => o.rng.fork());
  const starts: number[] = [];
  for (let i = 0; i < order.length; i += o.batchSize) starts.push(i);
  const load = (k: number) => loadBatch(order.slice(starts[k], starts[k] + o.batchSize), o, draws.slice(starts[k], starts[k] + o.batchSize));
  let pending: Promise<Batch> | null = starts.length ? load(0) : null;
  for (let k = 0; k < starts.length; k++) {
    const batch = await pending!;
    // Prefetch: the next batch decodes while this one trains.
    pending = k + 1 < starts.length ? load(k + 1) : null;
    // If the consumer stops early, a failure of the prefetched batch must not go unhandled.
    pending?.catch(() => undefined);
    if (batch.labels.length) yield batch;
  }
}
