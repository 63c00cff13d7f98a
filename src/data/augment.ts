/**
 * Training-time transforms on decoded uint8 HWC RGB, torchvision's recipe (browser-safe):
 *   - augment: RandomResizedCrop(R, scale=(0.08, 1), ratio=(3/4, 4/3)) then RandomHorizontalFlip(0.5)
 *     (Szegedy et al. 2015's crop, the torchvision reference training recipe), then Normalize;
 *   - no augment: Resize(R) on the shorter side and CenterCrop(R) (an image already R×R passes
 *     through untouched), then Normalize.
 * Random draws come from the caller's seeded generator, so an epoch's crops are reproducible.
 */
import type { Random } from "../random.js";
import { centerCropOffsets, normalizeHWCToCHW, resizedSize, resizeRGB, type Preprocessing } from "./preprocess.js";

export interface TrainTransform {
  resolution: number;
  augment: boolean;
  /** Mean, std and interpolation of the weights' preprocessing. */
  preprocessing: Preprocessing;
  /** RandomResizedCrop's scale range (default (0.08, 1)). */
  scale?: [number, number];
}

/** torchvision's RandomResizedCrop.get_params: a crop box of the source image. */
export function randomResizedCropBox(width: number, height: number, rng: Random, scale: [number, number] = [0.08, 1], ratio: [number, number] = [3 / 4, 4 / 3]) {
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
export function trainTransformRGB(rgb: Uint8Array, width: number, height: number, t: TrainTransform, rng: Random, out: Float32Array, offset: number): void {
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
  normalizeHWCToCHW(pixels, r, r, p, out, offset);
}
