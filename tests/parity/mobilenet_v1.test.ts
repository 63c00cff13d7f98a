/**
 * MobileNet V1 against PyTorch. torchvision has none, so export_mobilenet_v1.py writes the paper's
 * Table 1 in plain torch.nn with convzoo's parameter names; convzoo loads that .pth strictly and
 * must match its logits (max |Δ| ≤ 1e-4 · max |logit|), parameter count (exactly) and conv +
 * linear MACs (exactly: both count the same layers).
 */
import "../../src/models/mobilenet_v1.js";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { loadModel, Predictor, summarize } from "../../src/index.js";
import { hasPython, requirePython, runPython } from "../helpers/python.js";

const EXPORTER = fileURLToPath(new URL("./export_mobilenet_v1.py", import.meta.url));

/** Test name → exporter case (see export_mobilenet_v1.py). */
const CASES: Record<string, string> = {
  mobilenet_v1_a100_r224_k10: "mobilenet_v1,width_mult:1.0,num_classes:10",
  mobilenet_v1_a050_r160_k10: "mobilenet_v1,width_mult:0.5,resolution:160,num_classes:10",
};

interface CaseMeta {
  arch: string;
  resolution: number;
  batch: number;
  numClasses: number;
  widthMult: number | null;
  params: number;
  macs: number;
  logitsShape: number[];
  keys: string[];
}

const f32 = (path: string) => {
  const b = readFileSync(path);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
};

describe("parity with PyTorch: MobileNet V1 (plain torch.nn, the paper's Table 1)", () => {
  let dir = "";
  before(() => {
    if (!hasPython("torchvision")) return;
    dir = mkdtempSync(join(tmpdir(), "convzoo-mobilenet-v1-"));
    runPython([EXPORTER, dir, ...Object.entries(CASES).map(([name, spec]) => `${name}=${spec}`)]);
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const name of Object.keys(CASES)) {
    test(name, async (t) => {
      // The exporter reuses export_torchvision.py's helpers, which import torchvision.
      if (!requirePython(t, "torchvision")) return;
      const meta = JSON.parse(readFileSync(join(dir, `${name}.json`), "utf8")) as CaseMeta;
      const { model, notes } = await loadModel({
        arch: meta.arch,
        weights: join(dir, `${name}.pth`),
        widthMult: meta.widthMult ?? undefined,
      });
      assert.deepEqual(notes, []);
      assert.equal(model.options.numClasses, meta.numClasses, "class count inferred from the checkpoint");
      const keys = [...model.net.namedParameters()].map(([key]) => key);
      assert.deepEqual(keys, meta.keys, "state_dict keys and their order equal PyTorch's");
      assert.equal(model.net.parameterCount(), meta.params, "parameter count equals PyTorch's");
      assert.equal(summarize(model, meta.resolution).macs, meta.macs, "MACs equal PyTorch's (hook-counted)");

      const predictor = await Predictor.create(model, { resolution: meta.resolution, output: "logits" });
      try {
        const input = f32(join(dir, `${name}.input.f32`));
        const out = await predictor.predict({ dtype: "float32", shape: [meta.batch, 3, meta.resolution, meta.resolution], data: input });
        const expected = f32(join(dir, `${name}.logits.f32`));
        assert.deepEqual(out.shape, meta.logitsShape);
        let maxAbs = 0;
        let maxDiff = 0;
        for (let i = 0; i < expected.length; i++) {
          maxAbs = Math.max(maxAbs, Math.abs(expected[i]));
          maxDiff = Math.max(maxDiff, Math.abs(expected[i] - out.data[i]));
        }
        t.diagnostic(
          `max |logit| ${maxAbs.toExponential(3)}, max |Δ| ${maxDiff.toExponential(3)}, ratio ${(maxDiff / maxAbs).toExponential(2)}`,
        );
        assert.ok(maxAbs > 0, "reference logits are not all zero");
        assert.ok(maxDiff <= 1e-4 * maxAbs, `max |Δlogit| ${maxDiff} exceeds 1e-4 × ${maxAbs}`);
      } finally {
        await predictor.release();
      }
    });
  }
});
