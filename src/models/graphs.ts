/**
 * Model → Graph. The inference graph binds every weight as an ONNX initializer named by its
 * state_dict key (so ONNX Runtime can fold BatchNorm into Conv, and an exported model keeps
 * torchvision's names); the structure-only trace used by `summary` binds weights as graph inputs
 * and never allocates them.
 */
import { OptionError } from "../errors.js";
import { Graph, type Value } from "../graph/graph.js";
import * as ops from "../graph/ops.js";
import { ForwardContext } from "../nn/context.js";
import { Random } from "../random.js";
import type { Model } from "./model.js";

export type InferenceOutput = "probabilities" | "logits";

export interface InferenceGraphOptions {
  /** Input side; the architecture's default (224) when omitted. */
  resolution?: number;
  /** Softmax probabilities (default) or raw logits. */
  output?: InferenceOutput;
}

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
  initializeWeights(model);
  const g = new Graph(model.arch);
  const ctx = new ForwardContext(g, model.net, false, (key, p) => g.addInitializer(key, p.tensor));
  const logits = ctx.call(model.net, imageInput(g, resolution));
  if (options.output === "logits") g.markOutput(logits, "logits");
  else g.markOutput(ops.softmax(g, logits, 1), "probabilities");
  return g;
}

/** Traces the model's structure at a resolution without touching weight data. */
export function traceModel(model: Model, resolution: number): ForwardContext {
  checkResolution(model, resolution);
  const g = new Graph(model.arch);
  const ctx = new ForwardContext(g, model.net, false, (key, p) => g.addInput(key, p.dtype, p.shape));
  ctx.call(model.net, imageInput(g, resolution));
  return ctx;
}
