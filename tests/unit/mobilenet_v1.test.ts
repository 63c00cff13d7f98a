/**
 * MobileNet V1 against the paper (Howard et al. 2017): parameter counts and mult-adds of Tables 6
 * (width multiplier α) and 7 (resolution multiplier ρ, as the input side 224·ρ), the structure of
 * Table 1, and the α range of §3.3.
 */
import "../../src/models/mobilenet_v1.js";
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createModel, featureInfo, OptionError, summarize } from "../../src/index.js";

const summary = (widthMult: number, resolution: number) => summarize(createModel("mobilenet_v1", { widthMult }), resolution);

const within = (actual: number, expected: number, rel: number) => Math.abs(actual - expected) <= rel * expected;

describe("mobilenet_v1 matches the paper", () => {
  // The issue's figures (the paper's, at one more digit where the counts allow): within 1%.
  const TARGETS: { widthMult: number; resolution: number; params?: number; macs: number }[] = [
    { widthMult: 1, resolution: 224, params: 4.23e6, macs: 569e6 },
    { widthMult: 0.5, resolution: 160, params: 1.33e6, macs: 76.5e6 },
    { widthMult: 0.25, resolution: 224, params: 0.47e6, macs: 41e6 },
    { widthMult: 1, resolution: 128, macs: 186e6 },
  ];
  for (const { widthMult, resolution, params, macs } of TARGETS) {
    test(`α ${widthMult} at ${resolution}: ${params ? `${params / 1e6}M parameters, ` : ""}${macs / 1e6}M mult-adds within 1%`, () => {
      const s = summary(widthMult, resolution);
      if (params !== undefined) assert.ok(within(s.params, params, 0.01), `${s.params} parameters vs ${params}`);
      assert.ok(within(s.macs, macs, 0.01), `${s.macs} MACs vs ${macs}`);
    });
  }

  // Tables 6 and 7 as printed: parameters to 0.1M, mult-adds to 1M (within 1%).
  const TABLES: { table: string; widthMult: number; resolution: number; paramsM: number; macsM: number }[] = [
    { table: "Table 6", widthMult: 1, resolution: 224, paramsM: 4.2, macsM: 569 },
    { table: "Table 6", widthMult: 0.75, resolution: 224, paramsM: 2.6, macsM: 325 },
    { table: "Table 6", widthMult: 0.5, resolution: 224, paramsM: 1.3, macsM: 149 },
    { table: "Table 6", widthMult: 0.25, resolution: 224, paramsM: 0.5, macsM: 41 },
    { table: "Table 7", widthMult: 1, resolution: 192, paramsM: 4.2, macsM: 418 },
    { table: "Table 7", widthMult: 1, resolution: 160, paramsM: 4.2, macsM: 290 },
    { table: "Table 7", widthMult: 1, resolution: 128, paramsM: 4.2, macsM: 186 },
  ];
  test("Tables 6 and 7: every row", () => {
    for (const { table, widthMult, resolution, paramsM, macsM } of TABLES) {
      const s = summary(widthMult, resolution);
      const row = `${table}, ${widthMult} MobileNet-${resolution}`;
      assert.ok(Math.abs(s.params / 1e6 - paramsM) <= 0.05, `${row}: ${s.params} parameters vs ${paramsM}M`);
      assert.ok(within(s.macs, macsM * 1e6, 0.01), `${row}: ${s.macs} MACs vs ${macsM}M`);
    }
  });

  test("exact counts (regression): 1.0 MobileNet-224 has 4,231,976 parameters and 568,740,352 MACs", () => {
    const s = summary(1, 224);
    assert.equal(s.params, 4_231_976);
    assert.equal(s.macs, 568_740_352);
  });
});

describe("mobilenet_v1 structure", () => {
  test("Table 1 layer by layer, with torchvision-style parameter names", () => {
    const model = createModel("mobilenet_v1");
    const shapes = new Map([...model.net.namedParameters()].map(([k, p]) => [k, p.shape]));
    assert.deepEqual(shapes.get("features.0.0.weight"), [32, 3, 3, 3]);
    assert.deepEqual(shapes.get("features.0.1.running_var"), [32]);
    assert.deepEqual(shapes.get("features.1.depthwise.0.weight"), [32, 1, 3, 3]);
    assert.deepEqual(shapes.get("features.1.pointwise.0.weight"), [64, 32, 1, 1]);
    assert.deepEqual(shapes.get("features.13.depthwise.0.weight"), [1024, 1, 3, 3]);
    assert.deepEqual(shapes.get("features.13.pointwise.1.weight"), [1024]);
    assert.deepEqual(shapes.get("classifier.1.weight"), [1000, 1024]);
    assert.deepEqual(shapes.get("classifier.1.bias"), [1000]);
    assert.equal(model.classifier, "classifier.1");
    assert.ok(!shapes.has("features.14.depthwise.0.weight"), "13 depthwise separable blocks");

    // "Counting depthwise and pointwise convolutions as separate layers, MobileNet has 28 layers"
    // (§3.2): 27 convolutions and the fully connected layer.
    const s = summarize(model);
    assert.equal(s.layers.filter((l) => l.type === "Conv2d").length, 27);
    assert.equal(s.layers.filter((l) => l.type === "Linear").length, 1);
    assert.deepEqual(s.layers.find((l) => l.name === "features.13.pointwise.2")?.outputShape, [1, 1024, 7, 7]);
  });

  test("feature maps at strides 2 … 32", () => {
    const info = featureInfo(createModel("mobilenet_v1", { widthMult: 0.5 }));
    assert.deepEqual(
      info.map((f) => [f.module, f.channels, f.reduction]),
      [
        ["features.1", 32, 2],
        ["features.3", 64, 4],
        ["features.5", 128, 8],
        ["features.11", 256, 16],
        ["features.13", 512, 32],
      ],
    );
  });

  test("width rounding: ⌊c·α⌋, at least 8 (TF-Slim's depth rule)", () => {
    const shapes = (a: number) =>
      new Map([...createModel("mobilenet_v1", { widthMult: a }).net.namedParameters()].map(([k, p]) => [k, p.shape]));
    assert.deepEqual(shapes(0.35).get("features.0.0.weight"), [11, 3, 3, 3]); // ⌊32 · 0.35⌋ = ⌊11.2⌋
    assert.deepEqual(shapes(0.35).get("classifier.1.weight"), [1000, 358]); // ⌊1024 · 0.35⌋ = ⌊358.4⌋
    assert.deepEqual(shapes(0.1).get("features.0.0.weight"), [8, 3, 3, 3]); // ⌊3.2⌋ → 8
  });

  test("α must be in (0, 1]", () => {
    for (const bad of [0, -0.5, 1.01, 1.4]) {
      assert.throws(
        () => createModel("mobilenet_v1", { widthMult: bad }),
        (e: Error) => e instanceof OptionError && e.message.includes("width multiplier α must be in (0, 1]"),
      );
    }
    assert.equal(createModel("mobilenet_v1", { widthMult: 1 }).options.widthMult, 1);
  });
});
