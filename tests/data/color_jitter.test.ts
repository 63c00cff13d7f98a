/**
 * ColorJitter against torchvision 0.14 (tests/data/color_jitter.py): each adjustment, and chains of
 * them, on the same uint8 image for fixed factors. We emulate ATen's float32 arithmetic and its
 * truncating cast to uint8, so results are expected to be identical; the bound allowed is one uint8
 * step on at most 0.1% of the values, because a last-bit float32 difference (an operation ordered
 * differently inside a vectorised kernel) turns into a whole step at the truncation. The measured
 * differences are printed.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  adjustBrightness,
  adjustContrast,
  adjustHue,
  adjustSaturation,
  colorJitterRange,
  colorJitterRGB,
  trainTransformRGB,
  type ColorJitter,
} from "../../src/data/augment.js";
import { IMAGENET_EVAL } from "../../src/models/preprocessing.js";
import { Random } from "../../src/random.js";
import { requirePython, runPython } from "../helpers/python.js";

const SCRIPT = fileURLToPath(new URL("./color_jitter.py", import.meta.url));
const W = 67;
const H = 45;

/** Gradients, noise, greys (r = g = b, hue undefined), primaries, black and white. */
function testImage(): Uint8Array {
  const rng = new Random(7);
  const img = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = (y * W + x) * 3;
      if (y < 15) {
        img[i] = Math.round((255 * x) / (W - 1));
        img[i + 1] = Math.round((255 * y) / 14);
        img[i + 2] = (x * 7 + y * 3) % 256;
      } else if (y < 30) {
        for (let c = 0; c < 3; c++) img[i + c] = rng.int(256);
      } else if (x < 20) {
        img[i] = img[i + 1] = img[i + 2] = (x * 13 + y) % 256;
      } else {
        const k = (x + y) % 8;
        img[i] = k & 1 ? 255 : 0;
        img[i + 1] = k & 2 ? 255 : 0;
        img[i + 2] = k & 4 ? 255 : k === 0 ? 128 : 0;
      }
    }
  }
  return img;
}

type Step = [keyof ColorJitter, number];
const OPS = { brightness: adjustBrightness, contrast: adjustContrast, saturation: adjustSaturation, hue: adjustHue };

const JOBS: Step[][] = [
  ...[0, 0.35, 0.8, 1, 1.27, 2.5].map((f): Step[] => [["brightness", f]]),
  ...[0, 0.4, 0.9, 1, 1.33, 3].map((f): Step[] => [["contrast", f]]),
  ...[0, 0.5, 1, 1.6, 4].map((f): Step[] => [["saturation", f]]),
  ...[-0.5, -0.37, -0.1, 0, 0.013, 0.25, 0.5].map((f): Step[] => [["hue", f]]),
  [
    ["hue", 0.21],
    ["brightness", 1.3],
    ["saturation", 0.7],
    ["contrast", 1.2],
  ],
  [
    ["contrast", 0.75],
    ["hue", -0.44],
    ["brightness", 0.6],
    ["saturation", 1.9],
  ],
];

test("colour adjustments match torchvision's on a uint8 tensor", (t) => {
  if (!requirePython(t, "torchvision")) return;
  const dir = mkdtempSync(join(tmpdir(), "convzoo-jitter-"));
  try {
    const img = testImage();
    writeFileSync(join(dir, "img.rgb"), img);
    writeFileSync(join(dir, "jobs.json"), JSON.stringify(JOBS));
    runPython([SCRIPT, join(dir, "img.rgb"), String(W), String(H), join(dir, "jobs.json"), join(dir, "out.rgb")]);
    const ref = readFileSync(join(dir, "out.rgb"));
    assert.equal(ref.length, JOBS.length * img.length);
    const report: string[] = [];
    JOBS.forEach((job, j) => {
      let ours = img;
      for (const [op, f] of job) ours = OPS[op](ours, f);
      const theirs = ref.subarray(j * img.length, (j + 1) * img.length);
      let max = 0;
      let differing = 0;
      for (let i = 0; i < img.length; i++) {
        const d = Math.abs(ours[i] - theirs[i]);
        if (d) differing++;
        max = Math.max(max, d);
      }
      const name = job.map(([op, f]) => `${op}(${f})`).join(" → ");
      report.push(`${name}: max |Δ| ${max}, ${differing}/${img.length} differ`);
      assert.ok(
        max <= 1 && differing <= img.length * 0.001,
        `${name}: max |Δ| ${max}, ${differing} of ${img.length} values differ from torchvision`,
      );
    });
    t.diagnostic(report.join("; "));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the adjustments do what their names say (without torchvision)", () => {
  const img = testImage();
  assert.deepEqual(adjustBrightness(img, 1), img);
  assert.ok(adjustBrightness(img, 0).every((v) => v === 0));
  assert.deepEqual(adjustSaturation(img, 1), img);
  // Hue 0 is the identity but for the truncating ×255 cast (torchvision's too): at most one step down.
  const hue0 = adjustHue(img, 0);
  assert.ok(hue0.every((v, i) => v === img[i] || v === img[i] - 1));
  // Saturation 0 is greyscale: three equal channels.
  const grey = adjustSaturation(img, 0);
  for (let i = 0; i < grey.length; i += 3) assert.ok(grey[i] === grey[i + 1] && grey[i] === grey[i + 2]);
  // Contrast 0 is one flat colour (the mean grey).
  const flat = adjustContrast(img, 0);
  assert.ok(flat.every((v) => v === flat[0]));
  // A hue shift of 1/3 turns pure red into pure green.
  assert.deepEqual([...adjustHue(Uint8Array.of(255, 0, 0), 1 / 3)], [0, 255, 0]);
  assert.throws(() => adjustBrightness(img, -0.1), /brightness factor must be non-negative/);
  assert.throws(() => adjustHue(img, 0.6), /hue factor must be in \[-0.5, 0.5\]/);
});

test("ColorJitter's ranges follow torchvision's _check_input", () => {
  assert.deepEqual(colorJitterRange("brightness", 0.4), [0.6, 1.4]);
  assert.deepEqual(colorJitterRange("contrast", 1.5), [0, 2.5]);
  assert.deepEqual(colorJitterRange("saturation", [0.5, 2]), [0.5, 2]);
  assert.deepEqual(colorJitterRange("hue", 0.1), [-0.1, 0.1]);
  assert.equal(colorJitterRange("brightness", 0), null);
  assert.equal(colorJitterRange("brightness", [1, 1]), null);
  assert.equal(colorJitterRange("hue", 0), null);
  assert.equal(colorJitterRange("hue", undefined), null);
  assert.throws(() => colorJitterRange("hue", 0.7), /colorJitter.hue: range \[-0.7, 0.7\] must lie within \[-0.5, 0.5\]/);
  assert.throws(() => colorJitterRange("contrast", -1), /colorJitter.contrast: a single number must be non-negative/);
  assert.throws(() => colorJitterRange("saturation", [2, 1]), /min ≤ max/);
});

test("colorJitterRGB draws a random order and factors from the sample's generator, reproducibly", () => {
  const img = testImage();
  const jitter: ColorJitter = { brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1 };
  const a = colorJitterRGB(img, jitter, new Random(3));
  assert.deepEqual(colorJitterRGB(img, jitter, new Random(3)), a, "same seed, same result");
  assert.notDeepEqual(colorJitterRGB(img, jitter, new Random(4)), a, "another seed, another result");
  // Replay the draws: a permutation of the four (shuffle), then one factor per adjustment in
  // brightness, contrast, saturation, hue order; the result is the adjustments in that order.
  const seen = new Set<string>();
  for (let seed = 0; seed < 40; seed++) {
    const rng = new Random(seed);
    const order = rng.shuffle([0, 1, 2, 3]);
    const f = [0.6 + 0.8 * rng.uniform(), 0.6 + 0.8 * rng.uniform(), 0.6 + 0.8 * rng.uniform(), -0.1 + 0.2 * rng.uniform()];
    seen.add(order.join(""));
    let expected = img;
    for (const k of order) expected = [adjustBrightness, adjustContrast, adjustSaturation, adjustHue][k](expected, f[k]);
    assert.deepEqual(colorJitterRGB(img, jitter, new Random(seed)), expected, `seed ${seed}`);
  }
  assert.ok(seen.size > 10, `the order varies (${seen.size} distinct orders in 40 draws)`);
  // Disabled adjustments draw nothing: brightness alone draws the permutation and one factor.
  const rng = new Random(9);
  rng.shuffle([0, 1, 2, 3]);
  const b = 0.5 + rng.uniform();
  assert.deepEqual(colorJitterRGB(img, { brightness: 0.5, hue: 0 }, new Random(9)), adjustBrightness(img, b));
});

test("trainTransformRGB applies colorJitter after the crop, and is unchanged without it", () => {
  const img = testImage();
  const t = { resolution: 32, augment: true, preprocessing: IMAGENET_EVAL };
  const plain = new Float32Array(3 * 32 * 32);
  const again = new Float32Array(3 * 32 * 32);
  const jittered = new Float32Array(3 * 32 * 32);
  trainTransformRGB(img, W, H, t, new Random(5), plain, 0);
  trainTransformRGB(img, W, H, { ...t, colorJitter: { brightness: 0, contrast: 0 } }, new Random(5), again, 0);
  assert.deepEqual(again, plain, "a jitter whose adjustments are all off leaves the image as it is");
  trainTransformRGB(img, W, H, { ...t, colorJitter: { brightness: 0.8, saturation: 0.8 } }, new Random(5), jittered, 0);
  assert.notDeepEqual(jittered, plain);
});
