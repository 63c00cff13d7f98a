/** `convzoo train` on bad input: one clear line, exit code 1, no checkpoint written. */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { convzoo } from "../helpers/cli.js";

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
    expectError([join(dir, "data"), "--arch", "resnet18", "--strategy", "partial"], /--strategy partial needs --freeze/);
    expectError([join(dir, "data"), "--arch", "resnet18", "--strategy", "partial", "--freeze", "layer9"], /no parameters under "layer9"/);
    expectError([join(dir, "data"), "--arch", "resnet18", "--val-split", "1.5"], /--val-split expects a number in \[0, 1\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
