/**
 * torchvision 0.14's `RandomErasing` (Zhong et al. 2017) on a normalised CHW float32 image, browser-safe: with
 * probability p, a box of area fraction in `scale` and aspect ratio (height / width) log-uniform in `ratio`
 * (up to 10 attempts to fit one strictly inside the image, otherwise nothing) is filled with `value`: a
 * number, one per channel, or "random" (standard normal per value). Draws come from the caller's seeded
 * generator in torchvision's order. tests/data/erasing.test.ts compares it with torchvision.
 * Details: docs/images.md#random-erasing
 */
import type { Random } from "../random.js";

export interface RandomErasing {
  /** Probability of erasing (torchvision's default 0.5; the reference recipes' `--random-erase` e.g. 0.1 or 0.25). */
  p: number;
  /** Range of the erased area as a fraction of the image (default [0.02, 0.33]). */
  scale?: [number, number];
  /** Range of the box's aspect ratio, height / width, drawn log-uniformly (default [0.3, 3.3]). */
  ratio?: [number, number];
  /** The fill, in normalised units: a number, one per channel, or "random" (standard normal). Default 0. */
  value?: number | number[] | "random";
}

export interface ErasingBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** The box drawn and what fills it: per-channel values ([C]), or [C, h, w] standard normals for "random". */
export interface ErasingParams {
  box: ErasingBox;
  fill: Float32Array;
}

function check(o: RandomErasing, channels: number): void {
  const { p, scale = [0.02, 0.33], ratio = [0.3, 3.3], value = 0 } = o;
  if (!(p >= 0 && p <= 1)) throw new RangeError(`erasing.p must be in [0, 1], got ${p}`);
  if (!(scale[0] >= 0 && scale[1] <= 1 && scale[0] <= scale[1])) {
    throw new RangeError(`erasing.scale must be a [min, max] range within [0, 1], got ${JSON.stringify(scale)}`);
  }
  if (!(ratio[0] > 0 && ratio[0] <= ratio[1]))
    throw new RangeError(`erasing.ratio must be a positive [min, max] range, got ${JSON.stringify(ratio)}`);
  if (Array.isArray(value) ? !(value.length === 1 || value.length === channels) : !(typeof value === "number" || value === "random")) {
    throw new RangeError(`erasing.value must be a number, 1 or ${channels} numbers, or "random", got ${JSON.stringify(value)}`);
  }
}

/** Python's round(): halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d !== 0.5) return d < 0.5 ? f : f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * `RandomErasing.get_params`: up to 10 attempts, each drawing the area (uniform in scale × H·W) and the
 * aspect ratio (exp of uniform in log ratio), h = round(√(area·ratio)), w = round(√(area/ratio)); the first
 * with h < H and w < W is kept, its fill drawn ("random": C·h·w normals), then its top row and left column
 * uniformly. null when all 10 attempts fail (torchvision then returns the image unchanged).
 */
export function randomErasingParams(channels: number, height: number, width: number, rng: Random, o: RandomErasing): ErasingParams | null {
  check(o, channels);
  const { scale = [0.02, 0.33], ratio = [0.3, 3.3], value = 0 } = o;
  const area = height * width;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let attempt = 0; attempt < 10; attempt++) {
    const eraseArea = area * (scale[0] + rng.uniform() * (scale[1] - scale[0]));
    const aspect = Math.exp(logRatio[0] + rng.uniform() * (logRatio[1] - logRatio[0]));
    const h = roundHalfEven(Math.sqrt(eraseArea * aspect));
    const w = roundHalfEven(Math.sqrt(eraseArea / aspect));
    if (!(h < height && w < width)) continue;
    let fill: Float32Array;
    if (value === "random") {
      fill = new Float32Array(channels * h * w);
      for (let i = 0; i < fill.length; i++) fill[i] = rng.normal();
    } else {
      const v = typeof value === "number" ? [value] : value;
      fill = Float32Array.from({ length: channels }, (_, c) => v[v.length === 1 ? 0 : c]);
    }
    const top = rng.int(height - h + 1);
    const left = rng.int(width - w + 1);
    return { box: { top, left, height: h, width: w }, fill };
  }
  return null;
}

/**
 * torchvision's `F.erase(img, i, j, h, w, v)` in place on the CHW image at `offset` of `data`: the box takes
 * `fill`, one value per channel ([C]) or one per erased value ([C, h, w]).
 */
export function eraseCHW(
  data: Float32Array,
  offset: number,
  channels: number,
  height: number,
  width: number,
  box: ErasingBox,
  fill: Float32Array,
): void {
  const { top, left, height: h, width: w } = box;
  if (top < 0 || left < 0 || h < 0 || w < 0 || top + h > height || left + w > width) {
    throw new RangeError(`erasing box ${JSON.stringify(box)} is outside the ${width}x${height} image`);
  }
  const perValue = fill.length === channels * h * w && fill.length !== channels;
  if (!perValue && fill.length !== channels)
    throw new RangeError(`erasing fill has ${fill.length} values: expected ${channels} or ${channels * h * w}`);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < h; y++) {
      const row = offset + (c * height + top + y) * width + left;
      for (let x = 0; x < w; x++) data[row + x] = perValue ? fill[(c * h + y) * w + x] : fill[c];
    }
  }
}

/**
 * `RandomErasing.forward` on the CHW image at `offset` of `data`, in place: one uniform draw against p, then
 * (when below p) `randomErasingParams` and the erase. Returns the box erased, or null.
 */
export function randomErasingCHW(
  data: Float32Array,
  offset: number,
  channels: number,
  height: number,
  width: number,
  o: RandomErasing,
  rng: Random,
): ErasingBox | null {
  check(o, channels);
  if (!(rng.uniform() < o.p)) return null;
  const params = randomErasingParams(channels, height, width, rng, o);
  if (!params) return null;
  eraseCHW(data, offset, channels, height, width, params.box, params.fill);
  return params.box;
}
