/**
 * Mixup and CutMix against timm's formulas (tests/data/mix.py re-implements timm/data/mixup.py's lines in
 * torch): for given λ (and box centre), the mixed images and the [B, K] targets must be identical, the
 * cutmix box and its corrected λ equal; the draws (prob, switch, Beta(α, α) as numpy's) are checked by
 * their distribution and replayed in timm's order.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { cutmixBox, cutmixImages, drawMixParams, mixBatch, mixTargets, mixupImages, sampleBeta } from "../../src/data/mix.js";
import { Random } from "../../src/random.js";
import { requirePython, runPython } from "../helpers/python.js";

const SCRIPT = fileURLToPath(new URL("./mix.py", import.meta.url));

type Job =
  | { kind: "mixup"; lam: number; smoothing: number }
  | { kind: "cutmix"; lam: number; cy: number; cx: number; smoothing: number; correct: boolean };

test("mixup and cutmix images and targets equal timm's for given λ and box centre", (t) => {
  if (!requirePython(t, "torch")) return;
  const [B, C, H, W, K] = [6, 3, 9, 13, 5];
  const rng = new Random(21);
  const images = Float32Array.from({ length: B * C * H * W }, () => rng.normal());
  const labels = [0, 3, 3, 1, 4, 2];
  const jobs: Job[] = [
    { kind: "mixup", lam: 0.7312345678, smoothing: 0 },
    { kind: "mixup", lam: 0.0421, smoothing: 0.1 },
    { kind: "mixup", lam: 0.5, smoothing: 0.25 },
    { kind: "cutmix", lam: 0.61, cy: 4, cx: 6, smoothing: 0, correct: true },
    { kind: "cutmix", lam: 0.2, cy: 0, cx: 12, smoothing: 0.1, correct: true }, // clipped at two borders
    { kind: "cutmix", lam: 0.93, cy: 8, cx: 0, smoothing: 0, correct: false },
    { kind: "cutmix", lam: 0.001, cy: 5, cx: 7, smoothing: 0.1, correct: true },
  ];
  const dir = mkdtempSync(join(tmpdir(), "convzoo-mix-"));
  try {
    writeFileSync(join(dir, "x.f32"), Buffer.from(images.buffer));
    writeFileSync(join(dir, "labels.json"), JSON.stringify(labels));
    writeFileSync(join(dir, "jobs.json"), JSON.stringify(jobs));
    const args = [SCRIPT, "mix", join(dir, "x.f32"), ...[B, C, H, W].map(String), join(dir, "labels.json"), String(K)];
    runPython([...args, join(dir, "jobs.json"), join(dir, "out.f32"), join(dir, "out.json")]);
    const buf = readFileSync(join(dir, "out.f32"));
    const ref = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
    const boxes = JSON.parse(readFileSync(join(dir, "out.json"), "utf8")) as ([number, number, number, number, number] | null)[];
    const per = images.length + B * K;
    jobs.forEach((job, j) => {
      let mixed: Float32Array;
      let lam = job.lam;
      if (job.kind === "cutmix") {
        const r = cutmixBox(H, W, job.lam, job.cy, job.cx, job.correct);
        assert.deepEqual([r.box.yl, r.box.yh, r.box.xl, r.box.xh, r.lam], boxes[j], `job ${j}: box and corrected λ`);
        mixed = cutmixImages(images, [B, C, H, W], r.box);
        lam = r.lam;
      } else mixed = mixupImages(images, B, job.lam);
      assert.deepEqual(mixed, ref.subarray(j * per, j * per + images.length), `job ${j} (${job.kind}): images`);
      assert.deepEqual(
        mixTargets(labels, K, lam, job.smoothing),
        ref.subarray(j * per + images.length, (j + 1) * per),
        `job ${j}: targets`,
      );
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("targets: rows sum to 1, smoothing and the flip as timm's mixup_target", () => {
  const targets = mixTargets([2, 0, 1], 4, 0.75, 0.2);
  // Row 0: own label 2, mirror label 1: 0.75·(0.85 at 2) + 0.25·(0.85 at 1), 0.05 off.
  assert.deepEqual(
    [...targets.subarray(0, 4)].map((v) => +v.toFixed(6)),
    [0.05, 0.25, 0.65, 0.05],
  );
  // The middle row of an odd batch is its own mirror: its target is its own (smoothed) one-hot.
  assert.deepEqual(
    [...targets.subarray(4, 8)].map((v) => +v.toFixed(6)),
    [0.85, 0.05, 0.05, 0.05],
  );
  for (let i = 0; i < 3; i++) assert.ok(Math.abs(targets.subarray(i * 4, i * 4 + 4).reduce((a, b) => a + b, 0) - 1) < 1e-6);
  assert.deepEqual([...mixTargets([1, 0], 2, 1)], [0, 1, 1, 0], "λ = 1: one-hot");
});

test("cutmix box: side √(1 − λ) of the image's, centred, clipped, λ corrected to the area", () => {
  assert.deepEqual(cutmixBox(32, 32, 0.75, 16, 16), { box: { yl: 8, yh: 24, xl: 8, xh: 24 }, lam: 0.75 });
  // At a corner three quarters of the box falls outside: λ goes up.
  assert.deepEqual(cutmixBox(32, 32, 0.75, 0, 0), { box: { yl: 0, yh: 8, xl: 0, xh: 8 }, lam: 1 - 64 / 1024 });
  assert.deepEqual(cutmixBox(32, 32, 0.75, 0, 0, false).lam, 0.75);
});

/** Two-sample Kolmogorov–Smirnov statistic. */
function ks(a: number[], b: number[]): number {
  const x = [...a].sort((p, q) => p - q);
  const y = [...b].sort((p, q) => p - q);
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < x.length && j < y.length) {
    const v = Math.min(x[i], y[j]);
    while (i < x.length && x[i] <= v) i++;
    while (j < y.length && y[j] <= v) j++;
    d = Math.max(d, Math.abs(i / x.length - j / y.length));
  }
  return d;
}

test("sampleBeta draws numpy's Beta(α, α) distribution (two-sample KS against np.random.beta)", (t) => {
  if (!requirePython(t, "torch")) return; // numpy comes with it
  const N = 20_000;
  const dir = mkdtempSync(join(tmpdir(), "convzoo-mix-"));
  const report: string[] = [];
  try {
    for (const alpha of [0.2, 0.8, 1, 2]) {
      runPython([SCRIPT, "beta", String(alpha), String(N), join(dir, "b.json")]);
      const theirs = JSON.parse(readFileSync(join(dir, "b.json"), "utf8")) as number[];
      const rng = new Random(Math.round(alpha * 10));
      const ours = Array.from({ length: N }, () => sampleBeta(rng, alpha, alpha));
      assert.ok(ours.every((v) => v >= 0 && v <= 1 && !Number.isNaN(v)));
      const d = ks(ours, theirs);
      report.push(`α ${alpha}: KS ${d.toFixed(4)}`);
      // Critical value at α = 0.001: 1.95·√(2/N).
      assert.ok(d < 1.95 * Math.sqrt(2 / N), `Beta(${alpha}, ${alpha}): KS distance ${d}`);
    }
    t.diagnostic(report.join("; "));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the batch draws: prob, then the switch (both on), then λ; cutmix then its centre", () => {
  // Mixup and cutmix both on: the share of cutmix follows switchProb, of unmixed batches 1 − prob.
  const rng = new Random(5);
  let cut = 0;
  let none = 0;
  const N = 20_000;
  for (let i = 0; i < N; i++) {
    const { lam, useCutmix } = drawMixParams(rng, { mixupAlpha: 0.8, cutmixAlpha: 1, prob: 0.8, switchProb: 0.3 });
    if (lam === 1) none++;
    else if (useCutmix) cut++;
  }
  const se = (p: number) => 4 * Math.sqrt((p * (1 - p)) / N);
  assert.ok(Math.abs(none / N - 0.2) < se(0.2), `unmixed share ${none / N}`);
  assert.ok(Math.abs(cut / N - 0.8 * 0.3) < se(0.24), `cutmix share ${cut / N}`);
  // Replay mixBatch's draws.
  const [B, C, H, W, K] = [4, 3, 8, 10, 3];
  const images = Float32Array.from({ length: B * C * H * W }, (_, i) => Math.sin(i));
  const labels = [0, 1, 2, 1];
  for (let seed = 0; seed < 50; seed++) {
    const options = { mixupAlpha: 0.2, cutmixAlpha: 1, prob: 0.9, labelSmoothing: 0.1 };
    const replay = new Random(seed);
    let lam = 1;
    let useCutmix = false;
    if (replay.uniform() < 0.9) {
      useCutmix = replay.uniform() < 0.5;
      lam = useCutmix ? sampleBeta(replay, 1, 1) : sampleBeta(replay, 0.2, 0.2);
    }
    const r = mixBatch(images, labels, K, [B, C, H, W], new Random(seed), options);
    if (lam === 1) {
      assert.equal(r.mode, "none");
      assert.deepEqual(r.images, images);
      assert.deepEqual(r.targets, mixTargets(labels, K, 1, 0.1));
    } else if (useCutmix) {
      const { box, lam: corrected } = cutmixBox(H, W, lam, replay.int(H), replay.int(W));
      assert.deepEqual({ mode: r.mode, box: r.box, lam: r.lam }, { mode: "cutmix", box, lam: corrected });
      assert.deepEqual(r.images, cutmixImages(images, [B, C, H, W], box));
      assert.deepEqual(r.targets, mixTargets(labels, K, corrected, 0.1));
    } else {
      assert.deepEqual({ mode: r.mode, lam: r.lam }, { mode: "mixup", lam });
      assert.deepEqual(r.images, mixupImages(images, B, lam));
      assert.deepEqual(r.targets, mixTargets(labels, K, lam, 0.1));
    }
  }
  assert.throws(() => mixBatch(images, [0, 1, 2], K, [B, C, H, W], new Random(1)), /3 labels for a batch of 4/);
  assert.throws(() => mixBatch(images, [0, 1, 2, 3], K, [B, C, H, W], new Random(1)), /label 3 is not in \[0, 3\)/);
  assert.throws(() => mixBatch(images, labels, K, [B, C, H, W], new Random(1), { mixupAlpha: 0 }), /one of mixupAlpha and cutmixAlpha/);
});
