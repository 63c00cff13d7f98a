/**
 * Layer-wise (discriminative) learning rates: factors per parameter prefix from the model's stages, lower for
 * earlier ones, spread geometrically as fastai's `slice(lr / 100, lr)` (its even_mults): the head and
 * whatever runs after the last stage get 1, stage j of n (0-based, shallow to deep) decay^(n − j), and what
 * runs before the first stage (the stem) the first stage's factor. Stages are located by call order, as
 * `--unfreeze-stages` cuts them (transfer/strategy.ts). Browser-safe.
 */
import { OptionError } from "../errors.js";
import { underPrefix } from "../models/bind.js";
import { traceModel } from "../models/inference_graph.js";
import type { Model } from "../models/model.js";

export interface LayerwiseOptions {
  /** Factor between a stage and the next deeper one (0 < decay ≤ 1). */
  decay?: number;
  /** Alternatively, the first stage's factor (fastai's lr/100 → 0.01): decay = lowest^(1/n). */
  lowest?: number;
}

/** Prefix → learning-rate factor (only those below 1), for TrainingGraphOptions.lrMultipliers. */
export function layerwiseLrMultipliers(model: Model, o: LayerwiseOptions): Record<string, number> {
  const n = model.stages.length;
  if ((o.decay === undefined) === (o.lowest === undefined)) throw new OptionError("layer-wise learning rates: give one of decay or lowest");
  const decay = o.decay ?? o.lowest! ** (1 / n);
  if (o.decay !== undefined && !(o.decay > 0 && o.decay <= 1))
    throw new OptionError(`layer-wise learning rates: decay must be in (0, 1], got ${o.decay}`);
  if (o.lowest !== undefined && !(o.lowest > 0 && o.lowest <= 1))
    throw new OptionError(`layer-wise learning rates: lowest must be in (0, 1], got ${o.lowest}`);
  const order = traceModel(model, model.defaultResolution, "train").records.map((r) => r.name);
  const first = new Map<string, number>();
  order.forEach((path, i) => {
    if (!first.has(path)) first.set(path, i);
  });
  const stageEnd = model.stages.map((stage) => {
    let end = -1;
    order.forEach((path, i) => {
      if (underPrefix(path, [stage])) end = i;
    });
    if (end < 0) throw new Error(`${model.arch}: stage module "${stage}" was never called`);
    return end;
  });
  const factor = new Map<string, number>();
  for (const [key] of model.net.namedParameters()) {
    const owner = key.slice(0, Math.max(0, key.lastIndexOf(".")));
    const at = first.get(owner);
    if (at === undefined) throw new Error(`${model.arch}: "${owner}" (owner of ${key}) is never called in a training forward pass`);
    const j = stageEnd.findIndex((end) => at <= end);
    factor.set(key, j < 0 ? 1 : decay ** (n - j));
  }
  // The shallowest modules whose keys share one factor below 1.
  const out: Record<string, number> = {};
  const done: string[] = [];
  for (const [path] of model.net.namedModules()) {
    if (path === "" || underPrefix(path, done)) continue;
    const under = [...factor].filter(([key]) => underPrefix(key, [path]));
    if (under.length === 0 || !under.every(([, f]) => f === under[0][1])) continue;
    done.push(path);
    if (under[0][1] < 1) out[path] = under[0][1];
  }
  return out;
}
