/**
 * The training-recipe features against torch 1.13 (torch_recipe.py) on a tiny net (tiny_net.ts): schedules
 * (StepLR, CosineAnnealingLR with eta_min, warm-up + cosine, OneCycleLR), class-weighted cross-entropy with
 * and without label smoothing, per-parameter learning rates (torch param groups; SGD with momentum and
 * AdamW), clipping by global norm, and the EMA of the weights (timm's ModelEmaV2 arithmetic); gradient
 * accumulation against one bigger batch (no BatchNorm), its resume mid-group, and BatchNorm's per-micro-batch
 * statistics. Each comparison prints its figure.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import "./tiny_net.js";
import { createModel } from "../../src/models/registry.js";
import { initializeWeights } from "../../src/models/bind.js";
import type { Model } from "../../src/models/model.js";
import { Random } from "../../src/random.js";
import { layerwiseLrMultipliers } from "../../src/train/lr_multipliers.js";
import { makeSchedule } from "../../src/train/schedules.js";
import { Trainer, type TrainerOptions } from "../../src/train/trainer.js";
import { balancedClassWeights, targetDistribution } from "../../src/train/training_graph.js";
import { stateDict } from "../../src/weights/load.js";
import { requirePython, runPython } from "../helpers/python.js";

const SCRIPT = fileURLToPath(new URL("./torch_recipe.py", import.meta.url));
const K = 4;
const R = 16;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the reference script's JSON, shaped per task
function torch(task: object): any {
  return JSON.parse(runPython([SCRIPT], JSON.stringify(task)));
}

function tiny(bn: boolean, seed = 1): Model {
  const m = createModel(bn ? "test_tiny_bn" : "test_tiny", { numClasses: K });
  initializeWeights(m, seed);
  // Non-zero biases and BatchNorm parameters (a zero tensor's relative difference is pure rounding).
  const rng = new Random(seed + 100);
  for (const [key, p] of m.net.namedParameters()) {
    if (p.dtype !== "float32") continue;
    const d = (p.tensor.data as Float32Array).slice();
    if (key.endsWith(".bias")) d.forEach((_, i) => (d[i] = 0.1 * rng.normal()));
    if (key.endsWith("running_var") || (key.includes("features.1") && key.endsWith("weight")))
      d.forEach((_, i) => (d[i] = 0.5 + rng.uniform()));
    p.assign(d);
  }
  return m;
}

function weightsJson(m: Model): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [k, t] of stateDict(m)) out[k] = Array.from(t.data as ArrayLike<number | bigint>, Number);
  return out;
}

interface Batch {
  x: Float32Array;
  y: number[];
}

function batches(sizes: number[], seed = 7): Batch[] {
  const rng = new Random(seed);
  return sizes.map((b) => ({
    x: Float32Array.from({ length: b * 3 * R * R }, () => rng.normal()),
    y: Array.from({ length: b }, () => Math.floor(rng.uniform() * K)),
  }));
}

interface Run {
  bn: boolean;
  optimizer: { kind: "sgd"; momentum: number; weightDecay: number } | { kind: "adamw"; weightDecay: number };
  lrs: number[];
  sizes: number[];
  classWeights?: number[];
  labelSmoothing?: number;
  clip?: number;
  lrFactors?: Record<string, number>;
  emaDecay?: number;
}

async function ours(r: Run, data: Batch[], extra: Partial<TrainerOptions> = {}) {
  const m = tiny(r.bn);
  const trainer = await Trainer.create(m, {
    batchSize: Math.max(...r.sizes),
    resolution: R,
    threads: 1,
    optimizer: r.optimizer,
    clipGradNorm: r.clip,
    lrMultipliers: r.lrFactors,
    ema: r.emaDecay === undefined ? undefined : { decay: r.emaDecay },
    ...extra,
  });
  const losses = [];
  for (let i = 0; i < data.length; i++) {
    losses.push(await trainer.step(data[i].x, targetDistribution(data[i].y, K, r.labelSmoothing ?? 0, r.classWeights), r.lrs[i]));
  }
  trainer.writeBack(m);
  const ema = trainer.emaValues ? new Map([...trainer.emaValues].map(([k, v]) => [k, v.slice()])) : null;
  await trainer.release();
  return { m, losses, ema };
}

function reference(r: Run, data: Batch[]) {
  return torch({
    task: "train",
    bn: r.bn,
    classes: K,
    weights: weightsJson(tiny(r.bn)),
    batches: data.map((b) => ({ x: Array.from(b.x), shape: [b.y.length, 3, R, R], y: b.y })),
    optimizer:
      r.optimizer.kind === "sgd"
        ? { kind: "sgd", momentum: r.optimizer.momentum, weight_decay: r.optimizer.weightDecay }
        : { kind: "adamw", weight_decay: r.optimizer.weightDecay },
    lrs: r.lrs,
    class_weights: r.classWeights ?? null,
    label_smoothing: r.labelSmoothing ?? 0,
    clip: r.clip ?? null,
    lr_factors: r.lrFactors ?? null,
    ema_decay: r.emaDecay ?? null,
  });
}

/** Worst max|a − b| / max|b| over the tensors of `ref`. */
function worst(got: ReadonlyMap<string, ArrayLike<number>>, ref: Record<string, number[]>): { key: string; diff: number } {
  let w = { key: "", diff: 0 };
  for (const [key, r] of Object.entries(ref)) {
    const a = got.get(key);
    assert.ok(a, `no ${key}`);
    let scale = 0;
    let d = 0;
    for (let i = 0; i < r.length; i++) {
      scale = Math.max(scale, Math.abs(r[i]));
      d = Math.max(d, Math.abs(a[i] - r[i]));
    }
    const rel = d / Math.max(scale, 1e-12);
    if (rel > w.diff) w = { key, diff: rel };
  }
  return w;
}

const floats = (m: Model) =>
  new Map([...stateDict(m)].filter(([, t]) => t.dtype === "float32").map(([k, t]) => [k, t.data as Float32Array]));

async function againstTorch(t: { diagnostic(s: string): void }, name: string, r: Run, tolerance = 1e-5) {
  const data = batches(r.sizes);
  const got = await ours(r, data);
  const ref = reference(r, data);
  const w = worst(floats(got.m), ref.state);
  const lossDiff = Math.max(...got.losses.map((l, i) => Math.abs(l - ref.losses[i]) / Math.abs(ref.losses[i])));
  t.diagnostic(`${name}: worst tensor ${w.key} ${w.diff.toExponential(2)}, loss ${lossDiff.toExponential(2)}`);
  assert.ok(w.diff <= tolerance, `${name}: ${w.key} differs by ${w.diff}`);
  assert.ok(lossDiff <= tolerance, `${name}: losses ${got.losses} vs ${ref.losses}`);
  // The run moved the weights (else the comparison proves nothing).
  const start = Object.fromEntries([...floats(tiny(r.bn))].map(([k, v]) => [k, Array.from(v)]));
  assert.ok(worst(floats(got.m), start).diff > 1e-3, `${name}: the weights barely moved`);
  return { got, ref };
}

test("schedules: StepLR, cosine with eta_min, warm-up + cosine, OneCycleLR (pct_start 0.3 and 0.25) equal torch's", (t) => {
  if (!requirePython(t, "torch")) return;
  const cfg = { lr: 0.1, epochs: 7, steps_per_epoch: 5, step_size: 2, gamma: 0.5, eta_min: 0.002, warmup: 4, pct_starts: [0.3, 0.25] };
  const ref = torch({ task: "schedules", ...cfg });
  const base = { lr: cfg.lr, epochs: cfg.epochs, stepsPerEpoch: cfg.steps_per_epoch };
  const ourSchedules: Record<string, (s: number) => number> = {
    step: makeSchedule({ ...base, kind: "step", stepEpochs: cfg.step_size, gamma: cfg.gamma }),
    cosine: makeSchedule({ ...base, kind: "cosine", minLr: cfg.eta_min }),
    warmup_cosine: makeSchedule({ ...base, kind: "cosine", minLr: cfg.eta_min, warmupEpochs: cfg.warmup / cfg.steps_per_epoch }),
    "onecycle_0.3": makeSchedule({ ...base, kind: "onecycle" }),
    "onecycle_0.25": makeSchedule({ ...base, kind: "onecycle", pctStart: 0.25 }),
  };
  for (const [name, f] of Object.entries(ourSchedules)) {
    const lrs: number[] = ref[name];
    assert.equal(lrs.length, 35);
    const diff = Math.max(...lrs.map((lr, s) => Math.abs(f(s) - lr) / lr));
    t.diagnostic(`${name}: max relative difference ${diff.toExponential(2)} over ${lrs.length} steps`);
    assert.ok(diff < 1e-9, `${name}: ${lrs.map((lr, s) => `${s}: ${f(s)} vs ${lr}`).join("; ")}`);
  }
  assert.throws(() => makeSchedule({ ...base, kind: "onecycle", warmupEpochs: 1 }), /one-cycle warms up by itself/);
  assert.throws(() => makeSchedule({ ...base, kind: "onecycle", pctStart: 1 }), /pctStart must be in \(0, 1\)/);
  assert.throws(() => makeSchedule({ ...base, kind: "cosine", minLr: 0.2 }), /minimum learning rate/);
  assert.throws(() => makeSchedule({ ...base, kind: "step", stepEpochs: 1.5 }), /whole number of epochs/);
});

test("class weights: CrossEntropyLoss(weight, label_smoothing) loss and SGD steps equal torch's", async (t) => {
  if (!requirePython(t, "torch")) return;
  assert.deepEqual(balancedClassWeights([10, 20, 5, 5]), [1, 0.5, 2, 2]);
  assert.throws(() => balancedClassWeights([3, 0]), /class 1 has 0 images/);
  assert.throws(() => targetDistribution([0], 2, 0, [1, -1]), /finite numbers >= 0/);
  assert.throws(() => targetDistribution([0], 2, 0, [1]), /one per class \(2\)/);
  const classWeights = [0.5, 2, 1, 3];
  for (const labelSmoothing of [0, 0.1]) {
    await againstTorch(t, `weights, smoothing ${labelSmoothing}`, {
      bn: true,
      optimizer: { kind: "sgd", momentum: 0.9, weightDecay: 0 },
      lrs: [0.2, 0.2, 0.2],
      sizes: [6, 6, 6],
      classWeights,
      labelSmoothing,
    });
  }
});

test("lr multipliers: layer-wise factors as torch param groups, SGD momentum and AdamW", async (t) => {
  if (!requirePython(t, "torch")) return;
  const lrFactors = layerwiseLrMultipliers(tiny(true), { decay: 0.5 });
  assert.deepEqual(lrFactors, { "features.0": 0.25, "features.1": 0.25, "features.4": 0.5, "features.5": 0.5 });
  assert.deepEqual(layerwiseLrMultipliers(tiny(true), { lowest: 0.01 })["features.0"].toFixed(6), "0.010000");
  assert.throws(() => layerwiseLrMultipliers(tiny(true), { decay: 0 }), /decay must be in \(0, 1\]/);
  await assert.rejects(
    ours({ bn: true, optimizer: { kind: "adamw", weightDecay: 0 }, lrs: [1], sizes: [2], lrFactors: { layer9: 1 } }, batches([2])),
    /no parameters under "layer9"/,
  );
  await assert.rejects(
    ours({ bn: true, optimizer: { kind: "adamw", weightDecay: 0 }, lrs: [1], sizes: [2], lrFactors: { features: -1 } }, batches([2])),
    /finite number >= 0/,
  );
  await againstTorch(t, "layer-wise SGD", {
    bn: true,
    optimizer: { kind: "sgd", momentum: 0.9, weightDecay: 1e-3 },
    lrs: [0.1, 0.08, 0.05],
    sizes: [6, 6, 6],
    lrFactors,
  });
  // AdamW without BatchNorm: a conv bias before BatchNorm has a zero true gradient, whose rounding noise √v
  // normalises into steps of size ~lr on either side (7.5e-3 relative apart from torch's).
  await againstTorch(t, "layer-wise AdamW", {
    bn: false,
    optimizer: { kind: "adamw", weightDecay: 0.05 },
    lrs: [3e-3, 2e-3, 1e-3],
    sizes: [6, 6, 6],
    lrFactors: { "features.0": 0.25, "features.3": 0.5, classifier: 2 },
  });
});

test("clipping by global norm equals torch's clip_grad_norm_; a bound never reached changes nothing (bit for bit)", async (t) => {
  if (!requirePython(t, "torch")) return;
  const run: Run = { bn: true, optimizer: { kind: "sgd", momentum: 0.9, weightDecay: 0 }, lrs: [0.5, 0.5, 0.5], sizes: [6, 6, 6] };
  await againstTorch(t, "clip 0.05", { ...run, clip: 0.05 });
  const { got } = await againstTorch(t, "clip 0.05 AdamW", {
    ...run,
    bn: false,
    optimizer: { kind: "adamw", weightDecay: 0 },
    lrs: [1e-2, 1e-2, 1e-2],
    clip: 0.05,
  });
  assert.ok(got.losses.every(Number.isFinite));
  const data = batches(run.sizes);
  const plain = await ours(run, data);
  const loose = await ours({ ...run, clip: 1e6 }, data);
  assert.deepEqual(loose.losses, plain.losses);
  for (const [k, v] of floats(plain.m)) assert.deepEqual(floats(loose.m).get(k), v, k);
  const clipped = await ours({ ...run, clip: 0.05 }, data);
  assert.ok(modelDiff(clipped.m, plain.m).diff > 1e-2, "the bound 0.05 was never reached: the test proves nothing");
  await assert.rejects(ours({ ...run, clip: 0 }, data), /clipGradNorm must be a positive number/);
});

test("EMA: timm ModelEmaV2's update after each step (parameters and running statistics), and writeBack({ ema: true })", async (t) => {
  const run: Run = {
    bn: true,
    optimizer: { kind: "sgd", momentum: 0.9, weightDecay: 0 },
    lrs: [0.2, 0.2, 0.2],
    sizes: [6, 6, 6],
    emaDecay: 0.9,
  };
  const data = batches(run.sizes);
  // The arithmetic by hand over two steps, bit for bit: f32(d)·e + f32(1 − d)·v.
  const m = tiny(true);
  const trainer = await Trainer.create(m, { batchSize: 6, resolution: R, threads: 1, optimizer: run.optimizer, ema: { decay: 0.9 } });
  let expected: Map<string, Float32Array<ArrayBufferLike>> = new Map(
    [...floats(m)].filter(([k]) => trainer.emaValues!.has(k)).map(([k, v]) => [k, v.slice()]),
  );
  assert.equal(expected.size, trainer.emaValues!.size);
  for (let i = 0; i < 2; i++) {
    await trainer.step(data[i].x, targetDistribution(data[i].y, K), 0.2);
    const values = new Map(trainer.spec.state.filter((s) => s.kind !== "slot").map((s) => [s.key, trainer.current(s)]));
    const next = new Map<string, Float32Array<ArrayBufferLike>>();
    for (const [k, e] of expected) {
      const v = values.get(k)!;
      next.set(
        k,
        Float32Array.from(e, (x, j) => Math.fround(Math.fround(0.9) * x) + Math.fround(Math.fround(1 - 0.9) * v[j])),
      );
    }
    expected = next;
    for (const [k, e] of expected) assert.deepEqual(trainer.emaValues!.get(k), e, k);
  }
  trainer.writeBack(m, { ema: true });
  for (const [k, e] of expected) assert.deepEqual(floats(m).get(k), e, k);
  assert.equal(Number(stateDict(m).get("features.1.num_batches_tracked")!.data[0]), 2);
  await trainer.release();
  await assert.rejects(Trainer.create(tiny(true), { batchSize: 2, resolution: R, ema: { decay: 1 } }), /EMA decay must be in \[0, 1\)/);

  if (!requirePython(t, "torch")) return;
  const got = await ours(run, data);
  const ref = reference(run, data);
  const w = worst(got.ema!, ref.ema);
  t.diagnostic(`EMA vs torch (decay 0.9, 3 SGD steps): worst ${w.key} ${w.diff.toExponential(2)}`);
  assert.ok(w.diff < 1e-5, `${w.key}: ${w.diff}`);
});

/** ‖a − b‖∞ / ‖b‖∞ worst over the float tensors of two models. */
function modelDiff(a: Model, b: Model): { key: string; diff: number } {
  const ref = Object.fromEntries([...floats(b)].map(([k, v]) => [k, Array.from(v)]));
  return worst(floats(a), ref);
}

test("accumulation: k micro-batches give one k-times bigger batch's update (no BatchNorm), short groups too", async (t) => {
  for (const optimizer of [
    { kind: "sgd" as const, momentum: 0.9, weightDecay: 1e-3 },
    { kind: "adamw" as const, weightDecay: 0.05 },
  ]) {
    const lr = optimizer.kind === "sgd" ? 0.2 : 3e-3;
    const micro = batches([2, 2, 2, 2, 2, 2, 2, 1], 11);
    // The same images as big batches: [6], [6], [3] (the last group: 2 + 1 images, applied early).
    const cat = (bs: Batch[]): Batch => ({ x: Float32Array.from(bs.flatMap((b) => Array.from(b.x))), y: bs.flatMap((b) => b.y) });
    const big = [cat(micro.slice(0, 3)), cat(micro.slice(3, 6)), cat(micro.slice(6))];
    const a = tiny(false);
    const acc = await Trainer.create(a, { batchSize: 2, resolution: R, threads: 1, optimizer, accumulate: 3, clipGradNorm: 0.5 });
    const applied: boolean[] = [];
    for (let i = 0; i < micro.length; i++) {
      await acc.step(micro[i].x, targetDistribution(micro[i].y, K), lr, i === micro.length - 1 ? { apply: true } : {});
      applied.push(acc.lastApplied);
    }
    assert.deepEqual(applied, [false, false, true, false, false, true, false, true]);
    assert.equal(acc.stepCount, 3);
    acc.writeBack();
    await acc.release();
    const b = tiny(false);
    const one = await Trainer.create(b, { batchSize: 6, resolution: R, threads: 1, optimizer, clipGradNorm: 0.5 });
    for (const batch of big) await one.step(batch.x, targetDistribution(batch.y, K), lr);
    one.writeBack();
    await one.release();
    const d = modelDiff(a, b);
    const moved = modelDiff(b, tiny(false));
    t.diagnostic(
      `${optimizer.kind}: 3 + 3 + 2 micro-batches vs batches of 6, 6, 3: worst ${d.key} ${d.diff.toExponential(2)} ` +
        `(moved ${moved.diff.toExponential(2)})`,
    );
    assert.ok(d.diff < 2e-5, `${d.key}: ${d.diff}`);
    assert.ok(moved.diff > 1e-2);
  }
  await assert.rejects(Trainer.create(tiny(false), { batchSize: 2, resolution: R, accumulate: 1.5 }), /accumulate must be a whole number/);
});

test("accumulation: resume mid-group continues exactly; BatchNorm statistics update per micro-batch", async () => {
  const data = batches([2, 2, 2, 2, 2, 2], 13);
  const options: TrainerOptions = {
    batchSize: 2,
    resolution: R,
    threads: 1,
    optimizer: { kind: "adamw" },
    accumulate: 4,
    ema: { decay: 0.5 },
  };
  const straight = tiny(true);
  const s = await Trainer.create(straight, options);
  for (const b of data) await s.step(b.x, targetDistribution(b.y, K), 1e-3);
  s.writeBack();
  await s.release();
  assert.equal(Number(stateDict(straight).get("features.1.num_batches_tracked")!.data[0]), 6);

  const first = tiny(true);
  const f = await Trainer.create(first, options);
  for (const b of data.slice(0, 2)) await f.step(b.x, targetDistribution(b.y, K), 1e-3);
  assert.equal(f.pendingMicroBatches, 2);
  f.writeBack();
  const saved = f.exportState();
  await f.release();
  assert.ok(
    saved.slots.has("features.0.weight.grad_acc") && saved.slots.has("ema.features.1.running_mean") && saved.slots.has("accumulation"),
  );
  const second = tiny(true, 5);
  for (const [k, p] of second.net.namedParameters())
    p.assign((new Map(first.net.namedParameters()).get(k)!.tensor.data as Float32Array).slice());
  const r = await Trainer.create(second, options);
  r.importState(saved);
  for (const b of data.slice(2)) await r.step(b.x, targetDistribution(b.y, K), 1e-3);
  r.writeBack();
  const ema = r.emaValues!;
  await r.release();
  for (const [k, v] of floats(straight)) assert.deepEqual(floats(second).get(k), v, k);
  const s2 = await Trainer.create(tiny(true), options);
  for (const b of data) await s2.step(b.x, targetDistribution(b.y, K), 1e-3);
  for (const [k, v] of s2.emaValues!) assert.deepEqual(ema.get(k), v, k);
  await s2.release();
});
