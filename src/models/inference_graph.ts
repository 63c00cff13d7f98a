/**
 * Inference graphs and structure traces (views of bindModel): the inference graph binds every
 * weight as an ONNX initializer named by its state_dict key (so ONNX Runtime can fold BatchNorm into
 * Conv, and an exported model keeps torchvision's names); the structure-only trace used by `summary`
 * binds weights as graph inputs and never allocates them.
 */
import { prune, type Graph } from "../graph/ir.js";
import * as ops from "../graph/ops.js";
import type { ForwardContext } from "../nn/context.js";
import { bindModel, headModule } from "./bind.js";
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

export function inferenceGraph(model: Model, options: InferenceGraphOptions = {}): Graph {
  const output = options.output ?? "probabilities";
  const {
    graph: g,
    logits,
    context: ctx,
    resolution,
  } = bindModel(model, {
    mode: "eval",
    weights: "constants",
    resolution: options.resolution,
    capture: {
      inputs: output === "embedding" ? [model.classifier] : output === "pooled" ? [headModule(model)] : [],
      outputs: output === "features" ? model.stages : [],
    },
  });
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
      for (const f of multiScale(stageInfo(model, ctx, resolution)))
        g.markOutput(ctx.capturedOutputs.get(f.module)!, `feature_stride${f.reduction}`);
      break;
  }
  prune(g);
  return g;
}

/**
 * The head alone, eval mode, on pooled features [N, D] (the `pooled` output) → probabilities: how a
 * head trained on cached features is evaluated without running the backbone again.
 */
export function headInferenceGraph(model: Model, featureDims: number): Graph {
  const { graph: g, logits } = bindModel(model, {
    mode: "eval",
    weights: "constants",
    headOnFeatures: featureDims,
    name: `${model.arch}_head`,
  });
  g.markOutput(ops.softmax(g, logits, 1), "probabilities");
  prune(g);
  return g;
}

/** Traces the model's structure at a resolution without touching weight data. */
export function traceModel(model: Model, resolution: number, mode: "eval" | "train" = "eval"): ForwardContext {
  // A training-mode trace needs a static batch (its dropout masks); batch 1 then.
  const batch = mode === "train" ? 1 : "N";
  return bindModel(model, { mode, weights: "placeholders", resolution, batch, capture: { outputs: model.stages } }).context;
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
