/**
 * Names from files (checkpoint metadata, folder names) never reach the terminal raw: control
 * characters are printed as escapes and long values are shortened (src/text.ts).
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import sharp from "sharp";
import { createModel, initializeWeights, saveCheckpoint, stateDict } from "../../src/index.js";
import { convzoo } from "../helpers/cli.js";

/** Any control character a terminal acts on, other than the line feeds between lines. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/;

describe("terminal safety", () => {
  const dir = mkdtempSync(join(tmpdir(), "convzoo-tty-"));
  const image = join(dir, "img.png");
  before(async () => {
    await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: 10, g: 200, b: 30 } } })
      .png()
      .toFile(image);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("classify: class names from checkpoint metadata with escape sequences are printed escaped", async () => {
    const model = createModel("mobilenet_v3_small", { numClasses: 3 });
    initializeWeights(model, 2);
    const weights = join(dir, "evil.safetensors");
    const classes = ["\x1b[2J\x1b[Hcleared", "fake\nresult 100.00%  cat", "\u202eexe.txt"];
    await saveCheckpoint(weights, stateDict(model), { arch: "mobilenet_v3_small", options: model.options, classes });
    const r = convzoo("classify", image, "--weights", weights, "--topk", "3", "--resize-size", "32", "--crop-size", "32");
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, RAW_CONTROL);
    assert.match(r.stdout, /\\x1b\[2J\\x1b\[Hcleared/);
    assert.match(r.stdout, /fake\\x0aresult 100\.00% {2}cat/);
    assert.match(r.stdout, /\\u202eexe\.txt/);
    // One line for the file, one per label: the newline in a name did not add a line.
    assert.equal(r.stdout.trimEnd().split("\n").length, 4);
  });

  test("a 10 MB architecture name in checkpoint metadata: one short line, exit 1", async () => {
    const model = createModel("mobilenet_v3_small", { numClasses: 2 });
    initializeWeights(model, 2);
    const weights = join(dir, "huge-arch.safetensors");
    const arch = `\x1b[31m${"A".repeat(10 * 1024 * 1024)}`;
    await saveCheckpoint(weights, stateDict(model), { arch, options: model.options, classes: ["a", "b"] });
    const r = convzoo("classify", image, "--weights", weights);
    assert.equal(r.status, 1);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr.split("\n").length, 2, "one line");
    assert.ok(r.stderr.length < 400, `${r.stderr.length} characters`);
    assert.match(r.stderr, /^convzoo: error: unknown architecture "\\x1b\[31mA+…\(10,485,765 characters\)"/);
  });

  test("train: a class folder named with an escape sequence is quoted escaped in the error; nothing written", () => {
    const data = join(dir, "data");
    mkdirSync(join(data, "\x1b[2Jcat"), { recursive: true });
    mkdirSync(join(data, "dog"), { recursive: true });
    const save = join(dir, "out.safetensors");
    const r = convzoo("train", data, "--arch", "resnet18", "--save", save);
    assert.equal(r.status, 1);
    assert.equal(
      r.stderr,
      `convzoo: error: ${data}: class folders "\\x1b[2Jcat", "dog" have no images (.jpg .jpeg .png .ppm .bmp .pgm .tif .tiff .webp)\n`,
    );
    assert.equal(existsSync(save), false);
  });
});
