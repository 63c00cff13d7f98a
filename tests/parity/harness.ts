/**
 * The torchvision parity harness shared by the per-family parity tests: export_torchvision.py
 * builds each case with seeded random weights and randomised BatchNorm statistics and torch.saves
 * it; convzoo loads that very .pth (strictly), runs it through ONNX Runtime and must match
 * torchvision's logits (max |Δ| ≤ 1e-4 · max |logit|), parameter count (exactly) and conv + linear
 * MACs (within 1%).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { loadModel, Predictor, summarize } from "../../src/index.js";
import { hasPython, requirePython, runPython } from "../helpers/python.js";

const EXPORTER = fileURLToPath(new URL("./export_torchvision.py", import.meta.url));

interface CaseMeta {
  arch: string;
  resolution: number;
  batch: number;
  numClasses: number;
  widthMult: number | null;
  params: number;
  macs: number;
  logitsShape: number[];
}

const f32 = (path: string) => {
  const b = readFileSync(path);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
};

/**
 * Registers one test per case. `cases` maps a test name to an exporter case
 * (`arch[,resolution:R][,KEY:VALUE…]`, see export_torchvision.py).
 */
export function torchvisionParity(title: string, cases: Record<string, string>): void {
  describe(title, () => {
    let dir = "";
    before(() => {
      if (!hasPython("torchvision")) return;
      dir = mkdtempSync(join(tmpdir(), "convzoo-parity-"));
      runPython([EXPORTER, dir, ...Object.entries(cases).map(([name, spec]) => `${name}=${spec}`)]);
    });
    after(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    for (const name of Object.keys(cases)) {
      test(name, async (t) => {
        if (!requirePython(t, "torchvision")) return;
        const meta = JSON.parse(readFileSync(join(dir, `${name}.json`), "utf8")) as CaseMeta;
        const loaded = await loadModel({ arch: meta.arch, weights: join(dir, `${name}.pth`), widthMult: meta.widthMult ?? undefined });
        const model = loaded.model;
        assert.equal(model.options.numClasses, meta.numClasses, "class count inferred from the checkpoint");
        assert.deepEqual(loaded.notes, []);

        assert.equal(model.net.parameterCount(), meta.params, "parameter count equals torchvision's");
        const macs = summarize(model, meta.resolution).macs;
        assert.ok(Math.abs(macs - meta.macs) <= 0.01 * meta.macs, `MACs ${macs} within 1% of torchvision's ${meta.macs}`);

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
          // The two images of the batch must give clearly different logits, or the comparison
          // would test the weights but not the data path.
          const k = meta.logitsShape[1];
          let rowDiff = 0;
          for (let j = 0; j < k; j++) rowDiff = Math.max(rowDiff, Math.abs(expected[j] - expected[k + j]));
          t.diagnostic(`input sensitivity: max |row0 − row1| / max |logit| = ${(rowDiff / maxAbs).toExponential(2)}`);
          assert.ok(rowDiff > 1e-2 * maxAbs, `logits barely depend on the input (${rowDiff} vs ${maxAbs})`);
          assert.ok(maxDiff <= 1e-4 * maxAbs, `max |Δlogit| ${maxDiff} exceeds 1e-4 × ${maxAbs}`);
        } finally {
          await predictor.release();
        }
      });
    }
  });
}
