/**
 * `--strategy auto`: the linear probe on synthetic features, the lecture's rule on fixed figures
 * (thresholds at their edges), random initialisation → full, and — the proof that the measurement
 * means something — a small network pretrained here on coloured shapes, measured on new shape
 * images (the data it knows) and on grey oriented-noise textures (data it does not): the probe and
 * the BatchNorm statistics must both call the shapes more similar.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import sharp from "sharp";
import type { Sample } from "../../src/data/folder.js";
import { IMAGENET_EVAL } from "../../src/models/preprocessing.js";
import { createModel, initializeWeights } from "../../src/models/index.js";
import { Random } from "../../src/random.js";
import { AUTO_THRESHOLDS, chooseStrategy, decideStrategy } from "../../src/transfer/auto.js";
import { targetDistribution } from "../../src/train/training_graph.js";
import { linearProbe } from "../../src/transfer/probe.js";
import { Trainer } from "../../src/train/trainer.js";
import { frozenPrefixes } from "../../src/transfer/strategy.js";

/** n rows of `dims` features, class i % k, around class centres `separation` apart (0: no signal). */
function gaussianClasses(n: number, dims: number, k: number, separation: number, seed: number): { data: Float32Array; labels: number[] } {
  const rng = new Random(seed);
  const centres = Array.from({ length: k }, () => Array.from({ length: dims }, () => rng.normal()));
  const data = new Float32Array(n * dims);
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    labels.push(i % k);
    for (let d = 0; d < dims; d++) data[i * dims + d] = separation * centres[i % k][d] + rng.normal();
  }
  return { data, labels };
}

test("probe: separable classes score near 1, classes without signal near chance", () => {
  const separable = gaussianClasses(400, 16, 4, 1.5, 1);
  const good = linearProbe(separable.data, 16, separable.labels, 4);
  assert.equal(good.testCount, 100);
  assert.equal(good.trainCount, 300);
  assert.equal(good.chance, 0.25);
  assert.ok(good.accuracy >= 0.95, `separable: ${good.accuracy}`);
  const none = gaussianClasses(400, 16, 4, 0, 1);
  const bad = linearProbe(none.data, 16, none.labels, 4);
  // 100 held-out rows: the standard error of a chance-level accuracy is √(0.25·0.75/100) ≈ 0.043;
  // four of them above chance would be a 1-in-30000 fluke.
  assert.ok(bad.accuracy < 0.25 + 4 * 0.043, `no signal: ${bad.accuracy}`);
  assert.ok(bad.normalized < 0.25, `no signal, normalised: ${bad.normalized}`);
  assert.ok(good.normalized > bad.normalized + 0.5);
});

test("probe: more dimensions than rows (Gram form) and the primal form give the same model", () => {
  // Weak signal in 600 dims, 90 training rows: neither perfect nor chance, so a difference shows.
  const { data, labels } = gaussianClasses(120, 600, 3, 0.12, 2);
  const primal = linearProbe(data, 600, labels, 3, { form: "primal" });
  const gram = linearProbe(data, 600, labels, 3, { form: "gram" });
  const auto = linearProbe(data, 600, labels, 3);
  assert.ok(primal.accuracy > 0.5 && primal.accuracy < 1, `an informative case: ${primal.accuracy}`);
  assert.equal(gram.accuracy, primal.accuracy);
  assert.equal(gram.trainAccuracy, primal.trainAccuracy);
  assert.equal(auto.accuracy, gram.accuracy);
  // Deterministic for a seed; another seed is another split.
  assert.equal(linearProbe(data, 600, labels, 3).accuracy, auto.accuracy);
  assert.throws(() => linearProbe(data, 600, labels, 1), /at least 2 classes/);
  assert.throws(() => linearProbe(data, 599, labels, 3), /not 120 rows of 599 features/);
  assert.throws(
    () =>
      linearProbe(
        data,
        600,
        labels.map(() => 5),
        3,
      ),
    /label 5/,
  );
});

test("the rule on fixed figures, thresholds at their edges", () => {
  const t = AUTO_THRESHOLDS;
  assert.equal(t.largeImagesPerClass, 1000);
  assert.equal(t.similarProbe, 0.8);
  const rule = (imagesPerClass: number, probeNormalized: number | null) =>
    decideStrategy({ imagesPerClass, probeNormalized, hasPretrainedWeights: true });
  assert.deepEqual([rule(999.9, 0.8).quadrant, rule(999.9, 0.8).strategy], ["small + similar", "head"]);
  assert.deepEqual(
    [rule(999.9, 0.7999).quadrant, rule(999.9, 0.7999).strategy, rule(999.9, 0.7999).fromStride],
    ["small + different", "full", null],
  );
  assert.deepEqual([rule(1000, 0.8).quadrant, rule(1000, 0.8).strategy, rule(1000, 0.8).fromStride], ["large + similar", "partial", 8]);
  assert.deepEqual([rule(1000, 0.7999).quadrant, rule(1000, 0.7999).strategy], ["large + different", "full"]);
  // No probe figure (no class with two images): the "different" column.
  assert.deepEqual([rule(1, null).similar, rule(1, null).quadrant, rule(1, null).strategy], [null, "small + different", "full"]);
  // Thresholds can be overridden.
  assert.equal(
    decideStrategy(
      { imagesPerClass: 200, probeNormalized: 0.9, hasPretrainedWeights: true },
      { largeImagesPerClass: 100, similarProbe: 0.5 },
    ).quadrant,
    "large + similar",
  );
  // Random initialisation: nothing to transfer, whatever the figures.
  for (const [n, p] of [
    [10, 0.99],
    [5000, 0.99],
    [10, 0],
    [5000, null],
  ] as const) {
    const d = decideStrategy({ imagesPerClass: n, probeNormalized: p, hasPretrainedWeights: false });
    assert.deepEqual([d.strategy, d.quadrant, d.similar], ["full", null, null]);
    assert.match(d.reason, /no pretrained weights/);
  }
});

test("auto without pretrained weights: full, says why, reads no image", async () => {
  const model = createModel("resnet18", { numClasses: 2 });
  // The files do not exist: nothing may be read.
  const samples: Sample[] = Array.from({ length: 30 }, (_, i) => ({ path: `/nonexistent/${i}.png`, label: i % 2 }));
  const d = await chooseStrategy(model, samples, {
    classes: ["a", "b"],
    resolution: 32,
    preprocessing: IMAGENET_EVAL,
    hasPretrainedWeights: false,
  });
  assert.equal(d.strategy, "full");
  assert.deepEqual(d.freeze, []);
  assert.equal(d.probe, null);
  assert.equal(d.imagesPerClass, 15);
  assert.equal(d.size, "small");
  assert.ok(
    d.lines.some((l) => /no pretrained weights/.test(l)),
    d.lines.join("\n"),
  );
  await assert.rejects(
    chooseStrategy(model, samples, { classes: ["a", "b", "c"], resolution: 32, preprocessing: IMAGENET_EVAL, hasPretrainedWeights: false }),
    /class "c" has no training images/,
  );
});

// ---------------------------------------------------------------------------------------------
// A backbone whose features fit the data vs data they do not fit.

const R = 32;
const PRE = { ...IMAGENET_EVAL, resizeSize: R, cropSize: R };
const HUES = [
  [230, 40, 40],
  [40, 200, 40],
  [50, 80, 230],
  [230, 200, 40],
];

/**
 * Class c: a disc, square, triangle or cross of the class's hue (jittered) on a random dark grey,
 * at a random place and size. The hue makes the classes learnable in the ~80 steps the test can
 * afford; the point is not what the network learns but that its features then fit this kind of data.
 */
function shapeImage(c: number, rng: Random): Uint8Array {
  const img = new Uint8Array(R * R * 3);
  const grey = 40 + rng.int(60);
  const fg = HUES[c].map((v) => Math.max(0, Math.min(255, v + Math.round(rng.normal() * 20))));
  const s = Math.round(R * (0.2 + 0.15 * rng.uniform()));
  const cx = s + rng.int(R - 2 * s);
  const cy = s + rng.int(R - 2 * s);
  for (let y = 0; y < R; y++) {
    for (let x = 0; x < R; x++) {
      const dx = x - cx;
      const dy = y - cy;
      const inside =
        c === 0
          ? dx * dx + dy * dy <= s * s
          : c === 1
            ? Math.abs(dx) <= s * 0.8 && Math.abs(dy) <= s * 0.8
            : c === 2
              ? dy <= s * 0.8 && dy >= -s && Math.abs(dx) <= (dy + s) * 0.5
              : (Math.abs(dx) <= s * 0.25 && Math.abs(dy) <= s) || (Math.abs(dy) <= s * 0.25 && Math.abs(dx) <= s);
      for (let ch = 0; ch < 3; ch++)
        img[(y * R + x) * 3 + ch] = Math.max(0, Math.min(255, (inside ? fg[ch] : grey) + Math.round(rng.normal() * 8)));
    }
  }
  return img;
}

/** Class c: grey white noise smeared along the direction c·45°, random brightness and contrast. */
function textureImage(c: number, rng: Random): Uint8Array {
  const noise = Float64Array.from({ length: R * R }, () => rng.normal());
  const [ux, uy] = [
    [1, 0],
    [1, 1],
    [0, 1],
    [-1, 1],
  ][c];
  const contrast = 30 + rng.int(40);
  const mean = 80 + rng.int(100);
  const img = new Uint8Array(R * R * 3);
  for (let y = 0; y < R; y++) {
    for (let x = 0; x < R; x++) {
      let s = 0;
      for (let t = -4; t <= 4; t++) s += noise[((y + t * uy + R) % R) * R + ((x + t * ux + R) % R)];
      img.fill(Math.max(0, Math.min(255, Math.round(mean + (contrast * s) / 3))), (y * R + x) * 3, (y * R + x) * 3 + 3);
    }
  }
  return img;
}

function normalise(images: readonly Uint8Array[]): Float32Array {
  const out = new Float32Array(images.length * 3 * R * R);
  images.forEach((img, b) => {
    for (let ch = 0; ch < 3; ch++)
      for (let p = 0; p < R * R; p++) out[(b * 3 + ch) * R * R + p] = (img[p * 3 + ch] / 255 - PRE.mean[ch]) / PRE.std[ch];
  });
  return out;
}

async function writeImages(
  dir: string,
  make: (c: number, rng: Random) => Uint8Array,
  perClass: number,
  seed: number,
): Promise<{ samples: Sample[]; images: Uint8Array[] }> {
  const rng = new Random(seed);
  const samples: Sample[] = [];
  const images: Uint8Array[] = [];
  for (let c = 0; c < 4; c++) {
    mkdirSync(join(dir, `c${c}`), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const img = make(c, rng);
      const path = join(dir, `c${c}`, `${i}.png`);
      await sharp(Buffer.from(img), { raw: { width: R, height: R, channels: 3 } })
        .png()
        .toFile(path);
      samples.push({ path, label: c });
      images.push(img);
    }
  }
  return { samples, images };
}

/** Mean |gradient| along 0°, 45°, 90°, 135° of the grey image: a hand-made texture descriptor. */
function orientationEnergy(img: Uint8Array): number[] {
  const g = (x: number, y: number) => img[(((y + R) % R) * R + ((x + R) % R)) * 3];
  const e = [0, 0, 0, 0];
  for (let y = 0; y < R; y++) {
    for (let x = 0; x < R; x++) {
      e[0] += Math.abs(g(x + 1, y) - g(x, y));
      e[1] += Math.abs(g(x + 1, y + 1) - g(x, y));
      e[2] += Math.abs(g(x, y + 1) - g(x, y));
      e[3] += Math.abs(g(x - 1, y + 1) - g(x, y));
    }
  }
  const total = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / total);
}

test("auto measures similarity: a shape-pretrained backbone finds new shapes similar, noise textures different", {
  timeout: 600_000,
}, async () => {
  const started = performance.now();
  const arch = "mobilenet_v1";
  // MobileNet V1 at α = 0.25, 32 px: a training step is cheap, and its BatchNorm momentum (0.1)
  // brings the running statistics to the data within the ~80 steps (MobileNetV3's 0.01 would not).
  const model = createModel(arch, { numClasses: 4, widthMult: 0.25 });
  initializeWeights(model, 1);
  const trainer = await Trainer.create(model, {
    batchSize: 16,
    resolution: R,
    frozen: [],
    optimizer: { kind: "adamw", weightDecay: 0 },
    threads: 2,
    seed: 0,
  });
  const rng = new Random(7);
  const losses: number[] = [];
  for (let step = 0; step < 80; step++) {
    const labels = Array.from({ length: 16 }, () => rng.int(4));
    losses.push(await trainer.step(normalise(labels.map((c) => shapeImage(c, rng))), targetDistribution(labels, 4), 0.01));
  }
  trainer.writeBack();
  await trainer.release();
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const pretrainSeconds = (performance.now() - started) / 1000;
  console.log(
    `pretraining: 80 steps, loss ${mean(losses.slice(0, 10)).toFixed(3)} → ${mean(losses.slice(-10)).toFixed(3)} in ${pretrainSeconds.toFixed(1)} s`,
  );
  assert.ok(mean(losses.slice(-10)) < 0.9 * Math.log(4), "the pretraining learned something");

  const dir = mkdtempSync(join(tmpdir(), "convzoo-auto-"));
  try {
    const shapes = await writeImages(join(dir, "shapes"), shapeImage, 40, 101);
    const textures = await writeImages(join(dir, "textures"), textureImage, 40, 202);
    // The textures are separable — by features made for them: the probe on four gradient-energy
    // figures is high, so a low score of the network's features means "different", not "impossible".
    const energy = Float32Array.from(textures.images.flatMap(orientationEnergy));
    const handMade = linearProbe(
      energy,
      4,
      textures.samples.map((s) => s.label),
      4,
    );
    assert.ok(handMade.normalized >= 0.8, `hand-made texture features: ${handMade.normalized}`);

    const options = {
      classes: ["c0", "c1", "c2", "c3"],
      resolution: R,
      preprocessing: PRE,
      threads: 2,
      seed: 0,
      hasPretrainedWeights: true,
    };
    const a = await chooseStrategy(model, shapes.samples, options);
    const b = await chooseStrategy(model, textures.samples, options);
    for (const [name, d] of [
      ["shapes", a],
      ["textures", b],
    ] as const) {
      console.log(
        `${name}: probe ${d.probe!.accuracy.toFixed(3)} (normalised ${d.probe!.normalized.toFixed(3)}), BN KL ${d.batchNorm.map((x) => `${x.layer} ${x.kl.toFixed(3)}`).join(", ")}, ${d.seconds.toFixed(1)} s`,
      );
      for (const line of d.lines) console.log(`  ${line}`);
    }
    console.log(
      `hand-made texture features: probe ${handMade.accuracy.toFixed(3)}; whole test ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );

    // The same shapes through the untrained network (torchvision's initialisation; in eval mode its
    // BatchNorm statistics are the initial 0 and 1, so the features carry next to nothing).
    const untrained = createModel(arch, { numClasses: 4, widthMult: 0.25 });
    initializeWeights(untrained, 1);
    const u = await chooseStrategy(untrained, shapes.samples, options);
    console.log(
      `shapes through the untrained network: probe ${u.probe!.accuracy.toFixed(3)} (normalised ${u.probe!.normalized.toFixed(3)})`,
    );

    assert.ok(a.probe && b.probe && u.probe);
    assert.ok(a.probe.normalized > u.probe.normalized, `probe: pretrained ${a.probe.normalized} vs untrained ${u.probe.normalized}`);
    assert.equal(a.probe.testCount, 40);
    assert.ok(a.probe.normalized > b.probe.normalized, `probe: shapes ${a.probe.normalized} vs textures ${b.probe.normalized}`);
    assert.equal(a.batchNorm.length, 2);
    assert.deepEqual(
      a.batchNorm.map((x) => x.position),
      ["early", "late"],
    );
    // The early BatchNorm's input statistics tell the two sets apart (shapes ~0.005, textures ~0.8).
    // The late one's depend on where the 80 pretraining steps ended: rounding-level changes to the
    // training arithmetic moved it from 0.09 (shapes) vs 0.81 (textures) to 2.34 vs 0.11, so its
    // direction is not asserted; the figure is reported, not used in the choice.
    assert.ok(
      a.batchNorm[0].kl < b.batchNorm[0].kl,
      `BN ${a.batchNorm[0].layer}: shapes ${a.batchNorm[0].kl} vs textures ${b.batchNorm[0].kl}`,
    );
    // 160 images in 4 classes is small; what each set is called follows from the figures.
    assert.equal(a.size, "small");
    assert.equal(a.quadrant, a.similar ? "small + similar" : "small + different");
    assert.equal(a.strategy, a.similar ? "head" : "full");
    assert.equal(b.quadrant, b.similar ? "small + similar" : "small + different");
    if (a.strategy === "head") assert.deepEqual(a.freeze, frozenPrefixes(model, "head"));
    if (b.strategy === "full") {
      // small + different trains everything (measured better than partial on bench/small_data.ts).
      assert.deepEqual(b.freeze, []);
      assert.equal(b.unfreezeStages, null);
    }
    assert.ok(a.lines.some((l) => l.startsWith("similarity: linear probe")));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
