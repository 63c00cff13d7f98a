/**
 * `--strategy auto` (Node): the lecture's transfer-learning rule (CS231n's transfer-learning table) with both
 * inputs measured on the data: small+similar → head, small+different → full (the lecture: partial; see below),
 * large+similar → partial (from stride 8), large+different → full; no pretrained weights → full.
 *   - size: mean training images per class, `large` from 1000 (ImageNet-1k has ≈1,281; Yosinski et al. 2014 §4);
 *   - similarity: a linear probe's held-out accuracy on frozen features (probe.ts), (acc − chance) / (1 − chance),
 *     `similar` from 0.8 (Kornblith, Shlens & Le 2019; the cut checked on bench/small_data.ts); BatchNorm shift is reported only.
 * Reasoning and sources: docs/transfer-learning.md#auto
 */
import { performance } from "node:perf_hooks";
import type { Sample } from "../data/folder.js";
import { epochBatches } from "../data/loader.js";
import type { Preprocessing } from "../models/preprocessing.js";
import { OptionError } from "../errors.js";
import { prune } from "../graph/ir.js";
import * as ops from "../graph/ops.js";
import { bindModel, underPrefix } from "../models/bind.js";
import { featureInfo, traceModel } from "../models/inference_graph.js";
import type { Model } from "../models/model.js";
import { BatchNorm2d } from "../nn/layers.js";
import { toOnnx } from "../onnx/serialize.js";
import { Random } from "../random.js";
import { Session } from "../runtime/session.js";
import { extractFeatures } from "../train/features.js";
import { linearProbe, type ProbeOptions, type ProbeResult } from "./probe.js";
import { frozenPrefixes, unfreezeStagesPrefixes, type Strategy } from "./strategy.js";
import { AUTO_THRESHOLDS, decideStrategy, type AutoThresholds, type Quadrant } from "./rule.js";

export { AUTO_THRESHOLDS, PARTIAL_FROM_STRIDE, decideStrategy, type AutoThresholds, type Quadrant, type RuleDecision } from "./rule.js";

/**
 * Images the measurement uses: at most 40 per class and 1000 in all (seeded, the same number from
 * every class where they have it), so it costs one pass over ≤ 1000 images at inference speed.
 * 40 per class leaves 10 held out per class at the probe's 25% — at 4 classes a 40-image test set,
 * enough to tell 0.5 from 0.9. BatchNorm statistics use the first 64 of them (classes interleaved):
 * per-channel means and variances over 64 × H × W positions are already stable.
 */
export const AUTO_IMAGES = { perClass: 40, total: 1000, batchNorm: 64 } as const;

export interface BatchNormShift {
  /** Module path of the BatchNorm layer (`bn1`, `features.0.1`). */
  layer: string;
  position: "early" | "late";
  channels: number;
  /** Mean over channels of KL(N(m, v) ‖ N(0, 1)) of the input standardised by the running statistics. */
  kl: number;
  /** Mean over channels of |m|: the data mean's distance from the running mean, in running std units. */
  meanShift: number;
  /** Geometric mean over channels of v: the data variance over the running variance. */
  varianceRatio: number;
}

export interface AutoDecision {
  strategy: Strategy;
  /** Frozen parameter prefixes to train with ([] for full, the backbone for head). */
  freeze: string[];
  /** For partial: how many of the last stages train (unfreezeStagesPrefixes). */
  unfreezeStages: number | null;
  classes: number;
  /** Mean training images per class (the size figure) and the smallest class's count. */
  imagesPerClass: number;
  minImagesPerClass: number;
  size: "small" | "large";
  hasPretrainedWeights: boolean;
  /** The linear probe (null without pretrained weights, or when no class has two images). */
  probe: ProbeResult | null;
  /** Early and late BatchNorm layers' statistics against the checkpoint's ([] when not measured). */
  batchNorm: BatchNormShift[];
  /** Null when not measured. */
  similar: boolean | null;
  quadrant: Quadrant | null;
  thresholds: AutoThresholds;
  /** Why, in one sentence. */
  reason: string;
  /** Wall time of the measurement. */
  seconds: number;
  /** The human-readable figures and the choice, one line each (what `convzoo train` prints). */
  lines: string[];
}

export interface AutoOptions {
  /** Class names (index = label). */
  classes: readonly string[];
  resolution: number;
  preprocessing: Preprocessing;
  threads?: number;
  /** Seed of the image sample and the probe's split; default 0. */
  seed?: number;
  /** False for a randomly initialised network: nothing to transfer, the choice is `full`. */
  hasPretrainedWeights: boolean;
  batchSize?: number;
  thresholds?: Partial<AutoThresholds>;
  probe?: ProbeOptions;
  onBadFile?: (path: string, reason: string) => void;
  /** Progress of the measurement passes ("features": the probe's images; "batchnorm"). */
  onProgress?: (phase: "features" | "batchnorm", done: number, total: number) => void;
}

/** Measures size and similarity on the training samples and applies the rule (see the module comment). */
export async function chooseStrategy(model: Model, samples: readonly Sample[], o: AutoOptions): Promise<AutoDecision> {
  const started = performance.now();
  const thresholds = { ...AUTO_THRESHOLDS, ...o.thresholds };
  const k = o.classes.length;
  if (k < 2) throw new OptionError(`--strategy auto needs at least 2 classes, got ${k}`);
  const counts = new Array<number>(k).fill(0);
  for (const s of samples) {
    if (!Number.isInteger(s.label) || s.label < 0 || s.label >= k)
      throw new OptionError(`${s.path}: label ${s.label} is not a class index in [0, ${k})`);
    counts[s.label]++;
  }
  const empty = counts.findIndex((c) => c === 0);
  if (empty >= 0) throw new OptionError(`--strategy auto: class "${o.classes[empty]}" has no training images`);
  const imagesPerClass = samples.length / k;
  const minImagesPerClass = Math.min(...counts);

  let probe: ProbeResult | null = null;
  let batchNorm: BatchNormShift[] = [];
  if (o.hasPretrainedWeights) {
    const chosen = sampleForMeasurement(samples, k, o.seed ?? 0);
    const features = await extractFeatures(model, chosen, {
      resolution: o.resolution,
      preprocessing: o.preprocessing,
      batchSize: o.batchSize,
      threads: o.threads,
      onBadFile: o.onBadFile,
      onProgress: (done, total) => o.onProgress?.("features", done, total),
    });
    const perClass = new Array<number>(k).fill(0);
    for (const y of features.labels) perClass[y]++;
    if (perClass.some((c) => c >= 2))
      probe = linearProbe(features.data, features.dims, features.labels, k, { seed: o.seed ?? 0, ...o.probe });
    batchNorm = await batchNormShift(model, chosen.slice(0, AUTO_IMAGES.batchNorm), o);
  }
  const rule = decideStrategy(
    { imagesPerClass, probeNormalized: probe?.normalized ?? null, hasPretrainedWeights: o.hasPretrainedWeights },
    thresholds,
  );
  let freeze: string[] = [];
  let unfreezeStages: number | null = null;
  if (rule.strategy === "head") freeze = frozenPrefixes(model, "head");
  if (rule.strategy === "partial") {
    unfreezeStages = featureInfo(model).filter((f) => f.reduction >= rule.fromStride!).length;
    freeze = unfreezeStagesPrefixes(model, unfreezeStages);
  }
  const decision: AutoDecision = {
    strategy: rule.strategy,
    freeze,
    unfreezeStages,
    classes: k,
    imagesPerClass,
    minImagesPerClass,
    size: rule.size,
    hasPretrainedWeights: o.hasPretrainedWeights,
    probe,
    batchNorm,
    similar: rule.similar,
    quadrant: rule.quadrant,
    thresholds,
    reason: rule.reason,
    seconds: (performance.now() - started) / 1000,
    lines: [],
  };
  decision.lines = describe(model, decision);
  return decision;
}

/**
 * The measured images: per class a seeded shuffle, the same number from every class (at most
 * AUTO_IMAGES.perClass, and AUTO_IMAGES.total in all), interleaved class by class.
 */
function sampleForMeasurement(samples: readonly Sample[], k: number, seed: number): Sample[] {
  const rng = new Random(seed);
  const byClass: Sample[][] = Array.from({ length: k }, () => []);
  for (const s of samples) byClass[s.label].push(s);
  const take = Math.max(2, Math.min(AUTO_IMAGES.perClass, Math.floor(AUTO_IMAGES.total / k)));
  const lists = byClass.map((list) => rng.shuffle([...list]).slice(0, take));
  const out: Sample[] = [];
  for (let i = 0; i < take; i++) for (const list of lists) if (i < list.length) out.push(list[i]);
  return out;
}

/** The first and the last BatchNorm layer of the backbone, in call order. */
function batchNormLayers(model: Model, resolution: number): string[] {
  const modules = new Map(model.net.namedModules());
  const bns = traceModel(model, resolution)
    .records.filter((r) => modules.get(r.name) instanceof BatchNorm2d && !underPrefix(r.name, model.head))
    .map((r) => r.name);
  if (bns.length === 0) return [];
  return bns.length === 1 ? [bns[0]] : [bns[0], bns[bns.length - 1]];
}

/**
 * Per-channel mean and variance of the early and late BatchNorm layers' inputs over the images,
 * against the layers' running statistics. One inference pass whose outputs are the per-batch channel
 * means of x and x² at each layer (the graph is pruned after the last of them).
 */
async function batchNormShift(model: Model, samples: readonly Sample[], o: AutoOptions): Promise<BatchNormShift[]> {
  const layers = batchNormLayers(model, o.resolution);
  if (layers.length === 0 || samples.length === 0) return [];
  const r = o.resolution;
  const { graph: g, context: ctx } = bindModel(model, {
    mode: "eval",
    weights: "constants",
    resolution: r,
    capture: { inputs: layers },
    name: `${model.arch}_batchnorm_statistics`,
  });
  for (const layer of layers) {
    const x = ctx.capturedInputs.get(layer)!;
    g.markOutput(ops.reduceMean(g, x, [0, 2, 3], false), `${layer}.mean`);
    g.markOutput(ops.reduceMean(g, ops.mul(g, x, x), [0, 2, 3], false), `${layer}.square_mean`);
  }
  prune(g);
  const session = await Session.create(toOnnx(g), { threads: o.threads });
  const sums = new Map(layers.map((l) => [l, { mean: new Float64Array(0), square: new Float64Array(0) }]));
  let seen = 0;
  try {
    const transform = { resolution: r, augment: false, preprocessing: o.preprocessing };
    // Bad files were reported by the feature pass over the same images.
    for await (const batch of epochBatches(samples, { batchSize: o.batchSize ?? 32, shuffle: false, transform, rng: new Random(0) })) {
      const b = batch.labels.length;
      const out = await session.run({ input: { dtype: "float32", shape: [b, 3, r, r], data: batch.images } });
      for (const layer of layers) {
        const s = sums.get(layer)!;
        const mean = out[`${layer}.mean`].data;
        const square = out[`${layer}.square_mean`].data;
        if (s.mean.length === 0) {
          s.mean = new Float64Array(mean.length);
          s.square = new Float64Array(mean.length);
        }
        for (let c = 0; c < mean.length; c++) {
          s.mean[c] += b * mean[c];
          s.square[c] += b * square[c];
        }
      }
      seen += b;
      o.onProgress?.("batchnorm", seen, samples.length);
    }
  } finally {
    await session.release();
  }
  if (seen === 0) return [];
  const modules = new Map(model.net.namedModules());
  const params = new Map(model.net.namedParameters());
  return layers.map((layer, i) => {
    const bn = modules.get(layer) as BatchNorm2d;
    const runningMean = params.get(`${layer}.running_mean`)!.tensor.data as Float32Array;
    const runningVar = params.get(`${layer}.running_var`)!.tensor.data as Float32Array;
    const s = sums.get(layer)!;
    const channels = runningMean.length;
    let kl = 0;
    let shift = 0;
    let logRatio = 0;
    for (let c = 0; c < channels; c++) {
      const mean = s.mean[c] / seen;
      const variance = Math.max(0, s.square[c] / seen - mean * mean);
      const scale = runningVar[c] + bn.eps;
      const m = (mean - runningMean[c]) / Math.sqrt(scale);
      const v = (variance + bn.eps) / scale;
      kl += 0.5 * (v + m * m - 1 - Math.log(v));
      shift += Math.abs(m);
      logRatio += Math.log(v);
    }
    return {
      layer,
      position: i === 0 ? "early" : "late",
      channels,
      kl: kl / channels,
      meanShift: shift / channels,
      varianceRatio: Math.exp(logRatio / channels),
    };
  });
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

function describe(model: Model, d: AutoDecision): string[] {
  const lines: string[] = [];
  const t = d.thresholds;
  const per = Number.isInteger(d.imagesPerClass) ? `${d.imagesPerClass}` : d.imagesPerClass.toFixed(1);
  lines.push(
    `size: ${d.classes} classes, ${per} training images per class (smallest class ${d.minImagesPerClass}) ` +
      `→ ${d.size} (large from ${t.largeImagesPerClass} per class)`,
  );
  if (!d.hasPretrainedWeights) {
    lines.push("similarity: not measured — the network has no pretrained weights (random initialisation)");
  } else if (d.probe) {
    const p = d.probe;
    lines.push(
      `similarity: linear probe on the frozen ${model.arch} features: ${pct(p.accuracy)} of ${p.testCount} ` +
        `held-out images right (fitted on ${p.trainCount}; chance ${pct(p.chance)}) → ` +
        `${p.normalized.toFixed(2)} of the way from chance to perfect → ` +
        `${d.similar ? "similar" : "different"} (similar from ${t.similarProbe.toFixed(2)})`,
    );
  } else {
    lines.push("similarity: no class has two images to hold one out, so the probe cannot run → treated as different");
  }
  if (d.hasPretrainedWeights) {
    const shifts = d.batchNorm.map(
      (b) =>
        `${b.position} ${b.layer} ${b.kl.toFixed(3)} (mean shift ${b.meanShift.toFixed(2)} std, variance ×${b.varianceRatio.toFixed(2)})`,
    );
    lines.push(
      d.batchNorm.length
        ? `activation statistics vs the checkpoint's BatchNorm running statistics (KL per channel; 0 = the ` +
            `pre-training statistics; reported, not used in the choice): ${shifts.join("; ")}`
        : `activation statistics: ${model.arch} has no BatchNorm layers to compare with`,
    );
  }
  const what =
    d.strategy === "full"
      ? "full: train everything"
      : d.strategy === "head"
        ? "head: train the classifier only"
        : `partial: train the last ${d.unfreezeStages} stages and the classifier (--unfreeze-stages ` +
          `${d.unfreezeStages}), freeze ${d.freeze.join(",")}`;
  lines.push(`choice: ${d.quadrant ?? "nothing to transfer"} → ${what} — ${d.reason} (measured in ${d.seconds.toFixed(1)} s)`);
  return lines;
}
