/**
 * The training loop end to end on a small synthetic folder: resume after an interruption mid-epoch
 * gives the weights of an uninterrupted run (bit for bit), through the resume file; the head on
 * cached features trains like the head through the whole network; early stopping; the best
 * checkpoint holds the best epoch's weights.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { readImageFolder, stratifiedSplit, type Sample } from "../../src/data/folder.js";
import "../../src/models/index.js";
import { createModel } from "../../src/models/registry.js";
import { initializeWeights } from "../../src/models/bind.js";
import type { Model } from "../../src/models/model.js";
import { fit, type FitOptions } from "../../src/train/fit.js";
import { readResumeFile, saveResumeFile, saveRunCheckpoint, type RunDescription } from "../../src/run/files.js";
import { frozenPrefixes } from "../../src/transfer/strategy.js";
import { readWeightsFile } from "../../src/weights/files.js";
import { stateDict } from "../../src/weights/load.js";
import { writeSyntheticFolder } from "../helpers/datasets.js";

let dir = "";
let train: Sample[] = [];
let val: Sample[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "convzoo-loop-"));
  await writeSyntheticFolder(join(dir, "data"), { classes: 3, perClass: 7, size: 40, seed: 3 });
  const folder = await readImageFolder(join(dir, "data"));
  ({ train, val } = stratifiedSplit(folder.samples, 0.25, 0));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function model(arch = "mobilenet_v3_small", seed = 1): Model {
  const m = createModel(arch, { numClasses: 3 });
  initializeWeights(m, seed);
  return m;
}

function options(m: Model, extra: Partial<FitOptions> = {}): FitOptions {
  return {
    train,
    val,
    epochs: 3,
    batchSize: 4,
    resolution: 32,
    optimizer: { kind: "sgd", momentum: 0.9, nesterov: false, weightDecay: 1e-4 },
    lr: 0.02,
    schedule: "cosine",
    frozen: [],
    augment: true,
    shuffle: true,
    seed: 5,
    threads: 1,
    preprocessing: m.preprocessing,
    ...extra,
  };
}

function run(m: Model): RunDescription {
  return {
    classes: ["c0", "c1", "c2"],
    preprocessing: m.preprocessing,
    settings: {
      data: "data",
      valData: null,
      valSplit: 0.25,
      strategy: "full",
      frozen: [],
      cacheFeatures: false,
      epochs: 3,
      batchSize: 4,
      resolution: 32,
      optimizer: { kind: "sgd", momentum: 0.9 },
      lr: 0.02,
      schedule: "cosine",
      warmupEpochs: 0,
      labelSmoothing: 0,
      dropout: null,
      augment: true,
      colorJitter: null,
      shuffle: true,
      seed: 5,
      patience: null,
      recalibrateBatchNorm: false,
      initialWeights: null,
    },
  };
}

/** Keys whose values differ between two state dicts (exact comparison). */
function differing(a: Model, b: Model): string[] {
  const x = stateDict(a);
  const y = stateDict(b);
  return [...x]
    .filter(([k, t]) => {
      const u = y.get(k)!;
      return t.data.length !== u.data.length || t.data.some((v, i) => v !== u.data[i]);
    })
    .map(([k]) => k);
}

test("resume mid-epoch through the resume file gives the uninterrupted run's weights exactly (BatchNorm recalibrated each epoch)", async () => {
  const whole = model();
  const full = await fit(whole, options(whole, { recalibrateBatchNorm: true }));
  assert.equal(full.stopped, "completed");
  assert.equal(full.history.length, 3);

  // Stop after step 2 of epoch 2 (augmentation, shuffle and dropout all draw from generators).
  const first = model();
  const controller = new AbortController();
  const part = await fit(
    first,
    options(first, {
      recalibrateBatchNorm: true,
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === "step" && e.epoch === 2 && e.step === 2) controller.abort();
      },
    }),
  );
  assert.equal(part.stopped, "interrupted");
  assert.deepEqual([part.progress.epoch, part.progress.stepInEpoch], [1, 2]);
  const file = join(dir, "part.resume.safetensors");
  await saveResumeFile(file, first, run(first), part.progress);

  const resumed = await readResumeFile(file);
  const rest = await fit(resumed.model, options(resumed.model, { resume: resumed.progress, recalibrateBatchNorm: true }));
  assert.equal(rest.stopped, "completed");
  assert.deepEqual(differing(whole, resumed.model), []);
  // The history carries on: epoch 2's figures include the steps before the interruption.
  assert.deepEqual(
    rest.history.map((h) => h.trainLoss),
    full.history.map((h) => h.trainLoss),
  );
  assert.deepEqual(
    rest.history.map((h) => h.valAccuracy),
    full.history.map((h) => h.valAccuracy),
  );
});

test("the head on cached features trains like the head through the whole network", async () => {
  // mobilenet_v3_small's head (Linear, Hardswish, Dropout, Linear) has a dropout layer: both paths
  // draw its masks from the same generator. A freshly initialised MobileNet's pooled features are
  // ~1e-9 in eval mode (as torchvision's): train it briefly first so the BatchNorm statistics, and
  // so the features, are realistic.
  const a = model("mobilenet_v3_small", 2);
  await fit(a, options(a, { epochs: 2 }));
  const b = createModel("mobilenet_v3_small", { numClasses: 3 });
  for (const [key, p] of b.net.namedParameters()) p.assign(stateDict(a).get(key)!.data.slice() as Float32Array | BigInt64Array);
  const start = stateDict(a);
  const frozen = frozenPrefixes(a, "head");
  const o = { frozen, augment: false, shuffle: false, epochs: 2, lr: 0.1 };
  const direct = await fit(a, options(a, o));
  const cached = await fit(b, options(b, { ...o, cacheFeatures: true }));
  for (const key of ["classifier.0.weight", "classifier.0.bias", "classifier.3.weight", "classifier.3.bias"]) {
    const s0 = start.get(key)!.data as Float32Array;
    const x = stateDict(a).get(key)!.data as Float32Array;
    const y = stateDict(b).get(key)!.data as Float32Array;
    let worst = 0;
    let update = 0;
    for (let i = 0; i < x.length; i++) {
      worst = Math.max(worst, Math.abs(x[i] - y[i]));
      update = Math.max(update, Math.abs(x[i] - s0[i]));
    }
    assert.ok(update > 0, `${key} trained`);
    // The cached path runs the backbone with BatchNorm folded into the convs (float rounding only).
    assert.ok(worst <= 1e-3 * update, `${key}: paths differ by ${worst}, the update is ${update}`);
  }
  // The backbone did not move on either path.
  assert.deepEqual(
    differing(a, b).filter((k) => !k.startsWith("classifier.")),
    [],
  );
  direct.history.forEach((h, i) =>
    assert.ok(
      Math.abs(h.trainLoss - cached.history[i].trainLoss) < 1e-4,
      `epoch ${i + 1} loss ${h.trainLoss} vs ${cached.history[i].trainLoss}`,
    ),
  );
});

test("saveEpoch last keeps every epoch as it ends (no pick by validation); not with patience", async () => {
  // The same run as below (validation cannot improve after epoch 1): "best" keeps epoch 1, "last" the last.
  const m = model("resnet18", 4);
  const kept: number[] = [];
  const result = await fit(
    m,
    options(m, {
      epochs: 3,
      lr: 1e-9,
      saveEpoch: "last",
      onEpochEnd: async ({ metrics, improved }) => {
        if (improved) kept.push(metrics.epoch);
      },
    }),
  );
  assert.deepEqual(kept, [1, 2, 3]);
  assert.equal(result.bestEpoch, 3);
  await assert.rejects(
    fit(m, options(m, { epochs: 3, saveEpoch: "last", patience: 2 })),
    /^OptionError: patience stops after the best epoch by validation accuracy: not with saveEpoch "last"$/,
  );
});

test("early stopping and the best checkpoint", async () => {
  // A learning rate too small to change predictions: validation accuracy cannot improve after epoch 1.
  const m = model("resnet18", 4);
  const saved = new Map<number, Map<string, Float32Array>>();
  const path = join(dir, "best.safetensors");
  const result = await fit(
    m,
    options(m, {
      epochs: 5,
      lr: 1e-9,
      patience: 2,
      onEpochEnd: async ({ metrics, improved }) => {
        saved.set(
          metrics.epoch,
          new Map([...stateDict(m)].filter(([, t]) => t.dtype === "float32").map(([k, t]) => [k, (t.data as Float32Array).slice()])),
        );
        if (improved) await saveRunCheckpoint(path, m, run(m), { metrics, bestEpoch: metrics.epoch });
      },
    }),
  );
  assert.equal(result.stopped, "early-stopped");
  assert.equal(result.history.length, 3, "epoch 1 is the best; epochs 2 and 3 do not improve; patience 2 stops after 3");
  assert.equal(result.bestEpoch, 1);
  const file = await readWeightsFile(path);
  assert.equal(file.metadata?.bestEpoch, 1);
  for (const [k, v] of saved.get(1)!) assert.deepEqual(file.tensors.get(k)!.data, v, k);
});
