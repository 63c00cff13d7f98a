/** `convzoo train` on bad input: one clear line, exit code 1, no checkpoint written. */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { convzoo } from "../helpers/cli.js";
import { writeSyntheticFolder } from "../helpers/datasets.js";

test("train: missing folder, empty class, partial without --freeze, unknown prefix", () => {
  const dir = mkdtempSync(join(tmpdir(), "convzoo-train-err-"));
  try {
    const save = join(dir, "out.safetensors");
    const expectError = (args: string[], pattern: RegExp) => {
      const r = convzoo("train", ...args, "--save", save);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, pattern);
      assert.equal(existsSync(save), false);
    };
    expectError([join(dir, "missing"), "--arch", "resnet18"], /convzoo: error: .*missing: no such folder/);
    mkdirSync(join(dir, "data", "cat"), { recursive: true });
    mkdirSync(join(dir, "data", "dog"), { recursive: true });
    writeFileSync(join(dir, "data", "cat", "a.png"), "not really");
    expectError([join(dir, "data"), "--arch", "resnet18"], /class folder "dog" has no images/);
    writeFileSync(join(dir, "data", "dog", "b.png"), "not really");
    expectError(
      [join(dir, "data"), "--arch", "resnet18", "--strategy", "partial"],
      /--strategy partial needs .*--unfreeze-stages K.*--freeze/,
    );
    expectError([join(dir, "data"), "--arch", "resnet18", "--strategy", "partial", "--freeze", "layer9"], /no parameters under "layer9"/);
    expectError([join(dir, "data"), "--arch", "resnet18", "--val-split", "1.5"], /--val-split expects a number in \[0, 1\)/);
    expectError(
      [join(dir, "data"), "--arch", "resnet18", "--save-epoch", "last", "--patience", "2"],
      /convzoo: error: --patience stops after the best epoch by validation accuracy: not with --save-epoch last\n$/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("train: a corrupt image is reported by path and skipped; a mislabelled validation set or CSV is an error before training", async () => {
  const dir = mkdtempSync(join(tmpdir(), "convzoo-train-data-"));
  try {
    const data = join(dir, "data");
    await writeSyntheticFolder(data, { classes: 2, perClass: 4, size: 36, seed: 2 });
    writeFileSync(join(data, "c1", "broken.png"), "\x89PNG\r\n\x1a\n truncated");
    writeFileSync(join(data, "c0", "notes.txt"), "not an image");
    const save = join(dir, "ok.safetensors");
    const ok = convzoo(
      "train",
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
      "0",
      "--threads",
      "1",
      "--save",
      save,
    );
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stderr, /warning: skipped 1 non-image file \(first: .*c0\/notes\.txt\)/);
    assert.match(ok.stderr, /warning: skipped [^ ]*c1\/broken\.png: not an image/);
    // 9 images in batches of 4: the last batch of one image cannot train a BatchNorm net at 1x1 maps.
    assert.match(
      ok.stderr,
      /warning: the last batch of 1 image is left out of every epoch: .*BatchNorm2d in training mode needs more than one value per channel/,
    );
    assert.ok(existsSync(save));

    // A validation folder whose classes are not the training classes.
    const val = join(dir, "val");
    await writeSyntheticFolder(val, { classes: 2, perClass: 2, size: 36, names: ["c0", "dog"] });
    const bad = join(dir, "bad.safetensors");
    const mismatch = convzoo("train", data, "--arch", "resnet18", "--val", val, "--save", bad);
    assert.equal(mismatch.status, 1, mismatch.stderr);
    assert.match(mismatch.stderr, /convzoo: error: .*val: validation class "dog" is not among the training classes \("c0", "c1"\)/);
    assert.equal(existsSync(bad), false);

    // A CSV list naming a file that does not exist, and a row without a label.
    const csv = join(dir, "list.csv");
    writeFileSync(csv, "path,label\ndata/c0/000.png,zero\ndata/c0/missing.png,zero\ndata/c1/000.png,\n");
    const listed = convzoo("train", csv, "--arch", "resnet18", "--save", bad);
    assert.equal(listed.status, 1, listed.stderr);
    assert.match(listed.stderr, /list\.csv/);
    assert.match(listed.stderr, /missing\.png/);
    assert.equal(existsSync(bad), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
