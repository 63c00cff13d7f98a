/**
 * TrivialAugmentWide and RandAugment with torchvision 0.14's semantics (`transforms/autoaugment.py`), on
 * uint8 HWC RGB, browser-safe. Each op is the one torchvision applies to a PIL image, ported from Pillow 9.4
 * down to its integer and float32 arithmetic: the geometric ops are `Image.transform(AFFINE, NEAREST)` with
 * fill 0 (16.16 fixed point, `libImaging/Geometry.c`) and `Image.rotate`'s fast paths; Brightness, Color,
 * Contrast and Sharpness are `ImageEnhance` (a `blend` with a degenerate image); Posterize, Solarize,
 * AutoContrast and Equalize are `ImageOps` look-up tables. The magnitude bins are torch's float32
 * `linspace`. Random choices come from the caller's seeded generator (op, bin and sign drawn in
 * torchvision's order). tests/data/auto_augment.test.ts compares every op with torchvision's output.
 * Details: docs/images.md#auto-augmentation
 */
import type { Random } from "../random.js";

/** The ops of TrivialAugmentWide and RandAugment, in torchvision's order (the index the op draw picks). */
export const AUGMENT_OPS = [
  "Identity",
  "ShearX",
  "ShearY",
  "TranslateX",
  "TranslateY",
  "Rotate",
  "Brightness",
  "Color",
  "Contrast",
  "Sharpness",
  "Posterize",
  "Solarize",
  "AutoContrast",
  "Equalize",
] as const;

export type AugmentOp = (typeof AUGMENT_OPS)[number];

/** The per-image policy a training transform may apply: none, TrivialAugmentWide or RandAugment. */
export type AutoAugmentPolicy = "none" | "trivialaugment" | "randaugment";

/** RandAugment's arguments (torchvision's defaults: 2 ops at magnitude 9 of 31 bins). */
export interface RandAugmentOptions {
  numOps?: number;
  magnitude?: number;
  numMagnitudeBins?: number;
}

/** One op's entry in an augmentation space: its magnitude bins (null: the op takes none) and whether a sign is drawn. */
export interface OpSpace {
  op: AugmentOp;
  magnitudes: number[] | null;
  signed: boolean;
}

const f32 = Math.fround;

/**
 * `torch.linspace(start, end, steps)` as float32 values, computed as Debian's torch 1.13 does on an AVX2 CPU:
 * the first half `start + step·i`, the second `end − step·(steps − 1 − i)` (each one fused multiply-add),
 * except that whole blocks of 16 go through the vectorised path, two vectors of 8 whose lanes are
 * `base + k·step` rounded twice (`Vectorized<float>::arange`). The tests compare the tables with torch's.
 */
export function torchLinspace(start: number, end: number, steps: number): number[] {
  const s = f32(start);
  const e = f32(end);
  if (steps === 1) return [s];
  const step = f32(f32(e - s) / (steps - 1));
  const half = Math.floor(steps / 2);
  // f32 of the double result is the single rounding of a fused multiply-add (step·i is exact in a double).
  const scalar = (i: number) => (i < half ? f32(s + step * i) : f32(e - step * (steps - i - 1)));
  const out: number[] = [];
  let i = 0;
  for (; i + 16 <= steps; i += 16) {
    for (const idx of [i, i + 8]) {
      const base = scalar(idx);
      out.push(base);
      for (let k = 1; k < 8; k++) out.push(f32(base + f32(k * step)));
    }
  }
  for (; i < steps; i++) out.push(scalar(i));
  return out;
}

/** `8 - (torch.arange(bins) / ((bins - 1) / divisor)).round().int()`: float32 division, round half to even. */
function posterizeBits(bins: number, divisor: number): number[] {
  const d = f32((bins - 1) / divisor);
  return Array.from({ length: bins }, (_, i) => 8 - roundHalfEven(f32(i / d)));
}

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** TrivialAugmentWide's `_augmentation_space(num_bins)`: wide ranges. */
export function trivialAugmentSpace(numBins = 31): OpSpace[] {
  const lin = (end: number) => torchLinspace(0, end, numBins);
  return [
    { op: "Identity", magnitudes: null, signed: false },
    { op: "ShearX", magnitudes: lin(0.99), signed: true },
    { op: "ShearY", magnitudes: lin(0.99), signed: true },
    { op: "TranslateX", magnitudes: lin(32), signed: true },
    { op: "TranslateY", magnitudes: lin(32), signed: true },
    { op: "Rotate", magnitudes: lin(135), signed: true },
    { op: "Brightness", magnitudes: lin(0.99), signed: true },
    { op: "Color", magnitudes: lin(0.99), signed: true },
    { op: "Contrast", magnitudes: lin(0.99), signed: true },
    { op: "Sharpness", magnitudes: lin(0.99), signed: true },
    { op: "Posterize", magnitudes: posterizeBits(numBins, 6), signed: false },
    { op: "Solarize", magnitudes: torchLinspace(255, 0, numBins), signed: false },
    { op: "AutoContrast", magnitudes: null, signed: false },
    { op: "Equalize", magnitudes: null, signed: false },
  ];
}

/** RandAugment's `_augmentation_space(num_bins, (height, width))`: translations scale with the image. */
export function randAugmentSpace(numBins: number, width: number, height: number): OpSpace[] {
  const lin = (end: number) => torchLinspace(0, end, numBins);
  return [
    { op: "Identity", magnitudes: null, signed: false },
    { op: "ShearX", magnitudes: lin(0.3), signed: true },
    { op: "ShearY", magnitudes: lin(0.3), signed: true },
    { op: "TranslateX", magnitudes: lin((150.0 / 331.0) * width), signed: true },
    { op: "TranslateY", magnitudes: lin((150.0 / 331.0) * height), signed: true },
    { op: "Rotate", magnitudes: lin(30), signed: true },
    { op: "Brightness", magnitudes: lin(0.9), signed: true },
    { op: "Color", magnitudes: lin(0.9), signed: true },
    { op: "Contrast", magnitudes: lin(0.9), signed: true },
    { op: "Sharpness", magnitudes: lin(0.9), signed: true },
    { op: "Posterize", magnitudes: posterizeBits(numBins, 4), signed: false },
    { op: "Solarize", magnitudes: torchLinspace(255, 0, numBins), signed: false },
    { op: "AutoContrast", magnitudes: null, signed: false },
    { op: "Equalize", magnitudes: null, signed: false },
  ];
}

/** One op with its signed magnitude, as drawn by a policy. */
export interface OpDraw {
  op: AugmentOp;
  magnitude: number;
}

/**
 * TrivialAugmentWide's draws (`forward`): an op uniformly, then, for an op with bins, a bin uniformly, then
 * for a signed op a coin that negates the magnitude — `torch.randint` each, here `rng.int`.
 */
export function drawTrivialAugment(rng: Random, numBins = 31): OpDraw {
  const space = trivialAugmentSpace(numBins);
  const { op, magnitudes, signed } = space[rng.int(space.length)];
  let magnitude = magnitudes ? magnitudes[rng.int(magnitudes.length)] : 0;
  if (signed && rng.int(2) === 1) magnitude = -magnitude;
  return { op, magnitude };
}

/** RandAugment's draws: numOps times an op uniformly and, for a signed op, the sign; the bin is fixed. */
export function drawRandAugment(rng: Random, width: number, height: number, options: RandAugmentOptions = {}): OpDraw[] {
  const { numOps, magnitude: bin, numMagnitudeBins } = randAugmentOptions(options);
  const space = randAugmentSpace(numMagnitudeBins, width, height);
  const draws: OpDraw[] = [];
  for (let k = 0; k < numOps; k++) {
    const { op, magnitudes, signed } = space[rng.int(space.length)];
    let magnitude = magnitudes ? magnitudes[bin] : 0;
    if (signed && rng.int(2) === 1) magnitude = -magnitude;
    draws.push({ op, magnitude });
  }
  return draws;
}

function randAugmentOptions(o: RandAugmentOptions): Required<RandAugmentOptions> {
  const r = { numOps: o.numOps ?? 2, magnitude: o.magnitude ?? 9, numMagnitudeBins: o.numMagnitudeBins ?? 31 };
  if (!Number.isInteger(r.numOps) || r.numOps < 0)
    throw new RangeError(`randAugment.numOps must be a non-negative integer, got ${r.numOps}`);
  if (!Number.isInteger(r.numMagnitudeBins) || r.numMagnitudeBins < 2) {
    throw new RangeError(`randAugment.numMagnitudeBins must be an integer ≥ 2, got ${r.numMagnitudeBins}`);
  }
  if (!Number.isInteger(r.magnitude) || r.magnitude < 0 || r.magnitude >= r.numMagnitudeBins) {
    throw new RangeError(`randAugment.magnitude must be an integer in [0, ${r.numMagnitudeBins - 1}], got ${r.magnitude}`);
  }
  return r;
}

/** TrivialAugmentWide (torchvision's, NEAREST, fill 0) on uint8 HWC RGB. May return `rgb` itself (Identity). */
export function trivialAugmentWide(rgb: Uint8Array, width: number, height: number, rng: Random, numBins = 31): Uint8Array {
  const { op, magnitude } = drawTrivialAugment(rng, numBins);
  return applyAugmentOp(rgb, width, height, op, magnitude);
}

/** RandAugment (torchvision's, NEAREST, fill 0) on uint8 HWC RGB. May return `rgb` itself. */
export function randAugment(rgb: Uint8Array, width: number, height: number, rng: Random, options: RandAugmentOptions = {}): Uint8Array {
  let pixels = rgb;
  for (const { op, magnitude } of drawRandAugment(rng, width, height, options))
    pixels = applyAugmentOp(pixels, width, height, op, magnitude);
  return pixels;
}

/** Applies the policy named (nothing for "none" or undefined), drawing from rng. */
export function autoAugmentRGB(
  rgb: Uint8Array,
  width: number,
  height: number,
  policy: AutoAugmentPolicy | undefined,
  rng: Random,
  randAugmentOptions?: RandAugmentOptions,
): Uint8Array {
  if (policy === undefined || policy === "none") return rgb;
  if (policy === "trivialaugment") return trivialAugmentWide(rgb, width, height, rng);
  if (policy === "randaugment") return randAugment(rgb, width, height, rng, randAugmentOptions);
  throw new RangeError(`unknown auto-augment policy ${JSON.stringify(policy)}: expected "none", "trivialaugment" or "randaugment"`);
}

/**
 * torchvision's `_apply_op(img, op, magnitude, NEAREST, fill=None)` on a PIL RGB image, here uint8 HWC RGB
 * of width × height. Returns a new array, or `rgb` itself for Identity.
 */
export function applyAugmentOp(rgb: Uint8Array, width: number, height: number, op: AugmentOp, magnitude: number): Uint8Array {
  if (rgb.length !== width * height * 3)
    throw new RangeError(`expected ${width * height * 3} RGB bytes for ${width}x${height}, got ${rgb.length}`);
  const degrees = (rad: number) => rad * (180 / Math.PI); // Python's math.degrees
  switch (op) {
    case "Identity":
      return rgb;
    case "ShearX":
      return affine(rgb, width, height, 0, [0, 0], 1, [degrees(Math.atan(magnitude)), 0], [0, 0]);
    case "ShearY":
      return affine(rgb, width, height, 0, [0, 0], 1, [0, degrees(Math.atan(magnitude))], [0, 0]);
    case "TranslateX":
      return affine(rgb, width, height, 0, [Math.trunc(magnitude), 0], 1, [0, 0]);
    case "TranslateY":
      return affine(rgb, width, height, 0, [0, Math.trunc(magnitude)], 1, [0, 0]);
    case "Rotate":
      return rotate(rgb, width, height, magnitude);
    case "Brightness":
      return blend(new Uint8Array(rgb.length), rgb, 1 + magnitude);
    case "Color":
      return blend(greyRGB(rgb), rgb, 1 + magnitude);
    case "Contrast":
      return blend(meanGreyRGB(rgb), rgb, 1 + magnitude);
    case "Sharpness":
      return blend(smooth(rgb, width, height), rgb, 1 + magnitude);
    case "Posterize":
      return posterize(rgb, Math.trunc(magnitude));
    case "Solarize":
      return solarize(rgb, magnitude);
    case "AutoContrast":
      return autocontrast(rgb);
    case "Equalize":
      return equalize(rgb);
    default:
      throw new RangeError(`unknown augmentation op ${JSON.stringify(op)}`);
  }
}

// ---- Geometry: torchvision's F.affine / F.rotate on PIL → Image.transform(AFFINE, NEAREST) ------------------

/**
 * torchvision's `F.affine` on a PIL image: the inverse matrix of `_get_inverse_affine_matrix` about `center`
 * (default the image centre, (w/2, h/2)), then PIL's affine transform, nearest, fill 0.
 */
function affine(
  rgb: Uint8Array,
  width: number,
  height: number,
  angle: number,
  translate: [number, number],
  scale: number,
  shear: [number, number],
  center: [number, number] = [width * 0.5, height * 0.5],
): Uint8Array {
  const radians = (deg: number) => deg * (Math.PI / 180); // Python's math.radians
  const rot = radians(angle);
  const sx = radians(shear[0]);
  const sy = radians(shear[1]);
  const [cx, cy] = center;
  const [tx, ty] = translate;
  const a = Math.cos(rot - sy) / Math.cos(sy);
  const b = (-Math.cos(rot - sy) * Math.tan(sx)) / Math.cos(sy) - Math.sin(rot);
  const c = Math.sin(rot - sy) / Math.cos(sy);
  const d = (-Math.sin(rot - sy) * Math.tan(sx)) / Math.cos(sy) + Math.cos(rot);
  const m = [d, -b, 0, -c, a, 0].map((x) => x / scale);
  m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty);
  m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty);
  m[2] += cx;
  m[5] += cy;
  return transformAffine(rgb, width, height, m);
}

/** Python's `round(x, 15)`: the double nearest the decimal rounded to 15 places. */
const round15 = (x: number) => Number(x.toFixed(15));

/** PIL's `Image.rotate(angle, NEAREST, expand=False, fillcolor=0)`: counter-clockwise degrees about (w/2, h/2). */
function rotate(rgb: Uint8Array, width: number, height: number, angle: number): Uint8Array {
  let deg = angle % 360; // Python's float modulo: the result takes the divisor's sign
  if (deg !== 0 && deg < 0) deg += 360;
  if (deg === 0) return rgb.slice();
  if (deg === 180) return transpose(rgb, width, height, 180);
  if ((deg === 90 || deg === 270) && width === height) return transpose(rgb, width, height, deg);
  const rad = -(deg * (Math.PI / 180));
  const m = [round15(Math.cos(rad)), round15(Math.sin(rad)), 0, round15(-Math.sin(rad)), round15(Math.cos(rad)), 0];
  const [cx, cy] = [width / 2, height / 2];
  const x = -cx;
  const y = -cy;
  [m[2], m[5]] = [m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5]];
  m[2] += cx;
  m[5] += cy;
  return transformAffine(rgb, width, height, m);
}

/** PIL's `transpose(ROTATE_90 | ROTATE_180 | ROTATE_270)` (counter-clockwise). */
function transpose(rgb: Uint8Array, width: number, height: number, deg: 90 | 180 | 270): Uint8Array {
  const out = new Uint8Array(rgb.length);
  const outWidth = deg === 180 ? width : height;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let ox: number;
      let oy: number;
      if (deg === 90) [ox, oy] = [y, width - 1 - x];
      else if (deg === 270) [ox, oy] = [height - 1 - y, x];
      else [ox, oy] = [width - 1 - x, height - 1 - y];
      const s = (y * width + x) * 3;
      const t = (oy * outWidth + ox) * 3;
      out[t] = rgb[s];
      out[t + 1] = rgb[s + 1];
      out[t + 2] = rgb[s + 2];
    }
  }
  return out;
}

/** C's COORD: -1 below zero, else truncation. */
const coord = (v: number) => (v < 0 ? -1 : Math.trunc(v));

/**
 * Pillow's `ImagingTransformAffine` with nearest resampling on a new image filled with 0: output pixel (x, y)
 * takes the source pixel at m·(x + ½, y + ½). A matrix without rotation or shear goes through
 * `ImagingScaleAffine` (doubles); any other through `affine_fixed` (16.16 fixed point) while the corners stay
 * within ±32768, else the double loop.
 */
function transformAffine(rgb: Uint8Array, width: number, height: number, a: number[]): Uint8Array {
  const out = new Uint8Array(rgb.length);
  const copy = (x: number, y: number, xin: number, yin: number) => {
    const s = (yin * width + xin) * 3;
    const t = (y * width + x) * 3;
    out[t] = rgb[s];
    out[t + 1] = rgb[s + 1];
    out[t + 2] = rgb[s + 2];
  };
  if (a[1] === 0 && a[3] === 0) {
    // ImagingScaleAffine: a table of source columns, then one source row per output row.
    const xintab = new Int32Array(width);
    let xo = a[2] + a[0] * 0.5;
    let yo = a[5] + a[4] * 0.5;
    let xmin = width;
    let xmax = 0;
    for (let x = 0; x < width; x++) {
      const xin = coord(xo);
      if (xin >= 0 && xin < width) {
        xmax = x + 1;
        if (x < xmin) xmin = x;
        xintab[x] = xin;
      }
      xo += a[0];
    }
    for (let y = 0; y < height; y++) {
      const yi = coord(yo);
      if (yi >= 0 && yi < height) for (let x = xmin; x < xmax; x++) copy(x, y, xintab[x], yi);
      yo += a[4];
    }
    return out;
  }
  const fits = (x: number, y: number) => Math.abs(x * a[0] + y * a[1] + a[2]) < 32768 && Math.abs(x * a[3] + y * a[4] + a[5]) < 32768;
  if (fits(0, 0) && fits(width, height) && fits(0, height) && fits(width, 0)) {
    // affine_fixed: FIX(v) = FLOOR(v * 65536 + 0.5), int arithmetic, >> 16.
    const fix = (v: number) => Math.floor(v * 65536 + 0.5) | 0;
    const [a0, a1, a3, a4] = [fix(a[0]), fix(a[1]), fix(a[3]), fix(a[4])];
    let a2 = fix(a[2] + a[0] * 0.5 + a[1] * 0.5);
    let a5 = fix(a[5] + a[3] * 0.5 + a[4] * 0.5);
    for (let y = 0; y < height; y++) {
      let xx = a2;
      let yy = a5;
      for (let x = 0; x < width; x++) {
        const xin = xx >> 16;
        if (xin >= 0 && xin < width) {
          const yin = yy >> 16;
          if (yin >= 0 && yin < height) copy(x, y, xin, yin);
        }
        xx = (xx + a0) | 0;
        yy = (yy + a3) | 0;
      }
      a2 = (a2 + a1) | 0;
      a5 = (a5 + a4) | 0;
    }
    return out;
  }
  let xo = a[2] + a[1] * 0.5 + a[0] * 0.5;
  let yo = a[5] + a[4] * 0.5 + a[3] * 0.5;
  for (let y = 0; y < height; y++) {
    let xx = xo;
    let yy = yo;
    for (let x = 0; x < width; x++) {
      const xin = coord(xx);
      if (xin >= 0 && xin < width) {
        const yin = coord(yy);
        if (yin >= 0 && yin < height) copy(x, y, xin, yin);
      }
      xx += a[0];
      yy += a[3];
    }
    xo += a[1];
    yo += a[4];
  }
  return out;
}

// ---- ImageEnhance: Image.blend(degenerate, image, factor) --------------------------------------------------

/**
 * Pillow's `ImagingBlend(im1, im2, alpha)` with alpha a C float: im1 + alpha·(im2 − im1) in float32, truncated
 * to uint8 (clamped to [0, 255] when extrapolating); alpha 0 and 1 copy an input.
 */
function blend(degenerate: Uint8Array, image: Uint8Array, factor: number): Uint8Array {
  const alpha = f32(factor);
  if (alpha === 0) return degenerate.slice();
  if (alpha === 1) return image.slice();
  const out = new Uint8Array(image.length);
  for (let i = 0; i < image.length; i++) {
    const v = f32(degenerate[i] + f32(alpha * (image[i] - degenerate[i])));
    out[i] = v <= 0 ? 0 : v >= 255 ? 255 : Math.trunc(v);
  }
  return out;
}

/** PIL's RGB → "L": (19595 r + 38470 g + 7471 b + 0x8000) >> 16 (ITU-R 601-2 luma, rounded). */
function luma(rgb: Uint8Array): Uint8Array {
  const n = rgb.length / 3;
  const out = new Uint8Array(n);
  for (let i = 0, j = 0; i < n; i++, j += 3) out[i] = (rgb[j] * 19595 + rgb[j + 1] * 38470 + rgb[j + 2] * 7471 + 0x8000) >>> 16;
  return out;
}

/** `ImageEnhance.Color`'s degenerate: `image.convert("L").convert("RGB")`. */
function greyRGB(rgb: Uint8Array): Uint8Array {
  const l = luma(rgb);
  const out = new Uint8Array(rgb.length);
  for (let i = 0, j = 0; i < l.length; i++, j += 3) out[j] = out[j + 1] = out[j + 2] = l[i];
  return out;
}

/** `ImageEnhance.Contrast`'s degenerate: one grey, int(mean of the "L" image + 0.5). */
function meanGreyRGB(rgb: Uint8Array): Uint8Array {
  const l = luma(rgb);
  let sum = 0;
  for (let i = 0; i < l.length; i++) sum += l[i];
  return new Uint8Array(rgb.length).fill(Math.trunc(sum / l.length + 0.5));
}

/**
 * `ImageEnhance.Sharpness`'s degenerate: `image.filter(ImageFilter.SMOOTH)`, Pillow's `ImagingFilter3x3` with
 * the kernel [1 1 1; 1 5 1; 1 1 1] / 13 in float32 (offset 0.5, then truncated); the border pixels are copied.
 */
function smooth(rgb: Uint8Array, width: number, height: number): Uint8Array {
  const out = rgb.slice();
  const k1 = f32(1 / 13);
  const k5 = f32(5 / 13);
  const row = (v0: number, v1: number, v2: number, mid: number) => f32(f32(f32(v0 * k1) + f32(v1 * mid)) + f32(v2 * k1));
  for (let y = 1; y < height - 1; y++) {
    for (let x = 1; x < width - 1; x++) {
      for (let c = 0; c < 3; c++) {
        const at = (yy: number, xx: number) => rgb[(yy * width + xx) * 3 + c];
        let ss = f32(0.5);
        ss = f32(ss + row(at(y + 1, x - 1), at(y + 1, x), at(y + 1, x + 1), k1));
        ss = f32(ss + row(at(y, x - 1), at(y, x), at(y, x + 1), k5));
        ss = f32(ss + row(at(y - 1, x - 1), at(y - 1, x), at(y - 1, x + 1), k1));
        out[(y * width + x) * 3 + c] = ss <= 0 ? 0 : ss >= 255 ? 255 : Math.trunc(ss);
      }
    }
  }
  return out;
}

// ---- ImageOps: per-channel look-up tables ------------------------------------------------------------------

function applyLuts(rgb: Uint8Array, luts: ArrayLike<number>[]): Uint8Array {
  const out = new Uint8Array(rgb.length);
  for (let i = 0; i < rgb.length; i += 3) {
    out[i] = luts[0][rgb[i]];
    out[i + 1] = luts[1][rgb[i + 1]];
    out[i + 2] = luts[2][rgb[i + 2]];
  }
  return out;
}

function histograms(rgb: Uint8Array): Int32Array[] {
  const h = [new Int32Array(256), new Int32Array(256), new Int32Array(256)];
  for (let i = 0; i < rgb.length; i += 3) {
    h[0][rgb[i]]++;
    h[1][rgb[i + 1]]++;
    h[2][rgb[i + 2]]++;
  }
  return h;
}

/** `ImageOps.posterize(image, bits)`: keeps the top `bits` bits. */
function posterize(rgb: Uint8Array, bits: number): Uint8Array {
  if (!(bits >= 0 && bits <= 8)) throw new RangeError(`posterize bits must be in [0, 8], got ${bits}`);
  const mask = ~(2 ** (8 - bits) - 1);
  const lut = Array.from({ length: 256 }, (_, i) => i & mask);
  return applyLuts(rgb, [lut, lut, lut]);
}

/** `ImageOps.solarize(image, threshold)`: inverts the values at or above the threshold. */
function solarize(rgb: Uint8Array, threshold: number): Uint8Array {
  const lut = Array.from({ length: 256 }, (_, i) => (i < threshold ? i : 255 - i));
  return applyLuts(rgb, [lut, lut, lut]);
}

/** `ImageOps.autocontrast(image)` (cutoff 0): each channel's [lo, hi] stretched to [0, 255]. */
function autocontrast(rgb: Uint8Array): Uint8Array {
  const luts = histograms(rgb).map((h) => {
    let lo = 0;
    while (lo < 255 && !h[lo]) lo++;
    let hi = 255;
    while (hi > 0 && !h[hi]) hi--;
    if (hi <= lo) return Array.from({ length: 256 }, (_, i) => i);
    const scale = 255.0 / (hi - lo);
    const offset = -lo * scale;
    return Array.from({ length: 256 }, (_, i) => Math.min(255, Math.max(0, Math.trunc(i * scale + offset))));
  });
  return applyLuts(rgb, luts);
}

/** `ImageOps.equalize(image)`: each channel's cumulative histogram as the mapping, in Pillow's integer steps. */
function equalize(rgb: Uint8Array): Uint8Array {
  const luts = histograms(rgb).map((h) => {
    const present = [...h].filter((v) => v > 0);
    const identity = Array.from({ length: 256 }, (_, i) => i);
    if (present.length <= 1) return identity;
    const step = Math.floor((present.reduce((s, v) => s + v, 0) - present[present.length - 1]) / 255);
    if (!step) return identity;
    let n = Math.floor(step / 2);
    return Array.from({ length: 256 }, (_, i) => {
      const v = Math.min(255, Math.floor(n / step)); // Image.point clips the table to uint8
      n += h[i];
      return v;
    });
  });
  return applyLuts(rgb, luts);
}
