/**
 * Inference timing (Node): the same Predictor path `classify` uses, on a random normalised batch,
 * median of several runs after warm-up. Machines are noisy; report medians, never a lone time.
 */
import { performance } from "node:perf_hooks";
import type { Model } from "../models/model.js";
import { Random } from "../random.js";
import { float32, numel } from "../tensor.js";
import { Predictor } from "./predictor.js";

export interface BenchOptions {
  batchSize?: number;
  resolution?: number;
  runs?: number;
  warmup?: number;
  threads?: number;
}

export interface BenchResult {
  arch: string;
  batchSize: number;
  resolution: number;
  threads: number;
  runs: number;
  medianMs: number;
  minMs: number;
  imagesPerSecond: number;
  timesMs: number[];
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export async function benchInference(model: Model, options: BenchOptions = {}): Promise<BenchResult> {
  const batchSize = options.batchSize ?? 1;
  const resolution = options.resolution ?? model.defaultResolution;
  const runs = options.runs ?? 20;
  const warmup = options.warmup ?? 3;
  const predictor = await Predictor.create(model, { resolution, threads: options.threads, output: "logits" });
  const shape = [batchSize, 3, resolution, resolution];
  const rng = new Random(1);
  const input = float32(shape, Float32Array.from({ length: numel(shape) }, () => rng.normal()));
  try {
    for (let i = 0; i < warmup; i++) await predictor.predict(input);
    const timesMs: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await predictor.predict(input);
      timesMs.push(performance.now() - t0);
    }
    const medianMs = median(timesMs);
    return {
      arch: model.arch,
      batchSize,
      resolution,
      threads: predictor.threads,
      runs,
      medianMs,
      minMs: Math.min(...timesMs),
      imagesPerSecond: (batchSize * 1000) / medianMs,
      timesMs,
    };
  } finally {
    await predictor.release();
  }
}
