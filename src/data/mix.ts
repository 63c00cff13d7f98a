/**
 * Mixup (Zhang et al. 2017) and CutMix (Yun et al. 2019) on a normalised batch, host-side, with timm's
 * semantics (`timm/data/mixup.py`, `Mixup` in mode 'batch'): one λ per batch drawn from Beta(α, α); the
 * batch is mixed with itself in reverse order; CutMix pastes a box from rand_bbox (side √(1 − λ) of the
 * image's, centre uniform, clipped to the image) and corrects λ to the unpasted area; targets are
 * λ·smooth(onehot(y)) + (1 − λ)·smooth(onehot(flip(y))). The float32 arithmetic is torch's (each product
 * and sum rounded to float32, the scalars λ and 1 − λ too). Browser-safe; draws from the caller's seeded
 * generator. tests/data/mix.test.ts checks it against timm's formulas. Details: docs/images.md#mixup-and-cutmix
 */
import type { Random } from "../random.js";

export interface MixOptions {
  /** Mixup's Beta(α, α); mixup is on when > 0 (timm's default 1). */
  mixupAlpha?: number;
  /** CutMix's Beta(α, α); cutmix is on when > 0 (timm's default 0). */
  cutmixAlpha?: number;
  /** Probability of mixing a batch at all (default 1). */
  prob?: number;
  /** With both on, the probability of cutmix rather than mixup (default 0.5). */
  switchProb?: number;
  /** Label smoothing ε of the targets: off value ε/K, on value 1 − ε + ε/K (default 0). */
  labelSmoothing?: number;
  /** Correct λ to the box's area after clipping (default true, as timm). */
  correctLam?: boolean;
}

/** A CutMix box: rows [yl, yh), columns [xl, xh). */
export interface CutmixBox {
  yl: number;
  yh: number;
  xl: number;
  xh: number;
}

export interface MixResult {
  /** The mixed batch, [B, C, H, W] (a new array). */
  images: Float32Array;
  /** [B, K] target distributions. */
  targets: Float32Array;
  /** The weight of each image's own label (1: the batch was not mixed). */
  lam: number;
  mode: "none" | "mixup" | "cutmix";
  box?: CutmixBox;
}

const f32 = Math.fround;

function resolve(o: MixOptions): Required<MixOptions> {
  const r = {
    mixupAlpha: o.mixupAlpha ?? 1,
    cutmixAlpha: o.cutmixAlpha ?? 0,
    prob: o.prob ?? 1,
    switchProb: o.switchProb ?? 0.5,
    labelSmoothing: o.labelSmoothing ?? 0,
    correctLam: o.correctLam ?? true,
  };
  for (const k of ["mixupAlpha", "cutmixAlpha"] as const) {
    if (!(r[k] >= 0 && Number.isFinite(r[k]))) throw new RangeError(`mix.${k} must be a non-negative number, got ${r[k]}`);
  }
  for (const k of ["prob", "switchProb", "labelSmoothing"] as const) {
    if (!(r[k] >= 0 && r[k] <= 1)) throw new RangeError(`mix.${k} must be in [0, 1], got ${r[k]}`);
  }
  if (!(r.mixupAlpha > 0 || r.cutmixAlpha > 0)) throw new RangeError("mix: one of mixupAlpha and cutmixAlpha must be > 0");
  return r;
}

/** A Gamma(shape, 1) variate: Marsaglia & Tsang's method (shape < 1 through Gamma(shape + 1)·U^(1/shape)). */
function sampleGamma(rng: Random, shape: number): number {
  if (shape < 1) {
    const u = 1 - rng.uniform(); // (0, 1]
    return sampleGamma(rng, shape + 1) * u ** (1 / shape);
  }
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const x = rng.normal();
    const t = 1 + c * x;
    if (t <= 0) continue;
    const v = t * t * t;
    const u = 1 - rng.uniform();
    if (u < 1 - 0.0331 * x ** 4 || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/**
 * A Beta(a, b) variate, as numpy's `random.beta` computes it: Jöhnk's algorithm when a, b ≤ 1 (in logs where
 * both powers underflow), otherwise Ga / (Ga + Gb) from two Gamma variates.
 */
export function sampleBeta(rng: Random, a: number, b: number): number {
  if (!(a > 0 && b > 0)) throw new RangeError(`Beta parameters must be positive, got (${a}, ${b})`);
  if (a <= 1 && b <= 1) {
    for (;;) {
      const u = rng.uniform();
      const v = rng.uniform();
      const x = u ** (1 / a);
      const y = v ** (1 / b);
      if (x + y <= 1 && u + v > 0) {
        if (x + y > 0) return x / (x + y);
        let lx = Math.log(u) / a;
        let ly = Math.log(v) / b;
        const m = Math.max(lx, ly);
        lx -= m;
        ly -= m;
        return Math.exp(lx - Math.log(Math.exp(lx) + Math.exp(ly)));
      }
    }
  }
  const ga = sampleGamma(rng, a);
  const gb = sampleGamma(rng, b);
  return ga / (ga + gb);
}

/**
 * timm's `Mixup._params_per_batch`: a uniform draw against prob; when below, with both methods on a uniform
 * draw against switchProb picks cutmix, then λ ~ Beta(α, α) of the method picked. λ = 1 when not mixed.
 */
export function drawMixParams(rng: Random, options: MixOptions = {}): { lam: number; useCutmix: boolean } {
  const o = resolve(options);
  let lam = 1;
  let useCutmix = false;
  if (rng.uniform() < o.prob) {
    if (o.mixupAlpha > 0 && o.cutmixAlpha > 0) {
      useCutmix = rng.uniform() < o.switchProb;
      lam = useCutmix ? sampleBeta(rng, o.cutmixAlpha, o.cutmixAlpha) : sampleBeta(rng, o.mixupAlpha, o.mixupAlpha);
    } else if (o.mixupAlpha > 0) {
      lam = sampleBeta(rng, o.mixupAlpha, o.mixupAlpha);
    } else {
      useCutmix = true;
      lam = sampleBeta(rng, o.cutmixAlpha, o.cutmixAlpha);
    }
  }
  return { lam, useCutmix };
}

/**
 * timm's `rand_bbox` (margin 0) for a given centre (cy, cx) and `cutmix_bbox_and_lam`'s correction:
 * cut = int(side · √(1 − λ)), the box [c − cut//2, c + cut//2) clipped to the image, λ = 1 − area / (H·W).
 */
export function cutmixBox(
  height: number,
  width: number,
  lam: number,
  cy: number,
  cx: number,
  correctLam = true,
): { box: CutmixBox; lam: number } {
  const ratio = Math.sqrt(1 - lam);
  const cutH = Math.trunc(height * ratio);
  const cutW = Math.trunc(width * ratio);
  const clip = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
  const box = {
    yl: clip(cy - Math.floor(cutH / 2), height),
    yh: clip(cy + Math.floor(cutH / 2), height),
    xl: clip(cx - Math.floor(cutW / 2), width),
    xh: clip(cx + Math.floor(cutW / 2), width),
  };
  return { box, lam: correctLam ? 1 - ((box.yh - box.yl) * (box.xh - box.xl)) / (height * width) : lam };
}

/** timm's `mixup_target`: λ·onehot(y) + (1 − λ)·onehot(flip(y)) with label smoothing, in float32. [B, K] */
export function mixTargets(labels: readonly number[], numClasses: number, lam: number, smoothing = 0): Float32Array {
  const off = f32(smoothing / numClasses);
  const on = f32(1 - smoothing + smoothing / numClasses);
  const a = f32(lam);
  const b = f32(1 - lam);
  const n = labels.length;
  const out = new Float32Array(n * numClasses);
  for (let i = 0; i < n; i++) {
    const y1 = labels[i];
    const y2 = labels[n - 1 - i];
    for (let k = 0; k < numClasses; k++) out[i * numClasses + k] = f32(f32((k === y1 ? on : off) * a) + f32((k === y2 ? on : off) * b));
  }
  return out;
}

/** x·λ + flip(x)·(1 − λ) over the batch, in float32 as torch's `x.mul_(lam).add_(x.flip(0).mul_(1 - lam))`. */
export function mixupImages(images: Float32Array, batch: number, lam: number): Float32Array {
  const size = images.length / batch;
  const a = f32(lam);
  const b = f32(1 - lam);
  const out = new Float32Array(images.length);
  for (let i = 0; i < batch; i++) {
    const src = i * size;
    const rev = (batch - 1 - i) * size;
    for (let k = 0; k < size; k++) out[src + k] = f32(f32(images[src + k] * a) + f32(images[rev + k] * b));
  }
  return out;
}

/** x[:, :, yl:yh, xl:xh] = flip(x)[:, :, yl:yh, xl:xh]: each image gets the box from its mirror in the batch. */
export function cutmixImages(images: Float32Array, shape: readonly [number, number, number, number], box: CutmixBox): Float32Array {
  const [batch, channels, height, width] = shape;
  const out = images.slice();
  const plane = height * width;
  for (let i = 0; i < batch; i++) {
    const j = batch - 1 - i;
    for (let c = 0; c < channels; c++) {
      for (let y = box.yl; y < box.yh; y++) {
        const row = c * plane + y * width;
        out.set(
          images.subarray(j * channels * plane + row + box.xl, j * channels * plane + row + box.xh),
          i * channels * plane + row + box.xl,
        );
      }
    }
  }
  return out;
}

/**
 * timm's `Mixup(mode='batch')` on a normalised batch `images` of `shape` [B, C, H, W] with integer `labels`:
 * the mixed images and [B, K] target distributions (what the training step's target input takes). Draws:
 * `drawMixParams`, then for cutmix the box centre (row, then column, uniform). An odd batch's middle image
 * is its own mirror (timm requires an even batch; here it simply stays unmixed, its target one-hot).
 */
export function mixBatch(
  images: Float32Array,
  labels: readonly number[],
  numClasses: number,
  shape: readonly [number, number, number, number],
  rng: Random,
  options: MixOptions = {},
): MixResult {
  const [batch, channels, height, width] = shape;
  if (images.length !== batch * channels * height * width) {
    throw new RangeError(`mixBatch: ${images.length} values do not make a batch of shape [${shape.join(", ")}]`);
  }
  if (labels.length !== batch) throw new RangeError(`mixBatch: ${labels.length} labels for a batch of ${batch}`);
  for (const y of labels)
    if (!(Number.isInteger(y) && y >= 0 && y < numClasses)) throw new RangeError(`mixBatch: label ${y} is not in [0, ${numClasses})`);
  const o = resolve(options);
  const { lam, useCutmix } = drawMixParams(rng, o);
  if (lam === 1) return { images: images.slice(), targets: mixTargets(labels, numClasses, 1, o.labelSmoothing), lam: 1, mode: "none" };
  if (useCutmix) {
    const cy = rng.int(height);
    const cx = rng.int(width);
    const { box, lam: corrected } = cutmixBox(height, width, lam, cy, cx, o.correctLam);
    return {
      images: cutmixImages(images, shape, box),
      targets: mixTargets(labels, numClasses, corrected, o.labelSmoothing),
      lam: corrected,
      mode: "cutmix",
      box,
    };
  }
  return { images: mixupImages(images, batch, lam), targets: mixTargets(labels, numClasses, lam, o.labelSmoothing), lam, mode: "mixup" };
}
