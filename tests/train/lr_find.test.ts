/**
 * The learning-rate range test (src/train/lr_find.ts) against fastai's formulas, re-written in
 * fastai_lr_find.py (fastai is not installed): the schedule, the smoothing and its debiasing, the stopping
 * rule and the suggestion window on made-up loss curves, in float64 (the formulas) and in float32 torch
 * (fastai's own arithmetic); the suggestion rules on hand-computed curves; and the test run on a tiny
 * network, which leaves the model's weights exactly as they were.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { readImageFolder, type Sample } from "../../src/data/folder.js";
import { initializeWeights } from "../../src/models/bind.js";
import type { Model } from "../../src/models/model.js";
import { createModel } from "../../src/models/registry.js";
import { Random } from "../../src/random.js";
import {
  LrRangeRecorder,
  lrFind,
  lrFindSchedule,
  minimum,
  smoothLosses,
  steep,
  suggestLrs,
  valley,
  type LrFindResult,
} from "../../src/train/lr_find.js";
import { stateDict } from "../../src/weights/load.js";
import { writeSyntheticFolder } from "../helpers/datasets.js";
import { requirePython, runPython } from "../helpers/python.js";
import "./tiny_net.js";

const SCRIPT = fileURLToPath(new URL("./fastai_lr_find.py", import.meta.url));

interface Case {
  name: string;
  start: number;
  end: number;
  num_it: number;
  stop_div: boolean;
  raw: number[];
}

/** A typical curve over the schedule's rates: flat, a drop around 3e-4, a rise from ~0.3 (if `explode`), noise. */
function curve(rng: Random, n: number, o: { start?: number; end?: number; explode?: boolean; noise?: number } = {}): number[] {
  return lrFindSchedule(o.start ?? 1e-7, o.end ?? 10, n).map((lr) => {
    const l = Math.log10(lr);
    const drop = 1.6 / (1 + Math.exp(-2.5 * (l + 3.5)));
    const rise = o.explode === false ? 0 : 0.5 * Math.exp(6 * (l + 0.5));
    return 2.3 - drop + rise + (rng.uniform() - 0.5) * (o.noise ?? 0.1);
  });
}

function cases(): Case[] {
  const rng = new Random(11);
  const base = { start: 1e-7, end: 10, num_it: 100, stop_div: true };
  const out: Case[] = [
    { name: "typical, diverges", ...base, raw: curve(rng, 100) },
    { name: "flat noise, completes", ...base, num_it: 50, raw: Array.from({ length: 50 }, () => 1 + 0.2 * rng.uniform()) },
    {
      name: "NaN from step 70",
      ...base,
      raw: curve(rng, 100, { explode: false }).map((v, i) => (i >= 70 ? NaN : v)),
    },
    { name: "Infinity at step 40", ...base, raw: curve(rng, 100, { explode: false }).map((v, i) => (i === 40 ? Infinity : v)) },
    { name: "stop_div off", ...base, stop_div: false, raw: curve(rng, 100) },
    { name: "diverges at step 12", ...base, raw: Array.from({ length: 100 }, (_, i) => (i < 12 ? 1 : 1000)) },
    { name: "3 iterations (6)", ...base, num_it: 3, raw: [2, 1.9, 1.7, 1.8, 1.6, 1.65] },
    { name: "1e-5 to 1, 37 iterations", start: 1e-5, end: 1, num_it: 37, stop_div: true, raw: curve(rng, 37, { start: 1e-5, end: 1 }) },
  ];
  for (let k = 0; k < 5; k++)
    out.push({ name: `noisy ${k}`, ...base, stop_div: false, raw: curve(rng, 100, { explode: false, noise: 0.6 }) });
  return out;
}

/** Feeds the raw losses to the recorder until it stops. */
function replay(c: Case): LrFindResult {
  const r = new LrRangeRecorder({ startLr: c.start, endLr: c.end, iterations: c.num_it, stopOnDivergence: c.stop_div });
  for (const loss of c.raw) if (r.record(loss) !== null) break;
  return r.result();
}

const rel = (a: number, b: number) => (a === b ? 0 : Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b)));
const num = (v: number | string | null) => (v === null ? NaN : typeof v === "string" ? Number(v) : v);

describe("lr-find against fastai's formulas", () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the reference script's JSON
  let ref: any = null;
  const all = cases();
  const direct = [
    { lrs: [1, 2], losses: [5, 4] }, // valley's start at −1: Python's lrs[-1]
    { lrs: [1, 2, 3, 4], losses: [3, 1, 1, 2] }, // ties: the first minimum
    { lrs: [1, 2, 3, 4, 5, 6, 7], losses: [5, 6, 4, 3, 7, 2, 1] },
  ];
  const load = () => {
    const raw = all.map((c) => ({ ...c, raw: c.raw.map((v) => (Number.isFinite(v) ? v : String(v))) }));
    ref ??= JSON.parse(runPython([SCRIPT], JSON.stringify({ cases: raw, direct })));
    return ref;
  };

  test("schedule, smoothing, stopping and suggestions equal the float64 re-implementation", (t) => {
    if (!requirePython(t, "python")) return;
    const { f64, direct: d } = load();
    const worst = { lr: 0, smoothed: 0, suggestion: 0 };
    all.forEach((c, n) => {
      const ours = replay(c);
      const theirs = f64[n];
      // Where fastai records NaN to the end, ours stops at the first one: compare what both recorded.
      const stopped = ours.stop === "non-finite" ? ours.losses.length : theirs.stop_at + 1;
      assert.equal(ours.losses.length, stopped, `${c.name}: stops after ${stopped} steps`);
      assert.ok(theirs.lrs.length >= ours.lrs.length, c.name);
      ours.lrs.forEach((lr, i) => (worst.lr = Math.max(worst.lr, rel(lr, theirs.lrs[i]))));
      ours.smoothed.forEach((v, i) => {
        const w = num(theirs.smoothed[i]);
        if (Number.isNaN(v) || !Number.isFinite(v)) assert.ok(Object.is(v, w) || (Number.isNaN(v) && Number.isNaN(w)), c.name);
        else worst.smoothed = Math.max(worst.smoothed, rel(v, w));
      });
      for (const m of ["valley", "minimum", "steep"] as const) {
        const [a, b] = [ours.suggestions[m], theirs[m] as number | null];
        assert.equal(a === null, b === null, `${c.name}: ${m} ${a} vs ${b}`);
        if (a !== null && b !== null) {
          worst.suggestion = Math.max(worst.suggestion, rel(a, b));
          assert.ok(rel(ours.points[m]!.loss, theirs.points[m].loss) < 1e-12, `${c.name}: ${m}'s point`);
        }
      }
    });
    direct.forEach((x, i) => {
      const ours = suggestLrs(x.lrs, [...x.losses, 0, 0, 0, 0, 0], 1);
      for (const m of ["valley", "minimum", "steep"] as const) assert.equal(ours.suggestions[m], d[i][m], `direct ${i}: ${m}`);
    });
    t.diagnostic(
      `float64: max relative difference lr ${worst.lr.toExponential(1)}, smoothed ${worst.smoothed.toExponential(1)}, ` +
        `suggestion ${worst.suggestion.toExponential(1)}`,
    );
    // Math.pow against C's pow may differ in the last bit; everything else is the same arithmetic.
    assert.ok(worst.lr <= 4e-16 && worst.smoothed <= 1e-14 && worst.suggestion <= 4e-16, JSON.stringify(worst));
  });

  test("and fastai's float32 torch arithmetic, to float32 rounding, picking the same points", (t) => {
    if (!requirePython(t, "torch")) return;
    const { f32 } = load();
    const worst = { smoothed: 0, suggestion: 0 };
    all.forEach((c, n) => {
      const ours = replay(c);
      const theirs = f32[n];
      assert.equal(ours.losses.length, ours.stop === "non-finite" ? ours.losses.length : theirs.stop_at + 1, c.name);
      ours.smoothed.forEach((v, i) => {
        if (Number.isFinite(v)) worst.smoothed = Math.max(worst.smoothed, rel(v, num(theirs.smoothed[i])));
      });
      for (const m of ["valley", "minimum", "steep"] as const) {
        const [a, b] = [ours.suggestions[m], theirs[m] as number | null];
        assert.equal(a === null, b === null, `${c.name}: ${m}`);
        if (a !== null && b !== null) worst.suggestion = Math.max(worst.suggestion, rel(a, b));
      }
    });
    t.diagnostic(
      `float32 torch: max relative difference smoothed ${worst.smoothed.toExponential(1)}, ` +
        `suggestion ${worst.suggestion.toExponential(1)} (the lr as a float32)`,
    );
    // float32 rounding of the rate only (6e-8), so the same index was chosen on every curve.
    assert.ok(worst.smoothed < 1e-5 && worst.suggestion < 1e-7, JSON.stringify(worst));
  });
});

describe("lr-find rules", () => {
  test("the schedule: start · (end/start)^(i/n), one step short of end; at least 6 iterations", () => {
    const lrs = lrFindSchedule(1e-7, 10, 100);
    assert.equal(lrs[0], 1e-7);
    assert.ok(rel(lrs[50], 1e-7 * 1e4) < 1e-15);
    assert.ok(rel(lrs[99], 10 ** (-7 + 8 * 0.99)) < 1e-14);
    assert.equal(new LrRangeRecorder({ iterations: 3 }).iterations, 6);
  });

  test("smoothing: the debiased moving average (β 0.98) of a constant is the constant", () => {
    const s = smoothLosses([2, 2, 2, 2]);
    for (const v of s) assert.ok(Math.abs(v - 2) < 1e-14, `${v}`);
    const [a, b] = smoothLosses([1, 3]);
    assert.equal(a, 1);
    const expected = (0.98 * 0.02 * 1 + 0.02 * 3) / (1 - 0.98 ** 2);
    assert.ok(Math.abs(b - expected) < 1e-12, `${b} vs ${expected}`);
  });

  test("valley: about halfway down the longest decreasing run", () => {
    // 10 falling points then rising: the run is 0…9 (length 10), its start recorded as −1; −1 + ⌊10/3⌋ + ⌊10/6⌋ = 3.
    const losses = [10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 2, 3, 4];
    const lrs = losses.map((_, i) => 10 ** (i - 6));
    assert.equal(valley(lrs, losses).lr, lrs[3]);
    // A run in the middle: 2 … 12 (length 11, start 1): 1 + 3 + 1 = 5.
    const mid = [5, 6, 9, 8.5, 8, 7, 6.5, 6, 5, 4, 3, 2, 1, 4, 8];
    assert.equal(
      valley(
        mid.map((_, i) => i + 1),
        mid,
      ).lr,
      6,
    );
  });

  test("minimum: a tenth of the rate at the lowest loss (first of ties); steep: the left end of the steepest drop", () => {
    const lrs = [1e-4, 1e-3, 1e-2, 1e-1, 1];
    const losses = [2, 1.9, 1.0, 0.8, 0.8];
    assert.ok(rel(minimum(lrs, losses).lr, 1e-1 / 10) < 1e-15);
    assert.equal(minimum(lrs, losses).point.lr, 1e-1);
    assert.equal(steep(lrs, losses).lr, 1e-3);
  });

  test("the suggestion window skips the first tenth and the last 5 points", () => {
    // The lowest point sits in the skipped tail: minimum ignores it.
    const lrs = lrFindSchedule(1e-7, 10, 100);
    const smoothed = lrs.map((_, i) => (i >= 96 ? 0 : i < 10 ? -1 : 100 - i));
    const s = suggestLrs(lrs, smoothed, 100);
    assert.equal(s.suggestions.minimum, lrs[94] / 10);
  });

  test("stops when the smoothed loss exceeds 4 × its best, with the diverging point recorded", () => {
    const r = new LrRangeRecorder({ iterations: 100 });
    let stop = null;
    for (let i = 0; i < 100 && stop === null; i++) stop = r.record(i < 30 ? 1 : 1000);
    assert.equal(stop, "diverged");
    assert.equal(r.losses.length, 31);
    assert.ok(r.smoothed[30] > 4 && r.smoothed[29] < 4, `${r.smoothed[29]}, ${r.smoothed[30]}`);
    const res = r.result();
    assert.equal(res.stoppedEarly, true);
    // The window [10, 31 − 5) is what the suggestions see.
    const lowest = res.suggestions.minimum! * 10;
    assert.ok(lowest >= res.lrs[10] && lowest <= res.lrs[25], `${lowest}`);
    const off = new LrRangeRecorder({ iterations: 40, stopOnDivergence: false });
    for (let i = 0; i < 40 && off.stop === null; i++) off.record(i < 30 ? 1 : 1000);
    assert.equal(off.stop, "completed");
  });
});

describe("lrFind on a network", () => {
  let dir = "";
  let samples: Sample[] = [];
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "convzoo-lrfind-"));
    await writeSyntheticFolder(join(dir, "data"), { classes: 3, perClass: 6, size: 24, seed: 2 });
    samples = (await readImageFolder(join(dir, "data"))).samples;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function tiny(): Model {
    const m = createModel("test_tiny_bn", { numClasses: 3 });
    initializeWeights(m, 4);
    return m;
  }

  const snapshot = (m: Model) =>
    new Map([...stateDict(m)].map(([k, t]) => [k, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).toString("hex")]));

  test("records the schedule, the smoothed curve and suggestions; the weights are untouched, bit for bit", async () => {
    const m = tiny();
    const before = snapshot(m);
    const o = {
      batchSize: 4,
      resolution: 16,
      preprocessing: m.preprocessing,
      optimizer: { kind: "sgd" as const, momentum: 0.9 },
      iterations: 30,
      endLr: 100,
      threads: 1,
      workers: 0,
      seed: 3,
    };
    const steps: number[] = [];
    const r = await lrFind(m, samples, { ...o, onStep: (e) => steps.push(e.iteration) });
    assert.deepEqual(snapshot(m), before, "parameters and BatchNorm statistics unchanged");
    const n = r.lrs.length;
    assert.ok(n >= 10 && n <= 30, `${n} steps`);
    assert.deepEqual(
      steps,
      Array.from({ length: n }, (_, i) => i + 1),
    );
    assert.deepEqual(r.lrs, lrFindSchedule(1e-7, 100, 30).slice(0, n));
    assert.deepEqual(r.smoothed, smoothLosses(r.losses));
    assert.ok(Math.abs(r.losses[0] - Math.log(3)) < 0.5, `a fresh net starts near ln 3: ${r.losses[0]}`);
    assert.equal(r.stoppedEarly, r.stop !== "completed");
    if (n - 5 > 3)
      assert.ok(
        r.suggestions.valley !== null && r.suggestions.minimum !== null && r.suggestions.steep !== null,
        JSON.stringify(r.suggestions),
      );
    // Deterministic for a seed; a frozen backbone trains the head alone and still leaves the model as it was.
    const again = await lrFind(m, samples, o);
    assert.deepEqual(again.losses, r.losses);
    const head = await lrFind(m, samples, { ...o, frozen: ["features"], iterations: 8 });
    assert.equal(head.lrs.length, 8);
    assert.deepEqual(snapshot(m), before);
  });

  test("with fewer images than a batch, a batch is all of them; bad options are one clear message", async () => {
    const m = tiny();
    const r = await lrFind(m, samples.slice(0, 3), {
      batchSize: 8,
      resolution: 16,
      preprocessing: m.preprocessing,
      iterations: 6,
      workers: 0,
    });
    assert.equal(r.losses.length, r.stop === "completed" ? 6 : r.losses.length);
    const o = { batchSize: 4, resolution: 16, preprocessing: m.preprocessing };
    await assert.rejects(lrFind(m, samples, { ...o, startLr: 1, endLr: 0.1 }), /end rate must be above the start rate 1/);
    await assert.rejects(lrFind(m, samples.slice(0, 1), o), /at least 2 training images/);
  });
});
