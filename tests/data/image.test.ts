/**
 * Image decoding and the eval transform. Test images are made here with sharp (nothing binary is
 * committed); parity is checked against torchvision + PIL run by Debian's /usr/bin/python3
 * (tests/data/torchvision_transform.py). Those tests skip when torchvision is missing, unless
 * CONVZOO_REQUIRE_TORCH=1, where they fail.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, test, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import sharp from "sharp";
import { decodeImageRGB, loadImageBatch, loadImageForEval } from "../../src/data/image.js";
import { IMAGENET_EVAL, type Interpolation, type Preprocessing } from "../../src/models/preprocessing.js";
import { centerCropOffsets, normalizeHWCToCHW, resizedSize } from "../../src/data/preprocess.js";
import { InputFileError } from "../../src/errors.js";

const PYTHON = "/usr/bin/python3"; // Debian's, which has torch; a pyenv python3 on PATH does not
const HELPER = join(dirname(fileURLToPath(import.meta.url)), "torchvision_transform.py");

// ---- torchvision availability ----

const torch = (() => {
  const r = spawnSync(PYTHON, ["-c", "import torchvision"], { encoding: "utf8" });
  if (r.status === 0) return { ok: true, reason: "" };
  const why = r.error ? r.error.message : (r.stderr.trim().split("\n").pop() ?? `exit ${r.status}`);
  return { ok: false, reason: `${PYTHON} cannot import torchvision (${why})` };
})();

function torchTest(name: string, fn: (t: TestContext) => Promise<void>): void {
  if (!torch.ok && process.env.CONVZOO_REQUIRE_TORCH !== "1") {
    const skip = `${torch.reason}; apt-get install python3-torchvision to run it (CONVZOO_REQUIRE_TORCH=1 makes this a failure)`;
    test(name, { skip }, () => {});
    return;
  }
  test(name, async (t) => {
    if (!torch.ok) assert.fail(`CONVZOO_REQUIRE_TORCH=1 but ${torch.reason}`);
    await fn(t);
  });
}

// ---- test images ----

/** Deterministic photo-like RGB: gradients, discs, a fine checkerboard (aliasing bait) and noise. */
function synth(w: number, h: number, seed: number): Uint8Array {
  let s = seed >>> 0;
  const rnd = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const discs = Array.from({ length: 10 }, () => [rnd() * w, rnd() * h, 5 + (rnd() * w) / 4, rnd() * 255, rnd() * 255, rnd() * 255]);
  const out = new Uint8Array(w * h * 3);
  const clamp = (v: number) => Math.max(0, Math.min(255, v));
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let r = (x / w) * 200;
      let g = (y / h) * 200;
      let b = 100 + 80 * Math.sin(x / 17 + y / 23);
      for (const [cx, cy, rad, dr, dg, db] of discs) {
        if ((x - cx) ** 2 + (y - cy) ** 2 < rad * rad) [r, g, b] = [dr, dg, db];
      }
      if (x > w * 0.7 && y < h * 0.3) r = g = b = ((x >> 1) + (y >> 1)) % 2 ? 255 : 0;
      const n = (rnd() - 0.5) * 40;
      const i = (y * w + x) * 3;
      out[i] = clamp(r + n);
      out[i + 1] = clamp(g + n);
      out[i + 2] = clamp(b - n);
    }
  }
  return out;
}

const rawInput = (data: Uint8Array, width: number, height: number, channels: 3 | 4 = 3, pageHeight?: number) =>
  sharp(data, { raw: { width, height, channels, pageHeight } });

interface Fixture {
  file: string;
  width: number; // decoded (display) size
  height: number;
  lossy: boolean;
}

let dir = "";
const fx: Record<string, Fixture> = {};
const RGBA_SOURCE = { w: 300, h: 200, rgb: synth(300, 200, 5) };

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "convzoo-image-test-"));
  const make = async (name: string, w: number, h: number, lossy: boolean, write: (file: string) => Promise<unknown>) => {
    const file = join(dir, name);
    await write(file);
    fx[name] = { file, width: w, height: h, lossy };
  };
  const photo = (w: number, h: number, seed: number) => rawInput(synth(w, h, seed), w, h);
  await make("photo.png", 500, 375, false, (f) => photo(500, 375, 1).png().toFile(f));
  await make("tall.jpg", 375, 500, true, (f) => photo(375, 500, 2).jpeg({ quality: 90 }).toFile(f));
  // 512x515 resizes to 256x257: the crop offset (257 - 224) / 2 = 16.5 rounds to even, 16.
  await make("half.png", 512, 515, false, (f) => photo(512, 515, 3).png().toFile(f));
  await make("small.png", 200, 150, false, (f) => photo(200, 150, 4).png().toFile(f)); // upscaled
  await make("big.jpg", 1600, 1200, true, (f) => photo(1600, 1200, 6).jpeg({ quality: 85 }).toFile(f));
  await make("photo.webp", 400, 300, true, (f) => photo(400, 300, 7).webp({ quality: 80 }).toFile(f));
  await make("photo.gif", 300, 200, false, (f) => photo(300, 200, 8).gif().toFile(f));
  await make("photo.tif", 320, 240, false, (f) => photo(320, 240, 9).tiff().toFile(f));
  await make("gray.png", 260, 300, false, (f) => photo(260, 300, 10).toColourspace("b-w").png().toFile(f));
  await make("gray.jpg", 300, 260, true, (f) => photo(300, 260, 11).toColourspace("b-w").jpeg().toFile(f));
  await make("cmyk.jpg", 300, 240, true, (f) => photo(300, 240, 12).toColourspace("cmyk").jpeg().toFile(f));
  await make("rgba.png", RGBA_SOURCE.w, RGBA_SOURCE.h, false, (f) => {
    const { w, h, rgb } = RGBA_SOURCE;
    const rgba = new Uint8Array(w * h * 4);
    for (let i = 0; i < w * h; i++) {
      rgba.set(rgb.subarray(i * 3, i * 3 + 3), i * 4);
      rgba[i * 4 + 3] = (i * 7) % 256; // includes fully transparent pixels
    }
    return rawInput(rgba, w, h, 4).png().toFile(f);
  });
  // Stored 400x300 with EXIF orientation 6: displayed (and decoded) 300x400.
  await make("rot6.jpg", 300, 400, true, (f) => photo(400, 300, 13).withMetadata({ orientation: 6 }).jpeg({ quality: 90 }).toFile(f));
  // Two frames, red then green: only the first may come out.
  await make("frames.gif", 30, 20, false, (f) => {
    const frames = new Uint8Array(30 * 40 * 3);
    for (let i = 0; i < 30 * 40; i++) frames.set(i < 600 ? [255, 0, 0] : [0, 255, 0], i * 3);
    return rawInput(frames, 30, 40, 3, 20).gif().toFile(f);
  });
  // Red 10x10 block in the stored top-left corner of a blue 40x20 image, one per EXIF orientation.
  const marker = new Uint8Array(40 * 20 * 3);
  for (let y = 0; y < 20; y++) for (let x = 0; x < 40; x++) marker.set(x < 10 && y < 10 ? [255, 0, 0] : [0, 0, 255], (y * 40 + x) * 3);
  for (const o of [1, 3, 6, 8]) {
    const swap = o >= 5;
    await make(`orient${o}.jpg`, swap ? 20 : 40, swap ? 40 : 20, true, (f) =>
      rawInput(marker, 40, 20).withMetadata({ orientation: o }).jpeg({ quality: 100 }).toFile(f),
    );
  }
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

// ---- decoding ----

test("decodes PNG, JPEG, WebP, GIF, TIFF, greyscale, RGBA and CMYK to RGB at their display size", async () => {
  for (const [name, f] of Object.entries(fx)) {
    const img = await decodeImageRGB(f.file);
    assert.equal(img.width, f.width, name);
    assert.equal(img.height, f.height, name);
    assert.equal(img.data.length, f.width * f.height * 3, name);
  }
});

test("greyscale is replicated into R, G and B", async () => {
  for (const name of ["gray.png", "gray.jpg"]) {
    const { data } = await decodeImageRGB(fx[name].file);
    for (let i = 0; i < data.length; i += 3) {
      assert.ok(data[i] === data[i + 1] && data[i] === data[i + 2], `${name}: pixel ${i / 3} is not grey`);
    }
  }
});

test("alpha is dropped, not blended (PIL's convert('RGB')), even where fully transparent", async () => {
  const { data } = await decodeImageRGB(fx["rgba.png"].file);
  assert.deepEqual(data, RGBA_SOURCE.rgb);
});

test("an animated GIF gives its first frame", async () => {
  const { data } = await decodeImageRGB(fx["frames.gif"].file);
  for (let i = 0; i < data.length; i += 3) assert.deepEqual([...data.subarray(i, i + 3)], [255, 0, 0]);
});

test("EXIF orientation is applied: the stored top-left corner ends where the viewer shows it", async () => {
  // Orientation 3 = rotate 180, 6 = rotate 90 clockwise, 8 = rotate 90 counter-clockwise.
  const expected: Record<number, "top-left" | "bottom-right" | "top-right" | "bottom-left"> = {
    1: "top-left",
    3: "bottom-right",
    6: "top-right",
    8: "bottom-left",
  };
  for (const [o, corner] of Object.entries(expected)) {
    const { data, width, height } = await decodeImageRGB(fx[`orient${o}.jpg`].file);
    const at = (x: number, y: number) => [...data.subarray((y * width + x) * 3, (y * width + x) * 3 + 3)];
    const isRed = ([r, g, b]: number[]) => r > 200 && g < 60 && b < 60;
    const corners = {
      "top-left": at(2, 2),
      "top-right": at(width - 3, 2),
      "bottom-left": at(2, height - 3),
      "bottom-right": at(width - 3, height - 3),
    };
    for (const [name, px] of Object.entries(corners)) {
      assert.equal(isRed(px), name === corner, `orientation ${o}: ${name} is ${px}, red expected at ${corner}`);
    }
  }
});

// ---- the eval transform and batches (no torch needed) ----

test("loadImageForEval of a flat image gives (c/255 - mean)/std everywhere", async () => {
  const file = join(dir, "flat.png");
  await sharp({ create: { width: 321, height: 250, channels: 3, background: { r: 10, g: 128, b: 250 } } })
    .png()
    .toFile(file);
  const out = await loadImageForEval(file, IMAGENET_EVAL);
  assert.equal(out.length, 3 * 224 * 224);
  const plane = 224 * 224;
  [10, 128, 250].forEach((v, c) => {
    const want = Math.fround(Math.fround(Math.fround(v / 255) - Math.fround(IMAGENET_EVAL.mean[c])) / Math.fround(IMAGENET_EVAL.std[c]));
    assert.ok(
      out.subarray(c * plane, (c + 1) * plane).every((x) => x === want),
      `channel ${c}`,
    );
  });
});

test("loadImageBatch stacks [N, 3, crop, crop] in the given order, equal to one-by-one loads", async () => {
  const names = ["photo.png", "tall.jpg", "gray.png", "rot6.jpg", "photo.webp", "small.png"];
  const p: Preprocessing = { ...IMAGENET_EVAL, resizeSize: 146, cropSize: 128 };
  const batch = await loadImageBatch(
    names.map((n) => fx[n].file),
    p,
  );
  assert.equal(batch.dtype, "float32");
  assert.deepEqual(batch.shape, [names.length, 3, 128, 128]);
  const size = 3 * 128 * 128;
  for (const [i, n] of names.entries()) {
    assert.deepEqual(batch.data.subarray(i * size, (i + 1) * size), await loadImageForEval(fx[n].file, p), n);
  }
  assert.deepEqual((await loadImageBatch([], p)).shape, [0, 3, 128, 128]);
});

// ---- bad input ----

async function assertInputError(promise: Promise<unknown>, path: string, reason: RegExp): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof InputFileError, `expected InputFileError, got ${String(e)}`);
    assert.ok(e.message.startsWith(`${path}: `), `message should start with the path: ${e.message}`);
    assert.match(e.message, reason);
    return true;
  });
}

test("a missing file, a directory, a text file, an empty file and a truncated JPEG are clear InputFileErrors", async () => {
  const missing = join(dir, "cat.jpg");
  await assertInputError(decodeImageRGB(missing), missing, /: no such file$/);
  await assertInputError(decodeImageRGB(join(dir, "nowhere", "cat.jpg")), join(dir, "nowhere", "cat.jpg"), /no such file/);

  const sub = join(dir, "a-directory");
  await mkdir(sub, { recursive: true });
  await assertInputError(decodeImageRGB(sub), sub, /is a directory, not an image/);

  const notes = join(dir, "notes.txt");
  await writeFile(notes, "shopping list: milk, eggs\n");
  await assertInputError(decodeImageRGB(notes), notes, /: not an image \(sharp could not decode it: .*unsupported image format/);

  const empty = join(dir, "empty.png");
  await writeFile(empty, "");
  await assertInputError(decodeImageRGB(empty), empty, /not an image \(the file is empty\)/);

  const whole = await readFile(fx["big.jpg"].file);
  const truncated = join(dir, "truncated.jpg");
  await writeFile(truncated, whole.subarray(0, whole.length >> 1));
  await assertInputError(decodeImageRGB(truncated), truncated, /truncated or corrupt image \(sharp could not decode it: .*premature end/i);

  const cut = join(dir, "truncated.png");
  await writeFile(cut, (await readFile(fx["photo.png"].file)).subarray(0, 4000));
  await assertInputError(decodeImageRGB(cut), cut, /truncated or corrupt image/);

  // The same errors come through the eval loaders.
  await assertInputError(loadImageForEval(notes, IMAGENET_EVAL), notes, /not an image/);
  await assertInputError(loadImageBatch([fx["photo.png"].file, missing], IMAGENET_EVAL), missing, /no such file/);
});

// ---- parity with torchvision + PIL ----

/** Every reference the parity tests need, keyed "decode:<fixture>", "<interpolation>:<fixture>", "recipe:<fixture>". */
interface Reference {
  out: string; // file the helper wrote
  stdout?: string; // "WIDTH HEIGHT" for decode jobs
}

const EVAL_FIXTURES: Record<Interpolation, () => string[]> = {
  // Every fixture but the flat marker images (fx is filled in by before(), hence functions).
  bilinear: () => Object.keys(fx).filter((n) => !n.startsWith("orient") && n !== "frames.gif"),
  bicubic: () => ["photo.png", "half.png", "small.png", "big.jpg", "gray.png"],
  nearest: () => ["photo.png", "half.png", "small.png", "big.jpg"],
};
const RECIPE: Preprocessing = { resizeSize: 182, cropSize: 160, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], interpolation: "bicubic" };
const RECIPE_FIXTURES = ["photo.png", "tall.jpg"];

let references: Promise<Map<string, Reference>> | undefined;

/** Runs the Python helper once for all tests (importing torch costs ~1.5 s per process). */
function reference(key: string): Promise<Reference> {
  references ??= (async () => {
    const jobs: [string, string[]][] = [];
    const add = (key: string, name: string, args: string[]) => {
      const out = join(dir, `ref-${jobs.length}`);
      jobs.push([key, [fx[name].file, out, ...args]]);
    };
    for (const n of Object.keys(fx)) add(`decode:${n}`, n, ["--decode"]);
    for (const [interp, names] of Object.entries(EVAL_FIXTURES)) {
      for (const n of names()) add(`${interp}:${n}`, n, ["--interpolation", interp]);
    }
    const r = RECIPE;
    const recipeArgs = ["--resize", `${r.resizeSize}`, "--crop", `${r.cropSize}`, "--interpolation", r.interpolation];
    recipeArgs.push("--mean", ...r.mean.map(String), "--std", ...r.std.map(String));
    for (const n of RECIPE_FIXTURES) add(`recipe:${n}`, n, recipeArgs);

    const jobsFile = join(dir, "jobs.jsonl");
    await writeFile(jobsFile, jobs.map(([, args]) => JSON.stringify(args)).join("\n"));
    const run = spawnSync(PYTHON, [HELPER, "--jobs", jobsFile], { encoding: "utf8", maxBuffer: 1 << 24 });
    if (run.status !== 0) throw new Error(`${HELPER} failed (${run.error?.message ?? `exit ${run.status}`}):\n${run.stderr}`);
    const lines = run.stdout.split("\n").filter(Boolean);
    const map = new Map<string, Reference>();
    for (const [key, args] of jobs) map.set(key, { out: args[1], stdout: key.startsWith("decode:") ? lines.shift() : undefined });
    return map;
  })();
  return references.then((m) => {
    const ref = m.get(key);
    if (!ref) throw new Error(`no reference job ${key}`);
    return ref;
  });
}

async function referenceTensor(key: string): Promise<Float32Array> {
  const bytes = await readFile((await reference(key)).out);
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

/** One uint8 step after normalization by the smallest std (0.224): the unit of the tolerances. */
const STEP = 1 / 255 / 0.224;

/**
 * Measured (PIL 9.4 / torchvision 0.14 vs sharp 0.35 / libvips 8.18): max and mean |diff| 0 for every
 * image here, decoded bytes and eval tensors alike, all three interpolations. Lossless formats must stay
 * exact: the resampler is a port of Pillow's integer arithmetic and the normalization is float32-exact.
 * JPEG/WebP get a little slack, max 3 steps and mean 0.1 step, because PIL and sharp link different
 * builds of libjpeg-turbo/libwebp, which may round the IDCT and chroma upsampling differently; a
 * resampling mistake shows up far larger (sharp's own resize: max 2-27 steps shrinking, ~120 enlarging).
 */
function compare(t: TestContext, label: string, ours: ArrayLike<number>, ref: ArrayLike<number>, unit: number, lossy: boolean): void {
  assert.equal(ours.length, ref.length, `${label}: length`);
  let max = 0;
  let sum = 0;
  for (let i = 0; i < ours.length; i++) {
    const d = Math.abs(ours[i] - ref[i]);
    if (d > max) max = d;
    sum += d;
  }
  const mean = sum / ours.length;
  t.diagnostic(`${label}: max |diff| ${max.toExponential(2)}, mean ${mean.toExponential(2)}`);
  if (lossy) {
    assert.ok(max <= 3 * unit && mean <= 0.1 * unit, `${label}: max ${max}, mean ${mean} beyond the lossy-decoder slack`);
  } else {
    assert.equal(max, 0, `${label}: not bit-identical (max ${max}, mean ${mean})`);
  }
}

torchTest("decoded pixels equal PIL's Image.open(...).convert('RGB') (with exif_transpose)", async (t) => {
  for (const n of Object.keys(fx)) {
    const ref = await reference(`decode:${n}`);
    const ours = await decodeImageRGB(fx[n].file);
    assert.equal(ref.stdout, `${ours.width} ${ours.height}`, `${n}: size`);
    compare(t, n, ours.data, await readFile(ref.out), 1, fx[n].lossy);
  }
});

for (const interpolation of ["bilinear", "bicubic", "nearest"] as const) {
  torchTest(`loadImageForEval equals torchvision Resize(256) + CenterCrop(224) + Normalize, ${interpolation}`, async (t) => {
    const p: Preprocessing = { ...IMAGENET_EVAL, interpolation };
    const names = EVAL_FIXTURES[interpolation]();
    assert.ok(names.length > 0);
    for (const n of names) {
      const ref = await referenceTensor(`${interpolation}:${n}`);
      compare(t, `${n} ${interpolation}`, await loadImageForEval(fx[n].file, p), ref, STEP, fx[n].lossy);
    }
  });
}

torchTest("another recipe (bicubic, crop 160 of 182, mean/std 0.5) also matches torchvision", async (t) => {
  for (const n of RECIPE_FIXTURES) {
    const ref = await referenceTensor(`recipe:${n}`);
    compare(t, n, await loadImageForEval(fx[n].file, RECIPE), ref, 1 / 255 / 0.5, fx[n].lossy);
  }
});

/** Why preprocess.ts ports Pillow instead of calling sharp's resize: the best sharp kernels, measured. */
torchTest("sharp's own resize (linear for bilinear, cubic for bicubic) is further from torchvision", async (t) => {
  for (const [interpolation, kernel] of [
    ["bilinear", "linear"],
    ["bicubic", "cubic"],
  ] as const) {
    for (const n of ["photo.png", "big.jpg", "small.png"]) {
      const img = await decodeImageRGB(fx[n].file);
      const p = { ...IMAGENET_EVAL, interpolation };
      const size = resizedSize(img.width, img.height, p.resizeSize);
      const { left, top } = centerCropOffsets(size.width, size.height, p.cropSize);
      const cropped = await rawInput(img.data, img.width, img.height)
        .resize(size.width, size.height, { fit: "fill", kernel })
        .extract({ left, top, width: p.cropSize, height: p.cropSize })
        .raw()
        .toBuffer();
      const viaSharp = normalizeHWCToCHW(new Uint8Array(cropped), p.cropSize, p.cropSize, p);
      const ref = await referenceTensor(`${interpolation}:${n}`);
      let sharpMax = 0;
      let sharpSum = 0;
      for (let i = 0; i < ref.length; i++) {
        const d = Math.abs(viaSharp[i] - ref[i]);
        sharpMax = Math.max(sharpMax, d);
        sharpSum += d;
      }
      const ours = await loadImageForEval(fx[n].file, p);
      const oursMax = ours.reduce((m, v, i) => Math.max(m, Math.abs(v - ref[i])), 0);
      t.diagnostic(
        `${n} ${interpolation}: sharp kernel "${kernel}" max |diff| ${sharpMax.toFixed(4)} ` +
          `(${(sharpMax / STEP).toFixed(1)} steps), mean ${(sharpSum / ref.length).toFixed(5)}; ours max ${oursMax}`,
      );
      assert.ok(oursMax <= sharpMax, n);
    }
  }
});
