/**
 * The accuracy cost of a quantized model, measured on images it was not calibrated on (Node):
 * the float32 model and the quantized one run on the same batches; top-1 of each against the labels
 * (when there are labels) and their agreement (the share of images with the same top-1 class).
 */
import type { Predictor } from "../inference/predictor.js";
import type { Tensor } from "../tensor.js";

export interface Comparison {
  images: number;
  /** Top-1 accuracies; null without labels. */
  referenceTop1: number | null;
  candidateTop1: number | null;
  /** Share of images where both give the same class. */
  agreement: number;
  /** Largest |Δ probability| over all images and classes. */
  maxProbabilityDelta: number;
}

export function argmaxRows(t: Tensor<"float32">): number[] {
  const [n, k] = t.shape;
  return Array.from({ length: n }, (_, r) => {
    let best = 0;
    for (let j = 1; j < k; j++) if (t.data[r * k + j] > t.data[r * k + best]) best = j;
    return best;
  });
}

/** Top-1 of both models and their agreement over `batches`; `labels` (one per image, in order) may be null. */
export async function compareModels(
  reference: Predictor,
  candidate: Predictor,
  batches: Iterable<Tensor<"float32">> | AsyncIterable<Tensor<"float32">>,
  labels: readonly number[] | null,
): Promise<Comparison> {
  let images = 0;
  let same = 0;
  let rightReference = 0;
  let rightCandidate = 0;
  let maxProbabilityDelta = 0;
  for await (const batch of batches) {
    const a = await reference.predict(batch);
    const b = await candidate.predict(batch);
    const [pa, pb] = [argmaxRows(a), argmaxRows(b)];
    for (let i = 0; i < a.data.length; i++) maxProbabilityDelta = Math.max(maxProbabilityDelta, Math.abs(a.data[i] - b.data[i]));
    for (let r = 0; r < pa.length; r++) {
      if (pa[r] === pb[r]) same++;
      if (labels) {
        if (pa[r] === labels[images + r]) rightReference++;
        if (pb[r] === labels[images + r]) rightCandidate++;
      }
    }
    images += pa.length;
  }
  return {
    images,
    referenceTop1: labels ? rightReference / images : null,
    candidateTop1: labels ? rightCandidate / images : null,
    agreement: images ? same / images : 0,
    maxProbabilityDelta,
  };
}
