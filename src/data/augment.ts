/**
 * Training-time transforms on decoded uint8 HWC RGB, torchvision's recipe (browser-safe): augment is
 * RandomResizedCrop(R, scale=(0.08, 1), ratio=(3/4, 4/3)) + RandomHorizontalFlip(0.5); no augment is
 * Resize(R) + CenterCrop(R); optional TrivialAugmentWide or RandAugment, then optional ColorJitter, after
 * the crop and flip; then Normalize; then optional RandomErasing. Draws come from the caller's seeded
 * generator, so an epoch's crops are reproducible. Details: docs/images.md#augmentation
 */
import type { Random } from "../random.js";
import { autoAugmentRGB, type AutoAugmentPolicy, type RandAugmentOptions } from "./auto_augment.js";
import { randomErasingCHW, type RandomErasing } from "./erasing.js";
import { centerCropOffsets, normalizeHWCToCHW, resizedSize, resizeRGB } from "./preprocess.js";
import { type Preprocessing } from "../models/preprocessing.js";

export interface TrainTransform {
  resolution: number;
  augment: boolean;
  /** Mean, std and interpolation of the weights' preprocessing. */
  preprocessing: Preprocessing;
  /** RandomResizedCrop's scale range (default (0.08, 1)). */
  scale?: [number, number];
  /**
   * torchvision's ColorJitter, applied to the R×R image (after crop and flip) whenever given,
   * whether or not `augment` is set.
   */
  colorJitter?: ColorJitter;
  /**
   * torchvision's TrivialAugmentWide or RandAugment (NEAREST, fill 0) on the R×R uint8 image after the
   * crop and flip, before colour jitter and Normalize, as in torchvision's classification reference recipe,
   * whether or not `augment` is set. "none" or absent: nothing is applied and nothing drawn.
   */
  autoAugment?: AutoAugmentPolicy;
  /** RandAugment's arguments when `autoAugment` is "randaugment" (default 2 ops at magnitude 9 of 31). */
  randAugment?: RandAugmentOptions;
  /** torchvision's RandomErasing on the normalised CHW image, last; absent: nothing erased or drawn. */
  erasing?: RandomErasing;
}

/**
 * torchvision's ColorJitter arguments. A number x means the range [max(0, 1 - x), 1 + x] for
 * brightness, contrast and saturation and [-x, x] for hue (x ≤ 0.5); a pair is the range itself.
 * 0 (or absent) turns that adjustment off, and then nothing is drawn for it, as in torchvision.
 */
export interface ColorJitter {
  brightness?: number | [number, number];
  contrast?: number | [number, number];
  saturation?: number | [number, number];
  hue?: number | [number, number];
}

/** torchvision's RandomResizedCrop.get_params: a crop box of the source image. */
export function randomResizedCropBox(
  width: number,
  height: number,
  rng: Random,
  scale: [number, number] = [0.08, 1],
  ratio: [number, number] = [3 / 4, 4 / 3],
) {
  const area = width * height;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * (scale[0] + rng.uniform() * (scale[1] - scale[0]));
    const aspect = Math.exp(logRatio[0] + rng.uniform() * (logRatio[1] - logRatio[0]));
    const w = Math.round(Math.sqrt(target * aspect));
    const h = Math.round(Math.sqrt(target / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      return { left: rng.int(width - w + 1), top: rng.int(height - h + 1), width: w, height: h };
    }
  }
  // Fallback: the central crop with the ratio clamped into range.
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < ratio[0]) h = Math.round(w / ratio[0]);
  else if (inRatio > ratio[1]) w = Math.round(h * ratio[1]);
  return { left: Math.floor((width - w) / 2), top: Math.floor((height - h) / 2), width: w, height: h };
}

function cropRGB(rgb: Uint8Array, width: number, box: { left: number; top: number; width: number; height: number }): Uint8Array {
  const out = new Uint8Array(box.width * box.height * 3);
  for (let y = 0; y < box.height; y++) {
    const src = ((box.top + y) * width + box.left) * 3;
    out.set(rgb.subarray(src, src + box.width * 3), y * box.width * 3);
  }
  return out;
}

function flipHorizontal(rgb: Uint8Array, width: number, height: number): Uint8Array {
  const out = new Uint8Array(rgb.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const s = (y * width + x) * 3;
      const d = (y * width + (width - 1 - x)) * 3;
      out[d] = rgb[s];
      out[d + 1] = rgb[s + 1];
      out[d + 2] = rgb[s + 2];
    }
  }
  return out;
}

/** One training image: CHW float32 [3, R, R] written into out at offset. */
export function trainTransformRGB(
  rgb: Uint8Array,
  width: number,
  height: number,
  t: TrainTransform,
  rng: Random,
  out: Float32Array,
  offset: number,
): void {
  const r = t.resolution;
  const p = t.preprocessing;
  let pixels: Uint8Array;
  if (t.augment) {
    const box = randomResizedCropBox(width, height, rng, t.scale);
    pixels = resizeRGB(cropRGB(rgb, width, box), box.width, box.height, r, r, p.interpolation);
    if (rng.uniform() < 0.5) pixels = flipHorizontal(pixels, r, r);
  } else {
    const size = resizedSize(width, height, r);
    const { left, top } = centerCropOffsets(size.width, size.height, r);
    pixels = resizeRGB(rgb, width, height, size.width, size.height, p.interpolation, { left, top, width: r, height: r });
  }
  if (t.autoAugment && t.autoAugment !== "none") pixels = autoAugmentRGB(pixels, r, r, t.autoAugment, rng, t.randAugment);
  if (t.colorJitter) pixels = colorJitterRGB(pixels, t.colorJitter, rng);
  normalizeHWCToCHW(pixels, r, r, p, out, offset);
  if (t.erasing) randomErasingCHW(out, offset, 3, r, r, t.erasing, rng);
}

// ---- ColorJitter -------------------------------------------------------------------------------
//
// torchvision 0.14's functional_tensor ops on a uint8 [3, H, W] tensor, emulated in float32
// (Math.fround after every operation, as ATen computes float32 with float32 scalars), ending in the
// same truncating cast to uint8. tests/data/color_jitter.test.ts compares them with torchvision.

const f32 = Math.fround;

/** `_blend(img1, img2, ratio)`: clamp(ratio·img1 + (1 − ratio)·img2, 0, 255), truncated to uint8. */
function blendInto(out: Uint8Array, a: number, ratio: number, b: number, i: number): void {
  const v = f32(f32(f32(ratio) * a) + f32(f32(1 - ratio) * b));
  out[i] = v <= 0 ? 0 : v >= 255 ? 255 : Math.trunc(v);
}

/** `rgb_to_grayscale`: (0.2989 r + 0.587 g + 0.114 b) truncated to uint8, one value per pixel. */
function grayscale(rgb: Uint8Array): Uint8Array {
  const n = rgb.length / 3;
  const out = new Uint8Array(n);
  const [wr, wg, wb] = [f32(0.2989), f32(0.587), f32(0.114)];
  for (let i = 0, j = 0; i < n; i++, j += 3) out[i] = Math.trunc(f32(f32(f32(wr * rgb[j]) + f32(wg * rgb[j + 1])) + f32(wb * rgb[j + 2])));
  return out;
}

function checkFactor(name: string, factor: number): void {
  if (!(factor >= 0)) throw new RangeError(`${name} factor must be non-negative, got ${factor}`);
}

/** torchvision `adjust_brightness`: a blend with black. */
export function adjustBrightness(rgb: Uint8Array, factor: number): Uint8Array {
  checkFactor("brightness", factor);
  const out = new Uint8Array(rgb.length);
  for (let i = 0; i < rgb.length; i++) blendInto(out, rgb[i], factor, 0, i);
  return out;
}

/** torchvision `adjust_contrast`: a blend with the mean of the (uint8) greyscale image. */
export function adjustContrast(rgb: Uint8Array, factor: number): Uint8Array {
  checkFactor("contrast", factor);
  const grey = grayscale(rgb);
  let sum = 0;
  for (let i = 0; i < grey.length; i++) sum += grey[i];
  // torch sums in float32 (exact for integers below 2^24, i.e. images up to ~256×256 of white).
  const mean = f32(f32(sum) / grey.length);
  const out = new Uint8Array(rgb.length);
  for (let i = 0; i < rgb.length; i++) blendInto(out, rgb[i], factor, mean, i);
  return out;
}

/** torchvision `adjust_saturation`: a blend with the (uint8) greyscale image. */
export function adjustSaturation(rgb: Uint8Array, factor: number): Uint8Array {
  checkFactor("saturation", factor);
  const grey = grayscale(rgb);
  const out = new Uint8Array(rgb.length);
  for (let i = 0, j = 0; i < grey.length; i++, j += 3) {
    blendInto(out, rgb[j], factor, grey[i], j);
    blendInto(out, rgb[j + 1], factor, grey[i], j + 1);
    blendInto(out, rgb[j + 2], factor, grey[i], j + 2);
  }
  return out;
}

/** torchvision `adjust_hue`: RGB → HSV (`_rgb2hsv`), h shifted mod 1, back (`_hsv2rgb`), ×255 truncated. */
export function adjustHue(rgb: Uint8Array, factor: number): Uint8Array {
  if (!(factor >= -0.5 && factor <= 0.5)) throw new RangeError(`hue factor must be in [-0.5, 0.5], got ${factor}`);
  const out = new Uint8Array(rgb.length);
  const hueShift = factor;
  const clamp01 = (x: number) => (x < 0 ? 0 : x > 1 ? 1 : x);
  for (let j = 0; j < rgb.length; j += 3) {
    const r = f32(rgb[j] / 255);
    const g = f32(rgb[j + 1] / 255);
    const b = f32(rgb[j + 2] / 255);
    const maxc = Math.max(r, g, b);
    const minc = Math.min(r, g, b);
    const eqc = maxc === minc;
    const cr = f32(maxc - minc);
    const s = f32(cr / (eqc ? 1 : maxc));
    const div = eqc ? 1 : cr;
    const rc = f32(f32(maxc - r) / div);
    const gc = f32(f32(maxc - g) / div);
    const bc = f32(f32(maxc - b) / div);
    const hr = maxc === r ? f32(bc - gc) : 0;
    const hg = maxc === g && maxc !== r ? f32(f32(2 + rc) - bc) : 0;
    const hb = maxc !== g && maxc !== r ? f32(f32(4 + gc) - rc) : 0;
    const h0 = f32(f32(hr + hg) + hb);
    let h = f32(f32(h0 / 6) + 1);
    h = f32(h - Math.trunc(h)); // torch.fmod(·, 1.0); the argument is positive
    // (h + hue_factor) % 1.0: Python's modulo, the result takes the divisor's sign.
    h = f32(h + f32(hueShift));
    h = f32(h - Math.floor(h));
    const v = maxc;
    const h6 = f32(h * 6);
    const i = Math.floor(h6);
    const f = f32(h6 - i);
    const p = clamp01(f32(v * f32(1 - s)));
    const q = clamp01(f32(v * f32(1 - f32(s * f))));
    const t = clamp01(f32(v * f32(1 - f32(s * f32(1 - f)))));
    let R: number, G: number, B: number;
    switch (((i % 6) + 6) % 6) {
      case 0:
        [R, G, B] = [v, t, p];
        break;
      case 1:
        [R, G, B] = [q, v, p];
        break;
      case 2:
        [R, G, B] = [p, v, t];
        break;
      case 3:
        [R, G, B] = [p, q, v];
        break;
      case 4:
        [R, G, B] = [t, p, v];
        break;
      default:
        [R, G, B] = [v, p, q];
    }
    out[j] = Math.trunc(f32(R * 255));
    out[j + 1] = Math.trunc(f32(G * 255));
    out[j + 2] = Math.trunc(f32(B * 255));
  }
  return out;
}

/** ColorJitter's `_check_input`: the range to draw from, or null when the adjustment is off. */
export function colorJitterRange(name: keyof ColorJitter, value: number | [number, number] | undefined): [number, number] | null {
  if (value === undefined) return null;
  const hue = name === "hue";
  const centre = hue ? 0 : 1;
  const bound: [number, number] = hue ? [-0.5, 0.5] : [0, Infinity];
  let range: [number, number];
  if (typeof value === "number") {
    if (!(value >= 0)) throw new RangeError(`colorJitter.${name}: a single number must be non-negative, got ${value}`);
    range = hue ? [-value, value] : [Math.max(0, centre - value), centre + value];
  } else {
    if (!Array.isArray(value) || value.length !== 2 || !value.every(Number.isFinite))
      throw new RangeError(`colorJitter.${name}: expected a number or a [min, max] pair, got ${JSON.stringify(value)}`);
    range = [value[0], value[1]];
  }
  if (!(bound[0] <= range[0] && range[0] <= range[1] && range[1] <= bound[1])) {
    throw new RangeError(`colorJitter.${name}: range [${range[0]}, ${range[1]}] must lie within [${bound[0]}, ${bound[1]}] with min ≤ max`);
  }
  return range[0] === centre && range[1] === centre ? null : range;
}

const JITTER_OPS = [
  ["brightness", adjustBrightness],
  ["contrast", adjustContrast],
  ["saturation", adjustSaturation],
  ["hue", adjustHue],
] as const;

/**
 * torchvision's `ColorJitter.forward`: a random order of the four adjustments (a permutation of
 * all four is drawn, as `torch.randperm(4)`), then one factor per enabled adjustment drawn uniformly
 * from its range (brightness, contrast, saturation, hue), each applied in the drawn order. HWC RGB.
 */
export function colorJitterRGB(rgb: Uint8Array, jitter: ColorJitter, rng: Random): Uint8Array {
  const order = rng.shuffle([0, 1, 2, 3]);
  const factors = JITTER_OPS.map(([name]) => {
    const range = colorJitterRange(name, jitter[name]);
    return range && range[0] + rng.uniform() * (range[1] - range[0]);
  });
  let pixels = rgb;
  for (const k of order) {
    const f = factors[k];
    if (f !== null) pixels = JITTER_OPS[k][1](pixels, f);
  }
  return pixels;
}
