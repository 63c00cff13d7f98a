/**
 * An epoch that is not worth saving stops the run before anything of it is written.
 *
 * Nothing trained: every batch of the epoch was unreadable or left out (a last batch of one image a
 * BatchNorm network cannot train on is dropped; with one training batch that was all of them), yet
 * the untrained weights were saved with exit code 0.
 *
 * Diverged: the loss of a step is checked as it comes (fit.ts); this is
 * the end-of-epoch check: the loss of a step is computed before its update, so the last update of an
 * epoch can leave NaN or ±Inf weights behind a finite loss (seen with --lr 1e6: epoch 1 ended with a
 * finite training loss, NaN weights and a NaN validation loss, and was saved as the "best" checkpoint).
 */
import { OptionError } from "../errors.js";
import type { Model } from "../models/model.js";

/** The keys (torchvision's) of the first `limit` float tensors holding NaN or ±Inf. */
export function nonFiniteTensors(model: Model, limit = 3): string[] {
  const found: string[] = [];
  for (const [key, p] of model.net.namedParameters()) {
    if (!p.isMaterialized || p.dtype !== "float32") continue;
    const data = p.tensor.data as Float32Array;
    // x - x is 0 for every finite x and NaN for NaN and ±Inf: one pass, no branch per element.
    let probe = 0;
    for (let i = 0; i < data.length; i++) probe += data[i] - data[i];
    if (probe !== 0) {
      found.push(key);
      if (found.length >= limit) break;
    }
  }
  return found;
}

/** Throws when an epoch ended with non-finite weights or a non-finite validation loss. */
export function checkEpochFinite(model: Model, epoch: number, valLoss: number | null): void {
  const bad = nonFiniteTensors(model);
  if (bad.length === 0 && (valLoss === null || Number.isFinite(valLoss))) return;
  const what = bad.length
    ? `the weights hold NaN or infinite values (${bad.join(", ")}${bad.length === 3 ? ", …" : ""})`
    : `validation loss is ${valLoss}`;
  throw new OptionError(`training diverged in epoch ${epoch}: ${what}; nothing from this epoch was saved (lower --lr?)`);
}

/** Throws when no image of the epoch was trained on. */
export function checkEpochTrained(epoch: number, seen: number, trainImages: number): void {
  if (seen > 0) return;
  throw new OptionError(
    `no image of epoch ${epoch} could be trained on (${trainImages} training image${trainImages === 1 ? "" : "s"}: every batch was ` +
      "unreadable or left out; see the warnings above): nothing was saved; add images or lower --batch-size",
  );
}
