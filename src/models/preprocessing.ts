/**
 * The eval transform a set of weights expects, as data: torchvision's
 * Resize(resizeSize) on the shorter side -> CenterCrop(cropSize) -> ToTensor -> Normalize(mean, std),
 * with its interpolation. Weights carry their own (checkpoint metadata); an architecture has a
 * default. The pixel arithmetic that applies it is data/preprocess.ts.
 */
import { previewValue, WeightsError } from "../errors.js";

export type Interpolation = "bilinear" | "bicubic" | "nearest";

export interface Preprocessing {
  /** The shorter image side is resized to this many pixels first. */
  resizeSize: number;
  /** Then the centre cropSize x cropSize square is taken: the network's input resolution. */
  cropSize: number;
  /** Per-channel (R, G, B) mean and std applied to pixel values scaled to [0, 1]. */
  mean: [number, number, number];
  std: [number, number, number];
  interpolation: Interpolation;
}

/** torchvision's ImageNet eval transform (`ImageClassification(crop_size=224)`, the V1 weights' recipe). */
export const IMAGENET_EVAL: Preprocessing = Object.freeze({
  resizeSize: 256,
  cropSize: 224,
  mean: Object.freeze([0.485, 0.456, 0.406]) as [number, number, number],
  std: Object.freeze([0.229, 0.224, 0.225]) as [number, number, number],
  interpolation: "bilinear",
});

/**
 * The same recipe at another input resolution, keeping base's resize/crop ratio (224/256 = 0.875 for
 * IMAGENET_EVAL). The resize size is rounded DOWN, like timm's `scale_size = floor(img_size / crop_pct)`;
 * torchvision's own presets list both sizes explicitly instead of deriving one from the other.
 * Never smaller than cropSize.
 */
export function preprocessingForResolution(base: Preprocessing, cropSize: number): Preprocessing {
  if (!Number.isInteger(cropSize) || cropSize < 1) {
    throw new RangeError(`resolution must be a positive integer, got ${cropSize}`);
  }
  const resizeSize = Math.max(cropSize, Math.floor((cropSize * base.resizeSize) / base.cropSize));
  return { ...base, mean: [...base.mean], std: [...base.std], resizeSize, cropSize };
}

export const INTERPOLATIONS: readonly Interpolation[] = ["bilinear", "bicubic", "nearest"];

/** Checks preprocessing metadata read from a weights file, field by field; `source` names the file. */
export function validatePreprocessing(p: unknown, source: string): Preprocessing {
  const fail = (what: string): never => {
    throw new WeightsError(`${source}: invalid preprocessing metadata: ${what}`);
  };
  if (typeof p !== "object" || p === null || Array.isArray(p)) fail(`expected an object, got ${describe(p)}`);
  const o = p as Record<string, unknown>;
  const size = (key: string): number => {
    const v = o[key];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > 65536) {
      fail(`${key} must be an integer in [1, 65536], got ${describe(v)}`);
    }
    return v as number;
  };
  const triple = (key: string, positive: boolean): [number, number, number] => {
    const v = o[key];
    if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => typeof x === "number" && Number.isFinite(x))) {
      fail(`${key} must be 3 finite numbers (R, G, B), got ${describe(v)}`);
    }
    const t = v as [number, number, number];
    if (positive && !t.every((x) => x > 0)) fail(`${key} must be > 0, got ${describe(v)}`);
    return [t[0], t[1], t[2]];
  };
  const resizeSize = size("resizeSize");
  const cropSize = size("cropSize");
  if (cropSize > resizeSize) fail(`cropSize (${cropSize}) must not exceed resizeSize (${resizeSize})`);
  const mean = triple("mean", false);
  const std = triple("std", true);
  const interpolation = o.interpolation;
  if (typeof interpolation !== "string" || !INTERPOLATIONS.includes(interpolation as Interpolation)) {
    fail(`interpolation must be one of ${INTERPOLATIONS.join(", ")}, got ${describe(interpolation)}`);
  }
  return { resizeSize, cropSize, mean, std, interpolation: interpolation as Interpolation };
}

/** Bounded (a deeply nested value from a file would overflow JSON.stringify's recursion). */
function describe(v: unknown): string {
  return v === undefined ? "nothing" : previewValue(v);
}
