/**
 * The recipe flags of `convzoo train` end to end on a small generated folder: they reach the run's
 * settings (recorded in the checkpoint), `--resume` refuses to change them, incompatible ones are
 * one clear line, and an imbalanced folder gets a warning with the counts.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { readWeightsFile } from "../../src/weights/files.js";
import { convzoo } from "../helpers/cli.js";
import { writeSyntheticFolder } from "../helpers/datasets.js";

describe("train: recipe flags", () => {
  let dir = "";
  let data = "";
  let skewed = "";
  const base = [
    "--arch",
    "mobilenet_v3_small",
    "--resolution",
    "32",
    "--epochs",
    "2",
    "--batch-size",
    "4",
    "--threads",
    "1",
    "--no-report",
  ];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "convzoo-recipe-"));
    data = join(dir, "data");
    await writeSyntheticFolder(data, { classes: 2, perClass: 8, size: 40 });
    skewed = join(dir, "skewed");
    await writeSyntheticFolder(skewed, { classes: 1, perClass: 12, size: 40, names: ["x"] });
    await writeSyntheticFolder(skewed, { classes: 1, perClass: 3, size: 40, names: ["y"], seed: 1 });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("augmentation policies, erasing, mixup/cutmix, clipping, accumulation, EMA and schedules reach the run", async () => {
    const save = join(dir, "recipe.safetensors");
    const flags = ["--auto-augment", "trivialaugment", "--random-erasing", "0.25", "--mixup", "0.2", "--cutmix", "1"];
    const more = [
      "--clip-grad",
      "1",
      "--accumulate",
      "2",
      "--ema",
      "0.9",
      "--layer-decay",
      "0.5",
      "--schedule",
      "step",
      "--step-epochs",
      "1",
    ];
    const r = convzoo("train", data, ...base, ...flags, ...more, "--gamma", "0.5", "--save", save);
    assert.equal(r.status, 0, r.stderr);
    const t = (await readWeightsFile(save)).metadata!.training as Record<string, unknown>;
    assert.equal(t.autoAugment, "trivialaugment");
    assert.equal(t.randomErasing, 0.25);
    assert.deepEqual(t.mixup, { mixupAlpha: 0.2, cutmixAlpha: 1 });
    assert.equal(t.clipGradNorm, 1);
    assert.equal(t.accumulate, 2);
    assert.deepEqual(t.ema, { decay: 0.9 });
    assert.deepEqual([t.schedule, t.stepEpochs, t.gamma], ["step", 1, 0.5]);
    const factors = Object.values(t.lrMultipliers as Record<string, number>);
    assert.ok(factors.length > 0 && factors.every((f) => f > 0 && f < 1), "earlier stages learn slower");
    const clash = convzoo("train", "--resume", join(dir, "recipe.resume.safetensors"), "--mixup", "0.5");
    assert.equal(clash.status, 1);
    assert.match(clash.stderr, /drop --mixup/);
  });

  test("class weights balance an imbalanced folder, which is warned about without them", async () => {
    const warned = convzoo("train", skewed, ...base, "--epochs", "1", "--save", join(dir, "plain.safetensors"));
    assert.equal(warned.status, 0, warned.stderr);
    assert.match(warned.stderr, /warning: imbalanced classes \(x \d+, y \d+; \d+:\d+\): --class-weights balanced/);
    const save = join(dir, "balanced.safetensors");
    const r = convzoo("train", skewed, ...base, "--epochs", "1", "--class-weights", "balanced", "--val-split", "0", "--save", save);
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /imbalanced/);
    const t = (await readWeightsFile(save)).metadata!.training as { classWeights: number[] };
    // 15 images, 12 and 3: n / (K · count) = 15/24 and 15/6.
    assert.deepEqual(t.classWeights, [15 / 24, 15 / 6]);
  });

  test("--lr auto takes lr-find's suggestion and records it", async () => {
    const save = join(dir, "auto-lr.safetensors");
    const r = convzoo("train", data, ...base, "--epochs", "1", "--optimizer", "adamw", "--lr", "auto", "--save", save);
    assert.equal(r.status, 0, r.stderr);
    const m = /--lr auto: (\S+), lr-find's (valley|minimum\/10) \((\d+) steps from 1e-7\)/.exec(r.stderr);
    assert.ok(m, r.stderr);
    const t = (await readWeightsFile(save)).metadata!.training as { lr: number };
    assert.equal(t.lr.toExponential(2), m[1]);
    assert.ok(t.lr > 1e-7 && t.lr < 10);
  });

  test("a folder too small to train anything says what is needed", async () => {
    const tiny = join(dir, "tiny");
    await writeSyntheticFolder(tiny, { classes: 3, perClass: 1, size: 40 });
    const r = convzoo("train", tiny, ...base, "--save", join(dir, "tiny.safetensors"));
    assert.equal(r.status, 1);
    assert.equal(
      r.stderr.trim().split("\n").pop(),
      `convzoo: error: ${tiny}: 3 image(s) in 3 class(es) is too few to train and check a classifier: ` +
        "give each class at least 2 images (10 or more for a usable model)",
    );
  });

  test("class weights and mixup do not combine: one line", () => {
    const r = convzoo("train", data, ...base, "--class-weights", "balanced", "--mixup", "0.2", "--save", join(dir, "x.safetensors"));
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim().split("\n").pop(), "convzoo: error: class weights do not combine with mixup's soft targets: choose one");
  });
});
