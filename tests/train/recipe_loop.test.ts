/**
 * The recipe options through fit (tiny_net.ts's net on a synthetic folder): gradient accumulation with an
 * EMA, clipping, one-cycle, layer-wise learning rates, class weights and BatchNorm recalibration together;
 * resume mid-group through the resume file gives the uninterrupted run's weights and EMA exactly; the EMA is
 * what validation sees; bad values are clear errors.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import "./tiny_net.js";
import { readImageFolder, stratifiedSplit, type Sample } from "../../src/data/folder.js";
import { createModel } from "../../src/models/registry.js";
import { initializeWeights } from "../../src/models/bind.js";
import type { Model } from "../../src/models/model.js";
import { fit, type FitOptions } from "../../src/train/fit.js";
import { layerwiseLrMultipliers } from "../../src/train/lr_multipliers.js";
import { balancedClassWeights } from "../../src/train/training_graph.js";
import { readResumeFile, saveResumeFile, type RunDescription } from "../../src/run/files.js";
import { stateDict } from "../../src/weights/load.js";
import { writeSyntheticFolder } from "../helpers/datasets.js";

let dir = "";
let train: Sample[] = [];
let val: Sample[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "convzoo-recipe-loop-"));
  await writeSyntheticFolder(join(dir, "data"), { classes: 3, perClass: 7, size: 24, seed: 3 });
  const folder = await readImageFolder(join(dir, "data"));
  ({ train, val } = stratifiedSplit(folder.samples, 0.25, 0));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function model(): Model {
  const m = createModel("test_tiny_bn", { numClasses: 3 });
  initializeWeights(m, 1);
  return m;
}

function options(m: Model, extra: Partial<FitOptions> = {}): FitOptions {
  return {
    train,
    val,
    epochs: 3,
    batchSize: 2,
    resolution: 16,
    optimizer: { kind: "adamw", weightDecay: 0.01 },
    lr: 0.01,
    schedule: "onecycle",
    pctStart: 0.25,
    frozen: [],
    augment: true,
    shuffle: true,
    seed: 5,
    threads: 1,
    preprocessing: m.preprocessing,
    accumulate: 3,
    clipGradNorm: 1,
    ema: { decay: 0.9 },
    lrMultipliers: layerwiseLrMultipliers(m, { decay: 0.5 }),
    classWeights: balancedClassWeights([5, 5, 6]),
    recalibrateBatchNorm: true,
    ...extra,
  };
}

/** The run a resume file records: this test's loop settings as run.ts would save them (the resume reader validates every field). */
function run(m: Model): RunDescription {
  const { train: _train, val: _val, threads: _threads, preprocessing: _preprocessing, ...loop } = options(m);
  return {
    classes: ["c0", "c1", "c2"],
    preprocessing: m.preprocessing,
    settings: { ...loop, frozen: [], data: "data", valData: null, valSplit: 0.25, strategy: "full", initialWeights: null },
  };
}

const floats = (m: Model) => [...stateDict(m)].map(([k, t]) => [k, Array.from(t.data as ArrayLike<number | bigint>, Number)] as const);

test("fit with accumulation and EMA: resume mid-group through the resume file continues exactly (weights, EMA, figures)", async () => {
  assert.equal(train.length, 15); // 8 batches of 2 → groups of 3, 3, 2: 3 optimizer steps per epoch
  const emaOf = async (m: Model, extra: Partial<FitOptions>) => {
    let ema: [string, number[]][] = [];
    const steps: number[] = [];
    const result = await fit(
      m,
      options(m, {
        ...extra,
        onEvent: (e) => {
          extra.onEvent?.(e);
          if (e.type === "step") steps.push(e.lr);
        },
        onEpochEnd: (e) => {
          const copy = createModel("test_tiny_bn", { numClasses: 3 });
          initializeWeights(copy, 9);
          for (const [k, p] of copy.net.namedParameters())
            p.assign((new Map(m.net.namedParameters()).get(k)!.tensor.data as Float32Array | BigInt64Array).slice());
          e.ema!.writeTo(copy);
          ema = floats(copy).map(([k, v]) => [k, v]);
        },
      }),
    );
    return { result, ema, steps };
  };
  const whole = model();
  const full = await emaOf(whole, {});
  assert.equal(full.result.stopped, "completed");
  // The lr changes once per optimizer step: 3 distinct values per epoch of 8 batches.
  assert.equal(new Set(full.steps.slice(0, 8)).size, 3);
  // The EMA differs from the trained weights (decay 0.9 over 9 steps).
  assert.notDeepEqual(full.ema, floats(whole));

  const first = model();
  const controller = new AbortController();
  const part = await emaOf(first, {
    signal: controller.signal,
    onEvent: (e) => {
      if (e.type === "step" && e.epoch === 2 && e.step === 4) controller.abort();
    },
  });
  assert.equal(part.result.stopped, "interrupted");
  const file = join(dir, "part.resume.safetensors");
  await saveResumeFile(file, first, run(first), part.result.progress);
  const resumed = await readResumeFile(file);
  const rest = await emaOf(resumed.model, { resume: resumed.progress });
  assert.deepEqual(floats(resumed.model), floats(whole));
  assert.deepEqual(rest.ema, full.ema);
  assert.deepEqual(
    rest.result.history.map((h) => h.valAccuracy),
    full.result.history.map((h) => h.valAccuracy),
  );
});

test("fit: bad recipe values are clear errors", async () => {
  const m = model();
  await assert.rejects(fit(m, options(m, { accumulate: 0 })), /accumulate must be a whole number of batches >= 1, got 0/);
  await assert.rejects(fit(m, options(m, { ema: { decay: 1.5 } })), /EMA decay must be in \[0, 1\)/);
  await assert.rejects(fit(m, options(m, { classWeights: [1, 2] })), /class weights: expected one per class \(3\)/);
  await assert.rejects(fit(m, options(m, { clipGradNorm: -1 })), /clipGradNorm must be a positive number/);
  await assert.rejects(fit(m, options(m, { schedule: "cosine", minLr: 1 })), /minimum learning rate/);
  await assert.rejects(fit(m, options(m, { lrMultipliers: { nothing: 0.1 } })), /no parameters under "nothing"/);
});
