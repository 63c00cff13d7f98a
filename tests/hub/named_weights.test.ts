/**
 * Named weights end to end, offline: checkpoints placed in a temporary convzoo cache under their
 * torch.hub file names stand for the downloads. The weights' own transform is used (resnet50 V2:
 * resize 232 bilinear, crop 224; efficientnet_b3: 320 bicubic, 300), flags override it, the class
 * names are ImageNet's, and the registry commands describe what is there.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import sharp from "sharp";
import { IMAGENET_CLASSES } from "../../src/data/imagenet_classes.js";
import { weightsCacheDir } from "../../src/hub/cache.js";
import { findWeights } from "../../src/hub/registry.js";
import { loadModel } from "../../src/inference/load.js";
import { initializeWeights } from "../../src/models/bind.js";
import { createModel } from "../../src/models/index.js";
import { stateDict } from "../../src/weights/load.js";
import { writeSafetensors } from "../../src/weights/safetensors.js";
import { writeFileAtomic } from "../../src/weights/files.js";
import { readWeightsFile } from "../../src/weights/files.js";
import { convzooWithEnv } from "../helpers/cli.js";
import { writeSyntheticFolder } from "../helpers/datasets.js";

describe("named weights from the cache", () => {
  let dir = "";
  let env: NodeJS.ProcessEnv = {};
  let image = "";

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "convzoo-named-"));
    env = { CONVZOO_HOME: join(dir, "home"), TORCH_HOME: join(dir, "torch"), CONVZOO_OFFLINE: "1" };
    mkdirSync(weightsCacheDir(env), { recursive: true });
    for (const name of ["resnet50.IMAGENET1K_V2", "efficientnet_b3.IMAGENET1K_V1", "mobilenet_v3_small.IMAGENET1K_V1"]) {
      const e = findWeights(name)!;
      const model = initializeWeights(createModel(e.arch), 7);
      await writeFileAtomic(join(weightsCacheDir(env), e.file), writeSafetensors(stateDict(model)));
    }
    image = join(dir, "photo.png");
    await sharp({ create: { width: 300, height: 200, channels: 3, background: { r: 200, g: 120, b: 40 } } })
      .png()
      .toFile(image);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("loadModel by name, by DEFAULT with the arch, and by the file's torch.hub name: the weights' transform and classes", async () => {
    const download = { env, offline: true };
    const byName = await loadModel({ weights: "resnet50.IMAGENET1K_V2", download });
    assert.equal(byName.entry!.name, "resnet50.IMAGENET1K_V2");
    assert.deepEqual(byName.preprocessing, {
      resizeSize: 232,
      cropSize: 224,
      interpolation: "bilinear",
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
    });
    assert.deepEqual(byName.classes, [...IMAGENET_CLASSES]);
    const byDefault = await loadModel({ arch: "resnet50", weights: "DEFAULT", download });
    assert.equal(byDefault.entry!.name, "resnet50.IMAGENET1K_V2");
    const byFile = await loadModel({ weights: join(weightsCacheDir(env), "resnet50-11ad3fa6.pth"), arch: "resnet50" });
    assert.equal(byFile.preprocessing.resizeSize, 232, "a torchvision V2 file keeps its V2 transform");
    const b3 = await loadModel({ weights: "efficientnet_b3.DEFAULT", download });
    assert.deepEqual([b3.preprocessing.resizeSize, b3.preprocessing.cropSize, b3.preprocessing.interpolation], [320, 300, "bicubic"]);
  });

  test("classify prints the transform it uses; flags override it", () => {
    const r = convzooWithEnv(env, "classify", image, "--weights", "resnet50.DEFAULT", "--topk", "2", "--threads", "1", "--json");
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stderr,
      /preprocessing \(resnet50\.IMAGENET1K_V2\): resize 232 bilinear, crop 224, mean 0\.485,0\.456,0\.406, std 0\.229,0\.224,0\.225/,
    );
    const [result] = JSON.parse(r.stdout) as { top: { label: string }[] }[];
    assert.ok(IMAGENET_CLASSES.includes(result.top[0].label), "ImageNet's class names");
    const b3 = convzooWithEnv(env, "classify", image, "--weights", "efficientnet_b3.DEFAULT", "--threads", "1");
    assert.equal(b3.status, 0, b3.stderr);
    assert.match(b3.stderr, /preprocessing \(efficientnet_b3\.IMAGENET1K_V1\): resize 320 bicubic, crop 300/);
    const over = convzooWithEnv(
      env,
      "classify",
      image,
      "--weights",
      "resnet50.DEFAULT",
      "--resize-size",
      "256",
      "--interpolation",
      "bicubic",
      "--mean",
      "0.5,0.5,0.5",
      "--threads",
      "1",
    );
    assert.equal(over.status, 0, over.stderr);
    assert.match(
      over.stderr,
      /preprocessing \(resnet50\.IMAGENET1K_V2, overridden by flags\): resize 256 bicubic, crop 224, mean 0\.5,0\.5,0\.5/,
    );
    const bad = convzooWithEnv(env, "classify", image, "--weights", "resnet50.DEFAULT", "--crop-size", "240", "--resize-size", "230");
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /^convzoo: error: --crop-size 240 exceeds the resize size 230\n$/);
  });

  test("offline without the file: one line naming the URL and where to put a fetched copy", () => {
    const r = convzooWithEnv(env, "classify", image, "--weights", "resnet18.DEFAULT");
    assert.equal(r.status, 1);
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /^convzoo: error: .*resnet18-f37072fd\.pth/);
    assert.ok(lines[0].includes(join(weightsCacheDir(env), "resnet18-f37072fd.pth")), lines[0]);
  });

  test("weights without a classifier cannot classify, and say what they are for (before any download)", () => {
    const r = convzooWithEnv(env, "classify", image, "--weights", "vgg16.IMAGENET1K_FEATURES");
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /^convzoo: error: vgg16\.IMAGENET1K_FEATURES has no trained classifier .*convzoo train DIR --weights vgg16\.IMAGENET1K_FEATURES/,
    );
  });

  test("unknown names and bare tags get clear errors", () => {
    const unknown = convzooWithEnv(env, "classify", image, "--weights", "resnet50.IMAGENET1K_V9");
    assert.match(
      unknown.stderr,
      /^convzoo: error: unknown weights "resnet50\.IMAGENET1K_V9"; resnet50 has resnet50\.IMAGENET1K_V1, resnet50\.IMAGENET1K_V2/,
    );
    const bare = convzooWithEnv(env, "classify", image, "--weights", "DEFAULT");
    assert.match(bare.stderr, /^convzoo: error: --weights DEFAULT names weights of an architecture: give --arch/);
  });

  test("convzoo weights list / info / path", () => {
    const list = convzooWithEnv(env, "weights", "list", "resnet50*", "--json");
    assert.equal(list.status, 0, list.stderr);
    const rows = JSON.parse(list.stdout) as Record<string, unknown>[];
    assert.deepEqual(
      rows.map((r) => r.name),
      ["resnet50.IMAGENET1K_V1", "resnet50.IMAGENET1K_V2"],
    );
    for (const key of ["name", "arch", "url", "file", "default", "transforms", "metrics", "numParams", "numClasses", "cached"])
      assert.ok(key in rows[0], key);
    assert.equal(rows[0].cached, null);
    assert.equal(rows[1].cached, join(weightsCacheDir(env), "resnet50-11ad3fa6.pth"));
    assert.equal(rows[1].default, true);
    const info = JSON.parse(convzooWithEnv(env, "weights", "info", "efficientnet_b3.DEFAULT", "--json").stdout) as Record<string, unknown>;
    assert.deepEqual(info.metrics, { acc1: 82.008, acc5: 96.054 });
    assert.deepEqual(info.transforms, {
      resizeSize: 320,
      cropSize: 300,
      interpolation: "bicubic",
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
    });
    assert.equal(info.numParams, 12233232);
    const path = convzooWithEnv(env, "weights", "path", "resnet50.DEFAULT");
    assert.equal(path.stdout.trim(), join(weightsCacheDir(env), "resnet50-11ad3fa6.pth"));
    const missing = convzooWithEnv(env, "weights", "path", "resnet18.DEFAULT");
    assert.equal(missing.status, 1);
    assert.match(
      missing.stderr,
      /resnet18\.IMAGENET1K_V1 is not in the cache yet: `convzoo weights get resnet18\.IMAGENET1K_V1` downloads it/,
    );
  });

  test("train starts from a name: the classifier is re-initialised, validation keeps the weights' resize/crop ratio", async () => {
    const data = join(dir, "data");
    await writeSyntheticFolder(data, { classes: 2, perClass: 6, size: 40 });
    const save = join(dir, "run.safetensors");
    const args = ["train", data, "--weights", "mobilenet_v3_small.DEFAULT", "--epochs", "1", "--batch-size", "4", "--resolution", "32"];
    const r = convzooWithEnv(env, ...args, "--val-split", "0.34", "--threads", "1", "--no-report", "--save", save);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /starting from mobilenet_v3_small\.IMAGENET1K_V1; validation: resize 36, crop 32, bilinear/);
    assert.match(r.stderr, /classifier classifier\.3 was trained for 1000 classes, the model has 2/);
    const meta = (await readWeightsFile(save)).metadata!;
    assert.deepEqual(meta.preprocessing, {
      resizeSize: 36,
      cropSize: 32,
      interpolation: "bilinear",
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
    });
    // timm-style overrides of the weights' transform, recorded for classify/eval/export.
    const over = join(dir, "over.safetensors");
    const flags = ["--interpolation", "bicubic", "--mean", "0.5,0.5,0.5", "--std", "0.25,0.25,0.25", "--threads", "1", "--no-report"];
    const o = convzooWithEnv(env, ...args, "--val-split", "0.34", ...flags, "--save", over);
    assert.equal(o.status, 0, o.stderr);
    const overMeta = (await readWeightsFile(over)).metadata!;
    assert.deepEqual(overMeta.preprocessing, {
      resizeSize: 36,
      cropSize: 32,
      interpolation: "bicubic",
      mean: [0.5, 0.5, 0.5],
      std: [0.25, 0.25, 0.25],
    });
  });
});
