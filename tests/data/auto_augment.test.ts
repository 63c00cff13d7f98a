/**
 * TrivialAugmentWide and RandAugment against torchvision 0.14 (tests/data/auto_augment.py): every op at
 * magnitudes from both policies' bins, positive and negative, on seeded images (one not square, one square
 * so that Rotate's transpose fast paths run, one of low contrast), must give torchvision's PIL output byte
 * for byte; the magnitude tables must equal torch's float32 linspace values. The policies' draws (op
 * uniform, bin uniform, sign 50%) are checked on our generator by their distribution over many draws.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  applyAugmentOp,
  AUGMENT_OPS,
  type AugmentOp,
  autoAugmentRGB,
  drawRandAugment,
  drawTrivialAugment,
  randAugment,
  randAugmentSpace,
  torchLinspace,
  trivialAugmentSpace,
  trivialAugmentWide,
} from "../../src/data/auto_augment.js";
import { Random } from "../../src/random.js";
import { requirePython, runPython } from "../helpers/python.js";

const SCRIPT = fileURLToPath(new URL("./auto_augment.py", import.meta.url));

/** Gradients, noise, greys, primaries, black and white (as the colour-jitter test's), at any size. */
function testImage(w: number, h: number, seed = 7): Uint8Array {
  const rng = new Random(seed);
  const img = new Uint8Array(w * h * 3);
  const band = Math.max(1, Math.floor(h / 3));
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      if (y < band) {
        img[i] = Math.round((255 * x) / (w - 1));
        img[i + 1] = Math.round((255 * y) / Math.max(1, band - 1));
        img[i + 2] = (x * 7 + y * 3) % 256;
      } else if (y < 2 * band) {
        for (let c = 0; c < 3; c++) img[i + c] = rng.int(256);
      } else if (x < w / 3) {
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

/** Values squeezed into a narrow band per channel: AutoContrast and Equalize have work to do. */
function lowContrastImage(w: number, h: number): Uint8Array {
  const rng = new Random(11);
  const img = new Uint8Array(w * h * 3);
  for (let i = 0; i < img.length; i += 3) {
    img[i] = 60 + rng.int(40);
    img[i + 1] = 100 + rng.int(90);
    img[i + 2] = 140 + ((i / 3) % 7);
  }
  return img;
}

const IMAGES = [
  { name: "67x45", w: 67, h: 45, data: testImage(67, 45) },
  { name: "40x40", w: 40, h: 40, data: testImage(40, 40, 3) },
  { name: "low-contrast 24x20", w: 24, h: 20, data: lowContrastImage(24, 20) },
];

type Job = [AugmentOp, number][];

/** Each op at magnitudes from TrivialAugmentWide's bins and RandAugment's bin 9, with both signs where signed. */
function jobsFor(w: number, h: number): Job[] {
  const ta = trivialAugmentSpace(31);
  const ra = randAugmentSpace(31, w, h);
  const jobs: Job[] = [];
  for (let k = 0; k < ta.length; k++) {
    const { op, magnitudes, signed } = ta[k];
    const mags = new Set<number>([0]);
    if (magnitudes) for (const b of [1, 4, 7, 13, 17, 19, 20, 24, 25, 30]) mags.add(magnitudes[b]);
    const raMags = ra[k].magnitudes;
    if (raMags) mags.add(raMags[9]);
    for (const m of mags) {
      jobs.push([[op, m]]);
      if (signed && m !== 0) jobs.push([[op, -m]]);
    }
  }
  for (const bits of [0, 1, 2, 3, 4, 5, 6, 7, 8]) jobs.push([["Posterize", bits]]);
  for (const t of [128, 200.5, 1]) jobs.push([["Solarize", t]]);
  for (const deg of [90, -90, 180, 270, 45, -135, 360]) jobs.push([["Rotate", deg]]);
  for (const f of [-1, 1.5, 3]) for (const op of ["Brightness", "Color", "Contrast", "Sharpness"] as const) jobs.push([[op, f]]);
  // Chains, as RandAugment applies them.
  jobs.push([
    ["Rotate", -9],
    ["Sharpness", 0.27],
  ]);
  jobs.push([
    ["ShearX", 0.09],
    ["Equalize", 0],
    ["TranslateY", -7],
  ]);
  return jobs;
}

test("every op matches torchvision's on a PIL image, byte for byte", (t) => {
  if (!requirePython(t, "torchvision")) return;
  const dir = mkdtempSync(join(tmpdir(), "convzoo-autoaug-"));
  try {
    const perOp = new Map<string, { max: number; differing: number; values: number; jobs: number }>();
    for (const { name, w, h, data } of IMAGES) {
      const jobs = jobsFor(w, h);
      writeFileSync(join(dir, "img.rgb"), data);
      writeFileSync(join(dir, "jobs.json"), JSON.stringify(jobs));
      runPython([
        SCRIPT,
        join(dir, "img.rgb"),
        String(w),
        String(h),
        join(dir, "jobs.json"),
        join(dir, "out.rgb"),
        join(dir, "spaces.json"),
      ]);
      const ref = readFileSync(join(dir, "out.rgb"));
      assert.equal(ref.length, jobs.length * data.length);
      jobs.forEach((job, j) => {
        let ours = data;
        for (const [op, m] of job) ours = applyAugmentOp(ours, w, h, op, m);
        const theirs = ref.subarray(j * data.length, (j + 1) * data.length);
        let max = 0;
        let differing = 0;
        for (let i = 0; i < data.length; i++) {
          const d = Math.abs(ours[i] - theirs[i]);
          if (d) differing++;
          max = Math.max(max, d);
        }
        const key = job.length > 1 ? "chains" : job[0][0];
        const s = perOp.get(key) ?? { max: 0, differing: 0, values: 0, jobs: 0 };
        perOp.set(key, { max: Math.max(s.max, max), differing: s.differing + differing, values: s.values + data.length, jobs: s.jobs + 1 });
        const label = job.map(([op, m]) => `${op}(${m})`).join(" → ");
        assert.equal(max, 0, `${name} ${label}: max |Δ| ${max}, ${differing} of ${data.length} values differ from torchvision`);
      });
    }
    t.diagnostic([...perOp].map(([op, s]) => `${op}: ${s.jobs} jobs, max |Δ| ${s.max}, ${s.differing}/${s.values} differ`).join("; "));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the magnitude bins equal torchvision's (torch's float32 linspace)", (t) => {
  if (!requirePython(t, "torchvision")) return;
  const dir = mkdtempSync(join(tmpdir(), "convzoo-autoaug-"));
  try {
    const img = testImage(8, 8);
    writeFileSync(join(dir, "img.rgb"), img);
    writeFileSync(join(dir, "jobs.json"), "[]");
    runPython([SCRIPT, join(dir, "img.rgb"), "8", "8", join(dir, "jobs.json"), join(dir, "out.rgb"), join(dir, "spaces.json")]);
    const spaces = JSON.parse(readFileSync(join(dir, "spaces.json"), "utf8"));
    const asObject = (s: ReturnType<typeof trivialAugmentSpace>) => Object.fromEntries(s.map((e) => [e.op, e.magnitudes]));
    for (const n of [31, 10, 64])
      assert.deepEqual(asObject(trivialAugmentSpace(n)), spaces.trivialaugment[String(n)], `TrivialAugmentWide, ${n} bins`);
    for (const [size, expected] of Object.entries(spaces.randaugment)) {
      const [w, h] = size.split("x").map(Number);
      assert.deepEqual(asObject(randAugmentSpace(31, w, h)), expected, `RandAugment at ${size}`);
    }
    assert.deepEqual(Object.keys(spaces.trivialaugment["31"]), [...AUGMENT_OPS], "the op order (what an op draw indexes)");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("torchLinspace: ends exact, evenly spaced", () => {
  assert.deepEqual(torchLinspace(0, 1, 2), [0, 1]);
  assert.deepEqual(torchLinspace(255, 0, 31).slice(0, 3), [255, 246.5, 238]);
  const v = torchLinspace(0, 135, 31);
  assert.equal(v[20], 90);
  assert.equal(v[30], 135);
});

/** Pearson's χ² statistic of observed counts against equal expected counts. */
function chiSquare(counts: number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  const e = total / counts.length;
  return counts.reduce((s, c) => s + (c - e) ** 2 / e, 0);
}

test("TrivialAugmentWide's draws: op uniform over 14, bin uniform over 31, sign 50%", () => {
  const rng = new Random(2024);
  const space = trivialAugmentSpace(31);
  const N = 140_000;
  const ops = new Array(14).fill(0);
  const bins = new Array(31).fill(0);
  let negatives = 0;
  let signedDraws = 0;
  for (let i = 0; i < N; i++) {
    const { op, magnitude } = drawTrivialAugment(rng);
    const k = AUGMENT_OPS.indexOf(op);
    ops[k]++;
    const { magnitudes, signed } = space[k];
    if (!magnitudes) {
      assert.equal(magnitude, 0);
      continue;
    }
    if (op === "ShearX") {
      const b = magnitudes.indexOf(Math.abs(magnitude));
      assert.ok(b >= 0, `${magnitude} is a bin`);
      bins[b]++;
    }
    if (signed && magnitude !== 0) {
      signedDraws++;
      if (magnitude < 0) negatives++;
    }
  }
  // 99.9% points of χ²: 34.5 for 13 degrees of freedom, 59.7 for 30.
  assert.ok(chiSquare(ops) < 34.5, `ops χ² ${chiSquare(ops).toFixed(1)}: ${ops}`);
  assert.ok(chiSquare(bins) < 59.7, `ShearX bins χ² ${chiSquare(bins).toFixed(1)}: ${bins}`);
  const p = negatives / signedDraws;
  assert.ok(Math.abs(p - 0.5) < 4 * Math.sqrt(0.25 / signedDraws), `negative share ${p}`);
});

test("the draws replay in torchvision's order: op, then bin (if any), then sign (if signed)", () => {
  const space = trivialAugmentSpace(31);
  for (let seed = 0; seed < 200; seed++) {
    const replay = new Random(seed);
    const k = replay.int(14);
    const { magnitudes, signed } = space[k];
    let m = magnitudes ? magnitudes[replay.int(31)] : 0;
    if (signed && replay.int(2) === 1) m = -m;
    const rng = new Random(seed);
    assert.deepEqual(drawTrivialAugment(rng), { op: AUGMENT_OPS[k], magnitude: m });
    assert.equal(rng.nextUint32(), replay.nextUint32(), "as many draws as the replay");
  }
  // RandAugment: per op, an op draw and (signed ops only) a sign; the magnitude is bin 9.
  const ra = randAugmentSpace(31, 32, 32);
  for (let seed = 0; seed < 200; seed++) {
    const replay = new Random(seed);
    const expected = [0, 1].map(() => {
      const k = replay.int(14);
      const { magnitudes, signed } = ra[k];
      let m = magnitudes ? magnitudes[9] : 0;
      if (signed && replay.int(2) === 1) m = -m;
      return { op: AUGMENT_OPS[k], magnitude: m };
    });
    const rng = new Random(seed);
    assert.deepEqual(drawRandAugment(rng, 32, 32), expected);
    assert.equal(rng.nextUint32(), replay.nextUint32());
  }
});

test("RandAugment's draws: two ops uniform over 14, sign 50%, magnitude fixed at the bin", () => {
  const rng = new Random(99);
  const ops = new Array(14).fill(0);
  let neg = 0;
  let signedDraws = 0;
  const N = 70_000;
  for (let i = 0; i < N; i++) {
    const draws = drawRandAugment(rng, 32, 32, { numOps: 2, magnitude: 9 });
    assert.equal(draws.length, 2);
    for (const { op, magnitude } of draws) {
      ops[AUGMENT_OPS.indexOf(op)]++;
      if (op === "Rotate") {
        assert.equal(Math.abs(magnitude), 9);
        signedDraws++;
        if (magnitude < 0) neg++;
      }
      if (op === "Posterize") assert.equal(magnitude, 7);
      if (op === "Solarize") assert.equal(magnitude, 178.5);
    }
  }
  assert.ok(chiSquare(ops) < 34.5, `ops χ² ${chiSquare(ops).toFixed(1)}`);
  assert.ok(Math.abs(neg / signedDraws - 0.5) < 4 * Math.sqrt(0.25 / signedDraws));
  assert.throws(() => drawRandAugment(rng, 32, 32, { magnitude: 31 }), /magnitude must be an integer in \[0, 30\]/);
});

test("the policies apply what they draw, reproducibly", () => {
  const { w, h, data } = IMAGES[1];
  for (let seed = 0; seed < 30; seed++) {
    const d = drawTrivialAugment(new Random(seed));
    assert.deepEqual(trivialAugmentWide(data, w, h, new Random(seed)), applyAugmentOp(data, w, h, d.op, d.magnitude));
    let expected = data;
    for (const { op, magnitude } of drawRandAugment(new Random(seed), w, h)) expected = applyAugmentOp(expected, w, h, op, magnitude);
    assert.deepEqual(randAugment(data, w, h, new Random(seed)), expected);
    assert.deepEqual(autoAugmentRGB(data, w, h, "randaugment", new Random(seed)), expected);
  }
  const rng = new Random(1);
  assert.equal(autoAugmentRGB(data, w, h, "none", rng), data);
  assert.equal(rng.nextUint32(), new Random(1).nextUint32(), "'none' draws nothing");
  assert.throws(() => autoAugmentRGB(data, w, h, "autoaugment" as never, rng), /unknown auto-augment policy/);
});
