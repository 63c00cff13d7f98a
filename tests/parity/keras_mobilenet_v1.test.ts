/**
 * Keras's MobileNet V1 weights against a reference forward in torch. export_keras_mobilenet_v1.py writes HDF5
 * files in Keras's own layout (seeded weights, Keras's tensor orders and layer names) and computes Keras's
 * network in plain torch (bottom/right padding before stride-2 convs, BN ε 1e-3, ReLU6, the 1x1 conv_preds).
 * convzoo loads each file the way users do, through a registry entry of format "keras-mobilenet-v1" (by name
 * from a mirror directory, and by file name), and must match: max |Δlogit| ≤ 1e-4 · max |logit|, with the two
 * images of the batch giving clearly different logits, and PyTorch's symmetric padding shown to miss by far.
 */
import "../../src/models/mobilenet_v1.js";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { loadModel, Predictor } from "../../src/index.js";
import type { WeightsEntry } from "../../src/hub/entry.js";
import { findWeights, registerWeights, unregisterWeights } from "../../src/hub/registry.js";
import { hasPython, requirePython, runPython } from "../helpers/python.js";

const EXPORTER = fileURLToPath(new URL("./export_keras_mobilenet_v1.py", import.meta.url));

interface Case {
  alpha: number;
  rows: number;
  /** "model": model.save's /model_weights/… layout; "weights": save_weights' (the keras-applications files). */
  layout: "model" | "weights";
  /** How the test loads it: by registry name (fetched from a mirror directory), or by file path. */
  by: "name" | "file";
}

const CASES: Record<string, Case> = {
  keras_test_a025_r128: { alpha: 0.25, rows: 128, layout: "model", by: "name" },
  keras_test_a100_r224: { alpha: 1.0, rows: 224, layout: "weights", by: "file" },
};

interface CaseMeta {
  batch: number;
  kerasParams: number;
  kerasTrainable: number;
  symmetricMaxDiff: number;
  top1: number[];
}

const f32 = (path: string) => {
  const b = readFileSync(path);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
};

describe("parity with Keras's MobileNet V1 (HDF5 in Keras's layout, reference forward in torch)", () => {
  let dir = "";
  let cache = "";
  const registered: string[] = [];
  before(() => {
    if (!hasPython("h5py")) return;
    dir = mkdtempSync(join(tmpdir(), "convzoo-keras-mobilenet-v1-"));
    cache = mkdtempSync(join(tmpdir(), "convzoo-keras-cache-"));
    const specs = Object.entries(CASES).map(([name, c]) => `${name}:${c.alpha}:${c.rows}:${c.layout}`);
    runPython([EXPORTER, dir, ...specs]);
    // Test entries shaped like the real ones (src/hub/keras.ts), whose file is the generated one.
    const real = findWeights("mobilenet_v1.DEFAULT")!;
    for (const [name, c] of Object.entries(CASES)) {
      const tag = name.toUpperCase();
      const entry: WeightsEntry = {
        ...real,
        name: `mobilenet_v1.${tag}`,
        tag,
        url: `http://127.0.0.1:9/${name}.h5`,
        file: `${name}.h5`,
        transforms: { ...real.transforms, resizeSize: c.rows, cropSize: c.rows },
        isDefault: false,
        modelOptions: { widthMult: c.alpha, padding: "tf" },
      };
      registerWeights(entry);
      registered.push(entry.name);
    }
  });
  after(() => {
    for (const name of registered) unregisterWeights(name);
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (cache) rmSync(cache, { recursive: true, force: true });
  });

  for (const [name, c] of Object.entries(CASES)) {
    test(`${name} (α ${c.alpha}, ρ ${c.rows}, ${c.layout} layout, loaded by ${c.by})`, async (t) => {
      if (!requirePython(t, "h5py")) return;
      const meta = JSON.parse(readFileSync(join(dir, `${name}.json`), "utf8")) as CaseMeta;
      const download = { mirror: dir, offline: true, env: { CONVZOO_HOME: cache } };
      const weights = c.by === "name" ? `mobilenet_v1.${name.toUpperCase()}` : join(dir, `${name}.h5`);
      const { model, notes, entry, preprocessing, classes } = await loadModel({ weights, download });
      assert.deepEqual(notes, []);
      assert.equal(entry?.name, `mobilenet_v1.${name.toUpperCase()}`);
      assert.deepEqual(model.options, { numClasses: 1000, widthMult: c.alpha, padding: "tf" });
      assert.deepEqual(preprocessing, entry?.transforms);
      assert.equal(classes.length, 1000);
      let buffers = 0;
      for (const [key, p] of model.net.namedParameters()) {
        if (p.kind !== "parameter" && !key.endsWith("num_batches_tracked")) buffers += p.numel;
      }
      assert.equal(model.net.parameterCount(), meta.kerasTrainable, "trainable parameters equal Keras's");
      assert.equal(model.net.parameterCount() + buffers, meta.kerasParams, "with the BN moving statistics: Keras's count_params()");

      const predictor = await Predictor.create(model, { resolution: c.rows, output: "logits" });
      try {
        const input = f32(join(dir, `${name}.input.f32`));
        const out = await predictor.predict({ dtype: "float32", shape: [meta.batch, 3, c.rows, c.rows], data: input });
        const expected = f32(join(dir, `${name}.logits.f32`));
        assert.deepEqual(out.shape, [meta.batch, 1000]);
        let maxAbs = 0;
        let maxDiff = 0;
        let imagesDiff = 0;
        for (let i = 0; i < expected.length; i++) {
          maxAbs = Math.max(maxAbs, Math.abs(expected[i]));
          maxDiff = Math.max(maxDiff, Math.abs(expected[i] - out.data[i]));
        }
        for (let j = 0; j < 1000; j++) imagesDiff = Math.max(imagesDiff, Math.abs(out.data[j] - out.data[1000 + j]));
        const tolerance = 1e-4 * maxAbs;
        t.diagnostic(
          `max |logit| ${maxAbs.toExponential(3)}, max |Δ| ${maxDiff.toExponential(3)}, ratio ${(maxDiff / maxAbs).toExponential(2)}; ` +
            `image 0 vs 1: max |Δ| ${imagesDiff.toFixed(3)}; symmetric padding misses by ${meta.symmetricMaxDiff.toFixed(3)}`,
        );
        assert.ok(maxAbs > 0, "reference logits are not all zero");
        assert.ok(maxDiff <= tolerance, `max |Δlogit| ${maxDiff} exceeds 1e-4 × ${maxAbs}`);
        assert.ok(imagesDiff > 100 * tolerance, `the two images' logits differ by only ${imagesDiff}`);
        assert.ok(meta.symmetricMaxDiff > 100 * tolerance, "the test tells Keras's padding from PyTorch's");
        const top1 = [0, 1].map((n) => {
          const row = out.data.subarray(n * 1000, (n + 1) * 1000);
          return row.indexOf(Math.max(...row));
        });
        assert.deepEqual(top1, meta.top1, "same top-1 class per image");
      } finally {
        await predictor.release();
      }
    });
  }
});
