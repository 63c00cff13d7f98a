/**
 * Activation statistics over the calibration images, and the three ways to turn them into a range:
 *
 * - `minmax`: the smallest and largest value seen (ONNX Runtime's MinMaxCalibrater, TFLite's default).
 * - `percentile`: the range keeping all but the outermost (100 − p)% of the values, p = 99.999 by
 *   default as in ONNX Runtime's PercentileCalibrater; one histogram per tensor over its min/max.
 * - `entropy`: the clipping threshold minimising the KL divergence between the histogram and its
 *   quantized version (Migacz, "8-bit Inference with TensorRT", GTC 2017; ONNX Runtime's
 *   EntropyCalibrater), on |x| with 2048 bins; 255 quantized levels for a one-signed tensor (uint8
 *   over [0, t]), 128 for a tensor of both signs (TensorRT's half of int8's range). Exact zeros are
 *   not counted (see Histogram.add).
 *
 * Browser-safe.
 */

export type CalibrationMethod = "minmax" | "percentile" | "entropy";
export const CALIBRATION_METHODS: readonly CalibrationMethod[] = ["minmax", "percentile", "entropy"];

export const HISTOGRAM_BINS = 2048;
export const DEFAULT_PERCENTILE = 99.999;

/** Running min and max of one tensor over all batches. */
export class MinMax {
  min = Infinity;
  max = -Infinity;

  add(data: Float32Array): void {
    let lo = this.min;
    let hi = this.max;
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    this.min = lo;
    this.max = hi;
  }
}

/** A histogram of |x| over [0, absMax] with fixed bins (absMax from a first min/max pass), plus the signed counts for percentiles. */
export class Histogram {
  readonly abs: Float64Array;
  /** Signed histogram over [min, max] for percentiles. */
  readonly signed: Float64Array;
  count = 0;

  constructor(
    readonly min: number,
    readonly max: number,
    readonly bins = HISTOGRAM_BINS,
  ) {
    this.abs = new Float64Array(bins);
    this.signed = new Float64Array(bins);
  }

  get absMax(): number {
    return Math.max(Math.abs(this.min), Math.abs(this.max));
  }

  add(data: Float32Array): void {
    const a = this.absMax;
    const span = this.max - this.min;
    const last = this.bins - 1;
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      // Exact zeros (ReLU's half of the values) are left out of |x|: zero is exactly representable
      // whatever the range, and their spike in the first bin would otherwise make every merge of
      // that bin look costly and push the threshold down to the first candidate.
      if (a > 0 && v !== 0) this.abs[Math.min(last, Math.floor((Math.abs(v) / a) * this.bins))]++;
      if (span > 0) this.signed[Math.min(last, Math.max(0, Math.floor(((v - this.min) / span) * this.bins)))]++;
    }
    this.count += data.length;
  }
}

/** [lo, hi] keeping all but (100 − p)/2 % of the values in each tail (bin edges; never narrower than 0 on either side of zero). */
export function percentileRange(h: Histogram, percentile = DEFAULT_PERCENTILE): [number, number] {
  if (!(percentile > 0 && percentile <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${percentile}`);
  if (h.count === 0 || h.max === h.min) return [h.min, h.max];
  const tail = ((100 - percentile) / 200) * h.count;
  const width = (h.max - h.min) / h.bins;
  let lowBin = 0;
  for (let acc = 0; lowBin < h.bins && acc + h.signed[lowBin] <= tail; lowBin++) acc += h.signed[lowBin];
  let highBin = h.bins - 1;
  for (let acc = 0; highBin > 0 && acc + h.signed[highBin] <= tail; highBin--) acc += h.signed[highBin];
  const lo = h.min + lowBin * width;
  const hi = h.min + (highBin + 1) * width;
  return [Math.min(lo, Math.max(h.min, 0)), Math.max(hi, Math.min(h.max, 0))];
}

/** Kullback–Leibler divergence Σ p log(p/q) of two unnormalised distributions (normalised here); q = 0 where p > 0 is +∞. */
export function klDivergence(p: Float64Array, q: Float64Array): number {
  let sp = 0;
  let sq = 0;
  for (let i = 0; i < p.length; i++) {
    sp += p[i];
    sq += q[i];
  }
  let kl = 0;
  for (let i = 0; i < p.length; i++) {
    if (p[i] === 0) continue;
    if (q[i] === 0) return Infinity;
    kl += (p[i] / sp) * Math.log(p[i] / sp / (q[i] / sq));
  }
  return kl;
}

/**
 * TensorRT's entropy calibration on the |x| histogram: for each candidate threshold bin i ≥ levels,
 * P = the first i bins with everything beyond folded into the last one; Q = those i bins merged
 * into `levels` groups and spread back evenly over each group's non-empty bins; the threshold is the
 * upper edge of the i with the least KL(P‖Q). Returns the threshold as a value of |x|.
 */
export function entropyThreshold(abs: Float64Array, absMax: number, levels: number): number {
  const bins = abs.length;
  if (absMax === 0) return 0;
  if (bins <= levels) return absMax;
  let bestI = bins;
  let best = Infinity;
  for (let i = levels; i <= bins; i++) {
    const p = abs.slice(0, i);
    let outliers = 0;
    for (let j = i; j < bins; j++) outliers += abs[j];
    p[i - 1] += outliers;
    const q = new Float64Array(i);
    const perLevel = i / levels;
    for (let l = 0; l < levels; l++) {
      const start = Math.floor(l * perLevel);
      const end = l === levels - 1 ? i : Math.floor((l + 1) * perLevel);
      let sum = 0;
      let nonEmpty = 0;
      for (let j = start; j < end; j++) {
        sum += abs[j];
        if (abs[j] > 0) nonEmpty++;
      }
      if (nonEmpty === 0) continue;
      for (let j = start; j < end; j++) if (abs[j] > 0) q[j] = sum / nonEmpty;
    }
    // P's last bin holds the outliers; Q spreads only the in-range mass there. Smooth zeros of Q
    // where P has mass (as TensorRT / ONNX Runtime do) so the divergence stays finite.
    for (let j = 0; j < i; j++) if (p[j] > 0 && q[j] === 0) q[j] = 1e-4;
    const kl = klDivergence(p, q);
    if (kl < best) {
      best = kl;
      bestI = i;
    }
  }
  return (bestI / bins) * absMax;
}

/** The calibrated [lo, hi] of one tensor by `method`. */
export function rangeFrom(method: CalibrationMethod, minMax: MinMax, histogram?: Histogram): [number, number] {
  if (method === "minmax" || !histogram || minMax.max === minMax.min) return [minMax.min, minMax.max];
  if (method === "percentile") return percentileRange(histogram);
  const oneSigned = minMax.min >= 0 || minMax.max <= 0;
  const t = entropyThreshold(histogram.abs, histogram.absMax, oneSigned ? 255 : 128);
  return [Math.max(minMax.min, -t), Math.min(minMax.max, t)];
}
