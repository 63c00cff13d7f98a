/**
 * Classification metrics from predicted probabilities (browser-safe, pure): top-1 / top-k accuracy, mean
 * cross-entropy, the confusion matrix, per-class precision / recall / support, the misclassified samples.
 * Ties go to the lower class index (as torch.argmax and Predictor's top-k), so figures agree with `convzoo classify`.
 */
import { OptionError, ShapeError } from "../errors.js";

export interface ClassMetrics {
  class: string;
  /** Of the samples predicted as this class, the fraction that are it; 0 when it is never predicted. */
  precision: number;
  /** Of the samples of this class, the fraction predicted as it (per-class accuracy); 0 when support is 0. */
  recall: number;
  /** Samples whose true class this is. */
  support: number;
  /** Samples predicted as this class. */
  predicted: number;
}

export interface Misclassified {
  /** Row of the sample in the input. */
  index: number;
  /** True class index. */
  label: number;
  /** Predicted (top-1) class index. */
  predicted: number;
  /** Probability the model gave its (wrong) prediction. */
  probability: number;
}

export interface ClassificationMetrics {
  images: number;
  classes: string[];
  top1: number;
  /** Accuracy within the `topK` most probable classes. */
  top5: number;
  /** The k of `top5`: min(5, number of classes). */
  topK: number;
  /** Mean cross-entropy −ln p(true class), with p clamped at 1e-12 so one zero cannot make it infinite. */
  loss: number;
  /** confusion[true][predicted] = count. */
  confusion: number[][];
  perClass: ClassMetrics[];
  /** The wrong top-1 predictions, most confident first (ties by index). */
  misclassified: Misclassified[];
}

/** The probability floor of the cross-entropy (as in training's validation). */
export const LOSS_FLOOR = 1e-12;

/**
 * Metrics of n samples: `probabilities` is [n, K] row-major, `labels` the n true class indices,
 * `classes` the K class names (or K itself, giving `class_i`). With n = 0 the rates are NaN.
 */
export function classificationMetrics(
  probabilities: ArrayLike<number>,
  labels: readonly number[],
  classes: readonly string[] | number,
): ClassificationMetrics {
  const names = typeof classes === "number" ? Array.from({ length: classes }, (_, i) => `class_${i}`) : [...classes];
  const k = names.length;
  if (k < 1) throw new OptionError("metrics need at least one class");
  const n = labels.length;
  if (probabilities.length !== n * k) {
    throw new ShapeError(
      `metrics: expected probabilities [${n}, ${k}] (${n * k} values) for ${n} labels and ${k} classes, got ${probabilities.length} values`,
    );
  }
  const topK = Math.min(5, k);
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  const misclassified: Misclassified[] = [];
  let top1 = 0;
  let topk = 0;
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    if (!Number.isInteger(y) || y < 0 || y >= k)
      throw new OptionError(`metrics: label ${y} of sample ${i} is not a class index in [0, ${k})`);
    const row = i * k;
    const py = probabilities[row + y];
    let best = 0;
    // The label's rank in (probability descending, index ascending) order.
    let rank = 0;
    for (let j = 0; j < k; j++) {
      const p = probabilities[row + j];
      if (p > probabilities[row + best]) best = j;
      if (p > py || (p === py && j < y)) rank++;
    }
    confusion[y][best]++;
    if (best === y) top1++;
    else misclassified.push({ index: i, label: y, predicted: best, probability: probabilities[row + best] });
    if (rank < topK) topk++;
    loss -= Math.log(Math.max(py, LOSS_FLOOR));
  }
  misclassified.sort((a, b) => b.probability - a.probability || a.index - b.index);
  const perClass = names.map((name, c) => {
    const support = confusion[c].reduce((s, v) => s + v, 0);
    const predicted = confusion.reduce((s, r) => s + r[c], 0);
    const tp = confusion[c][c];
    return { class: name, precision: predicted ? tp / predicted : 0, recall: support ? tp / support : 0, support, predicted };
  });
  return { images: n, classes: names, top1: top1 / n, top5: topk / n, topK, loss: loss / n, confusion, perClass, misclassified };
}
