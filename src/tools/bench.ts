/**
 * Inference timing (Node): the same Predictor path `classify` uses, on a random normalised batch,
 * median of several runs after warm-up; training timing: `Trainer.step`, likewise. Machines are noisy; report medians, never a lone time.
 */
import { performance } from "node:perf_hooks";
import type { Model } from "../models/model.js";
import { Random } from "../random.js";
import { float32, numel } from "../tensor.js";
import { toOnnx } from "../onnx/serialize.js";
import { resolveThreads } from "../runtime/session.js";
import { targetDistribution, trainingGraph } from "../train/training_graph.js";
import { Trainer } from "../train/trainer.js";
import { Predictor } from "../inference/predictor.js";
import { asOutOfMemory, checkBatchFits } from "./batch_memory.js";

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
  const resolution = options.resolution ?? model.defaultResolution;
  checkBatchFits(model, options.batchSize ?? 1, resolution);
  const predictor = await Predictor.create(model, { resolution, threads: options.threads, output: "logits" });
  try {
    return await benchPredictor(predictor, options);
  } finally {
    await predictor.release();
  }
}

/**
 * The timing loop on any predictor (a model's, or an ONNX model's from `Predictor.fromOnnx`: float,
 * int8 or fp16), at its own resolution; the predictor is not released.
 */
export async function benchPredictor(predictor: Predictor, options: BenchOptions = {}): Promise<BenchResult> {
  const batchSize = options.batchSize ?? 1;
  const resolution = predictor.resolution;
  const runs = options.runs ?? 20;
  const warmup = options.warmup ?? 3;
  const timesMs: number[] = [];
  try {
    const shape = [batchSize, 3, resolution, resolution];
    const rng = new Random(1);
    const input = float32(
      shape,
      Float32Array.from({ length: numel(shape) }, () => rng.normal()),
    );
    for (let i = 0; i < warmup; i++) await predictor.predict(input);
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await predictor.predict(input);
      timesMs.push(performance.now() - t0);
    }
  } catch (e) {
    // A batch too large for memory: one line with a size that fits (tools/batch_memory.ts).
    throw asOutOfMemory(e, batchSize);
  }
  const medianMs = median(timesMs);
  return {
    arch: predictor.arch,
    batchSize,
    resolution,
    threads: predictor.threads,
    runs,
    medianMs,
    minMs: Math.min(...timesMs),
    imagesPerSecond: (batchSize * 1000) / medianMs,
    timesMs,
  };
}

export interface TrainBenchOptions extends BenchOptions {
  /** Frozen path prefixes (as Trainer's `frozen`); default none: the whole network trains. */
  frozen?: readonly string[];
}

export interface TrainBenchResult extends BenchResult {
  /**
   * Building the training graph (forward + loss + gradients + SGD) and serialising it to ONNX
   * bytes, timed once on its own before the Trainer is made.
   */
  graphBuildMs: number;
  /** `Trainer.create`: the graph build again plus ONNX Runtime's session creation (graph optimisation, kernel set-up). */
  setupMs: number;
  /**
   * Peak resident set size of this whole process so far, in MB (`process.resourceUsage().maxRSS`,
   * read after the timed steps): Node + ONNX Runtime's arena + the model's weights and the
   * trainer's state, a high-water mark that never goes down. It includes whatever the process did
   * before (other benches, other models), so measure one configuration per process for a clean figure.
   */
  peakRssMB: number;
}

/**
 * Training-step timing (Node): `Trainer.step` (SGD, momentum 0.9) on one random batch and random
 * labels, the model's own init, median of several steps after warm-up. Each step updates the
 * weights, as in real training; the time includes feeding the state and reading it back.
 */
export async function benchTraining(model: Model, options: TrainBenchOptions = {}): Promise<TrainBenchResult> {
  const batchSize = options.batchSize ?? 16;
  const resolution = options.resolution ?? model.defaultResolution;
  const runs = options.runs ?? 5;
  const warmup = options.warmup ?? 1;
  const threads = resolveThreads(options.threads);
  const numClasses = model.options.numClasses;
  checkBatchFits(model, batchSize, resolution, { training: true });
  const graphOptions = { batchSize, resolution, frozen: options.frozen, optimizer: { kind: "sgd" as const, momentum: 0.9 } };
  const t0 = performance.now();
  toOnnx(trainingGraph(model, graphOptions).graph);
  const graphBuildMs = performance.now() - t0;
  const t1 = performance.now();
  // ONNX Runtime plans the step's memory here: a batch beyond it can fail already.
  const trainer = await Trainer.create(model, { ...graphOptions, threads }).catch((e: unknown) => {
    throw asOutOfMemory(e, batchSize);
  });
  const setupMs = performance.now() - t1;
  const rng = new Random(1);
  const images = Float32Array.from({ length: batchSize * 3 * resolution * resolution }, () => rng.normal());
  const target = targetDistribution(
    Array.from({ length: batchSize }, (_, i) => i % numClasses),
    numClasses,
  );
  try {
    for (let i = 0; i < warmup; i++) await trainer.step(images, target, 0.01);
    const timesMs: number[] = [];
    for (let i = 0; i < runs; i++) {
      const s = performance.now();
      await trainer.step(images, target, 0.01);
      timesMs.push(performance.now() - s);
    }
    const medianMs = median(timesMs);
    return {
      arch: model.arch,
      batchSize,
      resolution,
      threads,
      runs,
      medianMs,
      minMs: Math.min(...timesMs),
      imagesPerSecond: (batchSize * 1000) / medianMs,
      peakRssMB: process.resourceUsage().maxRSS / 1024,
      graphBuildMs,
      setupMs,
      timesMs,
    };
  } catch (e) {
    throw asOutOfMemory(e, batchSize);
  } finally {
    await trainer.release();
  }
}
