/**
 * `convzoo train` on hostile and degenerate input (issue 15): every check is one line on stderr,
 * exit code 1, and nothing written (no checkpoint, resume file or report; the files of a good run
 * byte for byte as they were).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { readWeightsFile, saveCheckpoint } from "../../src/index.js";
import { prepareResumedRun, type RunDisplay } from "../../src/run/run.js";
import { convzoo, type CliResult } from "../helpers/cli.js";
import { writeSyntheticFolder } from "../helpers/datasets.js";

/** One line `convzoo: error: …` matching `pattern`, exit code 1, nothing on stdout. */
function assertOneLineError(r: CliResult, pattern: RegExp): void {
  assert.equal(r.status, 1, r.stderr);
  const lines = r.stderr.trimEnd().split("\n");
  assert.match(lines.at(-1)!, /^convzoo: error: /);
  assert.match(lines.at(-1)!, pattern);
  assert.ok(
    lines.every((l) => !/^\s+at /.test(l)),
    `no stack trace:\n${r.stderr}`,
  );
}

/** Resume metadata as the tests edit it: freely, like a hand edit of the file's JSON. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any field may be set to any value on purpose
type Metadata = Record<string, any>;

const QUIET: RunDisplay = { note: () => undefined, warn: () => undefined, record: () => undefined, onEvent: () => undefined };

const FAST = ["--arch", "mobilenet_v3_small", "--resolution", "32", "--threads", "1", "--no-report"];

describe("train hardening", () => {
  const dir = mkdtempSync(join(tmpdir(), "convzoo-harden-"));
  const data = join(dir, "data");
  const good = join(dir, "good.safetensors");
  const goodResume = join(dir, "good.resume.safetensors");

  before(async () => {
    await writeSyntheticFolder(data, { classes: 2, perClass: 6, size: 32, seed: 4 });
    const r = convzoo("train", data, ...FAST, "--epochs", "1", "--batch-size", "4", "--save", good);
    assert.equal(r.status, 0, r.stderr);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A copy of the good resume file with its metadata changed by `edit`; returns its path. */
  async function variant(name: string, edit: (m: Metadata) => void): Promise<string> {
    const file = await readWeightsFile(goodResume);
    const metadata = structuredClone(file.metadata) as Metadata;
    edit(metadata);
    const path = join(dir, `${name}.resume.safetensors`);
    await saveCheckpoint(path, file.tensors, metadata as never);
    return path;
  }

  test("resume: each field of the wrong type or out of range is one line naming the field; nothing written", async () => {
    const cases: [string, (m: Metadata) => void, RegExp][] = [
      ["negative-epoch", (m) => (m.resume.epoch = -1), /resume field "resume\.epoch" is -1: Too small: expected number to be >=0/],
      ["huge-step", (m) => (m.resume.stepInEpoch = 1e9), /"resume\.stepInEpoch" is 1000000000: expected less than the 3 steps of an epoch/],
      [
        "bad-strategy",
        (m) => (m.training.strategy = "sideways"),
        /"training\.strategy" is "sideways": expected one of "full"\|"head"\|"partial"/,
      ],
      ["string-batch", (m) => (m.training.batchSize = "8"), /"training\.batchSize" is "8": expected number, received string/],
      ["no-lr", (m) => delete m.training.lr, /"training\.lr" is missing: expected number, received undefined/],
      ["zero-lr", (m) => (m.training.lr = 0), /"training\.lr" is 0: Too small: expected number to be >0/],
      ["history-object", (m) => (m.resume.history = { length: 1 }), /"resume\.history" is \{"length":1\}: expected array, received object/],
      [
        "dead-random",
        (m) => (m.resume.trainer.random = [0, 0, 0, 0, null]),
        /"resume\.trainer\.random" is \[0,0,0,0,null\]: a generator state/,
      ],
      ["bad-optimizer", (m) => (m.training.optimizer = { kind: "rmsprop" }), /"training\.optimizer\.kind" is "rmsprop"/],
    ];
    // Through the command for three (exit code, stderr); through prepareResumedRun, the same code
    // without a process start each, for the rest.
    const throughCli = new Set(["negative-epoch", "huge-step", "string-batch"]);
    for (const [name, edit, pattern] of cases) {
      const resume = await variant(name, edit);
      const before = readFileSync(resume);
      if (throughCli.has(name)) {
        const r = convzoo("train", "--resume", resume, "--threads", "1");
        assertOneLineError(r, pattern);
        assert.ok(r.stderr.includes(resume), r.stderr);
      } else {
        await assert.rejects(prepareResumedRun(resume, {}, QUIET), (e: Error) => {
          assert.equal(e.name, "WeightsError");
          assert.ok(e.message.startsWith(`${resume}: resume field `), e.message);
          assert.match(e.message, pattern);
          return true;
        });
      }
      assert.equal(existsSync(join(dir, `${name}.safetensors`)), false, `${name}: no checkpoint`);
      assert.equal(existsSync(join(dir, `${name}.report.html`)), false, `${name}: no report`);
      assert.deepEqual(readFileSync(resume), before, `${name}: resume file untouched`);
    }
  });

  test("a diverging run stops with a clear message and leaves the good checkpoint and resume file as they were", async () => {
    const checkpoint = join(dir, "div.safetensors");
    copyFileSync(good, checkpoint);
    // The same run continued at a rate that blows it up (caught at a step's loss or, when the last
    // update of the epoch broke the weights behind a finite loss, at the epoch's end: both paths
    // are unit-tested in tests/train/epoch_checks.test.ts).
    const resume = await variant("div", (m) => (m.training.lr = 1e6));
    const [checkpointBytes, resumeBytes] = [readFileSync(checkpoint), readFileSync(resume)];
    const r = convzoo("train", "--resume", resume, "--epochs", "3", "--threads", "1");
    assertOneLineError(
      r,
      /training diverged( in epoch 2|: loss is NaN at epoch 2, step \d+).*nothing from this epoch was saved \(lower --lr\?\)/,
    );
    assert.deepEqual(readFileSync(checkpoint), checkpointBytes);
    assert.deepEqual(readFileSync(resume), resumeBytes);
    assert.equal(existsSync(join(dir, "div.report.html")), false);
  });

  test("a single class is refused before training, after warnings naming a symlink loop and a dangling link", () => {
    const one = join(dir, "one");
    mkdirSync(join(one, "cat"), { recursive: true });
    copyFileSync(join(data, "c0", "000.png"), join(one, "cat", "a.png"));
    copyFileSync(join(data, "c0", "001.png"), join(one, "cat", "b.png"));
    symlinkSync(".", join(one, "cat", "loop"));
    symlinkSync("/nonexistent/x.png", join(one, "cat", "gone.png"));
    symlinkSync("self", join(one, "cat", "self"));
    const save = join(dir, "one.safetensors");
    const r = convzoo("train", one, ...FAST, "--save", save);
    assertOneLineError(r, /one: 1 class \(cat\): a classifier needs at least 2 classes/);
    assert.match(
      r.stderr,
      new RegExp(`warning: ${join(one, "cat", "loop")}: symbolic link back to ${join(one, "cat")} \\(a loop\\), skipped`),
    );
    assert.match(
      r.stderr,
      new RegExp(`warning: ${join(one, "cat", "gone.png")}: dangling symbolic link \\(its target does not exist\\), skipped`),
    );
    assert.match(r.stderr, new RegExp(`warning: ${join(one, "cat", "self")}: symbolic link loop, skipped`));
    assert.equal(existsSync(save), false);
  });

  test("an epoch in which no batch could train (one readable image) stops the run; nothing saved", () => {
    const few = join(dir, "few");
    mkdirSync(join(few, "a"), { recursive: true });
    mkdirSync(join(few, "b"), { recursive: true });
    copyFileSync(join(data, "c0", "000.png"), join(few, "a", "ok.png"));
    for (const path of [join(few, "a", "bad.png"), join(few, "b", "bad1.png"), join(few, "b", "bad2.png")])
      writeFileSync(path, "not a png");
    const save = join(dir, "few.safetensors");
    const r = convzoo("train", few, ...FAST, "--epochs", "1", "--batch-size", "4", "--val-split", "0", "--save", save);
    assertOneLineError(r, /no image of epoch 1 could be trained on \(4 training images: every batch was unreadable or left out/);
    assert.equal(existsSync(save), false);
    assert.equal(existsSync(join(dir, "few.resume.safetensors")), false);
  });

  // Uses the one-class folder of the test above: its run fails after the --save checks, before training.
  test("--save: a folder, a missing folder or an unwritable place is refused before any training; orphaned temp files removed", () => {
    const asFolder = join(dir, "a-folder");
    mkdirSync(asFolder);
    assertOneLineError(convzoo("train", data, ...FAST, "--save", asFolder), /a-folder: is a folder; --save expects a file path/);
    assertOneLineError(convzoo("train", data, ...FAST, "--save", join(dir, "no", "x.safetensors")), /folder .*no does not exist/);
    // /sys refuses new files even to root (sysfs); CI mounts it read-only.
    assertOneLineError(
      convzoo("train", data, ...FAST, "--save", "/sys/convzoo.safetensors"),
      /cannot write in \/sys \((EACCES|EROFS|EPERM)\)/,
    );
    // Nothing written: the folder is as it was, and the writability probe left no temp file.
    assert.deepEqual(readdirSync(asFolder), []);
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.endsWith(".convzoo-tmp")),
      [],
    );

    // A temp file of a killed save (its process is gone) is removed at the next run's start; a live
    // process's and a file not named by convzoo are kept.
    const dead = spawnSync(process.execPath, ["-e", "0"]).pid;
    const orphan = join(dir, `.out.safetensors.${dead}-0123abcd.convzoo-tmp`);
    const live = join(dir, `.out.resume.safetensors.${process.pid}-0123abcd.convzoo-tmp`);
    const foreign = join(dir, ".out.safetensors.mine.tmp");
    for (const f of [orphan, live, foreign]) writeFileSync(f, "partial");
    const save = join(dir, "out.safetensors");
    const r = convzoo("train", join(dir, "one"), ...FAST, "--save", save);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`removed ${orphan} \\(left by an interrupted save\\)`));
    assert.equal(existsSync(orphan), false);
    assert.ok(existsSync(live) && existsSync(foreign));
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.startsWith(".out")),
      [".out.resume.safetensors." + `${process.pid}-0123abcd.convzoo-tmp`, ".out.safetensors.mine.tmp"].sort(),
    );
  });

  test("bench infer: a batch too large for memory is one line with a batch size that fits", () => {
    const r = convzoo("bench", "infer", "--arch", "resnet18", "--batch-size", "100000");
    assertOneLineError(
      r,
      /--batch-size 100000: resnet18 at 224x224 needs about [\d,.]+ GB \([\d.]+ MB per image\), more than the [\d,.]+ [GM]B of memory available; try --batch-size [\d,]+ or less/,
    );
    assert.equal(r.stdout, "");
  });

  test("bench train: the same for a training step (activations kept for the backward pass, optimizer state)", () => {
    const r = convzoo("bench", "train", "--arch", "resnet18", "--batch-size", "100000");
    assertOneLineError(
      r,
      /--batch-size 100000: training resnet18 at 224x224 needs about [\d,.]+ GB \([\d.]+ MB for the weights and optimizer state, [\d.]+ MB per image\), more than the [\d,.]+ [GM]B of memory available; try --batch-size [\d,]+ or less/,
    );
    assert.equal(r.stdout, "");
  });
});
