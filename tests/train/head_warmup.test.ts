/**
 * fastai's fine_tune first phase (`--head-epochs K`, run/run.ts warmUpHead): the head trains alone and
 * nothing else moves (BatchNorm statistics included, the features being computed once); its epochs are
 * recorded apart from the run's own; and it makes no sense with the head strategy.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import "./tiny_net.js";
import { underPrefix } from "../../src/models/bind.js";
import { executeRun, prepareRun, warmUpHead, type RunDisplay } from "../../src/run/run.js";
import { stateDict } from "../../src/weights/load.js";
import { writeSyntheticFolder } from "../helpers/datasets.js";

let dir = "";
before(async () => {
  dir = mkdtempSync(join(tmpdir(), "convzoo-head-warmup-"));
  await writeSyntheticFolder(join(dir, "data"), { classes: 3, perClass: 8, size: 24, seed: 4 });
});
after(() => rmSync(dir, { recursive: true, force: true }));

function recordingDisplay() {
  const records: { type: string; fields: Record<string, unknown> }[] = [];
  const notes: string[] = [];
  const display: RunDisplay = {
    note: (line) => notes.push(line),
    warn: (message) => notes.push(`warning: ${message}`),
    record: (type, fields) => records.push({ type, fields }),
    onEvent: (e) => {
      if (e.type === "epoch") records.push({ type: "epoch", fields: { ...e } });
    },
  };
  return { display, records, notes };
}

const request = (save: string, headEpochs: number) => ({
  data: join(dir, "data"),
  arch: "test_tiny_bn",
  resolution: 16,
  headEpochs,
  epochs: 1,
  lr: 0.05,
  threads: 1,
  seed: 2,
  save: join(dir, save),
});

test("the head warm-up trains the head alone, then the run trains as its strategy says", async () => {
  const { display, records, notes } = recordingDisplay();
  const run = await prepareRun(request("warm.safetensors", 2), display);
  assert.equal(run.settings.headEpochs, 2);
  assert.equal(run.settings.augment, false, "16 px: no random crops (sized)");
  const before = new Map([...stateDict(run.model)].map(([k, t]) => [k, t.data.slice()]));
  await warmUpHead(run, { display, threads: 1 });
  let headChanged = 0;
  for (const [key, t] of stateDict(run.model)) {
    const was = before.get(key)!;
    const same = t.data.length === was.length && t.data.every((v: number | bigint, i: number) => v === was[i]);
    if (underPrefix(key, run.model.head)) {
      if (!same) headChanged++;
    } else assert.ok(same, `${key} moved during the head warm-up`);
  }
  assert.ok(headChanged >= 2, `head tensors changed: ${headChanged}`);
  assert.deepEqual(
    records.map((r) => r.type),
    ["head-epoch", "head-epoch"],
  );
  assert.ok(
    notes.some((n) => /head warm-up: 2 epochs of classifier alone, then full/.test(n)),
    notes.join("\n"),
  );

  // The whole run: the warm-up first, then the run's own epoch; the history is the run's alone.
  const whole = recordingDisplay();
  const fresh = await prepareRun(request("whole.safetensors", 2), whole.display);
  const outcome = await executeRun(fresh, { display: whole.display, threads: 1 });
  assert.deepEqual(
    whole.records.map((r) => r.type),
    ["head-epoch", "head-epoch", "epoch"],
  );
  assert.equal(outcome.result.history.length, 1);
});

test("--head-epochs with the head strategy is an error", async () => {
  const { display } = recordingDisplay();
  await assert.rejects(prepareRun({ ...request("bad.safetensors", 1), strategy: "head" }, display), /not with --strategy head/);
});
