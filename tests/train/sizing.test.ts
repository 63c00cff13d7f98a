/** The data-sized defaults of a run on small, medium and large folders. */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  chooseAugmentation,
  chooseBatchSize,
  chooseEpochs,
  chooseOptimizer,
  chooseLearningRate,
  chooseSaveEpoch,
  chooseRecalibration,
  chooseValSplit,
} from "../../src/run/sizing.js";

test("validation split: none for a tiny set, a fifth of a small set, a tenth of a large one", () => {
  assert.equal(chooseValSplit(25, 5).value, 0, "5 per class: all train");
  assert.equal(chooseValSplit(74, 5).value, 0, "14.8 per class: all train");
  assert.match(chooseValSplit(25, 5).reason, /25 images in 5 classes \(< 15 per class\): all of them train/);
  assert.equal(chooseValSplit(75, 5).value, 0.2, "15 per class: a fifth held out");
  assert.equal(chooseValSplit(150, 5).value, 0.2);
  assert.equal(chooseValSplit(999, 2).value, 0.2);
  assert.equal(chooseValSplit(1000, 10).value, 0.1);
  assert.equal(chooseValSplit(1000, 100).value, 0, "1000 images in 100 classes is 10 per class");
  assert.match(chooseValSplit(150, 5).reason, /150 images/);
});

test("batch size: the largest power of two up to 32 leaving 8 steps per epoch, at least 4", () => {
  const cases: [number, number][] = [
    [10, 4], // tiny: 3 steps even at the floor
    [40, 4],
    [64, 8],
    [120, 16], // ceil(120 / 16) = 8 steps
    [150, 16],
    [256, 32],
    [10_000, 32],
  ];
  for (const [images, expected] of cases) {
    const b = chooseBatchSize(images).value;
    assert.equal(b, expected, `${images} images`);
    assert.ok(b === 4 || Math.ceil(images / b) >= 8, `${images} images: at least 8 steps at batch ${b}`);
  }
});

test("epochs: ~800 steps below 100 images, ~400 for a small set (at most 120 epochs), ~2000 for a large one (10-60)", () => {
  assert.equal(chooseEpochs(120, 16).value, 50, "8 steps per epoch → 50 epochs = 400 steps");
  assert.equal(chooseEpochs(150, 16).value, 40, "10 steps per epoch → 40 epochs");
  assert.match(chooseEpochs(150, 16).reason, /40 epochs of 10 steps \(400 steps/);
  assert.equal(chooseEpochs(80, 8).value, 80, "80 images: 10 steps per epoch → 80 epochs = 800 steps");
  assert.equal(chooseEpochs(25, 4).value, 115, "25 images: 7 steps per epoch → 115 epochs ≈ 800 steps");
  assert.equal(chooseEpochs(10, 4).value, 120, "3 steps per epoch: capped at 120 epochs");
  assert.equal(chooseEpochs(5000, 32).value, 13, "157 steps per epoch → 13 epochs ≈ 2000 steps");
  assert.equal(chooseEpochs(100_000, 32).value, 10, "a large set gets at least 10 epochs");
});

test("BatchNorm recalibration: where (1 − m)^steps leaves more than 1% of the start", () => {
  assert.equal(chooseRecalibration(0.01, 400).value, true, "MobileNetV3's 0.01 over 400 steps: 1.8% left");
  assert.equal(chooseRecalibration(0.01, 500).value, false, "0.99^500 = 0.66%");
  assert.equal(chooseRecalibration(0.1, 40).value, true, "0.9^40 = 1.5%");
  assert.equal(chooseRecalibration(0.1, 400).value, false);
  assert.equal(chooseRecalibration(null, 10).value, false, "no BatchNorm trains (head on cached features)");
  assert.match(chooseRecalibration(0.01, 400).reason, /1\.8% of the start/);
});

test("optimizer: AdamW to fine-tune from weights, SGD from scratch", () => {
  assert.equal(chooseOptimizer(true).value, "adamw");
  assert.equal(chooseOptimizer(false).value, "sgd");
  assert.match(chooseOptimizer(true).reason, /fine-tuning/);
});

test("learning rate: SGD 0.01; AdamW 1e-3 at batch 4, by the square root of the batch, at most 2e-3", () => {
  assert.equal(chooseLearningRate("sgd", 4).value, 0.01);
  assert.equal(chooseLearningRate("sgd", 32).value, 0.01);
  assert.equal(chooseLearningRate("adamw", 4).value, 1e-3);
  assert.equal(chooseLearningRate("adamw", 8).value, 0.0014, "1e-3 * sqrt(2), two digits");
  assert.equal(chooseLearningRate("adamw", 16).value, 2e-3);
  assert.equal(chooseLearningRate("adamw", 32).value, 2e-3, "capped: 2.8e-3 scaled");
  assert.match(chooseLearningRate("adamw", 32).reason, /at most 0\.002/);
  assert.match(chooseLearningRate("adamw", 8).reason, /square root of the batch/);
});

test("saved epoch: the best by validation from 100 validation images, else the last", () => {
  assert.equal(chooseSaveEpoch(99).value, "last");
  assert.equal(chooseSaveEpoch(100).value, "best");
  assert.equal(chooseSaveEpoch(20).value, "last");
  assert.match(chooseSaveEpoch(20).reason, /the last epoch is saved \(20 validation images are too few/);
});

test("augmentation: random crops and flips above 64 px only", () => {
  assert.equal(chooseAugmentation(32).value, false);
  assert.equal(chooseAugmentation(64).value, false);
  assert.equal(chooseAugmentation(96).value, true);
  assert.equal(chooseAugmentation(224).value, true);
  assert.match(chooseAugmentation(32).reason, /no random crops or flips at 32 px/);
});
