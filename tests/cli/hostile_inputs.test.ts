/**
 * Hostile inputs through the command (issue 15, points 2-4): each ends with one line `convzoo: error: …`
 * naming the file, exit code 1, no stack trace, and nothing written.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { zipSync } from "fflate";
import sharp from "sharp";
import { createModel, initializeWeights, saveCheckpoint, stateDict } from "../../src/index.js";
import { convzoo, type CliResult } from "../helpers/cli.js";
import { orderedDict, P, pickle, tensorRecord } from "../weights/helpers.js";
import { writeFileSync } from "node:fs";

function assertFails(r: CliResult, message: string | RegExp): void {
  assert.equal(r.status, 1, `exit code 1 expected, got ${r.status}; stderr: ${r.stderr}`);
  const errors = r.stderr.split("\n").filter((l) => l.startsWith("convzoo: error: "));
  assert.equal(errors.length, 1, `one error line expected:\n${r.stderr}`);
  const text = errors[0].slice("convzoo: error: ".length);
  if (typeof message === "string") assert.equal(text, message);
  else assert.match(text, message);
  assert.ok(!r.stderr.includes("    at "), `no stack trace expected:\n${r.stderr}`);
  assert.equal(r.stdout, "", "nothing printed on stdout");
}

describe("hostile inputs through the command", () => {
  let dir = "";
  let weights = "";
  let image = "";
  const listing = () => readdirSync(dir).sort();
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "convzoo-hostile-cli-"));
    const model = initializeWeights(createModel("mobilenet_v3_small", { numClasses: 3 }), 1);
    weights = join(dir, "ok.safetensors");
    await saveCheckpoint(weights, stateDict(model), { arch: "mobilenet_v3_small", options: model.options, classes: ["a", "b", "c"] });
    image = join(dir, "photo.png");
    await sharp({ create: { width: 100, height: 100, channels: 3, background: "#336699" } })
      .png()
      .toFile(image);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("a FIFO named as an image, and /dev/zero named as weights", () => {
    const fifo = join(dir, "cat.jpg");
    execFileSync("mkfifo", [fifo]);
    assertFails(convzoo("classify", fifo, "--weights", weights), `${fifo}: is a FIFO (named pipe), not a regular file; expected an image`);
    assertFails(
      convzoo("classify", image, "--arch", "resnet18", "--weights", "/dev/zero"),
      "/dev/zero: is a character device, not a regular file; expected a file",
    );
    rmSync(fifo);
  });

  test("--max-image-pixels lowers (or raises) the decoded-pixel limit, before or after the command", () => {
    const expected = `${image}: image too large: 100×100 = 10000 pixels, more than the limit of 9999 (raise it with --max-image-pixels N or CONVZOO_MAX_IMAGE_PIXELS=N)`;
    assertFails(convzoo("classify", image, "--weights", weights, "--max-image-pixels", "9999"), expected);
    assertFails(convzoo("--max-image-pixels", "9999", "classify", image, "--weights", weights), expected);
    const ok = convzoo("classify", image, "--weights", weights, "--max-image-pixels", "10000");
    assert.equal(ok.status, 0, ok.stderr);
    assertFails(convzoo("classify", image, "--weights", weights, "--max-image-pixels", "0"), /--max-image-pixels/);
  });

  test("weights holding NaN are refused naming the tensor, nothing is exported; --allow-non-finite exports them", async () => {
    const model = initializeWeights(createModel("mobilenet_v3_small", { numClasses: 3 }), 1);
    const sd = stateDict(model);
    (sd.get("classifier.3.bias")!.data as Float32Array)[1] = NaN;
    const nan = join(dir, "nan.safetensors");
    await saveCheckpoint(nan, sd, { arch: "mobilenet_v3_small", options: model.options });
    const out = join(dir, "nan.onnx");
    const files = listing();
    assertFails(
      convzoo("export", "--weights", nan, "--out", out),
      `${nan}: 1 tensor holds NaN or infinite values: classifier.3.bias (1 of 3); a diverged or damaged checkpoint would predict NaN ` +
        "(--allow-non-finite loads them anyway)",
    );
    assert.deepEqual(listing(), files, "nothing written");
    const allowed = convzoo("export", "--weights", nan, "--out", out, "--allow-non-finite");
    assert.equal(allowed.status, 0, allowed.stderr);
    assert.ok(existsSync(out));
    rmSync(out);
  });

  test("checkpoint metadata declaring a million classes is refused before building the model", async () => {
    const model = initializeWeights(createModel("mobilenet_v3_small", { numClasses: 3 }), 1);
    const liar = join(dir, "liar.safetensors");
    await saveCheckpoint(liar, stateDict(model), { arch: "mobilenet_v3_small", options: { numClasses: 1_000_000 } });
    assertFails(
      convzoo("classify", image, "--weights", liar),
      `${liar}: metadata declares 1000000 classes, but its classifier classifier.3.weight has 3 outputs (shape [3, 1024])`,
    );
  });

  test("a .pth whose tensor is a zero-stride view of 2^32 elements over 4 floats is refused", () => {
    const pkl = pickle(
      P.proto(2),
      orderedDict(),
      P.str("fc.weight"),
      tensorRecord({ cls: "FloatStorage", key: "0", numel: 4, offset: 0, size: [65536, 65536], stride: [0, 0] }),
      P.setitem(),
      P.stop(),
    );
    const bomb = join(dir, "bomb.pth");
    writeFileSync(bomb, zipSync({ "a/data.pkl": pkl, "a/data/0": new Uint8Array(16) }, { level: 0 }));
    const started = performance.now();
    assertFails(
      convzoo("classify", image, "--arch", "resnet18", "--weights", bomb),
      /^.*bomb\.pth: corrupt or crafted checkpoint: tensor "fc\.weight" .* would take 17179869184 bytes/,
    );
    assert.ok(performance.now() - started < 20_000);
  });
});
