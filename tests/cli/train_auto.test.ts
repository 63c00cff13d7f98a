/**
 * `convzoo train --strategy auto`: without pretrained weights it says so and trains everything;
 * from a checkpoint it measures the data, prints the quadrant, the figures and the choice, and the
 * checkpoint records both the choice and the figures.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { readWeightsFile } from "../../src/weights/files.js";
import { convzoo } from "../helpers/cli.js";
import { writeSyntheticFolder } from "../helpers/datasets.js";

test("train --strategy auto: random init → full; from a checkpoint → measured choice, recorded", async () => {
  const dir = mkdtempSync(join(tmpdir(), "convzoo-auto-"));
  try {
    const data = join(dir, "data");
    await writeSyntheticFolder(data, { classes: 3, perClass: 8, size: 40, seed: 4 });
    const common = [
      data,
      "--arch",
      "resnet18",
      "--resolution",
      "32",
      "--batch-size",
      "4",
      "--epochs",
      "1",
      "--val-split",
      "0.25",
      "--threads",
      "1",
      "--no-augment",
    ];

    const scratch = join(dir, "scratch.safetensors");
    const a = convzoo("train", ...common, "--strategy", "auto", "--save", scratch);
    assert.equal(a.status, 0, a.stderr);
    assert.match(a.stderr, /no pretrained weights/);
    const ma = (await readWeightsFile(scratch)).metadata!;
    assert.equal(ma.strategy, "auto: full");
    assert.deepEqual((ma.training as { frozen: string[] }).frozen, []);

    const b = convzoo("train", ...common, "--strategy", "auto", "--weights", scratch, "--save", join(dir, "tuned.safetensors"), "--json");
    const records = b.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; lines?: string[]; strategy?: string });
    assert.equal(b.status, 0, b.stderr);
    const mb = (await readWeightsFile(join(dir, "tuned.safetensors"))).metadata!;
    const decision = mb.decision as string[];
    assert.ok(
      decision.some((l) => /size: 3 classes, 6 training images per class/.test(l)),
      decision.join("\n"),
    );
    assert.ok(
      decision.some((l) => /similarity: linear probe/.test(l)),
      decision.join("\n"),
    );
    const choice = decision.find((l) => /choice: (small|large) \+ (similar|different) → (head|partial|full)/.test(l));
    assert.ok(choice, decision.join("\n"));
    assert.equal(mb.strategy, `auto: ${/→ (head|partial|full)/.exec(choice)![1]}`);
    // With --json the figures are a JSON line of their own, before training starts.
    assert.deepEqual(
      records.slice(0, 2).map((r) => r.type),
      ["decision", "start"],
    );
    assert.deepEqual(records[0].lines, decision);
    assert.equal(records[0].strategy, mb.strategy);
    assert.equal(records[records.length - 1].type, "done");

    const clash = convzoo("train", ...common, "--strategy", "auto", "--freeze", "layer1", "--save", join(dir, "x.safetensors"));
    assert.equal(clash.status, 1);
    assert.match(clash.stderr, /auto chooses what to freeze/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
