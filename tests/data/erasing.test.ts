/**
 * RandomErasing against torchvision 0.14 (tests/data/erasing.py): the erase itself for given boxes and fills
 * must equal `F.erase` exactly; the sampler (our generator, torch's logic) must draw boxes distributed as
 * torchvision's `get_params` does (area, aspect, position, failed attempts), compared over many draws; and
 * the draws replay in torchvision's order.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { eraseCHW, type ErasingBox, randomErasingCHW, randomErasingParams } from "../../src/data/erasing.js";
import { Random } from "../../src/random.js";
import { requirePython, runPython } from "../helpers/python.js";

const SCRIPT = fileURLToPath(new URL("./erasing.py", import.meta.url));

function normalisedImage(c: number, h: number, w: number): Float32Array {
  const rng = new Random(5);
  return Float32Array.from({ length: c * h * w }, () => rng.normal());
}

test("eraseCHW equals torchvision's F.erase for given boxes and fills", (t) => {
  if (!requirePython(t, "torchvision")) return;
  const [C, H, W] = [3, 20, 27];
  const img = normalisedImage(C, H, W);
  const rng = new Random(8);
  const boxes: [number, number, number, number, number[]][] = [
    [0, 0, 5, 7, [0, 0, 0]],
    [3, 4, 10, 2, [0.5, -1.25, 2]],
    [19, 26, 1, 1, [7, 7, 7]],
    [2, 1, 17, 25, [-0.3, 0.1, 0.2]],
    [6, 9, 4, 3, Array.from({ length: C * 4 * 3 }, () => Math.fround(rng.normal()))],
  ];
  const dir = mkdtempSync(join(tmpdir(), "convzoo-erasing-"));
  try {
    writeFileSync(join(dir, "img.f32"), Buffer.from(img.buffer));
    writeFileSync(join(dir, "boxes.json"), JSON.stringify(boxes));
    runPython([SCRIPT, "erase", join(dir, "img.f32"), String(C), String(H), String(W), join(dir, "boxes.json"), join(dir, "out.f32")]);
    const buf = readFileSync(join(dir, "out.f32"));
    const ref = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
    boxes.forEach(([top, left, height, width, v], k) => {
      const ours = new Float32Array(2 * img.length);
      ours.set(img, img.length); // erase the second image of a batch of two: the offset is honoured
      eraseCHW(ours, img.length, C, H, W, { top, left, height, width }, Float32Array.from(v));
      assert.deepEqual(ours.subarray(0, img.length), new Float32Array(img.length), "the other image is untouched");
      assert.deepEqual(ours.subarray(img.length), ref.subarray(k * img.length, (k + 1) * img.length), `box ${k}`);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

interface Stats {
  failed: number;
  area: number;
  logAspect: number;
  top: number;
  left: number;
  n: number;
  areaSd: number;
  logAspectSd: number;
}

function stats(draws: (ErasingBox | null)[], H: number, W: number): Stats {
  const kept = draws.filter((d): d is ErasingBox => d !== null);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = (xs: number[]) => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));
  const area = kept.map((b) => (b.height * b.width) / (H * W));
  const logAspect = kept.map((b) => Math.log(b.height / b.width));
  return {
    failed: (draws.length - kept.length) / draws.length,
    area: mean(area),
    areaSd: sd(area),
    logAspect: mean(logAspect),
    logAspectSd: sd(logAspect),
    // Position within the free range: uniform, so mean 1/2 (where there is a range at all).
    top: mean(kept.filter((b) => b.height < H).map((b) => b.top / (H - b.height))),
    left: mean(kept.filter((b) => b.width < W).map((b) => b.left / (W - b.width))),
    n: kept.length,
  };
}

test("the box sampler draws as torchvision's get_params does (distribution over many draws)", (t) => {
  if (!requirePython(t, "torchvision")) return;
  const N = 10_000;
  const dir = mkdtempSync(join(tmpdir(), "convzoo-erasing-"));
  const report: string[] = [];
  try {
    // A square image, a wide one where tall boxes often fail, and a tiny one where rounding dominates.
    for (const [H, W, scale, ratio] of [
      [32, 32, [0.02, 0.33], [0.3, 3.3]],
      [8, 64, [0.02, 0.33], [0.3, 3.3]],
      [5, 5, [0.1, 0.6], [0.5, 2]],
    ] as [number, number, [number, number], [number, number]][]) {
      runPython([SCRIPT, "sample", String(H), String(W), String(N), ...scale.map(String), ...ratio.map(String), join(dir, "s.json")]);
      const theirs = (JSON.parse(readFileSync(join(dir, "s.json"), "utf8")) as ([number, number, number, number] | null)[]).map((d) =>
        d ? { top: d[0], left: d[1], height: d[2], width: d[3] } : null,
      );
      const rng = new Random(1);
      const ours = Array.from({ length: N }, () => randomErasingParams(3, H, W, rng, { p: 1, scale, ratio })?.box ?? null);
      const a = stats(ours, H, W);
      const b = stats(theirs, H, W);
      report.push(`${H}x${W}: ours ${JSON.stringify(a)} torchvision ${JSON.stringify(b)}`);
      // Differences of means within 5 standard errors of the difference.
      const se = (sd: number) => sd * Math.sqrt(1 / a.n + 1 / b.n);
      const close = (x: number, y: number, bound: number, what: string) =>
        assert.ok(Math.abs(x - y) <= bound, `${H}x${W} ${what}: ours ${x}, torchvision ${y} (bound ${bound})`);
      close(a.failed, b.failed, 5 * Math.sqrt((2 * Math.max(a.failed, 1e-3) * (1 - a.failed)) / N), "share of failed draws");
      close(a.area, b.area, 5 * se(a.areaSd), "mean area fraction");
      close(a.logAspect, b.logAspect, 5 * se(a.logAspectSd), "mean log aspect");
      close(a.areaSd, b.areaSd, 0.05 * b.areaSd + 1e-3, "area fraction's spread");
      close(a.top, b.top, 5 * se(0.3), "mean relative top");
      close(a.left, b.left, 5 * se(0.3), "mean relative left");
      for (const box of ours) if (box) assert.ok(box.height < H && box.width < W && box.top + box.height <= H && box.left + box.width <= W);
    }
    t.diagnostic(report.join("; "));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the sampler's draws replay in torchvision's order", () => {
  const [H, W] = [24, 30];
  for (let seed = 0; seed < 100; seed++) {
    // p, then per attempt area and log-ratio uniforms; on success the fill (random: C·h·w normals), top, left.
    const replay = new Random(seed);
    const p = 0.7;
    let expected: { box: ErasingBox; fill: number[] } | null = null;
    if (replay.uniform() < p) {
      for (let k = 0; k < 10 && !expected; k++) {
        const area = H * W * (0.02 + replay.uniform() * 0.31);
        const aspect = Math.exp(Math.log(0.3) + replay.uniform() * (Math.log(3.3) - Math.log(0.3)));
        const h = Math.round(Math.sqrt(area * aspect));
        const w = Math.round(Math.sqrt(area / aspect));
        if (h < H && w < W) {
          const fill = Array.from({ length: 3 * h * w }, () => Math.fround(replay.normal()));
          expected = { box: { top: replay.int(H - h + 1), left: replay.int(W - w + 1), height: h, width: w }, fill };
        }
      }
    }
    const img = normalisedImage(3, H, W);
    const erased = img.slice();
    const box = randomErasingCHW(erased, 0, 3, H, W, { p, value: "random" }, new Random(seed));
    assert.deepEqual(box, expected?.box ?? null, `seed ${seed}`);
    if (expected) {
      const { top, left, height, width } = expected.box;
      for (let c = 0; c < 3; c++)
        for (let y = 0; y < H; y++)
          for (let x = 0; x < W; x++) {
            const i = (c * H + y) * W + x;
            const inside = y >= top && y < top + height && x >= left && x < left + width;
            assert.equal(erased[i], inside ? expected.fill[(c * height + y - top) * width + x - left] : img[i]);
          }
    } else assert.deepEqual(erased, img);
  }
});

test("erasing's p, fills and validation", () => {
  const [H, W] = [16, 16];
  const img = normalisedImage(3, H, W);
  let erased = 0;
  const rng = new Random(3);
  for (let i = 0; i < 4000; i++) if (randomErasingCHW(img.slice(), 0, 3, H, W, { p: 0.25 }, rng)) erased++;
  // p·(1 − failure rate); failures are rare on a square image.
  assert.ok(Math.abs(erased / 4000 - 0.25) < 0.03, `erased share ${erased / 4000}`);
  const out = img.slice();
  const box = randomErasingCHW(out, 0, 3, H, W, { p: 1, value: [1, 2, 3] }, new Random(4))!;
  assert.equal(out[(0 * H + box.top) * W + box.left], 1);
  assert.equal(out[(2 * H + box.top) * W + box.left], 3);
  const zero = img.slice();
  const b0 = randomErasingCHW(zero, 0, 3, H, W, { p: 1 }, new Random(4))!;
  assert.equal(zero[(1 * H + b0.top) * W + b0.left], 0);
  assert.equal(randomErasingCHW(img.slice(), 0, 3, H, W, { p: 0 }, new Random(4)), null);
  assert.throws(() => randomErasingCHW(img, 0, 3, H, W, { p: 1.5 }, new Random(1)), /erasing.p must be in \[0, 1\]/);
  assert.throws(() => randomErasingCHW(img, 0, 3, H, W, { p: 1, value: [1, 2] }, new Random(1)), /erasing.value must be/);
  assert.throws(() => randomErasingCHW(img, 0, 3, H, W, { p: 1, scale: [0.5, 0.2] }, new Random(1)), /erasing.scale/);
});
