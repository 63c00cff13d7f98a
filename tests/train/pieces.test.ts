/**
 * The training pieces on their own: schedules, optimizer options, strategies, image folders, the
 * random masks, short last batches and resume of the trainer state.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import sharp from "sharp";
import { readImageFolder, stratifiedSplit } from "../../src/data/folder.js";
import { epochBatches } from "../../src/data/loader.js";
import { IMAGENET_EVAL } from "../../src/models/preprocessing.js";
import { createModel, initializeWeights } from "../../src/models/index.js";
import { Random } from "../../src/random.js";
import { targetDistribution, trainingGraph } from "../../src/train/training_graph.js";
import { resolveOptimizer } from "../../src/train/optimizers.js";
import { makeSchedule } from "../../src/train/schedules.js";
import { Trainer } from "../../src/train/trainer.js";
import { frozenPrefixes } from "../../src/transfer/strategy.js";

test("schedules: constant, step, cosine to zero, linear warm-up", () => {
  const base = { lr: 0.1, epochs: 10, stepsPerEpoch: 10 };
  assert.equal(makeSchedule({ ...base, kind: "constant" })(57), 0.1);
  const step = makeSchedule({ ...base, kind: "step", stepEpochs: 3, gamma: 0.5 });
  assert.equal(step(29), 0.1);
  assert.equal(step(30), 0.05);
  assert.equal(step(99), 0.1 * 0.5 ** 3);
  const cosine = makeSchedule({ ...base, kind: "cosine" });
  assert.equal(cosine(0), 0.1);
  assert.ok(Math.abs(cosine(50) - 0.05) < 1e-12);
  assert.ok(cosine(99) < 0.001 && cosine(99) > 0);
  const warm = makeSchedule({ ...base, kind: "cosine", warmupEpochs: 2 });
  assert.ok(Math.abs(warm(0) - 0.1 / 20) < 1e-12);
  assert.ok(Math.abs(warm(19) - 0.1) < 1e-12);
  assert.equal(warm(20), 0.1); // the cosine starts after the warm-up
  assert.throws(() => makeSchedule({ ...base, kind: "cosine", warmupEpochs: 11 }), /warm-up/);
  assert.throws(() => makeSchedule({ ...base, kind: "step", gamma: 2 }), /gamma/);
});

test("optimizer options are checked", () => {
  assert.throws(() => resolveOptimizer({ kind: "sgd", momentum: 1 }), /momentum must be in \[0, 1\)/);
  assert.throws(() => resolveOptimizer({ kind: "sgd", nesterov: true }), /nesterov needs a momentum/);
  assert.throws(() => resolveOptimizer({ kind: "adamw", betas: [0.9, 1] }), /betas/);
  assert.deepEqual(resolveOptimizer({ kind: "adamw" }), { kind: "adamw", betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 });
});

test("trainingGraph rejects an NCHWc block the CPU kernels do not have", () => {
  const model = createModel("mobilenet_v3_small", { numClasses: 3 });
  assert.throws(
    () => trainingGraph(model, { batchSize: 2, resolution: 32, nchwcBlock: 4 }),
    /nchwcBlock must be 1 \(no NCHWc lowering\), 8 or 16.*got 4/,
  );
  assert.ok(
    trainingGraph(model, { batchSize: 2, resolution: 32, nchwcBlock: 16 }).graph.nodes.some((n) => n.domain === "com.microsoft.nchwc"),
  );
});

test("strategies: head freezes everything but the head (GoogLeNet's aux heads too), partial checks its prefixes", () => {
  assert.deepEqual(frozenPrefixes(createModel("resnet18"), "head"), ["conv1", "bn1", "layer1", "layer2", "layer3", "layer4"]);
  assert.deepEqual(
    frozenPrefixes(createModel("googlenet"), "head").filter((p) => p.startsWith("aux")),
    ["aux1", "aux2"],
  );
  assert.deepEqual(frozenPrefixes(createModel("resnet18"), "full"), []);
  assert.throws(() => frozenPrefixes(createModel("resnet18"), "partial"), /partial needs .*--unfreeze-stages K.*--freeze/);
  assert.throws(
    () => frozenPrefixes(createModel("resnet18"), "partial", ["layer9"]),
    /no parameters under "layer9".*top-level modules: conv1, bn1/,
  );
  assert.throws(
    () => frozenPrefixes(createModel("resnet18"), "partial", ["conv1", "bn1", "layer1", "layer2", "layer3", "layer4", "fc"]),
    /nothing would train/,
  );
  assert.throws(() => frozenPrefixes(createModel("resnet18"), "head", ["conv1"]), /--freeze applies to --strategy partial/);
});

async function png(path: string, value: number, size = 8): Promise<void> {
  await sharp(Buffer.alloc(size * size * 3, value), { raw: { width: size, height: size, channels: 3 } })
    .png()
    .toFile(path);
}

test("image folders: ImageFolder order, non-images skipped, empty classes and empty folders are errors", async () => {
  const root = mkdtempSync(join(tmpdir(), "convzoo-folder-"));
  try {
    for (const c of ["b", "a", "c"]) mkdirSync(join(root, c));
    mkdirSync(join(root, "a", "x"));
    mkdirSync(join(root, "a", "a-b"));
    await png(join(root, "a", "2.png"), 10);
    await png(join(root, "a", "10.PNG"), 20);
    await png(join(root, "a", "x", "0.png"), 30);
    await png(join(root, "a", "a-b", "0.png"), 30);
    await png(join(root, "b", "0.png"), 40);
    writeFileSync(join(root, "b", "notes.txt"), "not an image");
    const empty = await readImageFolder(root).catch((e: Error) => e);
    assert.match(String(empty), /class folder "c" has no images/);
    await png(join(root, "c", "0.png"), 50);
    const folder = await readImageFolder(root);
    assert.deepEqual(folder.classes, ["a", "b", "c"]);
    // sorted(os.walk): "a" < "a/a-b" < "a/x" (by path string), files sorted by name
    assert.deepEqual(
      folder.samples.map((s) => [s.path.slice(root.length + 1), s.label]),
      [
        ["a/10.PNG", 0],
        ["a/2.png", 0],
        ["a/a-b/0.png", 0],
        ["a/x/0.png", 0],
        ["b/0.png", 1],
        ["c/0.png", 2],
      ],
    );
    assert.deepEqual(folder.skipped, [join("b", "notes.txt")]);
    await assert.rejects(readImageFolder(join(root, "a", "10.PNG")), /not a folder/);
    await assert.rejects(readImageFolder(join(root, "missing")), /no such folder/);
    const split = stratifiedSplit(folder.samples, 0.5, 1);
    assert.equal(split.val.filter((s) => s.label === 0).length, 2);
    assert.equal(split.val.filter((s) => s.label === 1).length, 0); // one image: it stays in training
    assert.equal(split.train.length + split.val.length, folder.samples.length);

    // A corrupt file is reported and left out; the epoch goes on; the last short batch is kept.
    writeFileSync(join(root, "c", "1.png"), "truncated");
    const again = await readImageFolder(root);
    const bad: string[] = [];
    const sizes: number[] = [];
    const transform = { resolution: 8, augment: false, preprocessing: IMAGENET_EVAL };
    for await (const b of epochBatches(again.samples, {
      batchSize: 4,
      shuffle: false,
      transform,
      rng: new Random(0),
      onBadFile: (p) => bad.push(p),
    }))
      sizes.push(b.labels.length);
    assert.deepEqual(sizes, [4, 2]); // the last batch: short, and without the corrupt file
    assert.deepEqual(bad, [join(root, "c", "1.png")]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("dropout and stochastic depth: masks are graph inputs, drawn per step from the seed", async () => {
  const model = createModel("efficientnet_b0", { numClasses: 3, dropout: 0.5 });
  initializeWeights(model, 1);
  const spec = trainingGraph(model, { batchSize: 2, resolution: 32 });
  const names = spec.masks.map((m) => m.name);
  assert.ok(names.includes("classifier.0.mask"), names.join(", "));
  assert.deepEqual(spec.masks.find((m) => m.name === "classifier.0.mask")!.shape, [2, 1280]);
  // stochastic depth: one draw per sample, only in blocks with a shortcut, rate growing with depth
  const sd = spec.masks.filter((m) => m.name.endsWith("stochastic_depth.mask"));
  assert.ok(sd.length > 5 && sd.every((m) => m.shape.join() === "2,1,1,1"));
  assert.ok(sd[sd.length - 1].keep < sd[0].keep);
  assert.equal(
    trainingGraph(createModel("efficientnet_b0", { numClasses: 3, dropout: 0.5, dropPath: 0 }), {
      batchSize: 2,
      resolution: 32,
      dropout: 0,
    }).masks.length,
    0,
  );
  assert.throws(() => createModel("resnet18", { dropPath: 0.1 }), /no stochastic depth/);

  // Same seed, same losses; another seed, other masks and other losses.
  const losses = async (seed: number) => {
    const m = createModel("mobilenet_v3_small", { numClasses: 3, dropout: 0.5 });
    initializeWeights(m, 1);
    const trainer = await Trainer.create(m, { batchSize: 2, resolution: 32, seed, threads: 1, optimizer: { kind: "sgd", momentum: 0.9 } });
    const rng = new Random(5);
    const images = Float32Array.from({ length: 2 * 3 * 32 * 32 }, () => rng.normal());
    const out = [];
    for (let i = 0; i < 2; i++) out.push(await trainer.step(images, targetDistribution([0, 2], 3), 0.01));
    await trainer.release();
    return out;
  };
  const a = await losses(1);
  assert.deepEqual(await losses(1), a);
  assert.notDeepEqual(await losses(2), a);
});

test("trainer: a last short batch runs on its own session over the same state; exported state resumes exactly", async () => {
  const rng = new Random(9);
  const batch = (n: number) => Float32Array.from({ length: n * 3 * 32 * 32 }, () => rng.normal());
  const data = [batch(4), batch(2), batch(4), batch(2)];
  const labels = [
    [0, 1, 2, 0],
    [1, 2],
    [2, 0, 1, 1],
    [0, 0],
  ];
  const fresh = async () => {
    const m = createModel("resnet18", { numClasses: 3 });
    initializeWeights(m, 3);
    return { m, t: await Trainer.create(m, { batchSize: 4, resolution: 32, threads: 1, optimizer: { kind: "adamw" } }) };
  };
  const straight = await fresh();
  const all = [];
  for (let i = 0; i < 4; i++) all.push(await straight.t.step(data[i], targetDistribution(labels[i], 3), 1e-3));
  straight.t.writeBack();
  await straight.t.release();

  const first = await fresh();
  for (let i = 0; i < 2; i++) await first.t.step(data[i], targetDistribution(labels[i], 3), 1e-3);
  first.t.writeBack();
  const saved = first.t.exportState();
  await first.t.release();
  // Resume: a new model from the written-back weights, a new trainer, the state imported.
  const m2 = createModel("resnet18", { numClasses: 3 });
  initializeWeights(m2, 99);
  for (const [k, p] of m2.net.namedParameters())
    p.assign((new Map(first.m.net.namedParameters()).get(k)!.tensor.data as Float32Array | BigInt64Array).slice());
  const t2 = await Trainer.create(m2, { batchSize: 4, resolution: 32, threads: 1, optimizer: { kind: "adamw" } });
  t2.importState(saved);
  const rest = [];
  for (let i = 2; i < 4; i++) rest.push(await t2.step(data[i], targetDistribution(labels[i], 3), 1e-3));
  t2.writeBack();
  await t2.release();
  assert.deepEqual(rest, all.slice(2));
  const a = new Map(straight.m.net.namedParameters());
  for (const [k, p] of m2.net.namedParameters()) assert.deepEqual(p.tensor.data, a.get(k)!.tensor.data, k);
  assert.equal(Number((a.get("bn1.num_batches_tracked")!.tensor.data as BigInt64Array)[0]), 4);
});
