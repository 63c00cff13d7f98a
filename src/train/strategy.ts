/**
 * The lecture's transfer-learning strategies as sets of frozen parameter prefixes (browser-safe):
 *   - full: everything trains;
 *   - head: only the classifier head (the model's `head` prefixes) trains; the backbone is frozen,
 *     its BatchNorm layers in eval mode;
 *   - partial: everything but the given prefixes trains (`--freeze conv1,bn1,layer1`).
 */
import { OptionError } from "../errors.js";
import type { Model } from "../models/model.js";
import { underPrefix } from "./graph.js";

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
  if (freeze.length === 0) throw new OptionError("--strategy partial needs --freeze <prefix,...> (the layers that stay fixed, e.g. conv1,bn1,layer1)");
  for (const prefix of freeze) {
    if (!keys.some((k) => underPrefix(k, [prefix]))) {
      const tops = [...new Set(keys.map((k) => k.split(".")[0]))];
      throw new OptionError(`--freeze ${prefix}: ${model.arch} has no parameters under "${prefix}" (top-level modules: ${tops.join(", ")})`);
    }
  }
  if (keys.every((k) => underPrefix(k, freeze))) throw new OptionError(`--freeze ${freeze.join(",")} freezes every parameter of ${model.arch}: nothing would train`);
  return [...freeze];
}
