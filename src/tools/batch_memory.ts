/**
 * Whether a batch fits in memory, asked before allocating it: `bench infer --batch-size 100000`
 * died with a RangeError's stack trace, and a batch just too large for the machine would be killed
 * by the kernel's OOM killer half-way through a run instead of getting one clear line.
 *
 * The estimate per image is the input plus three times the largest activation: measured peak RSS
 * grew by 7.9 MB per image for resnet18 at 224 (batch 32 → 128; largest activation 3.2 MB) and by
 * 31.7 MB for vgg16 (batch 8 → 32; 12.8 MB), i.e. ~2.5× the largest activation (bench/README.md).
 *
 * A training step keeps every activation for the backward pass: per image, twice the sum of all
 * layer outputs (measured peak RSS of `bench train`, 2026-12-05: resnet18 at 224 +54.6 MB per image
 * from batch 8 to 32 = 1.83× its 29.9 MB of outputs; vgg16 +237 MB from 2 to 6 = 2.07× of 114.7;
 * mobilenet_v2 +87.7 MB from 4 to 16 = 1.13× of 77.9), plus the parameters about eight times over
 * (weights, gradients, momentum and ONNX Runtime's copies of each: resnet18's 47 MB of weights, 378 MB
 * at batch 0 by extrapolation; vgg16's 553 MB, 4.19 GB).
 */
import { freemem } from "node:os";
import { OptionError } from "../errors.js";
import type { Model } from "../models/model.js";
import { summarize } from "../models/summary.js";
import { shown } from "../text.js";

const ACTIVATION_FACTOR = 3;
const TRAINING_ACTIVATION_FACTOR = 2;
const TRAINING_PARAMETER_COPIES = 8;

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

/** Bytes a training step of `model` at `resolution` takes: a fixed part and a part per image (estimate). */
export function trainingBytes(model: Model, resolution: number): { fixed: number; perImage: number } {
  const s = summarize(model, resolution);
  const outputs = s.layers.reduce((sum, l) => sum + l.outputShape.reduce((a, b) => a * b, 1), 0);
  return {
    fixed: 4 * TRAINING_PARAMETER_COPIES * (s.params + s.trainingOnlyParams),
    perImage: 4 * (3 * resolution * resolution + TRAINING_ACTIVATION_FACTOR * outputs),
  };
}

/**
 * Throws a one-line OptionError when `batchSize` images need more memory than is available: for an
 * inference run, or (`training`) for a training step.
 */
export function checkBatchFits(
  model: Model,
  batchSize: number,
  resolution: number,
  options: { training?: boolean; available?: number } = {},
): void {
  const { training = false, available = availableMemory() } = options;
  const { fixed, perImage } = training
    ? trainingBytes(model, resolution)
    : { fixed: 0, perImage: inferenceBytesPerImage(model, resolution) };
  const needed = fixed + batchSize * perImage;
  if (needed <= available) return;
  const fits = Math.floor((available - fixed) / perImage);
  throw new OptionError(
    `--batch-size ${batchSize}: ${training ? "training " : ""}${model.arch} at ${resolution}x${resolution} needs about ${size(needed)} ` +
      `(${training ? `${size(fixed)} for the weights and optimizer state, ` : ""}${size(perImage)} per image), ` +
      `more than the ${size(available)} of memory available` +
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
