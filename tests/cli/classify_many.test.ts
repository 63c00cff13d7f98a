/**
 * `classify` on many images: 10,000 paths on one command line (ONNX Runtime's telemetry probe crashed
 * the process with SIGSEGV from ~1,100 paths on: src/runtime/ort_node.ts says why), and `--files-from`.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import sharp from "sharp";
import { createModel, initializeWeights, saveCheckpoint, stateDict } from "../../src/index.js";
import { convzoo } from "../helpers/cli.js";

describe("classify with many paths", () => {
  const dir = mkdtempSync(join(tmpdir(), "convzoo-many-"));
  const weights = join(dir, "m.safetensors");
  const images = [join(dir, "red.png"), join(dir, "blue.png")];
  // A small input so 10,000 images take seconds: resize and crop to 32.
  const small = ["--weights", weights, "--resize-size", "32", "--crop-size", "32", "--topk", "1", "--threads", "1"];

  before(async () => {
    const model = createModel("mobilenet_v3_small", { numClasses: 2 });
    initializeWeights(model, 1);
    await saveCheckpoint(weights, stateDict(model), { arch: "mobilenet_v3_small", options: model.options, classes: ["red", "blue"] });
    for (const [i, colour] of [
      { r: 250, g: 0, b: 0 },
      { r: 0, g: 0, b: 250 },
    ].entries()) {
      await sharp({ create: { width: 8, height: 8, channels: 3, background: colour } })
        .png()
        .toFile(images[i]);
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("10,000 image paths on the command line (~300 KB) classify, one result per path, in order", { timeout: 120_000 }, () => {
    const paths = Array.from({ length: 10_000 }, (_, i) => images[i % 2]);
    const r = convzoo("classify", ...paths, ...small, "--json");
    assert.equal(r.signal ?? null, null);
    assert.equal(r.status, 0, r.stderr.slice(-2000));
    const results = JSON.parse(r.stdout) as { file: string; top: { label: string }[] }[];
    assert.equal(results.length, 10_000);
    assert.deepEqual(
      results.slice(0, 4).map((x) => x.file),
      paths.slice(0, 4),
    );
    // Same image, same answer, wherever it sits in the list.
    assert.equal(results[0].top[0].label, results[9_998].top[0].label);
    assert.equal(results[1].top[0].label, results[9_999].top[0].label);
  });

  test("--files-from: one path per line (CRLF and blank lines fine) or NUL-separated, after the arguments", () => {
    const list = join(dir, "list.txt");
    writeFileSync(list, `${images[1]}\r\n\n${images[0]}\n`);
    const r = convzoo("classify", images[0], "--files-from", list, ...small, "--json");
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(
      (JSON.parse(r.stdout) as { file: string }[]).map((x) => x.file),
      [images[0], images[1], images[0]],
    );
    const nul = join(dir, "list0");
    writeFileSync(nul, `${images[1]}\0${images[0]}\0`);
    const z = convzoo("classify", "--files-from", nul, ...small, "--json");
    assert.equal(z.status, 0, z.stderr);
    assert.deepEqual(
      (JSON.parse(z.stdout) as { file: string }[]).map((x) => x.file),
      [images[1], images[0]],
    );
  });

  test("--files-from: a missing or empty list, or no images at all, is one line and exit 1", () => {
    const missing = join(dir, "nope.txt");
    const a = convzoo("classify", "--files-from", missing, ...small);
    assert.equal(a.status, 1);
    assert.equal(a.stderr, `convzoo: error: ${missing}: no such file\n`);
    const empty = join(dir, "empty.txt");
    writeFileSync(empty, "\n\n");
    const b = convzoo("classify", "--files-from", empty, ...small);
    assert.equal(b.status, 1);
    assert.equal(b.stderr, `convzoo: error: ${empty}: no paths in the list (expected one image path per line)\n`);
    const c = convzoo("classify", ...small);
    assert.equal(c.status, 1);
    assert.equal(c.stderr, "convzoo: error: classify needs image paths: as arguments, or in a list with --files-from FILE\n");
    assert.equal(c.stdout, "");
  });
});
