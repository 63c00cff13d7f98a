/**
 * The demo's data (Node): MNIST digits as the `mnist` package ships them (about 1,000 28×28
 * grey-level images per digit, values in [0, 1]), written out as PNG image folders, so the demo
 * runs the same folder pipeline a person's own data goes through. Which images go where is fixed
 * by a seed; the sets never share an image.
 */
import { mkdir, readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import sharp from "sharp";
import { InputFileError } from "../errors.js";
import { Random } from "../random.js";

const SIDE = 28;

/** The package's raw digit images: `digits[d]` holds n·784 values in [0, 1]. */
async function loadDigits(digit: number): Promise<number[]> {
  const main = createRequire(import.meta.url).resolve("mnist");
  const file = join(dirname(main), "digits", `${digit}.json`);
  let parsed: { data?: unknown };
  try {
    parsed = JSON.parse(await readFile(file, "utf8")) as { data?: unknown };
  } catch (e) {
    throw new InputFileError(
      `${file}: cannot read the mnist package's digit ${digit} (${(e as Error).message}); reinstall the mnist package`,
    );
  }
  if (!Array.isArray(parsed.data) || parsed.data.length % (SIDE * SIDE) !== 0) {
    throw new InputFileError(`${file}: expected a "data" array of 28×28 images`);
  }
  return parsed.data as number[];
}

export interface DigitSplit {
  /** Folder written, with one sub-folder per digit. */
  dir: string;
  digits: number[];
  perClass: number;
}

/**
 * Writes `sets` of the given digits: for each digit the images are shuffled once by `seed`, then
 * each set takes the next `perClass` of them (so sets are disjoint). Images are 28×28 RGB PNGs
 * (the grey level in all three channels), white digits on black as in MNIST.
 */
export async function writeDigitFolders(
  digits: readonly number[],
  sets: readonly { dir: string; perClass: number }[],
  seed: number,
): Promise<DigitSplit[]> {
  const rng = new Random(seed);
  for (const digit of digits) {
    const raw = await loadDigits(digit);
    const count = raw.length / (SIDE * SIDE);
    const order = rng.shuffle(Array.from({ length: count }, (_, i) => i));
    const needed = sets.reduce((n, s) => n + s.perClass, 0);
    if (needed > count) throw new InputFileError(`the mnist package has ${count} images of digit ${digit}; the demo asked for ${needed}`);
    let next = 0;
    for (const set of sets) {
      const folder = join(set.dir, String(digit));
      await mkdir(folder, { recursive: true });
      for (let i = 0; i < set.perClass; i++) {
        const index = order[next++];
        const rgb = Buffer.alloc(SIDE * SIDE * 3);
        for (let p = 0; p < SIDE * SIDE; p++) {
          const v = Math.round(Math.min(1, Math.max(0, raw[index * SIDE * SIDE + p])) * 255);
          rgb[p * 3] = rgb[p * 3 + 1] = rgb[p * 3 + 2] = v;
        }
        await sharp(rgb, { raw: { width: SIDE, height: SIDE, channels: 3 } })
          .png()
          .toFile(join(folder, `${String(index).padStart(4, "0")}.png`));
      }
    }
  }
  return sets.map((s) => ({ dir: s.dir, digits: [...digits], perClass: s.perClass }));
}
