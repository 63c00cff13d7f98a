/**
 * Model → Graph. The inference graph binds every weight as an ONNX initializer named by its
 * state_dict key (so ONNX Runtime can fold BatchNorm into Conv, and an exported model keeps
 * torchvision's names); the structure-only trace used by `summary` binds weights as graph inputs
 * and never allocates them.
 */
import { OptionError } from "../errors.js";
import { Graph, prune, type Value } from "../graph/graph.js";
import * as ops from "../graph/ops.js";
import { ForwardContext } from "../nn/context.js";
import { Random } from "../random.js";
import type { Model } from "./model.js";

/**
 * What an inference graph outputs: softmax `probabilities` [N, K] (default), raw `logits`, the
 * pooled `embedding` [N, D] (the final classifier's input), the `pooled` backbone output [N, D']
 * (the head's input: what a head trained on cached features sees), or the backbone's multi-scale
 * `features`: one map per stride 4, 8, 16, 32, named `feature_stride4` … (for detection and
 * segmentation heads).
 */
export type InferenceOutput = "probabilities" | "logits" | "embedding" | "pooled" | "features";

export interface InferenceGraphOptions {
  /** Input side; the architecture's default (224) when omitted. */
  resolution?: number;
  output?: InferenceOutput;
}

/** One backbone stage's feature map (timm's feature_info): module path, channels, stride. */
export interface FeatureInfo {
  module: string;
  channels: number;
  /** Input side / feature-map side: the stage's total stride. */
  reduction: number;
}

/** Strides of the multi-scale feature maps `features` exports (FPN-style pyramids use these). */
export const FEATURE_STRIDES = [4, 8, 16, 32] as const;

/** Checks the input side against the network's minimum (each stride-2 stage needs a pixel). */
export function checkResolution(model: Model, resolution: number): number {
  if (!Number.isInteger(resolution) || resolution < model.minResolution || resolution > 4096) {
    throw new OptionError(`${model.arch}: resolution must be an integer in [${model.minResolution}, 4096], got ${resolution}`);
  }
  return resolution;
}

/** Gives every parameter without data its initial value, in state_dict order, from one seed. */
export function initializeWeights(model: Model, seed = 0): void {
  const rng = new Random(seed);
  for (const [, p] of model.net.namedParameters()) p.materialize(rng);
}

/** The input value every graph starts from: a normalised float32 batch [N, 3, H, W], N dynamic. */
function imageInput(g: Graph, resolution: number): Value {
  return g.addInput("input", "float32", ["N", 3, resolution, resolution]);
}

export function inferenceGraph(model: Model, options: InferenceGraphOptions = {}): Graph {
  const resolution = checkResolution(model, options.resolution ?? model.defaultResolution);
  const output = options.output ?? "probabilities";
  initializeWeights(model);
  const g = new Graph(model.arch);
  const ctx = new ForwardContext(g, model.net, false, (key, p) => g.addInitializer(key, p.tensor), {
    inputs: output === "embedding" ? [model.classifier] : output === "pooled" ? [headModule(model)] : [],
    outputs: output === "features" ? model.stages : [],
  });
  const logits = ctx.call(model.net, imageInput(g, resolution));
  switch (output) {
    case "logits":
      g.markOutput(logits, "logits");
      break;
    case "probabilities":
      g.markOutput(ops.softmax(g, logits, 1), "probabilities");
      break;
    case "embedding":
      g.markOutput(ctx.capturedInputs.get(model.classifier)!, "embedding");
      break;
    case "pooled":
      g.markOutput(ctx.capturedInputs.get(headModule(model))!, "pooled");
      break;
    case "features":
      for (const f of multiScale(stageInfo(model, ctx, resolution))) g.markOutput(ctx.capturedOutputs.get(f.module)!, `feature_stride${f.reduction}`);
      break;
  }
  prune(g);
  return g;
}

/**
 * The one module that is the head (every family's head is a single top-level module applied to the
 * flattened pooled features: `fc`, `classifier`).
 */
export function headModule(model: Model): string {
  if (model.head.length !== 1) throw new Error(`${model.arch}: expected one head module, got ${model.head.join(", ")}`);
  return model.head[0];
}

/**
 * The head alone, eval mode, on pooled features [N, D] (the `pooled` output) → probabilities: how a
 * head trained on cached features is evaluated without running the backbone again.
 */
export function headInferenceGraph(model: Model, featureDims: number): Graph {
  initializeWeights(model);
  const g = new Graph(`${model.arch}_head`);
  const ctx = new ForwardContext(g, model.net, false, (key, p) => g.addInitializer(key, p.tensor));
  const logits = ctx.call(model.net.child(headModule(model))!, g.addInput("input", "float32", ["N", featureDims]));
  g.markOutput(ops.softmax(g, logits, 1), "probabilities");
  prune(g);
  return g;
}

/** Traces the model's structure at a resolution without touching weight data. */
export function traceModel(model: Model, resolution: number): ForwardContext {
  checkResolution(model, resolution);
  const g = new Graph(model.arch);
  const ctx = new ForwardContext(g, model.net, false, (key, p) => g.addInput(key, p.dtype, p.shape), { outputs: model.stages });
  ctx.call(model.net, imageInput(g, resolution));
  return ctx;
}

function stageInfo(model: Model, ctx: ForwardContext, resolution: number): FeatureInfo[] {
  return model.stages.map((module) => {
    const v = ctx.capturedOutputs.get(module);
    if (!v) throw new Error(`${model.arch}: stage module "${module}" was never called`);
    const [, channels, h] = v.shape as number[];
    return { module, channels, reduction: Math.round(resolution / h) };
  });
}

/** The deepest stage at each of FEATURE_STRIDES (a net lacking one is a bug in its stage list). */
function multiScale(info: FeatureInfo[]): FeatureInfo[] {
  return FEATURE_STRIDES.map((stride) => {
    const f = info.filter((i) => i.reduction === stride).pop();
    if (!f) throw new Error(`no stage with stride ${stride} among ${info.map((i) => `${i.module}/${i.reduction}`).join(", ")}`);
    return f;
  });
}

/** Per-stage feature maps: module path, channels and stride (at the default resolution). */
export function featureInfo(model: Model, resolution = model.defaultResolution): FeatureInfo[] {
  return stageInfo(model, traceModel(model, resolution), resolution);
}
