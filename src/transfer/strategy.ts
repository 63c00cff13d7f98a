/**
 * The lecture's transfer-learning strategies as sets of frozen parameter prefixes (browser-safe):
 *   - full: everything trains;
 *   - head: only the classifier head (the model's `head` prefixes) trains; the backbone is frozen,
 *     its BatchNorm layers in eval mode;
 *   - partial: everything but the given prefixes trains (`--freeze conv1,bn1,layer1`), or the last K
 *     stages of the feature info and the head train (`--unfreeze-stages K`, unfreezeStagesPrefixes).
 */
import { OptionError } from "../errors.js";
import { underPrefix } from "../models/bind.js";
import { traceModel } from "../models/inference_graph.js";
import type { Model } from "../models/model.js";

export type Strategy = "full" | "head" | "partial";
export const STRATEGIES: readonly Strategy[] = ["full", "head", "partial"];

/** The frozen prefixes of a strategy; `freeze` is partial's list (checked against the model). */
export function frozenPrefixes(model: Model, strategy: Strategy, freeze: readonly string[] = []): string[] {
  if (!STRATEGIES.includes(strategy)) throw new OptionError(`unknown strategy "${strategy}"; expected one of ${STRATEGIES.join(", ")}`);
  const keys = [...model.net.namedParameters()].filter(([, p]) => p.kind === "parameter").map(([k]) => k);
  if (strategy !== "partial" && freeze.length) throw new OptionError(`--freeze applies to --strategy partial, not ${strategy}`);
  if (strategy === "full") return [];
  if (strategy === "head") {
    // Every top-level module outside the head (GoogLeNet's auxiliary classifiers included).
    const tops = new Set(keys.filter((k) => !underPrefix(k, model.head)).map((k) => k.split(".")[0]));
    return [...tops];
  }
  if (freeze.length === 0) {
    throw new OptionError(
      `--strategy partial needs what stays fixed: --unfreeze-stages K (the last K of ${model.arch}'s ` +
        `${model.stages.length} stages train; ` +
        "`convzoo summary` lists them) or --freeze <prefix,...> (e.g. conv1,bn1,layer1)",
    );
  }
  for (const prefix of freeze) {
    if (!keys.some((k) => underPrefix(k, [prefix]))) {
      const tops = [...new Set(keys.map((k) => k.split(".")[0]))];
      throw new OptionError(
        `--freeze ${prefix}: ${model.arch} has no parameters under "${prefix}" (top-level modules: ${tops.join(", ")})`,
      );
    }
  }
  if (keys.every((k) => underPrefix(k, freeze)))
    throw new OptionError(`--freeze ${freeze.join(",")} freezes every parameter of ${model.arch}: nothing would train`);
  return [...freeze];
}

/**
 * `--unfreeze-stages K`: the last K stages of the model's feature info train (with the head and anything between
 * the last stage and the head); everything before them is frozen. The cut is decided by **call order**
 * (ForwardContext.records, pre-order, of a training-mode trace), not by names, so it holds for every family;
 * GoogLeNet's aux heads land on their tap's side. The result is minimal (`conv1, bn1, layer1, layer2` for
 * resnet18, K = 2). K = 0 is `head`; K ≥ the stage count is `full`. Details: docs/transfer-learning.md#unfreeze-stages
 */
export function unfreezeStagesPrefixes(model: Model, k: number): string[] {
  const stages = model.stages;
  if (!Number.isInteger(k) || k < 0) {
    throw new OptionError(
      `--unfreeze-stages must be a whole number from 0 (head only) to ${stages.length} (everything) for ` +
        `${model.arch}, got ${k}; its ${stages.length} stages, shallow to deep: ${stages.join(", ")}`,
    );
  }
  if (k === 0) return frozenPrefixes(model, "head");
  if (k >= stages.length) return [];
  const order = callOrder(model);
  const cutStage = stages[stages.length - k - 1];
  let cut = -1;
  order.forEach((path, i) => {
    if (underPrefix(path, [cutStage])) cut = i;
  });
  if (cut < 0) throw new Error(`${model.arch}: stage module "${cutStage}" was never called`);
  const position = new Map<string, number>();
  order.forEach((path, i) => {
    if (!position.has(path)) position.set(path, i);
  });
  const keys = [...model.net.namedParameters()].map(([key]) => key);
  const frozen = new Set<string>();
  for (const key of keys) {
    const owner = key.slice(0, Math.max(0, key.lastIndexOf(".")));
    const at = position.get(owner);
    if (at === undefined) throw new Error(`${model.arch}: "${owner}" (owner of ${key}) is never called in a training forward pass`);
    if (at <= cut) frozen.add(key);
  }
  return minimalPrefixes(model, keys, frozen);
}

/** Module paths in call order (pre-order: a module before its children) of a training-mode forward. */
export function callOrder(model: Model): string[] {
  // A structure-only training trace: no weight data is touched.
  return traceModel(model, model.defaultResolution, "train").records.map((r) => r.name);
}

/** The shallowest modules whose parameters and buffers are all in `frozen` (module-tree order). */
function minimalPrefixes(model: Model, keys: readonly string[], frozen: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (const [path] of model.net.namedModules()) {
    if (path === "" || underPrefix(path, out)) continue;
    const under = keys.filter((key) => underPrefix(key, [path]));
    if (under.length > 0 && under.every((key) => frozen.has(key))) out.push(path);
  }
  return out;
}
