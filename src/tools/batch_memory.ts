/**
 * Whether a batch fits in memory, asked before allocating it: `bench infer --batch-size 100000`
 * died with a RangeError's stack trace, and a batch just too large for the machine would be killed
 * by the kernel's OOM killer half-way through a run instead of getting one clear line.
 *
 * The estimate per image is the input plus three times the largest activation: measured peak RSS
 * grew by 7.9 MB per image for resnet18 at 224 (batch 32 → 128; largest activation 3.2 MB) and by
 * 31.7 MB for vgg16 (batch 8 → 32; 12.8 MB), i.e. ~2.5× the largest activation (bench/README.md).
 */
import { freemem } from "node:os";
import { OptionError } from "../errors.js";
import type { Model } from "../models/model.js";
import { summarize } from "../models/summary.js";
import { shown } from "../text.js";

const ACTIVATION_FACTOR = 3;

const size = (bytes: number) =>
  bytes >= 1e9
    ? `${(bytes / 1e9).toLocaleString("en-US", { maximumFractionDigits: 1 })} GB`
    : `${(bytes / 1e6).toLocaleString("en-US", { maximumFractionDigits: 1 })} MB`;

/** Memory this process may still take: the system's available memory, or the cgroup's limit if lower. */
export function availableMemory(): number {
  const limit = process.constrainedMemory?.() ?? 0;
  const free = freemem();
  return limit > 0 ? Math.min(free, Math.max(0, limit - process.memoryUsage.rss())) : free;
}

/** Bytes one image of a batch takes through an inference run of `model` at `resolution` (estimate). */
export function inferenceBytesPerImage(model: Model, resolution: number): number {
  const largest = Math.max(...summarize(model, resolution).layers.map((l) => l.outputShape.reduce((a, b) => a * b, 1)));
  return 4 * (3 * resolution * resolution + ACTIVATION_FACTOR * largest);
}

/** Throws a one-line OptionError when `batchSize` images need more memory than is available. */
export function checkBatchFits(model: Model, batchSize: number, resolution: number, available = availableMemory()): void {
  const perImage = inferenceBytesPerImage(model, resolution);
  if (batchSize * perImage <= available) return;
  const fits = Math.floor(available / perImage);
  throw new OptionError(
    `--batch-size ${batchSize}: ${model.arch} at ${resolution}x${resolution} needs about ${size(batchSize * perImage)} ` +
      `(${size(perImage)} per image), more than the ${size(available)} of memory available` +
      (fits >= 1 ? `; try --batch-size ${fits.toLocaleString("en-US")} or less` : ""),
  );
}

/**
 * An allocation that failed anyway (the estimate is an estimate; other processes take memory too) as
 * the same kind of one-line error: V8's RangeError for the input array, ONNX Runtime's
 * "Failed to allocate memory" for the activations. Anything else is returned unchanged.
 */
export function asOutOfMemory(e: unknown, batchSize: number): unknown {
  const message = e instanceof Error ? e.message : String(e);
  if (!/allocat|bad_alloc|out of memory|invalid typed array length/i.test(message)) return e;
  return new OptionError(`--batch-size ${batchSize}: out of memory (${shown(message.split("\n")[0], 160)}); try a smaller --batch-size`);
}
