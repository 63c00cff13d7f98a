/**
 * `convzoo lr-find` end to end on a small generated folder, CI-sized (mobilenet_v3_small at 32 px, 30 steps):
 * the JSON (the schedule's rates, the smoothed curve, the suggestions), the HTML report with the curve and the
 * suggestions marked, the terminal summary, the starting weights left as they were, and one-line errors.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { initializeWeights } from "../../src/models/bind.js";
import "../../src/models/index.js";
import { createModel } from "../../src/models/registry.js";
import { LR_SUGGESTION_METHODS, lrFindSchedule, smoothLosses } from "../../src/train/lr_find.js";
import { saveCheckpoint } from "../../src/weights/files.js";
import { stateDict } from "../../src/weights/load.js";
import { convzoo } from "../helpers/cli.js";
import { writeSyntheticFolder } from "../helpers/datasets.js";

describe("lr-find", () => {
  let dir = "";
  let data = "";
  let weights = "";

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "convzoo-lrfind-cli-"));
    data = join(dir, "data");
    await writeSyntheticFolder(data, { classes: 3, perClass: 8, size: 40 });
    // A checkpoint of another task (5 classes, trained at 32 px): its classifier is re-initialised for the folder's 3.
    const model = createModel("mobilenet_v3_small", { numClasses: 5 });
    initializeWeights(model, 1);
    weights = join(dir, "start.safetensors");
    await saveCheckpoint(weights, stateDict(model), { arch: "mobilenet_v3_small", options: model.options, resolution: 32 });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("--json and --report: the curve, fastai's suggestions, the chart with them marked; the weights file untouched", () => {
    const report = join(dir, "lr.html");
    const start = readFileSync(weights);
    const j = convzoo(
      "lr-find",
      data,
      "--weights",
      weights,
      "--iterations",
      "30",
      "--batch-size",
      "4",
      "--threads",
      "1",
      "--report",
      report,
      "--json",
    );
    assert.equal(j.status, 0, j.stderr);
    const out = JSON.parse(j.stdout) as {
      lrs: number[];
      losses: number[];
      smoothed: number[];
      suggestions: Record<string, number | null>;
      stop: string;
      report: string;
    };
    const n = out.lrs.length;
    assert.ok(n >= 10 && n <= 30, `${n} steps`);
    assert.deepEqual(out.lrs, lrFindSchedule(1e-7, 10, 30).slice(0, n));
    assert.deepEqual(out.smoothed, smoothLosses(out.losses));
    assert.deepEqual(Object.keys(out.suggestions).sort(), [...LR_SUGGESTION_METHODS].sort());
    for (const m of LR_SUGGESTION_METHODS) {
      const lr = out.suggestions[m];
      assert.ok(lr !== null && lr >= 1e-8 && lr <= 10, `${m}: ${lr}`);
    }
    assert.equal(out.report, report);
    assert.deepEqual(readFileSync(weights), start);

    const html = readFileSync(report, "utf8");
    assert.match(html, /<svg id="lr-find-curve"/);
    assert.match(html, /learning rate \(log scale\)/);
    const points = Number(/data-series="smoothed" data-points="(\d+)"/.exec(html)?.[1]);
    assert.equal(points, out.smoothed.filter(Number.isFinite).length);
    const marked = [...html.matchAll(/<circle class="suggestion" data-method="(\w+)" data-lr="([^"]+)"/g)].map((m) => [m[1], Number(m[2])]);
    assert.deepEqual(
      marked,
      LR_SUGGESTION_METHODS.map((m) => [m, out.suggestions[m]]),
    );
    assert.match(html, /<td>1<\/td><td>1\.00e-7<\/td>/);
    assert.doesNotMatch(html, /<script/);
  });

  test("the terminal summary: the suggestions and a short table", () => {
    const r = convzoo("lr-find", data, "--arch", "mobilenet_v3_small", "--resolution", "32", "--iterations", "8", "--end-lr", "1e-3");
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /suggested learning rates \(8 of 8 steps; all run\)/);
    assert.match(r.stdout, /^ {2}valley {3}\d\.\d\de-\d /m);
    assert.match(r.stdout, /step +lr +loss +smoothed/);
    assert.match(r.stderr, /lr-find: mobilenet_v3_small, 24 images, batch 4 at 32 px, full, sgd; lr 1\.00e-7 → 1\.00e-3 over 8 steps/);
  });

  test("bad flags are one line", () => {
    const stages = convzoo("lr-find", data, "--arch", "mobilenet_v3_small", "--unfreeze-stages", "1");
    assert.equal(stages.status, 1);
    assert.match(stages.stderr, /\nconvzoo: error: --unfreeze-stages applies to --strategy partial, not full\n$/);
    const range = convzoo("lr-find", data, "--arch", "mobilenet_v3_small", "--start-lr", "1", "--end-lr", "0.1");
    assert.equal(range.status, 1);
    assert.match(range.stderr, /convzoo: error: lr-find: the end rate must be above the start rate 1, got 0\.1/);
    const where = convzoo("lr-find", data, "--arch", "mobilenet_v3_small", "--report", join(dir, "no", "r.html"));
    assert.equal(where.status, 1);
    assert.match(where.stderr, /^convzoo: error: .*r\.html: folder .* does not exist\n$/);
  });

  test("a folder of one class is refused before any model is built, as train refuses it", async () => {
    const one = join(dir, "one");
    await writeSyntheticFolder(one, { classes: 1, perClass: 4, size: 16 });
    const r = convzoo("lr-find", one, "--arch", "mobilenet_v3_small", "--resolution", "32");
    assert.equal(r.status, 1);
    assert.match(r.stderr, /\nconvzoo: error: .*one: 1 class \(.*\): a classifier needs at least 2 classes to tell apart/);
  });
});
