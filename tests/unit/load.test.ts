/** Strict weight loading: all problems in one error, nothing half-loaded, the transfer-learning case. */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  createModel,
  initializeWeights,
  loadModel,
  loadStateDict,
  readWeightsFile,
  saveCheckpoint,
  stateDict,
  WeightsError,
  writeFileAtomic,
  writeSafetensors,
  type Tensor,
} from "../../src/index.js";

describe("loading weights", () => {
  let dir = "";
  let imagenet = "";
  let reference: Map<string, Tensor>;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "convzoo-load-"));
    const model = createModel("resnet18");
    initializeWeights(model, 11);
    reference = stateDict(model);
    imagenet = join(dir, "r18-1000.safetensors");
    // A plain state_dict with no convzoo metadata, as a converted torchvision file would be.
    await writeFileAtomic(imagenet, writeSafetensors(reference));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("the class count comes from the checkpoint's classifier; ImageNet names for 1000", async () => {
    const loaded = await loadModel({ arch: "resnet18", weights: imagenet });
    assert.equal(loaded.model.options.numClasses, 1000);
    assert.equal(loaded.classes[281], "tabby");
    assert.deepEqual(loaded.notes, []);
    assert.deepEqual(stateDict(loaded.model).get("layer2.0.conv1.weight")!.data, reference.get("layer2.0.conv1.weight")!.data);
  });

  test("another class count re-initialises the classifier with a note, and loads the rest", async () => {
    const loaded = await loadModel({ arch: "resnet18", weights: imagenet, numClasses: 10 });
    assert.equal(loaded.notes.length, 1);
    assert.match(loaded.notes[0], /classifier fc was trained for 1000 classes, the model has 10: fc is re-initialised/);
    initializeWeights(loaded.model, 5);
    const sd = stateDict(loaded.model);
    assert.deepEqual(sd.get("fc.weight")!.shape, [10, 512]);
    assert.deepEqual(sd.get("conv1.weight")!.data, reference.get("conv1.weight")!.data);
    assert.equal(loaded.classes[3], "class_3");
  });

  test("family options (φ, α) pass through loadModel", async () => {
    const { model } = await loadModel({ arch: "efficientnet", phi: 1 });
    assert.equal(model.options.phi, 1);
    assert.equal(model.defaultResolution, 258);
    const { model: mv2 } = await loadModel({ arch: "mobilenet_v2", widthMult: 0.75 });
    assert.equal(mv2.options.widthMult, 0.75);
  });

  test("GoogLeNet with its auxiliary heads transfers to another class count", () => {
    const source = createModel("googlenet");
    initializeWeights(source, 4);
    const target = createModel("googlenet", { numClasses: 10 });
    const r = loadStateDict(target, stateDict(source), "googlenet.safetensors");
    assert.ok(r.classifierReinitialized);
    assert.match(r.notes[1], /aux1\.fc2\.weight, aux1\.fc2\.bias, aux2\.fc2\.weight, aux2\.fc2\.bias differ in shape .*re-initialised/);
    initializeWeights(target, 1);
    assert.deepEqual(stateDict(target).get("aux1.fc2.weight")!.shape, [10, 1024]);
    assert.deepEqual(
      stateDict(target).get("aux1.fc1.weight")!.data,
      stateDict(source).get("aux1.fc1.weight")!.data,
      "the rest of the aux head loads",
    );
  });

  test("`module.` prefixes (DataParallel) are stripped", () => {
    const model = createModel("resnet18");
    const prefixed = new Map([...reference].map(([k, t]) => [`module.${k}`, t]));
    const r = loadStateDict(model, prefixed, "ddp.pth");
    assert.equal(r.loaded, reference.size);
  });

  test("a bad checkpoint lists every problem and leaves the model untouched", () => {
    const model = createModel("resnet18");
    initializeWeights(model, 99);
    const before = Float32Array.from(stateDict(model).get("conv1.weight")!.data as Float32Array);
    const bad = new Map(reference);
    bad.delete("layer4.1.bn2.bias");
    bad.set("layer3.0.conv2.weight", { dtype: "float32", shape: [256, 256, 1, 1], data: new Float32Array(256 * 256) });
    bad.set("extra.weight", { dtype: "float32", shape: [2], data: new Float32Array(2) });
    assert.throws(
      () => loadStateDict(model, bad, "bad.pth"),
      (e: unknown) =>
        e instanceof WeightsError &&
        e.message.includes("bad.pth does not fit resnet18 (1000 classes)") &&
        e.message.includes("missing keys (1):\n    layer4.1.bn2.bias") &&
        e.message.includes("unexpected keys (1):\n    extra.weight") &&
        e.message.includes("layer3.0.conv2.weight: expected [256, 256, 3, 3], found [256, 256, 1, 1]"),
    );
    assert.deepEqual(stateDict(model).get("conv1.weight")!.data, before, "conv1 unchanged after the failed load");
  });

  test("a convzoo checkpoint carries arch, options and classes", async () => {
    const model = createModel("mobilenet_v2", { widthMult: 0.5, numClasses: 2 });
    initializeWeights(model, 1);
    const path = join(dir, "mv2.safetensors");
    await saveCheckpoint(path, stateDict(model), { arch: "mobilenet_v2", options: model.options, classes: ["ant", "bee"], resolution: 96 });
    const file = await readWeightsFile(path);
    assert.equal(file.format, "safetensors");
    assert.equal(file.metadata?.resolution, 96);
    const loaded = await loadModel({ weights: path });
    assert.equal(loaded.model.arch, "mobilenet_v2");
    assert.equal(loaded.model.options.widthMult, 0.5);
    assert.deepEqual(loaded.classes, ["ant", "bee"]);
  });
});
