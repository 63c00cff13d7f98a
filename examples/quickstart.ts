/**
 * The library tour from the README, runnable as is (`node --import tsx examples/quickstart.ts`):
 * inspect an architecture, load weights, classify image files and tensors, export ONNX.
 * It makes its own checkpoint and image so it needs no download; with a torchvision file, pass
 * e.g. { arch: "resnet50", weights: "resnet50-0676ba61.pth" } to loadModel instead.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import {
  createModel,
  exportOnnx,
  initializeWeights,
  loadModel,
  Predictor,
  saveCheckpoint,
  stateDict,
  summarize,
  writeFileAtomic,
} from "convzoo";

const dir = await mkdtemp(join(tmpdir(), "convzoo-quickstart-"));
try {
  // 1. Structure and counts, without allocating weights.
  const s = summarize(createModel("mobilenet_v2", { widthMult: 0.5 }), 160);
  console.log(`mobilenet_v2 α=0.5 at 160: ${s.params} parameters, ${s.macs} MACs, ${s.layers.length} layers`);

  // 2. A checkpoint: here seeded random weights with three class names.
  const fresh = createModel("resnet18", { numClasses: 3 });
  initializeWeights(fresh, 42);
  const checkpoint = join(dir, "resnet18-pets.safetensors");
  await saveCheckpoint(checkpoint, stateDict(fresh), { arch: "resnet18", options: fresh.options, classes: ["cat", "dog", "fox"] });

  // 3. Load it (the metadata names the arch and classes) and classify image files.
  const { model, classes, preprocessing } = await loadModel({ weights: checkpoint });
  const image = join(dir, "orange.png");
  await sharp({ create: { width: 320, height: 240, channels: 3, background: { r: 240, g: 140, b: 20 } } })
    .png()
    .toFile(image);
  const predictor = await Predictor.create(model, { classes, preprocessing, threads: 2 });
  const [result] = await predictor.classifyFiles([image], 3);
  for (const p of result.top) console.log(`${p.label}: ${p.probability.toFixed(4)}`);

  // 4. Tensors in, probabilities out: a normalised float32 batch [N, 3, 224, 224].
  const batch = { dtype: "float32" as const, shape: [2, 3, 224, 224], data: new Float32Array(2 * 3 * 224 * 224) };
  const probs = await predictor.predict(batch);
  console.log(
    `predict: [${probs.shape.join(", ")}], row 0 sums to ${probs.data
      .slice(0, 3)
      .reduce((a, b) => a + b, 0)
      .toFixed(6)}`,
  );
  await predictor.release();

  // 5. ONNX for any runtime (input "input" [N,3,H,W], output "probabilities").
  const onnx = join(dir, "resnet18-pets.onnx");
  await writeFileAtomic(onnx, exportOnnx(model, { resolution: 224, classes }));
  console.log(`exported ${onnx}`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
