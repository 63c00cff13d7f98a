/**
 * `convzoo quantize` as a person runs it, on a small seeded checkpoint and a generated image folder:
 * the file it writes (int8, weight-only, fp16; the metadata kept), the commands that take the result
 * (`classify --onnx`, `eval --onnx`, `bench infer --onnx`), and the bad inputs: an empty or too
 * small calibration folder, a model already quantized, images of the wrong kind, clashing flags.
 * The accuracy of int8 on a trained checkpoint is checked on the demo's (tests/cli/demo.test.ts).
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createModel, initializeWeights, saveCheckpoint, stateDict } from "../../src/index.js";
import { readOnnxModel } from "../../src/inference/onnx_model.js";
import { convzoo, type CliResult } from "../helpers/cli.js";
import { writeSyntheticFolder } from "../helpers/datasets.js";

const CLASSES = ["blue", "green", "red"];

function assertFails(r: CliResult, ...fragments: string[]): void {
  assert.equal(r.status, 1, `exit code 1 expected, got ${r.status}; stderr: ${r.stderr}`);
  const errors = r.stderr.split("\n").filter((l) => l.startsWith("convzoo: error:"));
  assert.equal(errors.length, 1, `one error line expected:\n${r.stderr}`);
  for (const f of fragments) assert.ok(errors[0].includes(f), `the error should contain ${JSON.stringify(f)}:\n${r.stderr}`);
  assert.ok(!r.stderr.includes("    at "), `no stack trace expected:\n${r.stderr}`);
}

describe("convzoo quantize", () => {
  const dir = mkdtempSync(join(tmpdir(), "convzoo-quantize-"));
  const checkpoint = join(dir, "model.safetensors");
  const images = join(dir, "images");
  const int8 = join(dir, "model.int8.onnx");

  before(async () => {
    const model = initializeWeights(createModel("resnet18", { numClasses: CLASSES.length }), 4);
    const preprocessing = {
      resizeSize: 32,
      cropSize: 32,
      interpolation: "bilinear" as const,
      mean: [0.5, 0.5, 0.5] as [number, number, number],
      std: [0.25, 0.25, 0.25] as [number, number, number],
    };
    await saveCheckpoint(checkpoint, stateDict(model), {
      arch: "resnet18",
      options: model.options,
      classes: CLASSES,
      preprocessing,
      resolution: 32,
    });
    await writeSyntheticFolder(images, { classes: 3, perClass: 8, size: 36, names: CLASSES });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("static int8: writes the model with its metadata, prints the held-out comparison; --json", async () => {
    const r = convzoo("quantize", "--weights", checkpoint, "--calibration", images, "--out", int8, "--holdout", "0.25", "--json");
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      quantization: { mode: string; method: string; perChannel: boolean; calibrationImages: number; weights: number };
      comparison: { images: number; referenceTop1: number; candidateTop1: number; agreement: number };
    };
    assert.deepEqual(
      { mode: out.quantization.mode, method: out.quantization.method, perChannel: out.quantization.perChannel },
      { mode: "static", method: "percentile", perChannel: true },
    );
    assert.equal(out.quantization.calibrationImages, 18); // 24 images, 6 held out
    assert.equal(out.quantization.weights, 21); // 20 Conv + the classifier
    assert.equal(out.comparison.images, 6);
    assert.ok(out.comparison.referenceTop1 !== null && out.comparison.agreement >= 0 && out.comparison.agreement <= 1);
    const onnx = await readOnnxModel(int8);
    assert.equal(onnx.arch, "resnet18");
    assert.deepEqual(onnx.classes, CLASSES);
    assert.deepEqual(onnx.preprocessing.mean, [0.5, 0.5, 0.5]);
    assert.equal(onnx.resolution, 32);
    assert.ok(onnx.opTypes.includes("QuantizeLinear"));
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.includes(".tmp")),
      [],
      "no temp file left",
    );

    const text = convzoo(
      "quantize",
      "--weights",
      checkpoint,
      "--calibration",
      images,
      "--out",
      join(dir, "text.onnx"),
      "--method",
      "minmax",
    );
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /int8: \d+ activations from 19 images \(minmax\), 21 int8 weights per channel; 20 BatchNorms folded/);
    assert.match(text.stdout, /held-out 5 images: top-1 fp32 \d+\.\d%, int8 \d+\.\d% \(-?\d+\.\d points\), agreement \d+\.\d%/);
  });

  test("classify, eval and bench infer take the int8 model with --onnx", () => {
    const files = readdirSync(join(images, "red"))
      .map((f) => join(images, "red", f))
      .slice(0, 3);
    const q = convzoo("classify", ...files, "--onnx", int8, "--json", "--topk", "3");
    assert.equal(q.status, 0, q.stderr);
    const f = convzoo("classify", ...files, "--weights", checkpoint, "--json", "--topk", "3");
    const [a, b] = [q, f].map((r) => JSON.parse(r.stdout) as { file: string; top: { label: string; probability: number }[] }[]);
    assert.deepEqual(
      a.map((x) => x.file),
      files,
    );
    for (const [i, x] of a.entries()) {
      assert.deepEqual(x.top.map((p) => p.label).sort(), [...CLASSES].sort());
      // A seeded, untrained network: int8 must still give about the float model's probabilities.
      for (const p of x.top) assert.ok(Math.abs(p.probability - b[i].top.find((o) => o.label === p.label)!.probability) < 0.1);
    }
    const e = convzoo("eval", images, "--onnx", int8, "--weights", checkpoint);
    assert.equal(e.status, 0, e.stderr);
    assert.match(e.stdout, /resnet18 \(static\) at 32x32, 3 classes/);
    assert.match(
      e.stdout,
      /compared on the same 24 images: .* top-1 \d+\.\d+%, .* top-1 \d+\.\d+% \(-?\d+\.\d+ points\), agreement \d+\.\d+%/,
    );
    const ej = JSON.parse(convzoo("eval", images, "--onnx", int8, "--json").stdout) as { images: number; quantization: { mode: string } };
    assert.equal(ej.images, 24);
    assert.equal(ej.quantization.mode, "static");
    const bench = convzoo("bench", "infer", "--onnx", int8, "--runs", "2", "--warmup", "1", "--json");
    assert.equal(bench.status, 0, bench.stderr);
    assert.equal((JSON.parse(bench.stdout) as { resolution: number }).resolution, 32);
  });

  test("--dynamic and --fp16 need no calibration; --fp16 model runs through classify --onnx", async () => {
    for (const [flag, mode] of [
      ["--dynamic", "dynamic"],
      ["--fp16", "fp16"],
    ]) {
      const out = join(dir, `model.${mode}.onnx`);
      const r = convzoo("quantize", "--weights", checkpoint, flag, "--out", out);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /nothing compared/);
      assert.equal((await readOnnxModel(out)).quantization?.mode, mode);
      const c = convzoo("classify", join(images, "red", "000.png"), "--onnx", out, "--json");
      assert.equal(c.status, 0, c.stderr);
    }
  });

  test("bad input: one clear line, nothing written", () => {
    const out = join(dir, "bad.onnx");
    const empty = join(dir, "empty");
    mkdirSync(empty);
    assertFails(convzoo("quantize", "--weights", checkpoint, "--calibration", empty, "--out", out), `${empty}: no calibration images`);
    const few = join(dir, "few");
    mkdirSync(few);
    for (const name of readdirSync(join(images, "red")).slice(0, 5)) writeFileSync(join(few, name), "");
    assertFails(
      convzoo("quantize", "--weights", checkpoint, "--calibration", few, "--out", out),
      `${few}: too few calibration images: 5 images, 1 held out for the comparison, leaving 4; at least 8 are needed`,
    );
    const wrongKind = join(dir, "wrong");
    mkdirSync(wrongKind);
    for (let i = 0; i < 10; i++) writeFileSync(join(wrongKind, `${i}.png`), "this is text, not a PNG");
    assertFails(
      convzoo("quantize", "--weights", checkpoint, "--calibration", wrongKind, "--out", out),
      "calibration image",
      "wrong/",
      "not an image",
    );
    assertFails(convzoo("quantize", "--weights", int8, "--calibration", images, "--out", out), `${int8} is already quantized (static)`);
    assertFails(convzoo("quantize", "--weights", checkpoint, "--out", out), "static int8 needs --calibration DIR");
    assertFails(convzoo("quantize", "--weights", checkpoint, "--dynamic", "--fp16", "--out", out), "choose one of --dynamic, --fp16");
    assertFails(convzoo("quantize", "--weights", checkpoint, "--calibration", join(dir, "nope"), "--out", out), "nope: no such folder");
    assertFails(convzoo("classify", join(images, "red", "000.png"), "--onnx", checkpoint), `${checkpoint}: not an ONNX model`);
    assertFails(
      convzoo("classify", join(images, "red", "000.png"), "--onnx", int8, "--arch", "resnet18"),
      "--onnx takes the model",
      "--arch",
    );
    assert.equal(existsSync(out), false);
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.includes(".tmp")),
      [],
    );
  });
});
