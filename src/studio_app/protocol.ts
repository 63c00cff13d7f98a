/** Messages between the studio page and its engine worker (engine.ts): requests with ids, replies, and events. */

export type StudioStrategy = "auto" | "head" | "partial" | "full";

/** Starting weights: a file's bytes (a torchvision .pth or a convzoo safetensors checkpoint). */
export interface WeightsBytes {
  name: string;
  bytes: ArrayBuffer;
  /** The eval transform the server says these weights expect (named weights); a checkpoint carries its own. */
  preprocessing?: object | null;
}

export interface TrainSample {
  /** The image's id in the project (keys the engine's decode and embedding caches). */
  key: string;
  blob: Blob;
  label: number;
}

export interface TrainRequest {
  arch: string;
  resolution: number;
  strategy: StudioStrategy;
  epochs: number;
  batchSize: number;
  lr: number;
  /** partial: the last K stages (and the head) train. */
  unfreezeStages: number;
  weights: WeightsBytes | null;
  classes: string[];
  train: TrainSample[];
  /** Held-out images: validation curve and confusion matrix. */
  val: TrainSample[];
  seed: number;
}

export interface EpochRecord {
  epoch: number;
  loss: number;
  accuracy: number;
  valAccuracy: number | null;
  seconds: number;
}

export interface TrainResult {
  strategy: "head" | "partial" | "full";
  /** Why this strategy (auto's reasoning, or "chosen"). */
  reason: string;
  history: EpochRecord[];
  /** Rows true, columns predicted, over the held-out images; null without them. */
  confusion: number[][] | null;
  valAccuracy: number | null;
  cancelled: boolean;
  trainImagesPerSecond: number;
  seconds: number;
  notes: string[];
}

export interface Prediction {
  probabilities: number[];
}

export type EngineRequest =
  | { type: "train"; request: TrainRequest }
  | { type: "cancel" }
  | { type: "predict"; image: Blob | ImageBitmap }
  | { type: "exportCheckpoint" }
  | { type: "exportOnnx" }
  | { type: "inspectWeights"; weights: WeightsBytes }
  | { type: "info" }
  | { type: "bench"; bench: BenchRequest };

/**
 * A measurement (bench/browser.ts): random inputs through the engine's own paths. `full`: WebTrainer steps of the
 * whole network on images; `head`: steps of the head on pooled features; `embed`: the frozen backbone's pooled features.
 */
export interface BenchRequest {
  arch: string;
  mode: "full" | "head" | "embed";
  resolution: number;
  batchSize: number;
  warmup: number;
  steps: number;
}

export interface BenchResult {
  /** Building the graph and creating the session. */
  setupMs: number;
  /** Each timed step (or inference batch). */
  stepMs: number[];
  threads: number;
}

/** Progress events the engine sends while training. */
export type EngineEvent =
  | { event: "phase"; phase: string; done: number; total: number }
  | { event: "step"; epoch: number; step: number; steps: number; loss: number }
  | { event: "epoch"; record: EpochRecord };

export interface EngineReply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

export interface WeightsInfo {
  arch: string | null;
  format: "pth" | "safetensors";
  tensors: number;
  classes: string[] | null;
}

export interface EngineInfo {
  crossOriginIsolated: boolean;
  threads: number;
  trained: boolean;
  arch: string | null;
  classes: string[];
}
