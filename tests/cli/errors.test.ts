/** Every bad input ends with one clear message naming the thing, a non-zero exit, and no output file. */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createModel, initializeWeights, saveCheckpoint, stateDict } from "../../src/index.js";
import { convzoo, type CliResult } from "../helpers/cli.js";
import { requirePython, runPython } from "../helpers/python.js";

function assertFails(r: CliResult, ...fragments: string[]): void {
  assert.equal(r.status, 1, `exit code 1 expected, got ${r.status}; stderr: ${r.stderr}`);
  for (const f of fragments) assert.ok(r.stderr.includes(f), `stderr should contain ${JSON.stringify(f)}:\n${r.stderr}`);
  assert.ok(!r.stderr.includes("    at "), `no stack trace expected:\n${r.stderr}`);
}

describe("bad input", () => {
  let dir = "";
  let weights = "";
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "convzoo-errors-"));
    const model = createModel("resnet18", { numClasses: 4 });
    initializeWeights(model, 1);
    weights = join(dir, "resnet18.safetensors");
    await saveCheckpoint(weights, stateDict(model), { arch: "resnet18", options: model.options });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("unknown architecture", () => {
    assertFails(convzoo("summary", "resnet51"), 'unknown architecture "resnet51"', "convzoo models");
  });

  test("width multiplier out of range or not applicable", () => {
    assertFails(convzoo("summary", "mobilenet_v2", "--width-mult", "5"), "width multiplier α must be in (0, 4], got 5");
    assertFails(convzoo("summary", "mobilenet_v2", "--width-mult", "-1"), "--width-mult expects a positive number");
    assertFails(convzoo("summary", "resnet50", "--width-mult", "0.5"), "resnet50 has no width multiplier");
  });

  test("resolution too small for the network", () => {
    assertFails(convzoo("summary", "resnet50", "--resolution", "16"), "resolution must be an integer in [32, 4096], got 16");
  });

  test("missing weights file", () => {
    const missing = join(dir, "nothere.pth");
    assertFails(convzoo("classify", "x.jpg", "--arch", "resnet18", "--weights", missing), `${missing}: no such file`);
  });

  test("a file that is not an image", () => {
    const notes = join(dir, "notes.txt");
    writeFileSync(notes, "just some text\n");
    assertFails(convzoo("classify", notes, "--weights", weights), notes, "not an image");
  });

  test("a missing image", () => {
    const missing = join(dir, "cat.jpg");
    assertFails(convzoo("classify", missing, "--weights", weights), `${missing}: no such file`);
  });

  test("a file that is not a weights file", () => {
    const bogus = join(dir, "bogus.pth");
    writeFileSync(bogus, "not weights at all");
    assertFails(convzoo("classify", "x.jpg", "--arch", "resnet18", "--weights", bogus), bogus, "not a weights file");
  });

  test("a checkpoint for another architecture", () => {
    assertFails(
      convzoo("classify", "x.jpg", "--arch", "resnet34", "--weights", weights),
      "checkpoint is for resnet18, but --arch resnet34 was given",
    );
  });

  test("a wrong-shape tensor is named with both shapes, and nothing is exported", async () => {
    const model = createModel("resnet18", { numClasses: 4 });
    initializeWeights(model, 2);
    const tensors = stateDict(model);
    tensors.set("conv1.weight", { dtype: "float32", shape: [64, 3, 3, 3], data: new Float32Array(64 * 27) });
    tensors.delete("layer1.0.bn1.running_var");
    tensors.set("layer9.weight", { dtype: "float32", shape: [1], data: new Float32Array(1) });
    const bad = join(dir, "bad.safetensors");
    await saveCheckpoint(bad, tensors, { arch: "resnet18", options: model.options });
    const out = join(dir, "bad.onnx");
    const r = convzoo("export", "resnet18", "--weights", bad, "--out", out);
    assertFails(
      r,
      `${bad} does not fit resnet18`,
      "conv1.weight: expected [64, 3, 7, 7], found [64, 3, 3, 3]",
      "missing keys (1)",
      "layer1.0.bn1.running_var",
      "unexpected keys (1)",
      "layer9.weight",
    );
    assert.ok(!existsSync(out), "no ONNX file is written");
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.endsWith(".tmp")),
      [],
      "no temp file is left behind",
    );
  });

  test("a truncated .pth names the file", (t) => {
    if (!requirePython(t, "torchvision")) return;
    const full = join(dir, "full.pth");
    runPython([
      "-c",
      `import torch, torchvision; torch.save(torchvision.models.resnet18(num_classes=3).state_dict(), ${JSON.stringify(full)})`,
    ]);
    const bytes = readFileSync(full);
    const cut = join(dir, "cut.pth");
    writeFileSync(cut, bytes.subarray(0, bytes.length >> 1));
    const r = convzoo("classify", "x.jpg", "--arch", "resnet18", "--weights", cut);
    assertFails(r, cut);
    assert.match(r.stderr, /truncated|corrupt/i);
  });

  test("compare: a malformed entry or an unknown preset", () => {
    assertFails(
      convzoo("compare", "mobilenet_v1:alpha", "--no-latency"),
      'compare entry "mobilenet_v1:alpha": expected ARCH[:alpha=A][,res=N][,phi=P]',
    );
    assertFails(convzoo("compare", "--preset", "nope"), 'unknown preset "nope"');
    assertFails(convzoo("compare"), "name at least one architecture");
  });

  test("flags: missing required option and bad numbers", () => {
    const r = convzoo("classify", "x.jpg", "--arch", "resnet18");
    assert.equal(r.status, 1);
    assert.match(r.stderr, /--weights <file\|name>/);
    assertFails(convzoo("summary", "resnet18", "--resolution", "abc"), '--resolution expects a positive integer, got "abc"');
  });
});
