/**
 * The weights registry against its ground truth: every entry equals Debian torchvision's own table
 * (URL, transform, metrics, parameter count, DEFAULT, classes), no torchvision weight for a zoo
 * architecture is missing, and each entry's parameter count is the count of convzoo's own model.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { IMAGENET_CLASSES } from "../../src/data/imagenet_classes.js";
import { findWeights, listWeights, looksLikeWeightsName, weightsForFile } from "../../src/hub/registry.js";
import { createModel } from "../../src/models/index.js";
import { underPrefix } from "../../src/models/bind.js";
import { PYTHON, requirePython } from "../helpers/python.js";

const SCRIPT = fileURLToPath(new URL("./torchvision_weights.py", import.meta.url));

interface Row {
  name: string;
  arch: string;
  url: string;
  default: boolean;
  transforms: { resizeSize: number; cropSize: number; interpolation: string; mean: number[]; std: number[] };
  metrics: { acc1: number; acc5: number } | null;
  numParams: number;
  minSize: number[];
  recipe: string;
  categories: string[] | null;
}

test("every registry entry equals Debian torchvision's weights table", (t) => {
  if (!requirePython(t, "torchvision")) return;
  const r = spawnSync(PYTHON, [SCRIPT], { encoding: "utf8", maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr);
  const rows = JSON.parse(r.stdout) as Row[];
  const ours = listWeights().filter((e) => e.source.startsWith("torchvision"));
  assert.deepEqual(ours.map((e) => e.name).sort(), rows.map((row) => row.name).sort(), "the same names");
  assert.equal(rows.length, 35);
  for (const row of rows) {
    const e = findWeights(row.name)!;
    assert.equal(e.url, row.url, row.name);
    assert.equal(e.isDefault, row.default, `${row.name}: DEFAULT`);
    assert.deepEqual(e.transforms, row.transforms, `${row.name}: transforms`);
    assert.deepEqual(e.metrics, row.metrics, `${row.name}: metrics`);
    assert.equal(e.numParams, row.numParams, `${row.name}: numParams`);
    assert.equal(e.minSize, row.minSize[0], `${row.name}: minSize`);
    assert.equal(e.recipe, row.recipe, `${row.name}: recipe`);
    if (row.categories) assert.deepEqual(e.classes, row.categories, `${row.name}: classes`);
    else assert.equal(e.classes, null, `${row.name}: no classes`);
  }
});

test("each entry's parameter count is convzoo's model's (training-only parts aside)", () => {
  for (const e of listWeights()) {
    const model = createModel(e.arch, e.modelOptions);
    let count = 0;
    for (const [key, p] of model.net.namedParameters()) if (p.kind === "parameter" && !underPrefix(key, model.optional)) count += p.numel;
    assert.equal(count, e.numParams, e.name);
  }
});

test("names: arch.TAG, arch.DEFAULT, a bare tag with the arch; files by their torch.hub name", () => {
  assert.equal(findWeights("resnet50.IMAGENET1K_V2")!.transforms.resizeSize, 232);
  assert.equal(findWeights("resnet50.DEFAULT")!.name, "resnet50.IMAGENET1K_V2");
  assert.equal(findWeights("DEFAULT", "resnet50")!.name, "resnet50.IMAGENET1K_V2");
  assert.equal(findWeights("IMAGENET1K_V1", "resnet50")!.file, "resnet50-0676ba61.pth");
  assert.equal(findWeights("efficientnet_b3.DEFAULT")!.transforms.interpolation, "bicubic");
  assert.equal(findWeights("vgg16.IMAGENET1K_FEATURES")!.numClasses, null);
  assert.equal(weightsForFile("resnet50-11ad3fa6.pth")!.name, "resnet50.IMAGENET1K_V2");
  assert.equal(findWeights("pets.safetensors"), undefined, "a file name is not a weights name");
  assert.equal(findWeights("DEFAULT"), undefined, "a bare tag needs the arch");
  assert.throws(
    () => findWeights("resnet50.IMAGENET1K_V3"),
    /unknown weights "resnet50.IMAGENET1K_V3"; resnet50 has resnet50.IMAGENET1K_V1, resnet50.IMAGENET1K_V2/,
  );
  assert.throws(() => findWeights("resnet18_plain.DEFAULT"), /no pretrained weights are registered for resnet18_plain/);
  assert.throws(() => findWeights("resnet50.DEFAULT", "resnet18"), /is for resnet50, but --arch resnet18/);
  assert.ok(looksLikeWeightsName("resnet50.DEFAULT") && looksLikeWeightsName("IMAGENET1K_V1") && !looksLikeWeightsName("w.pth"));
  assert.equal(IMAGENET_CLASSES.length, 1000);
});
