/**
 * The user's calibration images (Node): a class-per-folder directory (its labels then score the
 * held-out part) or a flat folder of images; a seeded split into the held-out images (fp32 vs int8
 * top-1 and agreement) and the calibration images (at most `samples`), decoded with the weights'
 * own eval transform into batches.
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { loadImageForEval } from "../data/image.js";
import { byCodePoint, isImageName, readImageFolder, type Sample } from "../data/folder.js";
import { InputFileError, OptionError } from "../errors.js";
import type { Preprocessing } from "../models/preprocessing.js";
import { Random } from "../random.js";
import type { Tensor } from "../tensor.js";

/** Fewer calibration images than this give ranges from too little data to trust (and catch a wrong folder early). */
export const MIN_CALIBRATION_IMAGES = 8;

export interface CalibrationSet {
  /** Images for the statistics. */
  calibration: string[];
  /** Held-out images for the comparison; `label` indexes `classes` (or is -1 for a flat folder). */
  holdout: Sample[];
  /** Class folder names, or null for a flat folder of images. */
  classes: string[] | null;
  /** Files skipped because their names are not images. */
  skipped: string[];
}

export interface SplitOptions {
  /** At most this many calibration images. */
  samples: number;
  /** Fraction of the folder held out for the comparison (0 for none). */
  holdout: number;
  seed?: number;
}

/** Lists and splits the folder; errors name it when it is empty or too small. */
export async function readCalibrationSet(dir: string, o: SplitOptions): Promise<CalibrationSet> {
  if (o.samples < MIN_CALIBRATION_IMAGES) throw new OptionError(`--samples must be at least ${MIN_CALIBRATION_IMAGES}, got ${o.samples}`);
  let samples: Sample[];
  let classes: string[] | null;
  let skipped: string[] = [];
  const top = await readdir(dir, { withFileTypes: true }).catch((e: NodeJS.ErrnoException) => {
    throw new InputFileError(`${dir}: ${e.code === "ENOENT" ? "no such folder" : e.code === "ENOTDIR" ? "not a folder" : e.message}`);
  });
  const hasFolders = top.some((d) => d.isDirectory() && !d.name.startsWith("."));
  if (hasFolders) {
    const folder = await readImageFolder(dir);
    samples = folder.samples;
    classes = folder.classes;
    skipped = folder.skipped;
  } else {
    const files = top
      .filter((d) => d.isFile() && !d.name.startsWith("."))
      .map((d) => d.name)
      .sort(byCodePoint);
    samples = files.filter(isImageName).map((name) => ({ path: join(dir, name), label: -1 }));
    skipped = files.filter((name) => !isImageName(name));
    classes = null;
  }
  if (samples.length === 0)
    throw new InputFileError(`${dir}: no calibration images (expected image files, or one sub-folder of images per class)`);
  const order = new Random(o.seed ?? 0).shuffle(samples.map((_, i) => i));
  const held = Math.round(o.holdout * samples.length);
  const calibrationCount = Math.min(o.samples, samples.length - held);
  if (calibrationCount < MIN_CALIBRATION_IMAGES) {
    throw new InputFileError(
      `${dir}: too few calibration images: ${samples.length} image${samples.length === 1 ? "" : "s"}` +
        `${held ? `, ${held} held out for the comparison` : ""}, leaving ${samples.length - held}; at least ` +
        `${MIN_CALIBRATION_IMAGES} are needed (add images, or lower --holdout)`,
    );
  }
  const holdout = order
    .slice(0, held)
    .sort((a, b) => a - b)
    .map((i) => samples[i]);
  const calibration = order.slice(held, held + calibrationCount).map((i) => samples[i].path);
  return { calibration, holdout, classes, skipped };
}

/** Decodes files into normalised [n, 3, R, R] batches, all in memory (calibration runs over them twice). */
export async function loadBatches(files: readonly string[], p: Preprocessing, batchSize: number): Promise<Tensor<"float32">[]> {
  const batches: Tensor<"float32">[] = [];
  for await (const batch of streamBatches(files, p, batchSize)) batches.push(batch);
  return batches;
}

/** The same batches one at a time (a held-out set may be large); an undecodable file is an error naming it. */
export async function* streamBatches(files: readonly string[], p: Preprocessing, batchSize: number): AsyncGenerator<Tensor<"float32">> {
  const r = p.cropSize;
  for (let i = 0; i < files.length; i += batchSize) {
    const chunk = files.slice(i, i + batchSize);
    const data = new Float32Array(chunk.length * 3 * r * r);
    for (const [j, file] of chunk.entries()) {
      const image = await loadImageForEval(file, p).catch((e: unknown) => {
        throw e instanceof InputFileError ? new InputFileError(`calibration image ${e.message}`) : e;
      });
      data.set(image, j * 3 * r * r);
    }
    yield { dtype: "float32", shape: [chunk.length, 3, r, r], data };
  }
}
