/**
 * The lecture's transfer-learning rule on given figures (browser-safe: no images, no runtime), so the CLI's
 * `auto` (auto.ts, which measures the figures) and the studio page decide the same way. Sources: auto.ts's
 * module comment and docs/transfer-learning.md#auto
 */
import type { Strategy } from "./strategy.js";

export interface AutoThresholds {
  /** Mean training images per class from which a dataset is `large` (see the module comment). */
  largeImagesPerClass: number;
  /** Normalised probe accuracy from which the data is `similar`. */
  similarProbe: number;
}

/**
 * similarProbe 0.8, checked on bench/small_data.ts (docs/transfer-learning.md#checked-on-the-benchmark):
 * at probes of 0.55–0.60 (the demo, digits at 50 per class) the head alone lost 22–27 points to full fine-tuning.
 */
export const AUTO_THRESHOLDS: Readonly<AutoThresholds> = { largeImagesPerClass: 1000, similarProbe: 0.8 };

/** `partial` trains the stages at or beyond this stride (see the module comment). */
export const PARTIAL_FROM_STRIDE = { "large + similar": 8 } as const;

export type Quadrant = "small + similar" | "small + different" | "large + similar" | "large + different";

/** The rule on given figures (no images): the choice, its quadrant and the reason. */
export interface RuleDecision {
  strategy: Strategy;
  size: "small" | "large";
  similar: boolean | null;
  quadrant: Quadrant | null;
  /** For partial: train the stages at or beyond this stride. */
  fromStride: number | null;
  reason: string;
}

export function decideStrategy(
  figures: { imagesPerClass: number; probeNormalized: number | null; hasPretrainedWeights: boolean },
  thresholds: AutoThresholds = AUTO_THRESHOLDS,
): RuleDecision {
  const size = figures.imagesPerClass >= thresholds.largeImagesPerClass ? "large" : "small";
  if (!figures.hasPretrainedWeights) {
    return {
      strategy: "full",
      size,
      similar: null,
      quadrant: null,
      fromStride: null,
      reason: "no pretrained weights (random initialisation): there is nothing to transfer, so everything trains",
    };
  }
  // Without a probe figure (no class with two images) similarity is unknown: take the "different"
  // column, which never freezes what might need to change.
  const similar = figures.probeNormalized === null ? null : figures.probeNormalized >= thresholds.similarProbe;
  const quadrant: Quadrant = `${size} + ${similar ? "similar" : "different"}`;
  switch (quadrant) {
    case "small + similar":
      return {
        strategy: "head",
        size,
        similar,
        quadrant,
        fromStride: null,
        reason: "little data, and the frozen features already separate it: training more than the classifier would overfit",
      };
    case "large + different":
      return {
        strategy: "full",
        size,
        similar,
        quadrant,
        fromStride: null,
        reason: "enough data, and features that do not fit it: train everything, from the pretrained start",
      };
    case "small + different":
      // The lecture trains the deep stages only; measured on bench/small_data.ts, training everything
      // beat that on every task (docs/transfer-learning.md#checked-on-the-benchmark).
      return {
        strategy: "full",
        size,
        similar,
        quadrant,
        fromStride: null,
        reason:
          "the hard case: the features must adapt and the data is small — the lecture trains the deep stages only, " +
          "but training everything measured 4–9 points better on convzoo's small-data benchmark",
      };
    case "large + similar":
      return {
        strategy: "partial",
        size,
        similar,
        quadrant,
        fromStride: PARTIAL_FROM_STRIDE[quadrant],
        reason: "good features and enough data to refine them: train all but the stem and the earliest stage",
      };
  }
}
