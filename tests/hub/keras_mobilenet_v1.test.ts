/**
 * Keras's MobileNet V1 weights in the registry (src/hub/keras.ts), the Keras → convzoo key and layout mapping
 * (src/weights/keras.ts) on hand-made tensors, and mobilenet_v1's `padding: "tf"` option. Offline, no Python
 * (the end-to-end proof against torch is tests/parity/keras_mobilenet_v1.test.ts).
 */
import "../../src/models/mobilenet_v1.js";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { hashPrefixOf } from "../../src/hub/download.js";
import { KERAS_MOBILENET_V1 } from "../../src/hub/keras.js";
import { findWeights, listWeights, weightsForFile } from "../../src/hub/registry.js";
import { createModel } from "../../src/models/index.js";
import { BatchNorm2d, Conv2d, ReLU, ReLU6 } from "../../src/nn/layers.js";
import type { Tensor } from "../../src/tensor.js";
import { kerasMobileNetV1StateDict, readKerasH5, type KerasLayers } from "../../src/weights/keras.js";

const ALPHAS = [0.25, 0.5, 0.75, 1.0];
const ROWS = [128, 160, 192, 224];
const ALPHA_TEXT: Record<number, string> = { 0.25: "2_5", 0.5: "5_0", 0.75: "7_5", 1.0: "1_0" };

test("the 16 Keras MobileNet V1 entries: names, URLs, α/ρ, preprocessing, parameter counts", () => {
  const entries = listWeights("mobilenet_v1.KERAS_*");
  assert.equal(entries.length, 16);
  assert.deepEqual(entries, [...KERAS_MOBILENET_V1]);
  for (const alpha of ALPHAS) {
    for (const rows of ROWS) {
      const name = `mobilenet_v1.KERAS_A${String(alpha * 100).padStart(3, "0")}_R${rows}`;
      const e = findWeights(name);
      assert.ok(e, name);
      const file = `mobilenet_${ALPHA_TEXT[alpha]}_${rows}_tf.h5`;
      assert.equal(e.file, file);
      assert.equal(e.url, `https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/${file}`);
      assert.equal(weightsForFile(file), e, "a downloaded Keras file is known by its name");
      assert.equal(e.format, "keras-mobilenet-v1");
      assert.deepEqual(e.modelOptions, { widthMult: alpha, padding: "tf" });
      const half: [number, number, number] = [0.5, 0.5, 0.5];
      assert.deepEqual(e.transforms, { resizeSize: rows, cropSize: rows, interpolation: "bilinear", mean: half, std: half });
      assert.equal(e.numClasses, 1000);
      assert.equal(e.classes?.length, 1000);
      assert.equal(e.minSize, 32);
      assert.equal(e.isDefault, alpha === 1.0 && rows === 224);
      // No hash in the name, none published by Keras: downloaded without a hash check.
      assert.equal(hashPrefixOf(e.file), null);
      assert.match(e.source, /unverified/);
      const model = createModel("mobilenet_v1", e.modelOptions);
      assert.equal(model.net.parameterCount(), e.numParams, `${name}: convzoo's count`);
    }
  }
  assert.equal(findWeights("mobilenet_v1.DEFAULT")!.name, "mobilenet_v1.KERAS_A100_R224");
  assert.equal(findWeights("DEFAULT", "mobilenet_v1")!.metrics!.acc1, 70.7);
  // TF-Slim's 2017_06_14 table: more width and more resolution never lose accuracy.
  for (const alpha of ALPHAS) {
    const acc = ROWS.map((r) => findWeights(`mobilenet_v1.KERAS_A${String(alpha * 100).padStart(3, "0")}_R${r}`)!.metrics!.acc1);
    assert.deepEqual(
      acc,
      [...acc].sort((a, b) => a - b),
      `α ${alpha}`,
    );
  }
});

test("parameter counts: Keras's (keras.io: 4,253,864 for α 1.0) = convzoo's trainable + the BN moving statistics", () => {
  const keras: Record<number, number> = { 1.0: 4_253_864 };
  for (const alpha of ALPHAS) {
    const model = createModel("mobilenet_v1", { widthMult: alpha, padding: "tf" });
    let params = 0;
    let stats = 0;
    for (const [key, p] of model.net.namedParameters()) {
      if (p.kind === "parameter") params += p.numel;
      else if (key.endsWith("running_mean") || key.endsWith("running_var")) stats += p.numel;
    }
    // The padding changes no parameter: the same counts as the paper's model.
    assert.equal(params, createModel("mobilenet_v1", { widthMult: alpha }).net.parameterCount());
    if (keras[alpha]) assert.equal(params + stats, keras[alpha]);
  }
});

test('padding "tf": bottom/right-padded stride-2 convs, BN ε 1e-3, ReLU6; the default is unchanged', () => {
  const tf = createModel("mobilenet_v1", { widthMult: 0.25, padding: "tf" });
  const plain = createModel("mobilenet_v1", { widthMult: 0.25 });
  assert.equal(plain.options.padding, undefined, "the default adds nothing to the options (nor to checkpoints)");
  const mods = (m: typeof tf) => new Map(m.net.namedModules());
  const [t, p] = [mods(tf), mods(plain)];
  assert.ok(t.get("features.0.1") instanceof BatchNorm2d && (t.get("features.0.1") as BatchNorm2d).eps === 1e-3);
  assert.ok(p.get("features.0.1") instanceof BatchNorm2d && (p.get("features.0.1") as BatchNorm2d).eps === 1e-5);
  assert.ok(t.get("features.2.depthwise.2") instanceof ReLU6);
  assert.ok(p.get("features.2.depthwise.2") instanceof ReLU);
  // Stride 2 (the stem, block 2): Keras's bottom/right padding; stride 1: 'same', symmetric as PyTorch's.
  for (const key of ["features.0.0", "features.2.depthwise.0", "features.12.depthwise.0"]) {
    assert.equal(t.get(key)!.constructor.name, "BottomRightPaddedConv2d", key);
  }
  assert.equal(t.get("features.1.depthwise.0")!.constructor, Conv2d);
  assert.deepEqual((t.get("features.1.depthwise.0") as Conv2d).padding, [1, 1]);
  assert.equal(p.get("features.2.depthwise.0")!.constructor, Conv2d);
  assert.deepEqual(
    [...tf.net.namedParameters()].map(([k]) => k),
    [...plain.net.namedParameters()].map(([k]) => k),
    "same keys",
  );
  assert.equal(tf.details.padding, "tf (Keras)");
  assert.throws(() => createModel("mobilenet_v1", { padding: "same" as never }), /padding must be one of symmetric, tf/);
  assert.throws(() => createModel("resnet18", { padding: "tf" }), /resnet18 has no padding option/);
});

const seq = (shape: number[], offset = 0): Tensor => {
  const n = shape.reduce((a, b) => a * b, 1);
  return { dtype: "float32", shape, data: Float32Array.from({ length: n }, (_, i) => i + offset) };
};

test("Keras → convzoo: layer names, HWIO → OIHW, depthwise (H, W, C, 1) → (C, 1, H, W), conv_preds → Linear", () => {
  const bn = (c: number) =>
    new Map([
      ["gamma", seq([c], 1)],
      ["beta", seq([c], 2)],
      ["moving_mean", seq([c], 3)],
      ["moving_variance", seq([c], 4)],
    ]);
  const layers: KerasLayers = new Map([
    ["conv1", new Map([["kernel", seq([3, 3, 3, 8])]])],
    ["conv1_bn", bn(8)],
    ["conv_dw_1", new Map([["depthwise_kernel", seq([3, 3, 8, 1])]])],
    ["conv_dw_1_bn", bn(8)],
    ["conv_pw_1", new Map([["kernel", seq([1, 1, 8, 16])]])],
    ["conv_pw_1_bn", bn(16)],
    [
      "conv_preds",
      new Map([
        ["kernel", seq([1, 1, 16, 5])],
        ["bias", seq([5], 7)],
      ]),
    ],
  ]);
  const sd = kerasMobileNetV1StateDict(layers, "test.h5");
  assert.deepEqual(
    [...sd.keys()],
    [
      "features.0.0.weight",
      ...["weight", "bias", "running_mean", "running_var"].map((k) => `features.0.1.${k}`),
      "features.1.depthwise.0.weight",
      ...["weight", "bias", "running_mean", "running_var"].map((k) => `features.1.depthwise.1.${k}`),
      "features.1.pointwise.0.weight",
      ...["weight", "bias", "running_mean", "running_var"].map((k) => `features.1.pointwise.1.${k}`),
      "classifier.1.weight",
      "classifier.1.bias",
    ],
  );
  // Element (h, w, i, o) of the Keras kernel is element (o, i, h, w) of PyTorch's.
  const stem = sd.get("features.0.0.weight")!;
  assert.deepEqual(stem.shape, [8, 3, 3, 3]);
  const hwio = (h: number, w: number, i: number, o: number) => ((h * 3 + w) * 3 + i) * 8 + o;
  assert.equal(stem.data[((5 * 3 + 2) * 3 + 1) * 3 + 0], hwio(1, 0, 2, 5));
  const dw = sd.get("features.1.depthwise.0.weight")!;
  assert.deepEqual(dw.shape, [8, 1, 3, 3]);
  assert.equal(dw.data[6 * 9 + 2 * 3 + 1], (2 * 3 + 1) * 8 + 6, "(c, 0, h, w) ← (h, w, c, 0)");
  const fc = sd.get("classifier.1.weight")!;
  assert.deepEqual(fc.shape, [5, 16]);
  assert.equal(fc.data[3 * 16 + 11], 11 * 5 + 3, "(class, c) ← (0, 0, c, class)");
  assert.deepEqual([...sd.get("features.0.1.running_var")!.data], [...seq([8], 4).data]);
  assert.deepEqual([...sd.get("classifier.1.bias")!.data], [...seq([5], 7).data]);

  const map = (layer: string, weights: [string, Tensor][]): KerasLayers => new Map([[layer, new Map(weights)]]);
  const notPart = /x.h5: layer conv_dw_1_bn2 is not part of Keras's MobileNet V1/;
  assert.throws(() => kerasMobileNetV1StateDict(map("conv_dw_1_bn2", [...bn(8)]), "x.h5"), notPart);
  assert.throws(() => kerasMobileNetV1StateDict(map("conv1_bn", [["scale", seq([8])]]), "x.h5"), /conv1_bn\/scale is not part/);
  assert.throws(() => kerasMobileNetV1StateDict(map("conv_dw_2", [["kernel", seq([3, 3, 8, 8])]]), "x.h5"), /conv_dw_2\/kernel/);
});

test("readKerasH5: one clear line for a missing file and for a file that is not HDF5", async () => {
  const dir = mkdtempSync(join(tmpdir(), "convzoo-keras-h5-"));
  try {
    await assert.rejects(readKerasH5(join(dir, "none.h5")), /none.h5: no such file/);
    writeFileSync(join(dir, "text.h5"), "not an HDF5 file at all");
    await assert.rejects(readKerasH5(join(dir, "text.h5")), /text.h5: not an HDF5 file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
