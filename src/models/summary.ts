/** `summary`: parameters, MACs and per-layer output shapes of an architecture at a resolution. */
import type { Dim } from "../graph/ir.js";
import { traceModel } from "./inference_graph.js";
import type { Model } from "./model.js";

export interface LayerSummary {
  name: string;
  type: string;
  /** Output shape for one image, batch dimension included as 1. */
  outputShape: number[];
  params: number;
  macs: number;
}

export interface BlockSummary extends LayerSummary {
  /** Nesting below the root, counting only plain Sequential containers (for indentation). */
  depth: number;
}

export interface ModelSummary {
  arch: string;
  options: Model["options"];
  /** Family-specific derived figures (e.g. EfficientNet's depth/width/resolution factors). */
  details: Model["details"];
  resolution: number;
  /**
   * Trainable parameters of the inference network (BatchNorm running statistics excluded, as
   * torchvision counts; training-only parts such as GoogLeNet's auxiliary heads excluded too).
   */
  params: number;
  /** Parameters of the training-only parts (auxiliary classifiers); 0 for most nets. */
  trainingOnlyParams: number;
  /** Conv + linear multiply-accumulates for one image at `resolution`. */
  macs: number;
  /** Every leaf layer in execution order. */
  layers: LayerSummary[];
  /**
   * The structure by block: plain Sequential containers (stages) are opened, every other module
   * with children (Bottleneck, InvertedResidual, MBConv, Inception, Conv2dNormActivation …) is one
   * row with its totals, and top-level layers appear as they are.
   */
  blocks: BlockSummary[];
}

const concrete = (shape: readonly Dim[]): number[] => shape.map((d) => (typeof d === "number" ? d : 1));

export function summarize(model: Model, resolution = model.defaultResolution): ModelSummary {
  const ctx = traceModel(model, resolution);
  let trainingOnly = 0;
  for (const [key, p] of model.net.namedParameters()) {
    if (p.kind === "parameter" && model.optional.some((prefix) => key.startsWith(`${prefix}.`))) trainingOnly += p.numel;
  }
  const layers: LayerSummary[] = [];
  const blocks: BlockSummary[] = [];
  const typeOf = new Map(ctx.records.map((r) => [r.name, r.type]));
  for (const r of ctx.records) {
    if (r.depth === 0) continue;
    const row = { name: r.name, type: r.type, outputShape: concrete(r.outputShape), params: r.params, macs: r.macs };
    if (r.leaf) layers.push(row);
    // Show a module unless an ancestor is a block (a non-Sequential module with children).
    const ancestors = r.name
      .split(".")
      .slice(0, -1)
      .map((_, i, parts) => parts.slice(0, i + 1).join("."));
    const insideBlock = ancestors.some((a) => typeOf.get(a) !== "Sequential" && typeOf.has(a));
    if (!insideBlock) blocks.push({ ...row, depth: ancestors.filter((a) => typeOf.get(a) === "Sequential").length });
  }
  return {
    arch: model.arch,
    options: model.options,
    details: model.details,
    resolution,
    params: model.net.parameterCount() - trainingOnly,
    trainingOnlyParams: trainingOnly,
    macs: ctx.totalMacs,
    layers,
    blocks,
  };
}
