/**
 * Eval-time preprocessing, exactly as torchvision does it on a PIL image:
 * Resize(resizeSize) on the shorter side -> CenterCrop(cropSize) -> ToTensor -> Normalize(mean, std).
 * Browser-safe: the resampler is a port of Pillow 9.4's `ImagingResample` (`libImaging/Resample.c`), so the
 * tensors are bit-identical to torchvision's (sharp's resize is not: docs/images.md#resizing).
 */
import type { Interpolation, Preprocessing } from "../models/preprocessing.js";

/**
 * Per-channel lookup tables giving, for each uint8 value, torch's float32 result of
 * ToTensor (x / 255) then Normalize ((x - mean) / std). Each float32 op is one rounding of the exact
 * result, which a double op followed by Math.fround reproduces, so the tables are bit-exact.
 */
function normalizationTables(p: Preprocessing): Float32Array[] {
  return [0, 1, 2].map((c) => {
    const mean = Math.fround(p.mean[c]);
    const std = Math.fround(p.std[c]);
    const lut = new Float32Array(256);
    for (let v = 0; v < 256; v++) lut[v] = Math.fround(Math.fround(v / 255) - mean) / std;
    return lut;
  });
}

/** uint8 HWC RGB -> float32 CHW, (x/255 - mean)/std; written into out at offset when given. */
export function normalizeHWCToCHW(
  rgb: Uint8Array,
  width: number,
  height: number,
  p: Preprocessing,
  out?: Float32Array,
  offset = 0,
): Float32Array {
  const plane = width * height;
  if (rgb.length !== plane * 3) {
    throw new RangeError(`expected ${plane * 3} RGB bytes for ${width}x${height}, got ${rgb.length}`);
  }
  const dst = out ?? new Float32Array(plane * 3);
  if (offset < 0 || offset + plane * 3 > dst.length) {
    throw new RangeError(`output of length ${dst.length} has no room for ${plane * 3} values at offset ${offset}`);
  }
  const [r, g, b] = normalizationTables(p);
  for (let i = 0, j = 0; i < plane; i++, j += 3) {
    dst[offset + i] = r[rgb[j]];
    dst[offset + plane + i] = g[rgb[j + 1]];
    dst[offset + 2 * plane + i] = b[rgb[j + 2]];
  }
  return dst;
}

/** torchvision's `Resize(size)` output size: shorter side = size, longer = int(size * long / short). */
export function resizedSize(width: number, height: number, size: number): { width: number; height: number } {
  if (width <= height) return { width: size, height: Math.trunc((size * height) / width) };
  return { width: Math.trunc((size * width) / height), height: size };
}

/** Python's round(): halves go to the even neighbour (torchvision's centre-crop offsets use it). */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** torchvision's `CenterCrop` offsets: int(round((size - crop) / 2)) on each axis. */
export function centerCropOffsets(width: number, height: number, crop: number): { left: number; top: number } {
  return { left: roundHalfEven((width - crop) / 2), top: roundHalfEven((height - crop) / 2) };
}

/**
 * The whole eval transform on decoded uint8 HWC RGB pixels: CHW float32 of length 3*crop*crop,
 * written into out at offset when given (for batching).
 */
export function evalTransformRGB(
  rgb: Uint8Array,
  width: number,
  height: number,
  p: Preprocessing,
  out?: Float32Array,
  offset = 0,
): Float32Array {
  if (p.cropSize > p.resizeSize) {
    throw new RangeError(`cropSize ${p.cropSize} exceeds resizeSize ${p.resizeSize}`);
  }
  const size = resizedSize(width, height, p.resizeSize);
  const { left, top } = centerCropOffsets(size.width, size.height, p.cropSize);
  const window = { left, top, width: p.cropSize, height: p.cropSize };
  const cropped = resizeRGB(rgb, width, height, size.width, size.height, p.interpolation, window);
  return normalizeHWCToCHW(cropped, p.cropSize, p.cropSize, p, out, offset);
}

export interface Window {
  left: number;
  top: number;
  width: number;
  height: number;
}

/**
 * Resizes uint8 HWC RGB to outWidth x outHeight the way PIL's `Image.resize` does, and returns only
 * the pixels inside `window` of the output (default: all of it). Each output pixel depends only on
 * its own filter taps, so computing just the crop gives the same bytes as resizing then cropping.
 */
export function resizeRGB(
  rgb: Uint8Array,
  width: number,
  height: number,
  outWidth: number,
  outHeight: number,
  interpolation: Interpolation,
  window: Window = { left: 0, top: 0, width: outWidth, height: outHeight },
): Uint8Array {
  if (rgb.length !== width * height * 3) {
    throw new RangeError(`expected ${width * height * 3} RGB bytes for ${width}x${height}, got ${rgb.length}`);
  }
  const { left, top } = window;
  if (left < 0 || top < 0 || left + window.width > outWidth || top + window.height > outHeight) {
    throw new RangeError(`window ${JSON.stringify(window)} is outside the ${outWidth}x${outHeight} output`);
  }
  if (interpolation === "nearest") return resizeNearest(rgb, width, height, outWidth, outHeight, window);
  const filter = FILTERS[interpolation];
  const needHorizontal = outWidth !== width;
  const needVertical = outHeight !== height;
  const hc = coefficients(width, outWidth, filter);
  const vc = coefficients(height, outHeight, filter);

  // Source rows the vertical pass will read for the window's rows (bounds grow monotonically).
  const rowFirst = needVertical ? vc.start[top] : top;
  const rowLast = needVertical ? vc.start[top + window.height - 1] + vc.count[top + window.height - 1] : top + window.height;

  // Horizontal pass into a temp image of rows [rowFirst, rowLast) x the window's columns.
  // Without one, the "temp" is the source itself and the window's columns are source columns.
  let temp = rgb;
  let tempWidth = width;
  let tempLeft = left;
  let tempTop = 0;
  if (needHorizontal) {
    tempWidth = window.width;
    tempLeft = 0;
    tempTop = rowFirst;
    temp = new Uint8Array(tempWidth * (rowLast - rowFirst) * 3);
    let o = 0;
    for (let y = rowFirst; y < rowLast; y++) {
      const row = y * width * 3;
      for (let xx = left; xx < left + window.width; xx++) {
        const k = xx * hc.ksize;
        const n = hc.count[xx];
        let s0 = ROUNDING;
        let s1 = ROUNDING;
        let s2 = ROUNDING;
        for (let x = 0, i = row + hc.start[xx] * 3; x < n; x++, i += 3) {
          const w = hc.weights[k + x];
          s0 += rgb[i] * w;
          s1 += rgb[i + 1] * w;
          s2 += rgb[i + 2] * w;
        }
        temp[o++] = clip8(s0);
        temp[o++] = clip8(s1);
        temp[o++] = clip8(s2);
      }
    }
  }
  if (!needVertical) {
    // Only copy out the window (rows are source rows: the height did not change).
    const out = new Uint8Array(window.width * window.height * 3);
    for (let y = 0; y < window.height; y++) {
      const from = ((top + y - tempTop) * tempWidth + tempLeft) * 3;
      out.set(temp.subarray(from, from + window.width * 3), y * window.width * 3);
    }
    return out;
  }
  const out = new Uint8Array(window.width * window.height * 3);
  const stride = tempWidth * 3;
  let o = 0;
  for (let yy = top; yy < top + window.height; yy++) {
    const k = yy * vc.ksize;
    const n = vc.count[yy];
    const first = (vc.start[yy] - tempTop) * stride;
    for (let xx = 0; xx < window.width; xx++) {
      let s0 = ROUNDING;
      let s1 = ROUNDING;
      let s2 = ROUNDING;
      for (let y = 0, i = first + (tempLeft + xx) * 3; y < n; y++, i += stride) {
        const w = vc.weights[k + y];
        s0 += temp[i] * w;
        s1 += temp[i + 1] * w;
        s2 += temp[i + 2] * w;
      }
      out[o++] = clip8(s0);
      out[o++] = clip8(s1);
      out[o++] = clip8(s2);
    }
  }
  return out;
}

// ---- Pillow's convolution resampler (Resample.c), 8-bit path ----

interface Filter {
  support: number;
  at(x: number): number;
}

const FILTERS: Record<"bilinear" | "bicubic", Filter> = {
  // Triangle: with the support scaled by the downscale factor this is the antialiased bilinear.
  bilinear: {
    support: 1,
    at(x) {
      x = Math.abs(x);
      return x < 1 ? 1 - x : 0;
    },
  },
  // Keys' cubic with a = -0.5, as in Pillow (and torch's antialiased bicubic).
  bicubic: {
    support: 2,
    at(x) {
      const a = -0.5;
      x = Math.abs(x);
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
};

/** Pillow keeps coefficients as 22-bit fixed point and accumulates in integers. */
const PRECISION_BITS = 22;
const ROUNDING = 1 << (PRECISION_BITS - 1);

function clip8(v: number): number {
  if (v >= 2 ** (PRECISION_BITS + 8)) return 255;
  if (v <= 0) return 0;
  return v >> PRECISION_BITS;
}

interface Coefficients {
  ksize: number;
  /** First source index and number of taps for each output index. */
  start: Int32Array;
  count: Int32Array;
  /** outSize x ksize fixed-point weights. */
  weights: Int32Array;
}

/** Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc`, same double arithmetic and truncations. */
function coefficients(inSize: number, outSize: number, filter: Filter): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1); // widen the filter when shrinking: the antialiasing
  const support = filter.support * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  const ss = 1 / filterScale; // Pillow multiplies by the reciprocal; dividing would round differently
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const n = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let sum = 0;
    for (let x = 0; x < n; x++) {
      k[x] = filter.at((x + xmin - center + 0.5) * ss);
      sum += k[x];
    }
    for (let x = 0; x < n; x++) {
      const w = sum !== 0 ? k[x] / sum : k[x];
      weights[xx * ksize + x] = Math.trunc(w < 0 ? -0.5 + w * 2 ** PRECISION_BITS : 0.5 + w * 2 ** PRECISION_BITS);
    }
    start[xx] = xmin;
    count[xx] = n;
  }
  return { ksize, start, count, weights };
}

/**
 * PIL's NEAREST resize (`ImagingScaleAffine`): source index = int((x + 0.5) * in/out), with the
 * position accumulated step by step in doubles exactly as Pillow does.
 */
function resizeNearest(rgb: Uint8Array, width: number, height: number, outWidth: number, outHeight: number, window: Window): Uint8Array {
  const sourceIndex = (inSize: number, outSize: number): Int32Array => {
    const step = inSize / outSize;
    const idx = new Int32Array(outSize);
    let pos = step * 0.5;
    for (let i = 0; i < outSize; i++) {
      idx[i] = Math.min(inSize - 1, Math.trunc(pos));
      pos += step;
    }
    return idx;
  };
  const xs = sourceIndex(width, outWidth);
  const ys = sourceIndex(height, outHeight);
  const out = new Uint8Array(window.width * window.height * 3);
  let o = 0;
  for (let y = window.top; y < window.top + window.height; y++) {
    const row = ys[y] * width;
    for (let x = window.left; x < window.left + window.width; x++) {
      const i = (row + xs[x]) * 3;
      out[o++] = rgb[i];
      out[o++] = rgb[i + 1];
      out[o++] = rgb[i + 2];
    }
  }
  return out;
}
