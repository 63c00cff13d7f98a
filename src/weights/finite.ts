/**
 * Non-finite weights (NaN, ±Inf): a diverged run's checkpoint or a damaged file. Loaded as they are they
 * make every prediction NaN ("NaN%") with no error, so loading refuses them unless the caller opts in.
 * Browser-safe.
 */
import { WeightsError } from "../errors.js";
import type { Tensor } from "../tensor.js";

export interface NonFiniteTensor {
  key: string;
  /** How many of its values are NaN or infinite, of how many. */
  count: number;
  numel: number;
}

/** Float tensors holding NaN or ±Inf, in the map's order (float16 is checked on its bits: exponent all ones). */
export function nonFiniteTensors(tensors: ReadonlyMap<string, Tensor>): NonFiniteTensor[] {
  const found: NonFiniteTensor[] = [];
  for (const [key, t] of tensors) {
    let count = 0;
    if (t.dtype === "float32" || t.dtype === "float64") {
      const d = t.data as Float32Array | Float64Array;
      for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i])) count++;
    } else if (t.dtype === "float16") {
      const d = t.data as Uint16Array;
      for (let i = 0; i < d.length; i++) if ((d[i] & 0x7c00) === 0x7c00) count++;
    }
    if (count > 0) found.push({ key, count, numel: t.data.length });
  }
  return found;
}

const SHOWN = 5;

/** Throws a WeightsError naming the tensors with NaN or ±Inf (the first few, then a count); `hint` says how to opt in. */
export function refuseNonFinite(tensors: ReadonlyMap<string, Tensor>, source: string, hint: string): void {
  const bad = nonFiniteTensors(tensors);
  if (bad.length === 0) return;
  const shown = bad.slice(0, SHOWN).map((b) => `${b.key} (${b.count} of ${b.numel})`);
  if (bad.length > SHOWN) shown.push(`… and ${bad.length - SHOWN} more`);
  throw new WeightsError(
    `${source}: ${bad.length} tensor${bad.length > 1 ? "s hold" : " holds"} NaN or infinite values: ${shown.join(", ")}; ` +
      `a diverged or damaged checkpoint would predict NaN (${hint})`,
  );
}
