/**
 * `convzoo eval` on a checkpoint written by `convzoo train`: its figures against an independent count
 * over `convzoo classify --json` of every file, classes matched by name (a folder with a subset of the
 * checkpoint's classes, in other positions), an unreadable file skipped, and the bad inputs.
 */
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createModel, initializeWeights, saveCheckpoint, stateDict } from "../../src/index.js";
import { convzoo, type CliResult } from "../helpers/cli.js";
import { writeSyntheticFolder } from "../helpers/datasets.js";

/** The checkpoint's classes: the training folder's, sorted. */
const CLASSES = ["blue", "cyan", "green", "magenta", "red", "yellow"];

function assertFails(r: CliResult, ...fragments: string[]): void {
  assert.equal(r.status, 1, `exit code 1 expected, got ${r.status}; stderr: ${r.stderr}`);
  for (const f of fragments) assert.ok(r.stderr.includes(f), `stderr should contain ${JSON.stringify(f)}:\n${r.stderr}`);
  assert.ok(!r.stderr.includes("    at "), `no stack trace expected:\n${r.stderr}`);
  assert.equal(
    r.stderr
      .trim()
      .split("\n")
      .filter((l) => l.startsWith("convzoo: error:")).length,
    1,
    `one error line expected:\n${r.stderr}`,
  );
}

interface EvalJson {
  images: number;
  classes: string[];
  top1: number;
  top5: number;
  topK: number;
  loss: number;
  perClass: { class: string; precision: number; recall: number; support: number; predicted: number }[];
  confusion: number[][];
  misclassified: { path: string; true: string; predicted: string; probability: number }[];
  skipped: string[];
}

describe("convzoo eval", () => {
  let dir = "";
  let checkpoint = "";
  let evalDir = "";
  const evalFiles: { path: string; label: string }[] = [];
  let broken = "";

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "convzoo-eval-"));
    const trainDir = join(dir, "train");
    await writeSyntheticFolder(trainDir, { classes: CLASSES.length, perClass: 3, seed: 1, names: CLASSES });
    checkpoint = join(dir, "patterns.safetensors");
    const r = convzoo(
      "train",
      trainDir,
      "--arch",
      "resnet18",
      "--resolution",
      "32",
      "--epochs",
      "2",
      "--optimizer",
      "adamw",
      "--batch-size",
      "6",
      "--val-split",
      "0",
      "--seed",
      "3",
      "--save",
      checkpoint,
    );
    assert.equal(r.status, 0, r.stderr);

    // Fresh images of four of the six classes, so the folder's indices differ from the checkpoint's,
    // plus a cyan and a magenta image filed as green and red, which the model should get wrong.
    evalDir = join(dir, "eval");
    await writeSyntheticFolder(evalDir, { classes: CLASSES.length, perClass: 3, seed: 2, names: CLASSES });
    renameSync(join(evalDir, "cyan", "000.png"), join(evalDir, "green", "from-cyan.png"));
    renameSync(join(evalDir, "magenta", "000.png"), join(evalDir, "red", "from-magenta.png"));
    for (const gone of ["cyan", "magenta"]) rmSync(join(evalDir, gone), { recursive: true });
    for (const name of readdirSync(evalDir).sort()) {
      for (const file of readdirSync(join(evalDir, name)).sort()) evalFiles.push({ path: join(evalDir, name, file), label: name });
    }
    assert.equal(evalFiles.length, 14);
    broken = join(evalDir, "red", "broken.png");
    writeFileSync(broken, "not a png");
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("--json agrees with a count over convzoo classify of each file", () => {
    const r = convzoo("eval", evalDir, "--checkpoint", checkpoint, "--json", "--batch-size", "4");
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stderr.includes(`skipped ${broken}`), `the unreadable file is reported:\n${r.stderr}`);
    const ev = JSON.parse(r.stdout) as EvalJson;

    const c = convzoo("classify", ...evalFiles.map((f) => f.path), "--weights", checkpoint, "--topk", "6", "--json");
    assert.equal(c.status, 0, c.stderr);
    const classified = JSON.parse(c.stdout) as { file: string; top: { label: string; probability: number }[] }[];
    const classes = CLASSES;
    assert.deepEqual(ev.classes, classes);
    const k = classes.length;
    const confusion = classes.map(() => new Array<number>(k).fill(0));
    let top1 = 0;
    let top5 = 0;
    let loss = 0;
    const wrong: { path: string; true: string; predicted: string; probability: number }[] = [];
    classified.forEach((res, i) => {
      const truth = evalFiles[i].label;
      assert.equal(res.file, evalFiles[i].path);
      const rank = res.top.findIndex((p) => p.label === truth);
      const predicted = res.top[0];
      confusion[classes.indexOf(truth)][classes.indexOf(predicted.label)]++;
      if (rank === 0) top1++;
      else wrong.push({ path: res.file, true: truth, predicted: predicted.label, probability: predicted.probability });
      if (rank < 5) top5++;
      loss -= Math.log(Math.max(res.top[rank].probability, 1e-12));
    });
    const n = evalFiles.length;
    assert.ok(wrong.length > 0 && top1 > 0, `the case should have right and wrong predictions (${top1} of ${n} right)`);

    assert.equal(ev.images, n);
    assert.deepEqual(ev.skipped, [broken]);
    assert.equal(ev.topK, 5);
    assert.equal(ev.top1, top1 / n);
    assert.equal(ev.top5, top5 / n);
    assert.ok(Math.abs(ev.loss - loss / n) <= 1e-5 * Math.max(1, loss / n), `loss ${ev.loss} vs ${loss / n}`);
    assert.deepEqual(ev.confusion, confusion);
    classes.forEach((name, j) => {
      const support = confusion[j].reduce((s, v) => s + v, 0);
      const predicted = confusion.reduce((s, row) => s + row[j], 0);
      const tp = confusion[j][j];
      assert.deepEqual(ev.perClass[j], {
        class: name,
        precision: predicted ? tp / predicted : 0,
        recall: support ? tp / support : 0,
        support,
        predicted,
      });
    });
    // cyan and magenta are in the checkpoint but not in the folder.
    assert.equal(ev.perClass[1].support, 0);
    assert.equal(ev.perClass[3].support, 0);
    // The same mistakes, most confident first.
    const byPath = (a: { path: string }, b: { path: string }) => a.path.localeCompare(b.path);
    assert.deepEqual(
      ev.misclassified.map((m) => ({ ...m, probability: 0 })).sort(byPath),
      wrong.map((m) => ({ ...m, probability: 0 })).sort(byPath),
    );
    for (const m of ev.misclassified) {
      const mine = wrong.find((w) => w.path === m.path)!;
      assert.ok(Math.abs(m.probability - mine.probability) < 1e-5, `${m.path}: ${m.probability} vs ${mine.probability}`);
    }
    for (let i = 1; i < ev.misclassified.length; i++)
      assert.ok(ev.misclassified[i - 1].probability >= ev.misclassified[i].probability, "sorted by confidence");
  });

  test("the summary and the report", () => {
    const report = join(dir, "report.html");
    const r = convzoo("eval", evalDir, "--checkpoint", checkpoint, "--report", report);
    assert.equal(r.status, 0, r.stderr);
    const json = JSON.parse(convzoo("eval", evalDir, "--checkpoint", checkpoint, "--json").stdout) as EvalJson;
    assert.ok(r.stdout.includes(`top-1 ${(json.top1 * 100).toFixed(2)}%`), r.stdout);
    assert.ok(r.stdout.includes(`top-5 ${(json.top5 * 100).toFixed(2)}%`), r.stdout);
    assert.match(r.stdout, /class\s+support\s+predicted\s+precision\s+recall/);
    for (const c of json.perClass) assert.match(r.stdout, new RegExp(`^${c.class}\\s+${c.support}\\s+${c.predicted}\\s`, "m"));
    const html = readFileSync(report, "utf8");
    assert.ok(html.startsWith("<!DOCTYPE html>"));
    assert.equal(html.match(/<td class="cell/g)?.length, 36, "a 6x6 confusion matrix");
    assert.equal(html.match(/<figure class="mistake"/g)?.length, Math.min(12, json.misclassified.length));
  });

  test("a folder class the checkpoint does not know", () => {
    const other = join(dir, "other");
    mkdirSync(join(other, "purple"), { recursive: true });
    mkdirSync(join(other, "red"), { recursive: true });
    copyFileSync(evalFiles[0].path, join(other, "purple", "a.png"));
    copyFileSync(evalFiles[0].path, join(other, "red", "a.png"));
    assertFails(
      convzoo("eval", other, "--checkpoint", checkpoint, "--json"),
      `${other}: class folder "purple" is not among the 6 classes of ${checkpoint}`,
      '"blue", "cyan", "green", "magenta", "red", "yellow"',
    );
  });

  test("a missing checkpoint, a checkpoint without class names, an empty folder, a missing folder", async () => {
    const missing = join(dir, "nothere.safetensors");
    assertFails(convzoo("eval", evalDir, "--checkpoint", missing), `${missing}: no such file`);

    const model = createModel("resnet18", { numClasses: 6 });
    initializeWeights(model, 1);
    const bare = join(dir, "bare.safetensors");
    await saveCheckpoint(bare, stateDict(model), { arch: "resnet18", options: model.options });
    assertFails(convzoo("eval", evalDir, "--checkpoint", bare), `${bare}: no convzoo class names`);

    const empty = join(dir, "empty");
    mkdirSync(empty);
    assertFails(convzoo("eval", empty, "--checkpoint", checkpoint), `${empty}: no class folders`);
    assertFails(convzoo("eval", join(dir, "nowhere"), "--checkpoint", checkpoint), `${join(dir, "nowhere")}: no such folder`);
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.endsWith(".tmp")),
      [],
      "no temp files left",
    );
  });
});
