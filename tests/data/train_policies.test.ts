/**
 * The new TrainTransform options in the training pipeline: absent (or "none") they change nothing and draw
 * nothing, so existing runs stay bit-identical; present, trainTransformRGB applies them in torchvision's
 * reference order (crop and flip → TrivialAugmentWide / RandAugment → colour jitter → Normalize →
 * RandomErasing) from the sample's generator; and data worker threads give the same bytes as this thread.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { colorJitterRGB, randomResizedCropBox, trainTransformRGB, type TrainTransform } from "../../src/data/augment.js";
import { randAugment, trivialAugmentWide } from "../../src/data/auto_augment.js";
import { randomErasingCHW } from "../../src/data/erasing.js";
import { closeDataWorkers, epochBatches, type Batch } from "../../src/data/loader.js";
import { normalizeHWCToCHW, resizeRGB } from "../../src/data/preprocess.js";
import { IMAGENET_EVAL } from "../../src/models/preprocessing.js";
import { Random } from "../../src/random.js";
import { writeJpegFolder } from "./jpegs.js";

after(closeDataWorkers);

const R = 32;
function image(w: number, h: number): Uint8Array {
  const rng = new Random(2);
  return Uint8Array.from({ length: w * h * 3 }, (_, i) => ((i % 3) * 80 + ((i / 3) % w) * 3 + rng.int(40)) % 256);
}

test("absent or 'none', the new options change nothing and draw nothing", () => {
  const img = image(50, 41);
  const base: TrainTransform = { resolution: R, augment: true, preprocessing: IMAGENET_EVAL };
  for (const extra of [{}, { autoAugment: "none" as const }, { autoAugment: "none" as const, randAugment: { numOps: 3 } }]) {
    const a = new Float32Array(3 * R * R);
    const b = new Float32Array(3 * R * R);
    const ra = new Random(9);
    const rb = new Random(9);
    trainTransformRGB(img, 50, 41, base, ra, a, 0);
    trainTransformRGB(img, 50, 41, { ...base, ...extra }, rb, b, 0);
    assert.deepEqual(b, a);
    assert.equal(rb.nextUint32(), ra.nextUint32(), "the same number of draws");
  }
});

test("trainTransformRGB: crop and flip → policy → colour jitter → Normalize → erasing, one generator", () => {
  const img = image(50, 41);
  for (const policy of ["trivialaugment", "randaugment"] as const) {
    for (let seed = 0; seed < 12; seed++) {
      const t: TrainTransform = {
        resolution: R,
        augment: true,
        preprocessing: IMAGENET_EVAL,
        autoAugment: policy,
        randAugment: { numOps: 2, magnitude: 12 },
        colorJitter: { brightness: 0.3 },
        erasing: { p: 0.5, value: "random" },
      };
      const ours = new Float32Array(2 * 3 * R * R);
      trainTransformRGB(img, 50, 41, t, new Random(seed), ours, 3 * R * R);
      // Replay.
      const rng = new Random(seed);
      const box = randomResizedCropBox(50, 41, rng);
      const crop = new Uint8Array(box.width * box.height * 3);
      for (let y = 0; y < box.height; y++)
        crop.set(img.subarray(((box.top + y) * 50 + box.left) * 3, ((box.top + y) * 50 + box.left + box.width) * 3), y * box.width * 3);
      let px = resizeRGB(crop, box.width, box.height, R, R, IMAGENET_EVAL.interpolation);
      if (rng.uniform() < 0.5) {
        const f = new Uint8Array(px.length);
        for (let y = 0; y < R; y++)
          for (let x = 0; x < R; x++) f.set(px.subarray((y * R + x) * 3, (y * R + x) * 3 + 3), (y * R + R - 1 - x) * 3);
        px = f;
      }
      px = policy === "trivialaugment" ? trivialAugmentWide(px, R, R, rng) : randAugment(px, R, R, rng, { numOps: 2, magnitude: 12 });
      px = colorJitterRGB(px, { brightness: 0.3 }, rng);
      const expected = new Float32Array(2 * 3 * R * R);
      normalizeHWCToCHW(px, R, R, IMAGENET_EVAL, expected, 3 * R * R);
      randomErasingCHW(expected, 3 * R * R, 3, R, R, { p: 0.5, value: "random" }, rng);
      assert.deepEqual(ours, expected, `${policy}, seed ${seed}`);
    }
  }
});

test("the new options pass through data worker threads: same bytes as this thread", async () => {
  const dir = mkdtempSync(join(tmpdir(), "convzoo-policies-"));
  try {
    const paths = await writeJpegFolder(dir, { classes: 2, perClass: 4, width: 64, height: 48, seed: 1 });
    const samples = paths.map((path, i) => ({ path, label: i % 2 }));
    const transform: TrainTransform = {
      resolution: 24,
      augment: true,
      preprocessing: IMAGENET_EVAL,
      autoAugment: "trivialaugment",
      erasing: { p: 0.5 },
    };
    const run = async (workers: number) => {
      const out: Batch[] = [];
      for await (const b of epochBatches(samples, { batchSize: 3, shuffle: true, transform, rng: new Random(4), workers })) out.push(b);
      return out;
    };
    const here = await run(0);
    const there = await run(1);
    assert.deepEqual(
      there.map((b) => b.images),
      here.map((b) => b.images),
    );
    const plain = await (async () => {
      const out: Batch[] = [];
      const t = { resolution: 24, augment: true, preprocessing: IMAGENET_EVAL };
      for await (const b of epochBatches(samples, { batchSize: 3, shuffle: true, transform: t, rng: new Random(4), workers: 0 }))
        out.push(b);
      return out;
    })();
    assert.notDeepEqual(
      here.map((b) => b.images),
      plain.map((b) => b.images),
      "the options do something",
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
