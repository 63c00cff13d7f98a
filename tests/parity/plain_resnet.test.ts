/**
 * The paper's plain nets (He et al. 2015, Table 2) against a genuine torch reference: torchvision's
 * resnet18/34 with every shortcut and projection removed (export_plain_resnet.py). The same checks
 * as harness.ts: strict load, parameters exactly (also against torchvision's residual count minus
 * its projections), MACs within 1%, logits within 1e-4 · max |logit|.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { createModel, loadModel, nn, Predictor, summarize } from "../../src/index.js";
import { hasPython, requirePython, runPython } from "../helpers/python.js";

const EXPORTER = fileURLToPath(new URL("./export_plain_resnet.py", import.meta.url));

const CASES: Record<string, string> = {
  resnet18_plain: "resnet18_plain",
  resnet34_plain: "resnet34_plain",
  resnet34_plain_k10_r96: "resnet34_plain,num_classes:10,resolution:96",
};

interface PlainMeta {
  arch: string;
  resolution: number;
  batch: number;
  numClasses: number;
  params: number;
  paramsFromResnet: number;
  residualParams: number;
  macs: number;
  logitsShape: number[];
}

const f32 = (path: string) => {
  const b = readFileSync(path);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
};

describe("plain nets: ResNet-18/34 without shortcuts, against torch", () => {
  let dir = "";
  before(() => {
    if (!hasPython("torchvision")) return;
    dir = mkdtempSync(join(tmpdir(), "convzoo-plain-"));
    runPython([EXPORTER, dir, ...Object.entries(CASES).map(([name, spec]) => `${name}=${spec}`)]);
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("no shortcut means no projection: no downsample keys, the first conv of a stage strides", () => {
    const model = createModel("resnet34_plain");
    const keys = [...model.net.namedParameters()].map(([k]) => k);
    assert.ok(!keys.some((k) => k.includes("downsample")));
    const residualKeys = [...createModel("resnet34").net.namedParameters()].map(([k]) => k);
    assert.deepEqual(
      keys,
      residualKeys.filter((k) => !k.includes(".downsample.")),
      "the residual net's keys minus the projections",
    );
    const conv = new Map(model.net.namedModules()).get("layer2.0.conv1");
    assert.ok(conv instanceof nn.Conv2d);
    assert.deepEqual([conv.stride, conv.inChannels, conv.outChannels], [[2, 2], 64, 128]);
  });

  for (const name of Object.keys(CASES)) {
    test(name, async (t) => {
      if (!requirePython(t, "torchvision")) return;
      const meta = JSON.parse(readFileSync(join(dir, `${name}.json`), "utf8")) as PlainMeta;
      const loaded = await loadModel({ arch: meta.arch, weights: join(dir, `${name}.pth`) });
      const model = loaded.model;
      assert.equal(model.options.numClasses, meta.numClasses);
      assert.deepEqual(loaded.notes, []);

      const params = model.net.parameterCount();
      t.diagnostic(`params ${params}; torchvision's residual net ${meta.residualParams} minus projections = ${meta.paramsFromResnet}`);
      assert.equal(params, meta.paramsFromResnet, "torchvision's residual count minus its downsample projections");
      assert.equal(params, meta.params, "the torch plain net's count");
      const macs = summarize(model, meta.resolution).macs;
      assert.ok(Math.abs(macs - meta.macs) <= 0.01 * meta.macs, `MACs ${macs} within 1% of torch's ${meta.macs}`);

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
