/**
 * BatchNorm recalibration against torch.optim.swa_utils.update_bn: from randomised running
 * statistics, one pass over an image folder (batches 4, 4, …, the last short one kept) must give
 * torch's running means and variances, for the BatchNorm layers that train; frozen ones keep theirs.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { loadModel } from "../../src/inference/load.js";
import { readImageFolder } from "../../src/data/folder.js";
import "../../src/models/index.js";
import { BatchNormRecalibrator, recalibrateBatchNorm } from "../../src/train/recalibrate.js";
import { readWeightsFile } from "../../src/weights/files.js";
import { stateDict } from "../../src/weights/load.js";
import { requirePython, runPython } from "../helpers/python.js";

const SCRIPT = fileURLToPath(new URL("./torch_update_bn.py", import.meta.url));

for (const c of [
  { arch: "resnet18", frozen: [] as string[] },
  { arch: "mobilenet_v3_small", frozen: ["features.0", "features.1"] },
]) {
  test(`recalibrateBatchNorm equals torch's update_bn: ${c.arch}${c.frozen.length ? `, frozen ${c.frozen.join(",")}` : ""}`, async (t) => {
    if (!requirePython(t, "torchvision")) return;
    const dir = mkdtempSync(join(tmpdir(), "convzoo-update-bn-"));
    try {
      runPython([SCRIPT, c.arch, "3", "40", "4", dir], JSON.stringify(c.frozen));
      const { model, preprocessing } = await loadModel({ arch: c.arch, weights: join(dir, "initial.pth") });
      const folder = await readImageFolder(join(dir, "data"));
      const stats = await recalibrateBatchNorm(model, folder.samples, {
        batchSize: 4,
        resolution: 40,
        preprocessing,
        frozen: c.frozen,
        threads: 1,
      });
      const initial = (await readWeightsFile(join(dir, "initial.pth"))).tensors;
      const updated = (await readWeightsFile(join(dir, "updated.pth"))).tensors;
      const ours = stateDict(model);
      let checked = 0;
      for (const [key, ref] of updated) {
        if (!key.endsWith(".running_mean") && !key.endsWith(".running_var")) continue;
        const frozen = c.frozen.some((p) => key.startsWith(`${p}.`));
        assert.equal(stats.has(key), !frozen, `${key} returned`);
        const mine = ours.get(key)!.data as Float32Array;
        const want = ref.data as Float32Array;
        if (frozen) {
          assert.deepEqual(mine, initial.get(key)!.data, `${key}: frozen, unchanged`);
          continue;
        }
        let worst = 0;
        let scale = 0;
        for (let i = 0; i < want.length; i++) {
          worst = Math.max(worst, Math.abs(mine[i] - want[i]));
          scale = Math.max(scale, Math.abs(want[i]));
        }
        assert.ok(worst <= 1e-4 * scale + 1e-6, `${key}: max |Δ| ${worst} (scale ${scale})`);
        // The randomised start is gone: the statistics moved.
        const start = initial.get(key)!.data as Float32Array;
        assert.ok(
          want.some((v, i) => Math.abs(v - start[i]) > 1e-3),
          `${key} changed in torch`,
        );
        checked++;
      }
      assert.ok(checked > 10, `${checked} statistics compared`);

      // A run keeps one recalibrator for all its epochs: its sessions take the weights as inputs, so
      // after the weights change it must give what a fresh pass over the new weights gives.
      const options = { batchSize: 4, resolution: 40, preprocessing, frozen: c.frozen, threads: 1 };
      const kept = new BatchNormRecalibrator(model, options);
      try {
        const before = await kept.run(folder.samples);
        const firstConv = [...model.net.namedParameters()].find(([k, p]) => k.endsWith(".weight") && p.shape.length === 4)!;
        const w = firstConv[1].tensor.data as Float32Array;
        firstConv[1].assign(Float32Array.from(w, (v) => v * 2));
        const after = await kept.run(folder.samples);
        const fresh = await recalibrateBatchNorm(model, folder.samples, options);
        assert.deepEqual([...after.keys()], [...fresh.keys()]);
        let moved = 0;
        for (const [key, v] of after) {
          assert.deepEqual(v, fresh.get(key), `${key}: the kept recalibrator saw the new weights`);
          if (v.some((x, i) => Math.abs(x - before.get(key)![i]) > 1e-6)) moved++;
        }
        assert.ok(moved > 0, `doubling ${firstConv[0]} moved the statistics`);
      } finally {
        await kept.release();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
