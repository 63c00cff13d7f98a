/**
 * Issue 14's end-to-end check, CI-sized: `convzoo train` with no flags beyond what defines the model
 * learns a small generated folder well. 3 MNIST digits × 12 images at 32 px from scratch — the
 * kind of folder on which the old defaults (a 10% split, batch 32, 10 epochs, RandomResizedCrop
 * down to 8% of a 32 px image) stayed near chance. Scored on 40 held-out images per digit.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { writeDigitFolders } from "../../src/demo/mnist.js";
import { convzoo } from "../helpers/cli.js";

const work = mkdtempSync(join(tmpdir(), "convzoo-small-defaults-"));
after(() => rmSync(work, { recursive: true, force: true }));

test("default flags on 36 images: sized from the data, and far above chance on held-out images", async () => {
  const train = join(work, "train");
  const test = join(work, "test");
  await writeDigitFolders(
    [0, 1, 7],
    [
      { dir: train, perClass: 12 },
      { dir: test, perClass: 40 },
    ],
    7,
  );
  const save = join(work, "model.safetensors");
  const run = convzoo("train", train, "--arch", "mobilenet_v3_small", "--resolution", "32", "--save", save, "--no-report");
  assert.equal(run.status, 0, run.stderr);
  // Every data-sized choice is printed with its reason.
  const sized = run.stderr.split("\n").find((l) => l.startsWith("sized from the data"));
  assert.ok(sized, run.stderr);
  assert.match(sized, /36 images in 3 classes \(< 15 per class\): all of them train/);
  assert.match(sized, /batch 4: 9 steps per epoch over 36 training images/);
  assert.match(sized, /89 epochs of 9 steps \(801 steps/);
  assert.match(sized, /SGD with momentum 0\.9: training from scratch; lr 0\.01/);
  assert.match(sized, /no random crops or flips at 32 px/);

  const evaluated = convzoo("eval", test, "--weights", save, "--json");
  assert.equal(evaluated.status, 0, evaluated.stderr);
  const top1 = (JSON.parse(evaluated.stdout) as { top1: number }).top1;
  // Chance is 1/3; the old defaults' runs of this kind scored 33–50%.
  assert.ok(top1 >= 0.8, `top-1 ${(top1 * 100).toFixed(1)}% on 120 held-out digits`);
});
