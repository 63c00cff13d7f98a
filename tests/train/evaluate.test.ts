/**
 * evaluateSamples against Predictor.classifyFiles (the classify path: loadImageBatch + the eval
 * transform with resize = crop = R) on the same files, over enough samples for the data workers,
 * with an unreadable file, progress reports and labels that are not the folder's order.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Predictor } from "../../src/inference/predictor.js";
import { readImageFolder, type Sample } from "../../src/data/folder.js";
import { IMAGENET_EVAL } from "../../src/models/preprocessing.js";
import { createModel, initializeWeights } from "../../src/models/index.js";
import { evaluateSamples } from "../../src/train/evaluate.js";
import { writeSyntheticFolder } from "../helpers/datasets.js";

let dir = "";
before(() => {
  dir = mkdtempSync(join(tmpdir(), "convzoo-evaluate-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test("evaluateSamples equals a count over Predictor.classifyFiles", async () => {
  const classes = ["a", "b", "c"];
  await writeSyntheticFolder(dir, { classes: 3, perClass: 24, size: 36, seed: 5, names: classes });
  const folder = await readImageFolder(dir);
  const broken = join(dir, "b", "zz-broken.png");
  writeFileSync(broken, "no image here");
  // Labels rotated against the folder's, so they come from the samples, not the paths.
  const samples: Sample[] = [...folder.samples.map((s) => ({ path: s.path, label: (s.label + 1) % 3 })), { path: broken, label: 0 }];
  const model = createModel("resnet18", { numClasses: 3 });
  initializeWeights(model, 11);
  const r = 32;
  const preprocessing = { ...IMAGENET_EVAL, resizeSize: r, cropSize: r };
  const bad: string[] = [];
  const progress: number[] = [];
  const ev = await evaluateSamples(model, samples, {
    classes,
    resolution: r,
    preprocessing,
    batchSize: 10,
    threads: 1,
    onBadFile: (p) => bad.push(p),
    onProgress: (done, total) => {
      assert.equal(total, samples.length);
      progress.push(done);
    },
  });
  assert.deepEqual(bad, [broken]);
  assert.deepEqual(ev.skipped, [broken]);
  assert.equal(ev.images, samples.length - 1);
  assert.deepEqual(
    ev.paths,
    samples.slice(0, -1).map((s) => s.path),
  );
  assert.ok(progress.length >= 7 && progress.every((p, i) => i === 0 || p > progress[i - 1]), `progress grows: ${progress}`);
  assert.ok(progress[progress.length - 1] >= samples.length - 1, `progress ends at the end: ${progress}`);

  const predictor = await Predictor.create(model, { resolution: r, classes, preprocessing, threads: 1 });
  const results = await predictor.classifyFiles(ev.paths, 3);
  await predictor.release();
  const confusion = classes.map(() => [0, 0, 0]);
  let correct = 0;
  let loss = 0;
  results.forEach((res, i) => {
    const y = samples[i].label;
    const pred = res.top[0].index;
    confusion[y][pred]++;
    if (pred === y) correct++;
    loss -= Math.log(Math.max(res.top.find((p) => p.index === y)!.probability, 1e-12));
  });
  assert.deepEqual(ev.confusion, confusion);
  assert.equal(ev.top1, correct / results.length);
  assert.equal(ev.top5, 1);
  assert.ok(Math.abs(ev.loss - loss / results.length) < 1e-5, `${ev.loss} vs ${loss / results.length}`);
  assert.equal(ev.misclassified.length, results.length - correct);
});

test("nothing to evaluate, a label out of range, no decodable image", async () => {
  const model = createModel("resnet18", { numClasses: 2 });
  initializeWeights(model, 1);
  const o = { resolution: 32, preprocessing: { ...IMAGENET_EVAL, resizeSize: 32, cropSize: 32 } };
  await assert.rejects(evaluateSamples(model, [], o), /no images/);
  await assert.rejects(evaluateSamples(model, [{ path: "x.png", label: 2 }], o), /x\.png: label 2 but the model has 2 classes/);
  const junk = join(dir, "junk.png");
  writeFileSync(junk, "junk");
  await assert.rejects(
    evaluateSamples(model, [{ path: junk, label: 0 }], o),
    new RegExp(`none of the 1 images could be decoded \\(first: ${junk.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\)`),
  );
});
