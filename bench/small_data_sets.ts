/**
 * The data of bench/small_data.ts, written as image folders once into the bench's work folder:
 *
 * - MNIST from the `mnist` package (src/demo/mnist.ts's writeDigitFolders): digits 0–4 for
 *   pretraining (200 train + 50 validation per digit, as the demo), and for digits 5–9 three
 *   disjoint sets: `test` (100 per digit), `val` (100 per digit, used only by the flag search) and
 *   `pool` (600 per digit) from which each seed draws its N training images per digit.
 * - shapes: 5 classes (circle, cross, ring, square, triangle) of 32×32 images drawn with a seeded
 *   generator: random size, position and rotation, random grey levels for the shape and the
 *   background (either may be the lighter; a slight colour tint), a faint striped or graded
 *   texture and pixel noise, so the class is the outline alone. Test, validation and each seed's
 *   training images come from separate generator streams. (A first version with random colours
 *   and strong textures left every method near chance at 30 per class: 22–30%.)
 */
import { copyFile, mkdir, readdir, rm, stat, writeFile, readFile } from "node:fs/promises";
import { join } from "node:path";
import sharp from "sharp";
import { writeDigitFolders } from "../src/demo/mnist.js";
import { Random } from "../src/random.js";

/** Bump when what is written changes: the cached folders are rewritten (and searched again). */
export const DATA_VERSIONS = { mnist: "mnist-1", shapes: "shapes-2" } as const;

export const MNIST_PRETRAIN_DIGITS = [0, 1, 2, 3, 4];
export const MNIST_TARGET_DIGITS = [5, 6, 7, 8, 9];
export const SHAPES = ["circle", "cross", "ring", "square", "triangle"] as const;
export const SHAPE_SIDE = 32;

const TEST_PER_CLASS = 100;
const VAL_PER_CLASS = 100;
const POOL_PER_CLASS = 600;
/** Seeds of the fixed sets; training draws use the run's seed. */
const MNIST_SPLIT_SEED = 2024;
const SHAPES_TEST_SEED = 9001;
const SHAPES_VAL_SEED = 9002;

export interface DataFolders {
  /** digits0-4 with train/ and val/ (the pretraining run's layout). */
  mnistPretrain: string;
  mnistTest: string;
  mnistVal: string;
  mnistPool: string;
  shapesTest: string;
  shapesVal: string;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Writes the fixed sets unless the work folder already holds this version of them. */
export async function ensureData(work: string, log: (line: string) => void): Promise<DataFolders> {
  const root = join(work, "data");
  const folders: DataFolders = {
    mnistPretrain: join(root, "mnist", "digits0-4"),
    mnistTest: join(root, "mnist", "test"),
    mnistVal: join(root, "mnist", "val"),
    mnistPool: join(root, "mnist", "pool"),
    shapesTest: join(root, "shapes", "test"),
    shapesVal: join(root, "shapes", "val"),
  };
  const stamps = { mnist: join(root, "mnist", "VERSION"), shapes: join(root, "shapes", "VERSION") };
  const current = async (set: keyof typeof stamps) =>
    (await exists(stamps[set])) && (await readFile(stamps[set], "utf8")).trim() === DATA_VERSIONS[set];
  if (!(await current("mnist"))) {
    log(`writing the MNIST sets into ${join(root, "mnist")} (once)`);
    await rm(join(root, "mnist"), { recursive: true, force: true });
    await writeDigitFolders(
      MNIST_PRETRAIN_DIGITS,
      [
        { dir: join(folders.mnistPretrain, "train"), perClass: 200 },
        { dir: join(folders.mnistPretrain, "val"), perClass: 50 },
      ],
      0,
    );
    await writeDigitFolders(
      MNIST_TARGET_DIGITS,
      [
        { dir: folders.mnistTest, perClass: TEST_PER_CLASS },
        { dir: folders.mnistVal, perClass: VAL_PER_CLASS },
        { dir: folders.mnistPool, perClass: POOL_PER_CLASS },
      ],
      MNIST_SPLIT_SEED,
    );
    await writeFile(stamps.mnist, `${DATA_VERSIONS.mnist}\n`);
  }
  if (!(await current("shapes"))) {
    log(`writing the shapes sets into ${join(root, "shapes")} (once)`);
    await rm(join(root, "shapes"), { recursive: true, force: true });
    await writeShapes(folders.shapesTest, TEST_PER_CLASS, SHAPES_TEST_SEED);
    await writeShapes(folders.shapesVal, VAL_PER_CLASS, SHAPES_VAL_SEED);
    await writeFile(stamps.shapes, `${DATA_VERSIONS.shapes}\n`);
  }
  return folders;
}

/**
 * A training folder of `perClass` MNIST 5–9 images per digit drawn from the pool by `seed`
 * (the first N of a seeded shuffle, so for one seed the 5-image set is inside the 10-image set).
 */
export async function drawMnist(pool: string, dir: string, perClass: number, seed: number): Promise<string> {
  await rm(dir, { recursive: true, force: true });
  const rng = new Random(1_000_003 + seed);
  for (const digit of MNIST_TARGET_DIGITS) {
    const from = join(pool, String(digit));
    const files = (await readdir(from)).filter((f) => f.endsWith(".png")).sort();
    const chosen = rng.shuffle(files).slice(0, perClass);
    await mkdir(join(dir, String(digit)), { recursive: true });
    for (const f of chosen) await copyFile(join(from, f), join(dir, String(digit), f));
  }
  return dir;
}

/** A training folder of `perClass` generated shapes per class, from the stream of `seed`. */
export async function drawShapes(dir: string, perClass: number, seed: number): Promise<string> {
  await rm(dir, { recursive: true, force: true });
  await writeShapes(dir, perClass, 5_000 + seed);
  return dir;
}

type Rgb = [number, number, number];

function randomGrey(rng: Random): Rgb {
  const g = rng.int(256);
  return [g, g, g];
}

/** Is the point (u, v), in the shape's own frame (radius 1), inside the shape? */
function inside(shape: (typeof SHAPES)[number], u: number, v: number): boolean {
  switch (shape) {
    case "circle":
      return u * u + v * v <= 1;
    case "ring": {
      const r2 = u * u + v * v;
      return r2 <= 1 && r2 >= 0.36;
    }
    case "square":
      return Math.abs(u) <= 0.78 && Math.abs(v) <= 0.78;
    case "cross":
      return (Math.abs(u) <= 0.3 && Math.abs(v) <= 1) || (Math.abs(v) <= 0.3 && Math.abs(u) <= 1);
    case "triangle": {
      // Equilateral, vertices on the unit circle at 90°, 210°, 330° (v pointing up).
      const a = v >= -0.5;
      const b = Math.sqrt(3) * u - v + 1 >= 0;
      const c = -Math.sqrt(3) * u - v + 1 >= 0;
      return a && b && c;
    }
  }
}

/** One image: a textured background, the shape in a contrasting colour, noise; RGB bytes. */
function drawShape(shape: (typeof SHAPES)[number], rng: Random, side: number): Buffer {
  const bg = randomGrey(rng);
  let fg = randomGrey(rng);
  while (Math.abs(fg[0] - bg[0]) < 90) fg = randomGrey(rng);
  const radius = side * (0.28 + 0.12 * rng.uniform());
  const cx = side / 2 + (rng.uniform() - 0.5) * (side - 2 * radius) * 0.8;
  const cy = side / 2 + (rng.uniform() - 0.5) * (side - 2 * radius) * 0.8;
  const angle = rng.uniform() * 2 * Math.PI;
  const [cos, sin] = [Math.cos(angle), Math.sin(angle)];
  // Texture: stripes of a random period and direction, or a gradient, of random strength.
  const striped = rng.uniform() < 0.5;
  const period = 3 + rng.uniform() * 6;
  const tAngle = rng.uniform() * Math.PI;
  const [tc, ts] = [Math.cos(tAngle), Math.sin(tAngle)];
  const strength = 10 * rng.uniform();
  const noise = 5 + rng.uniform() * 10;
  const tint = [rng.uniform() * 0.2, rng.uniform() * 0.2, rng.uniform() * 0.2].map((t) => 1 - t);
  const out = Buffer.alloc(side * side * 3);
  const SS = 3; // supersampling per axis for smooth edges
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      let covered = 0;
      for (let sy = 0; sy < SS; sy++) {
        for (let sx = 0; sx < SS; sx++) {
          const dx = (x + (sx + 0.5) / SS - cx) / radius;
          const dy = (y + (sy + 0.5) / SS - cy) / radius;
          // Rotate into the shape's frame; v points up.
          const u = cos * dx + sin * dy;
          const v = -(-sin * dx + cos * dy);
          if (inside(shape, u, v)) covered++;
        }
      }
      const share = covered / (SS * SS);
      const t = x * tc + y * ts;
      const texture = striped ? (Math.floor(t / period) % 2 === 0 ? strength : -strength) : (t / side - 0.5) * 2 * strength;
      for (let ch = 0; ch < 3; ch++) {
        const back = bg[ch] + texture;
        const value = tint[ch] * (share * fg[ch] + (1 - share) * back) + (rng.uniform() - 0.5) * 2 * noise;
        out[(y * side + x) * 3 + ch] = Math.max(0, Math.min(255, Math.round(value)));
      }
    }
  }
  return out;
}

/** Writes `dir/<shape>/<i>.png`, `perClass` of each, the images drawn from `seed`'s stream. */
export async function writeShapes(dir: string, perClass: number, seed: number): Promise<void> {
  const rng = new Random(seed);
  for (const shape of SHAPES) {
    await mkdir(join(dir, shape), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const pixels = drawShape(shape, rng, SHAPE_SIDE);
      await sharp(pixels, { raw: { width: SHAPE_SIDE, height: SHAPE_SIDE, channels: 3 } })
        .png()
        .toFile(join(dir, shape, `${String(i).padStart(3, "0")}.png`));
    }
  }
}
