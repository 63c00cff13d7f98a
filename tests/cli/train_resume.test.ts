/**
 * `convzoo train` stopped with Ctrl-C (SIGINT) saves the run and exits 130; `--resume` continues it
 * to the same weights as an uninterrupted run, wherever the signal landed. The checkpoint, the
 * resume file and their metadata are what the other commands read.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { readWeightsFile } from "../../src/weights/files.js";
import { CLI, convzoo } from "../helpers/cli.js";
import { writeSyntheticFolder } from "../helpers/datasets.js";

/** Runs the CLI; sends SIGINT once stderr shows `when`. */
function interrupted(args: string[], when: RegExp): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    let sent = false;
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
      if (!sent && when.test(stderr)) {
        sent = true;
        child.kill("SIGINT");
      }
    });
    child.on("close", (status) => resolve({ status, stderr }));
  });
}

test("Ctrl-C saves, --resume continues to the uninterrupted run's weights", async () => {
  const dir = mkdtempSync(join(tmpdir(), "convzoo-resume-"));
  try {
    const data = join(dir, "data");
    await writeSyntheticFolder(data, { classes: 3, perClass: 6, size: 40, seed: 9 });
    const common = [
      data,
      "--arch",
      "mobilenet_v3_small",
      "--resolution",
      "32",
      "--batch-size",
      "4",
      "--epochs",
      "3",
      "--val-split",
      "0.25",
      "--lr",
      "0.02",
      "--seed",
      "7",
      "--threads",
      "1",
    ];

    const whole = join(dir, "whole.safetensors");
    const w = convzoo("train", ...common, "--save", whole);
    assert.equal(w.status, 0, w.stderr);

    const part = join(dir, "part.safetensors");
    const stop = await interrupted(["train", ...common, "--save", part], /epoch 1:/);
    assert.equal(stop.status, 130, stop.stderr);
    assert.match(stop.stderr, /interrupted; continue with: convzoo train --resume .*part\.resume\.safetensors/);
    assert.ok(existsSync(part) && existsSync(join(dir, "part.resume.safetensors")));

    // Settings come from the resume file; giving one again is refused (nothing is written).
    const clash = convzoo("train", "--resume", join(dir, "part.resume.safetensors"), "--lr", "0.5");
    assert.equal(clash.status, 1);
    assert.match(clash.stderr, /drop --lr/);

    const resumed = convzoo("train", "--resume", join(dir, "part.resume.safetensors"));
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.match(resumed.stderr, /resuming at epoch \d step \d/);

    const a = await readWeightsFile(join(dir, "whole.resume.safetensors"));
    const b = await readWeightsFile(join(dir, "part.resume.safetensors"));
    assert.equal(a.tensors.size, b.tensors.size);
    for (const [key, t] of a.tensors) assert.deepEqual(b.tensors.get(key)!.data, t.data, key);
    // The best checkpoints agree too, and carry what classify/export/eval need.
    const ca = await readWeightsFile(whole);
    const cb = await readWeightsFile(part);
    for (const [key, t] of ca.tensors) assert.deepEqual(cb.tensors.get(key)!.data, t.data, key);
    assert.equal(ca.metadata?.arch, "mobilenet_v3_small");
    assert.deepEqual(ca.metadata?.classes, ["c0", "c1", "c2"]);
    assert.equal(ca.metadata?.bestEpoch, cb.metadata?.bestEpoch);
    const classify = convzoo("classify", join(data, "c1", "000.png"), "--weights", whole, "--json");
    assert.equal(classify.status, 0, classify.stderr);
    // export needs no architecture with a checkpoint: the metadata names it and the resolution.
    const exported = convzoo("export", "--weights", whole, "--out", join(dir, "whole.onnx"));
    assert.equal(exported.status, 0, exported.stderr);
    assert.match(exported.stdout, /wrote .*whole\.onnx .*mobilenet_v3_small/);
    assert.ok(existsSync(join(dir, "whole.onnx")));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
