/**
 * The files a training run writes (Node), all atomically (temp file + rename): the checkpoint (`--save F`, the
 * best epoch's weights as safetensors with torchvision keys and convzoo metadata), the resume file
 * (`F` with `.resume.safetensors`: last weights, optimizer slots, settings and FitProgress) and the report
 * (`.report.html`, report.ts). Contents: docs/training.md#a-runs-files
 */
import { initializeWeights } from "../models/bind.js";
import { createModel } from "../models/registry.js";
import type { Model, ResolvedOptions } from "../models/model.js";
import type { Preprocessing } from "../models/preprocessing.js";
import { WeightsError } from "../errors.js";
import type { Tensor } from "../tensor.js";
import { checkMetadataClassifier, type CheckpointMetadata } from "../weights/checkpoint.js";
import { readWeightsFile, saveCheckpoint } from "../weights/files.js";
import { loadStateDict, stateDict } from "../weights/load.js";
import type { EpochMetrics, FitProgress } from "../train/fit.js";
import type { RunSettings } from "./settings.js";
import { checkResumeMetadata } from "./resume_schema.js";

export interface RunDescription {
  classes: string[];
  preprocessing: Preprocessing;
  settings: RunSettings;
}

const SLOT_PREFIX = "optimizer.";

/** `runs/cats.safetensors` → `runs/cats.resume.safetensors` (and `.report.html`). */
export function siblingPath(checkpoint: string, suffix: ".resume.safetensors" | ".report.html"): string {
  const stem = checkpoint.endsWith(".safetensors") ? checkpoint.slice(0, -".safetensors".length) : checkpoint;
  return `${stem}${suffix}`;
}

function metadataOf(model: Model, run: RunDescription): CheckpointMetadata {
  return {
    arch: model.arch,
    options: model.options,
    classes: run.classes,
    preprocessing: run.preprocessing,
    resolution: run.settings.resolution,
    strategy: run.settings.strategy,
    training: run.settings,
  };
}

/** The deployable checkpoint: the model's current weights and the run's metadata. */
export async function saveRunCheckpoint(
  path: string,
  model: Model,
  run: RunDescription,
  extra: { metrics: EpochMetrics | null; bestEpoch: number | null; history?: EpochMetrics[]; decision?: string[] },
): Promise<void> {
  await saveCheckpoint(path, stateDict(model), { ...metadataOf(model, run), ...extra });
}

export async function saveResumeFile(path: string, model: Model, run: RunDescription, progress: FitProgress): Promise<void> {
  const tensors: Map<string, Tensor> = stateDict(model);
  for (const [name, data] of progress.trainer.slots) tensors.set(`${SLOT_PREFIX}${name}`, { dtype: "float32", shape: [data.length], data });
  const { trainer, ...rest } = progress;
  const state = { ...rest, trainer: { steps: trainer.steps, random: trainer.random } };
  await saveCheckpoint(path, tensors, { ...metadataOf(model, run), resume: state });
}

export interface ResumedRun extends RunDescription {
  model: Model;
  progress: FitProgress;
}

/** Reads a resume file: the model with its last weights, the run's settings and its progress. */
export async function readResumeFile(path: string): Promise<ResumedRun> {
  const file = await readWeightsFile(path);
  const meta = file.metadata;
  const resume = meta?.resume as (Omit<FitProgress, "trainer"> & { trainer: { steps: number; random: number[] } }) | undefined;
  const settings = meta?.training as RunSettings | undefined;
  if (!meta || !resume || !settings || !meta.classes || !meta.preprocessing) {
    throw new WeightsError(
      `${path}: not a convzoo resume file (expected the ".resume.safetensors" file written next to a checkpoint by convzoo train)`,
    );
  }
  checkResumeMetadata(path, meta);
  const weights = new Map<string, Tensor>();
  const slots = new Map<string, Float32Array>();
  for (const [key, t] of file.tensors) {
    if (key.startsWith(SLOT_PREFIX)) slots.set(key.slice(SLOT_PREFIX.length), t.data as Float32Array);
    else weights.set(key, t);
  }
  const model = createModel(meta.arch, meta.options as ResolvedOptions);
  checkMetadataClassifier(meta, weights, model.classifier, path);
  loadStateDict(model, weights, path);
  // Anything the file lacks (GoogLeNet's optional auxiliary heads) gets seed 0's values, as at load.
  initializeWeights(model);
  return {
    model,
    classes: meta.classes,
    preprocessing: meta.preprocessing,
    settings,
    progress: { ...resume, trainer: { ...resume.trainer, slots } },
  };
}
