/**
 * The studio's engine, a Web Worker: it owns ONNX Runtime (onnxruntime-web, WebAssembly, threaded when the page is
 * cross-origin isolated) and the model, and does all the computing — decoding and cropping images, the frozen
 * backbone's embeddings, training (the head on cached embeddings, or partial / full fine-tuning with WebTrainer),
 * BatchNorm recalibration, prediction and export — so the page stays responsive. It imports only convzoo/browser.
 */
import * as ort from "onnxruntime-web/wasm";
import {
  centerCropOffsets,
  classificationMetrics,
  createModel,
  decideStrategy,
  decodeMetadata,
  encodeMetadata,
  exportOnnx,
  featureInfo,
  frozenPrefixes,
  headInferenceGraph,
  inferenceGraph,
  initializeWeights,
  linearProbe,
  loadStateDict,
  normalizeHWCToCHW,
  preprocessingForResolution,
  Random,
  readPth,
  readSafetensors,
  resizedSize,
  resizeRGB,
  stateDict,
  stripModulePrefix,
  targetDistribution,
  toOnnx,
  unfreezeStagesPrefixes,
  WebTrainer,
  writeSafetensors,
  BatchNormStatistics,
  batchNormStatisticsGraph,
  trainingBatchNorms,
  type CheckpointMetadata,
  type Model,
  type OrtLike,
  type Preprocessing,
  type Tensor,
} from "../browser.js";
import type {
  BenchRequest,
  BenchResult,
  EngineEvent,
  EngineInfo,
  EngineReply,
  EngineRequest,
  EpochRecord,
  TrainRequest,
  TrainResult,
  TrainSample,
  WeightsBytes,
  WeightsInfo,
} from "./protocol.js";

/** The worker's global scope, as far as the engine uses it (tsconfig's lib is DOM, not WebWorker). */
interface WorkerScope {
  location: Location;
  crossOriginIsolated: boolean;
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(message: unknown, transfer: Transferable[]): void;
}
const scope = self as unknown as WorkerScope;
ort.env.wasm.wasmPaths = new URL("./", scope.location.href).href;
// Threads need SharedArrayBuffer, which browsers give only to cross-origin isolated pages (the server's COOP/COEP).
ort.env.wasm.numThreads = scope.crossOriginIsolated ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)) : 1;
const SESSION_OPTIONS = { executionProviders: ["wasm"], graphOptimizationLevel: "all" } as const;
/** Images per inference run (embeddings, evaluation, recalibration batches are the training batch). */
const INFER_BATCH = 16;

/** The trained model and what it needs to predict. */
interface Trained {
  model: Model;
  classes: string[];
  preprocessing: Preprocessing;
  resolution: number;
  session: ort.InferenceSession;
  strategy: string;
  history: EpochRecord[];
  valAccuracy: number | null;
}

let trained: Trained | null = null;
let cancelRequested = false;
let busy = false;

const post = (message: EngineReply | EngineEvent, transfer: Transferable[] = []) => scope.postMessage(message, transfer);
const emit = (e: EngineEvent) => post(e);
/** Lets queued messages (a cancel) in between steps. */
const yieldToEvents = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

scope.onmessage = async (e: MessageEvent<{ id: number; request: EngineRequest }>) => {
  const { id, request } = e.data;
  if (request.type === "cancel") {
    cancelRequested = true;
    return post({ id, ok: true });
  }
  // One request at a time (ONNX Runtime's WebAssembly instance is shared by every session); a cancel jumps the queue.
  queue = queue.then(async () => {
    try {
      const { result, transfer } = await handle(request);
      post({ id, ok: true, result }, transfer);
    } catch (err) {
      post({ id, ok: false, error: (err as Error).message });
    }
  });
};
let queue: Promise<void> = Promise.resolve();

async function handle(r: EngineRequest): Promise<{ result?: unknown; transfer?: Transferable[] }> {
  switch (r.type) {
    case "info": {
      const info: EngineInfo = {
        crossOriginIsolated: scope.crossOriginIsolated,
        threads: ort.env.wasm.numThreads ?? 1,
        trained: trained !== null,
        arch: trained?.model.arch ?? null,
        classes: trained?.classes ?? [],
      };
      return { result: info };
    }
    case "inspectWeights":
      return { result: inspectWeights(r.weights) };
    case "train": {
      if (busy) throw new Error("training is already running");
      busy = true;
      cancelRequested = false;
      try {
        return { result: await train(r.request) };
      } finally {
        busy = false;
      }
    }
    case "predict":
      return { result: { probabilities: await predict(r.image) } };
    case "exportCheckpoint": {
      const bytes = exportCheckpoint();
      return { result: bytes, transfer: [bytes.buffer] };
    }
    case "exportOnnx": {
      const t = requireTrained();
      const bytes = exportOnnx(t.model, { resolution: t.resolution, classes: t.classes, preprocessing: t.preprocessing });
      return { result: bytes, transfer: [bytes.buffer] };
    }
    case "bench":
      return { result: await benchmark(r.bench) };
    case "cancel":
      return {};
  }
}

function requireTrained(): Trained {
  if (!trained) throw new Error("no trained model yet: train one first");
  return trained;
}

// ---------------------------------------------------------------- weights

interface ParsedWeights {
  tensors: Map<string, Tensor>;
  metadata: CheckpointMetadata | null;
  format: "pth" | "safetensors";
}

/**
 * A dropped or served weights file: safetensors (a little-endian u64 header length, then "{") or a PyTorch .pth
 * (zip, or legacy pickle) — the same detection as the CLI's weights/files.ts.
 */
function parseWeights(w: WeightsBytes): ParsedWeights {
  const bytes = new Uint8Array(w.bytes);
  if (bytes.length >= 9 && bytes[8] === 0x7b) {
    const file = readSafetensors(bytes, w.name);
    return { tensors: file.tensors, metadata: decodeMetadata(file.metadata, w.name), format: "safetensors" };
  }
  if (bytes.length >= 2 && ((bytes[0] === 0x50 && bytes[1] === 0x4b) || bytes[0] === 0x80))
    return { tensors: readPth(bytes, w.name), metadata: null, format: "pth" };
  throw new Error(`${w.name}: not a weights file: expected a PyTorch .pth or a convzoo safetensors checkpoint`);
}

function inspectWeights(w: WeightsBytes): WeightsInfo {
  const p = parseWeights(w);
  return { arch: p.metadata?.arch ?? null, format: p.format, tensors: p.tensors.size, classes: p.metadata?.classes ?? null };
}

/** The model for a run: the architecture with the request's class count, loaded from the weights where given. */
function buildModel(r: TrainRequest): { model: Model; preprocessing: Preprocessing; notes: string[] } {
  const parsed = r.weights ? parseWeights(r.weights) : null;
  const meta = parsed?.metadata ?? null;
  if (meta && meta.arch !== r.arch) throw new Error(`${r.weights!.name} is a ${meta.arch} checkpoint, but ${r.arch} is selected`);
  const model = createModel(r.arch, { ...(meta?.options ?? {}), numClasses: r.classes.length });
  const notes: string[] = [];
  if (parsed) notes.push(...loadStateDict(model, stripModulePrefix(parsed.tensors), r.weights!.name).notes);
  initializeWeights(model, r.seed);
  const base = meta?.preprocessing ?? (r.weights?.preprocessing as Preprocessing | undefined) ?? model.preprocessing;
  return { model, preprocessing: preprocessingForResolution(base, r.resolution), notes };
}

// ---------------------------------------------------------------- images

/** Crops (uint8 RGB, resized + centre-cropped as torchvision's eval transform) by `<transform>|<image key>`. */
const crops = new Map<string, Uint8Array>();
let cropsTransform = "";

/** Decoded RGB pixels of a file or a frame, without colour conversion (as sharp decodes for the CLI). */
async function decodeRGB(image: Blob | ImageBitmap, name: string): Promise<{ rgb: Uint8Array; width: number; height: number }> {
  let bitmap: ImageBitmap;
  try {
    bitmap = image instanceof Blob ? await createImageBitmap(image, { colorSpaceConversion: "none", premultiplyAlpha: "none" }) : image;
  } catch {
    throw new Error(`${name}: not an image the browser can decode`);
  }
  const { width, height } = bitmap;
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext("2d", { willReadFrequently: true })!;
  ctx.drawImage(bitmap, 0, 0);
  const rgba = ctx.getImageData(0, 0, width, height).data;
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
    rgb[i] = rgba[j];
    rgb[i + 1] = rgba[j + 1];
    rgb[i + 2] = rgba[j + 2];
  }
  return { rgb, width, height };
}

/** torchvision's eval transform up to the crop: bit-identical to the CLI's (data/preprocess.ts, Pillow's resampler). */
async function crop(image: Blob | ImageBitmap, name: string, p: Preprocessing): Promise<Uint8Array> {
  const { rgb, width, height } = await decodeRGB(image, name);
  const size = resizedSize(width, height, p.resizeSize);
  const { left, top } = centerCropOffsets(size.width, size.height, p.cropSize);
  return resizeRGB(rgb, width, height, size.width, size.height, p.interpolation, { left, top, width: p.cropSize, height: p.cropSize });
}

async function cropsOf(samples: readonly TrainSample[], p: Preprocessing, phase: string): Promise<Uint8Array[]> {
  const signature = JSON.stringify(p);
  if (signature !== cropsTransform) {
    crops.clear();
    cropsTransform = signature;
  }
  const out: Uint8Array[] = [];
  for (const [i, s] of samples.entries()) {
    let c = crops.get(s.key);
    if (!c) crops.set(s.key, (c = await crop(s.blob, s.key, p)));
    out.push(c);
    if (i % 8 === 0) emit({ event: "phase", phase, done: i + 1, total: samples.length });
  }
  return out;
}

/** A normalised batch [B, 3, R, R] from crops, optionally each flipped left-right. */
function batchOf(rows: readonly Uint8Array[], p: Preprocessing, flips: readonly boolean[] = []): Float32Array {
  const r = p.cropSize;
  const plane = 3 * r * r;
  const out = new Float32Array(rows.length * plane);
  rows.forEach((rgb, i) => normalizeHWCToCHW(flips[i] ? flipped(rgb, r) : rgb, r, r, p, out, i * plane));
  return out;
}

function flipped(rgb: Uint8Array, r: number): Uint8Array {
  const out = new Uint8Array(rgb.length);
  for (let y = 0; y < r; y++)
    for (let x = 0; x < r; x++) {
      const a = (y * r + x) * 3;
      const b = (y * r + (r - 1 - x)) * 3;
      out[a] = rgb[b];
      out[a + 1] = rgb[b + 1];
      out[a + 2] = rgb[b + 2];
    }
  return out;
}

// ---------------------------------------------------------------- sessions

async function session(bytes: Uint8Array): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, SESSION_OPTIONS);
}

/** Runs a one-input, one-output inference session over rows, in batches; returns [n, dims] row-major. */
async function runRows(s: ort.InferenceSession, inputs: Float32Array, n: number, sample: number[], phase?: string): Promise<Float32Array> {
  const per = sample.reduce((a, b) => a * b, 1);
  const parts: Float32Array[] = [];
  for (let i = 0; i < n; i += INFER_BATCH) {
    const b = Math.min(INFER_BATCH, n - i);
    const input = new ort.Tensor("float32", inputs.subarray(i * per, (i + b) * per), [b, ...sample]);
    const out = await s.run({ [s.inputNames[0]]: input });
    parts.push((out[s.outputNames[0]].data as Float32Array).slice());
    if (phase) emit({ event: "phase", phase, done: i + b, total: n });
    await yieldToEvents();
  }
  const total = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let offset = 0;
  for (const p of parts) total.set(p, (offset += p.length) - p.length);
  return total;
}

/** Image rows through a graph of the model (inference: probabilities or pooled features). */
async function runImages(s: ort.InferenceSession, rows: readonly Uint8Array[], p: Preprocessing, phase?: string): Promise<Float32Array> {
  const parts: Float32Array[] = [];
  for (let i = 0; i < rows.length; i += INFER_BATCH) {
    const chunk = rows.slice(i, i + INFER_BATCH);
    parts.push(await runRows(s, batchOf(chunk, p), chunk.length, [3, p.cropSize, p.cropSize]));
    if (phase) emit({ event: "phase", phase, done: i + chunk.length, total: rows.length });
  }
  const total = new Float32Array(parts.reduce((a, x) => a + x.length, 0));
  let offset = 0;
  for (const x of parts) total.set(x, (offset += x.length) - x.length);
  return total;
}

// ---------------------------------------------------------------- training

/** Embeddings (the head's input) by `<model signature>|<image key>`; valid while the frozen backbone is the same. */
const embeddings = new Map<string, Float32Array>();

function shuffled(n: number, rng: Random): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

function accuracyOf(logits: Float32Array, labels: readonly number[], k: number): number {
  let right = 0;
  labels.forEach((y, i) => {
    let best = 0;
    for (let j = 1; j < k; j++) if (logits[i * k + j] > logits[i * k + best]) best = j;
    if (best === y) right++;
  });
  return right / labels.length;
}

async function train(r: TrainRequest): Promise<TrainResult> {
  const started = performance.now();
  if (r.classes.length < 2) throw new Error(`training needs at least 2 classes, found ${r.classes.length}`);
  const { model, preprocessing: p, notes } = buildModel(r);
  const trainCrops = await cropsOf(r.train, p, "decoding");
  const valCrops = await cropsOf(r.val, p, "decoding held-out images");
  const k = r.classes.length;
  const trainLabels = r.train.map((s) => s.label);
  const valLabels = r.val.map((s) => s.label);
  const signature = `${r.arch}|${r.weights?.name ?? "random"}|${r.weights?.bytes.byteLength ?? 0}|${r.seed}|${JSON.stringify(p)}`;

  // Embeddings are needed for head (its training data) and for auto (the linear probe's).
  let features: { train: Float32Array; val: Float32Array; dims: number } | null = null;
  const embed = async () => {
    if (features) return features;
    const pooled = await session(toOnnx(inferenceGraph(model, { resolution: r.resolution, output: "pooled" })));
    try {
      const all = [...r.train, ...r.val];
      const allCrops = [...trainCrops, ...valCrops];
      const missing = all.map((s, i) => ({ s, i })).filter(({ s }) => !embeddings.has(`${signature}|${s.key}`));
      if (missing.length) {
        const out = await runImages(
          pooled,
          missing.map(({ i }) => allCrops[i]),
          p,
          "embedding",
        );
        const dims = out.length / missing.length;
        missing.forEach(({ s }, j) => embeddings.set(`${signature}|${s.key}`, out.slice(j * dims, (j + 1) * dims)));
      }
      const rows = all.map((s) => embeddings.get(`${signature}|${s.key}`)!);
      const dims = rows[0].length;
      const pack = (list: Float32Array[]) => {
        const out = new Float32Array(list.length * dims);
        list.forEach((row, i) => out.set(row, i * dims));
        return out;
      };
      features = { train: pack(rows.slice(0, r.train.length)), val: pack(rows.slice(r.train.length)), dims };
      return features;
    } finally {
      await pooled.release();
    }
  };

  let strategy: "head" | "partial" | "full";
  let reason = "chosen in the page";
  let unfreeze = r.unfreezeStages;
  if (r.strategy === "auto") {
    // The CLI's `auto` (transfer/auto.ts): size = images per class, similarity = a linear probe on frozen features.
    let probe: number | null = null;
    if (r.weights) {
      const f = await embed();
      probe = linearProbe(f.train, f.dims, trainLabels, k).normalized;
    }
    const rule = decideStrategy({ imagesPerClass: r.train.length / k, probeNormalized: probe, hasPretrainedWeights: r.weights !== null });
    strategy = rule.strategy;
    if (rule.fromStride !== null) unfreeze = featureInfo(model).filter((f) => f.reduction >= rule.fromStride!).length;
    const measured = probe === null ? "" : ` (probe ${probe.toFixed(2)})`;
    reason = `auto: ${rule.quadrant ?? "no pretrained weights"}${measured} → ${strategy}: ${rule.reason}`;
  } else strategy = r.strategy;

  if (strategy === "head" && !r.weights)
    notes.push(
      "head on a random backbone: its frozen features carry almost nothing (a random initialisation's are ~1e-9); " +
        "choose starting weights, or train full",
    );
  const frozen = strategy === "full" ? [] : strategy === "head" ? frozenPrefixes(model, "head") : unfreezeStagesPrefixes(model, unfreeze);
  const batchSize = Math.max(2, Math.min(r.batchSize, r.train.length));
  if (r.train.length < 2) throw new Error("training needs at least 2 images");
  const optimizer = { kind: "adamw" as const, weightDecay: 0.01 };
  const rng = new Random(r.seed + 1);
  const history: EpochRecord[] = [];
  let trainedImages = 0;
  let trainSeconds = 0;

  const f = strategy === "head" ? await embed() : null;
  const trainer = await WebTrainer.create(ort as unknown as OrtLike, model, {
    batchSize,
    resolution: r.resolution,
    frozen,
    optimizer,
    featureDims: f?.dims,
    sessionOptions: SESSION_OPTIONS,
    seed: r.seed,
  });
  const sample = f ? [f.dims] : [3, p.cropSize, p.cropSize];
  const per = sample.reduce((a, b) => a * b, 1);
  let cancelled = false;
  try {
    const steps = Math.floor(r.train.length / batchSize);
    for (let epoch = 1; epoch <= r.epochs && !cancelled; epoch++) {
      const t0 = performance.now();
      const order = shuffled(r.train.length, rng);
      let lossSum = 0;
      let accSum = 0;
      for (let s = 0; s < steps; s++) {
        if (cancelRequested) {
          cancelled = true;
          break;
        }
        const idx = order.slice(s * batchSize, (s + 1) * batchSize);
        const labels = idx.map((i) => trainLabels[i]);
        let input: Float32Array;
        if (f) {
          input = new Float32Array(batchSize * per);
          idx.forEach((i, j) => input.set(f.train.subarray(i * per, (i + 1) * per), j * per));
        } else
          input = batchOf(
            idx.map((i) => trainCrops[i]),
            p,
            idx.map(() => rng.uniform() < 0.5),
          );
        const loss = await trainer.step(input, targetDistribution(labels, k), r.lr);
        lossSum += loss;
        accSum += accuracyOf(trainer.lastLogits, labels, k);
        trainedImages += batchSize;
        emit({ event: "step", epoch, step: s + 1, steps, loss });
        await yieldToEvents();
      }
      trainSeconds += (performance.now() - t0) / 1000;
      if (cancelled && lossSum === 0) break;
      trainer.writeBack(model);
      const valAccuracy = r.val.length ? await validate(model, strategy, frozen, trainCrops, valCrops, valLabels, p, r, f) : null;
      const done = cancelled ? history.length + 1 : epoch;
      const record: EpochRecord = {
        epoch: done,
        loss: lossSum / Math.max(1, steps),
        accuracy: accSum / Math.max(1, steps),
        valAccuracy,
        seconds: (performance.now() - t0) / 1000,
      };
      history.push(record);
      emit({ event: "epoch", record });
    }
  } finally {
    await trainer.release();
  }
  if (history.length === 0) throw new Error("training was cancelled before the first step: nothing changed");
  if (strategy !== "head") await recalibrate(model, frozen, trainCrops, batchSize, p, r.resolution);

  const inference = await session(toOnnx(inferenceGraph(model, { resolution: r.resolution, output: "probabilities" })));
  let confusion: number[][] | null = null;
  let valAccuracy: number | null = null;
  if (r.val.length) {
    const probs = await runImages(inference, valCrops, p, "testing held-out images");
    const metrics = classificationMetrics(probs, valLabels, r.classes);
    confusion = metrics.confusion;
    valAccuracy = metrics.top1;
  }
  await trained?.session.release();
  trained = {
    model,
    classes: [...r.classes],
    preprocessing: p,
    resolution: r.resolution,
    session: inference,
    strategy,
    history,
    valAccuracy,
  };
  return {
    strategy,
    reason,
    history,
    confusion,
    valAccuracy,
    cancelled,
    trainImagesPerSecond: trainSeconds > 0 ? trainedImages / trainSeconds : 0,
    seconds: (performance.now() - started) / 1000,
    notes,
  } satisfies TrainResult;
}

/** Held-out accuracy after an epoch: the head on cached embeddings, or the whole (recalibrated) network. */
async function validate(
  model: Model,
  strategy: string,
  frozen: readonly string[],
  trainCrops: readonly Uint8Array[],
  valCrops: readonly Uint8Array[],
  valLabels: readonly number[],
  p: Preprocessing,
  r: TrainRequest,
  f: { val: Float32Array; dims: number } | null,
): Promise<number> {
  let probs: Float32Array;
  if (f) {
    const head = await session(toOnnx(headInferenceGraph(model, f.dims)));
    try {
      probs = await runRows(head, f.val, valLabels.length, [f.dims]);
    } finally {
      await head.release();
    }
  } else {
    if (strategy !== "head")
      await recalibrate(model, frozen, trainCrops, Math.max(2, Math.min(r.batchSize, trainCrops.length)), p, r.resolution);
    const s = await session(toOnnx(inferenceGraph(model, { resolution: r.resolution, output: "probabilities" })));
    try {
      probs = await runImages(s, valCrops, p, "validating");
    } finally {
      await s.release();
    }
  }
  return classificationMetrics(probs, valLabels, r.classes).top1;
}

/**
 * BatchNorm recalibration, the CLI's `--recalibrate-bn` rule (train/recalibrate.ts, torch.optim.swa_utils.update_bn):
 * each trained BatchNorm's running statistics become the average batch mean and unbiased variance over one
 * un-augmented pass of the training images. Without it a few steps leave MobileNetV3's momentum-0.01 statistics at
 * their start, and the eval-mode network is far worse than the training-mode one.
 */
async function recalibrate(
  model: Model,
  frozen: readonly string[],
  rows: readonly Uint8Array[],
  batchSize: number,
  p: Preprocessing,
  resolution: number,
): Promise<void> {
  const batchNorms = trainingBatchNorms(model, frozen);
  if (batchNorms.size === 0) return;
  const s = await session(toOnnx(batchNormStatisticsGraph(model, batchSize, resolution, batchNorms)));
  const statistics = new BatchNormStatistics();
  try {
    for (let i = 0; i + batchSize <= rows.length; i += batchSize) {
      const input = new ort.Tensor("float32", batchOf(rows.slice(i, i + batchSize), p), [batchSize, 3, resolution, resolution]);
      statistics.add((await s.run({ [s.inputNames[0]]: input })) as Record<string, { data: Float32Array }>);
      emit({ event: "phase", phase: "recalibrating BatchNorm", done: i + batchSize, total: rows.length });
      await yieldToEvents();
    }
  } finally {
    await s.release();
  }
  statistics.writeTo(model);
}

// ---------------------------------------------------------------- use

async function predict(image: Blob | ImageBitmap): Promise<number[]> {
  const t = requireTrained();
  const rgb = await crop(image, image instanceof Blob ? "the image" : "the webcam frame", t.preprocessing);
  const out = await runRows(t.session, batchOf([rgb], t.preprocessing), 1, [3, t.resolution, t.resolution]);
  return [...out];
}

/** A convzoo checkpoint: safetensors with torchvision's keys and the metadata `convzoo classify/eval/serve` read. */
function exportCheckpoint(): Uint8Array {
  const t = requireTrained();
  const metadata: CheckpointMetadata = {
    arch: t.model.arch,
    options: t.model.options,
    classes: t.classes,
    preprocessing: t.preprocessing,
    resolution: t.resolution,
    strategy: t.strategy,
    trainedIn: "convzoo studio",
    history: t.history,
    valAccuracy: t.valAccuracy,
  };
  return writeSafetensors(stateDict(t.model), encodeMetadata(metadata));
}

// ---------------------------------------------------------------- measuring (bench/browser.ts)

/** Times the engine's own steps on seeded random inputs (a random-initialised model of the architecture). */
async function benchmark(b: BenchRequest): Promise<BenchResult> {
  const model = initializeWeights(createModel(b.arch, { numClasses: 10 }), 0);
  const rng = new Random(1);
  const random = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
  const labels = Array.from({ length: b.batchSize }, (_, i) => i % 10);
  const t0 = performance.now();
  const stepMs: number[] = [];
  const time = async (step: () => Promise<unknown>) => {
    for (let i = 0; i < b.warmup + b.steps; i++) {
      const s = performance.now();
      await step();
      if (i >= b.warmup) stepMs.push(performance.now() - s);
    }
  };
  if (b.mode === "embed") {
    const s = await session(toOnnx(inferenceGraph(model, { resolution: b.resolution, output: "pooled" })));
    const setupMs = performance.now() - t0;
    const input = new ort.Tensor("float32", random(b.batchSize * 3 * b.resolution * b.resolution), [
      b.batchSize,
      3,
      b.resolution,
      b.resolution,
    ]);
    await time(() => s.run({ [s.inputNames[0]]: input }));
    await s.release();
    return { setupMs, stepMs, threads: ort.env.wasm.numThreads ?? 1 };
  }
  const dims = b.mode === "head" ? featureInfo(model).at(-1)!.channels : undefined;
  const trainer = await WebTrainer.create(ort as unknown as OrtLike, model, {
    batchSize: b.batchSize,
    resolution: b.resolution,
    frozen: b.mode === "head" ? frozenPrefixes(model, "head") : [],
    optimizer: { kind: "adamw", weightDecay: 0.01 },
    featureDims: dims,
    sessionOptions: SESSION_OPTIONS,
  });
  const setupMs = performance.now() - t0;
  const input = random(b.batchSize * (dims ?? 3 * b.resolution * b.resolution));
  const target = targetDistribution(labels, 10);
  await time(() => trainer.step(input, target, 1e-3));
  await trainer.release();
  return { setupMs, stepMs, threads: ort.env.wasm.numThreads ?? 1 };
}
