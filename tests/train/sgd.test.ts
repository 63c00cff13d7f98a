/**
 * Whole training steps against PyTorch: torch_sgd.py builds torchvision's model (seeded, dropout 0),
 * saves its initial weights, fixed batches and labels, runs SGD (momentum 0.9, weight decay 1e-4,
 * label smoothing 0.1) in train mode and saves the final state_dict and losses; the same steps
 * through convzoo's training graph must give the same losses and every final parameter and
 * BatchNorm running statistic to a relative difference ≤ 1e-3 (of each tensor's largest |value|).
 * `head`: everything but the classifier frozen, frozen BatchNorm layers in eval mode.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { loadModel } from "../../src/api/load.js";
import "../../src/models/index.js";
import { Trainer } from "../../src/train/session.js";
import { targetDistribution } from "../../src/train/graph.js";
import { readWeightsFile } from "../../src/weights/files.js";
import { stateDict } from "../../src/weights/load.js";
import { requirePython, runPython } from "../helpers/python.js";

const SCRIPT = fileURLToPath(new URL("./torch_sgd.py", import.meta.url));

const STEPS = Number(process.env.SGD_STEPS ?? 3);
const BATCH = 4;
const RESOLUTION = 64;
const CLASSES = 10;
const LR = 0.05;
const MOMENTUM = 0.9;
const WEIGHT_DECAY = 1e-4;
const SMOOTHING = 0.1;
const TOLERANCE = 1e-3;

const CASES = [
  { arch: "resnet18", strategy: "full", frozen: [] as string[] },
  { arch: "mobilenet_v2", strategy: "full", frozen: [] as string[] },
  { arch: "resnet18", strategy: "head", frozen: ["conv1", "bn1", "layer1", "layer2", "layer3", "layer4"] },
  { arch: "mobilenet_v2", strategy: "head", frozen: ["features"] },
];

/** max |a − b| / max |b| */
function relativeDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return scale === 0 ? diff : diff / scale;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

for (const c of CASES) {
  test(`${c.arch} (${c.strategy}): ${STEPS} SGD steps match torch.optim.SGD`, { timeout: 600_000 }, async (t) => {
    if (!requirePython(t, "torchvision")) return;
    const dir = mkdtempSync(join(tmpdir(), "convzoo-sgd-"));
    try {
      const args = [STEPS, BATCH, RESOLUTION, CLASSES, LR, MOMENTUM, WEIGHT_DECAY, 0, SMOOTHING].map(String);
      runPython([SCRIPT, c.arch, c.strategy, dir, ...args]);
      const torchLosses = JSON.parse(readFileSync(join(dir, "losses.json"), "utf8")) as number[];
      const labels = JSON.parse(readFileSync(join(dir, "labels.json"), "utf8")) as number[][];

      const { model } = await loadModel({ arch: c.arch, weights: join(dir, "initial.pth"), dropout: c.arch === "mobilenet_v2" ? 0 : undefined });
      const trainer = await Trainer.create(model, {
        batchSize: BATCH,
        resolution: RESOLUTION,
        frozen: c.frozen,
        optimizer: { kind: "sgd", momentum: MOMENTUM, weightDecay: WEIGHT_DECAY },
        threads: 2,
      });
      const losses: number[] = [];
      for (let i = 0; i < STEPS; i++) {
        const buf = readFileSync(join(dir, `batch${i}.bin`));
        const images = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4).slice();
        losses.push(await trainer.step(images, targetDistribution(labels[i], CLASSES, SMOOTHING), LR));
      }
      trainer.writeBack(model);
      await trainer.release();

      losses.forEach((l, i) => assert.ok(Math.abs(l - torchLosses[i]) <= TOLERANCE * Math.max(1, Math.abs(torchLosses[i])), `step ${i}: loss ${l} vs torch ${torchLosses[i]}`));
      const expected = (await readWeightsFile(join(dir, "final.pth"))).tensors;
      const ours = stateDict(model);
      let worst = { key: "", diff: 0 };
      const failures: string[] = [];
      for (const [key, ref] of expected) {
        const mine = ours.get(key);
        assert.ok(mine, `convzoo has no ${key}`);
        if (key.endsWith("num_batches_tracked")) {
          assert.equal(Number((mine.data as BigInt64Array)[0]), Number((ref.data as BigInt64Array)[0]), key);
          continue;
        }
        const diff = relativeDifference(mine.data as Float32Array, ref.data as Float32Array);
        if (diff > worst.diff) worst = { key, diff };
        if (!(diff <= TOLERANCE)) failures.push(`${key}: ${diff.toExponential(2)} of max ${maxAbs(ref.data as Float32Array).toExponential(2)}`);
      }
      t.diagnostic(`losses ${losses.map((l) => l.toFixed(5)).join(", ")} (torch ${torchLosses.map((l) => l.toFixed(5)).join(", ")}); worst ${worst.key} ${worst.diff.toExponential(2)}`);
      assert.deepEqual(failures, [], `tensors beyond ${TOLERANCE}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
