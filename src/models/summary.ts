/** `summary`: parameters, MACs and per-layer output shapes of an architecture at a resolution. */
import type { Dim } from "../graph/graph.js";
import { traceModel } from "./graphs.js";
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
  depth: number;
}

export interface ModelSummary {
  arch: string;
  options: Model["options"];
  /** Family-specific derived figures (e.g. EfficientNet's depth/width/resolution factors). */
  details: Model["details"];
  resolution: number;
  /** Trainable parameters (torchvision's count: BatchNorm running statistics excluded). */
  params: number;
  /** Conv + linear multiply-accumulates for one image at `resolution`. */
  macs: number;
  /** Every leaf layer in execution order. */
  layers: LayerSummary[];
  /** Every module with children (stages and blocks), top-down, for a structural view. */
  blocks: BlockSummary[];
}

const concrete = (shape: readonly Dim[]): number[] => shape.map((d) => (typeof d === "number" ? d : 1));

export function summarize(model: Model, resolution = model.defaultResolution): ModelSummary {
  const ctx = traceModel(model, resolution);
  const layers: LayerSummary[] = [];
  const blocks: BlockSummary[] = [];
  for (const r of ctx.records) {
    if (r.depth === 0) continue;
    const row = { name: r.name, type: r.type, outputShape: concrete(r.outputShape), params: r.params, macs: r.macs };
    if (r.leaf) layers.push(row);
    else blocks.push({ ...row, depth: r.depth });
  }
  return {
    arch: model.arch,
    options: model.options,
    details: model.details,
    resolution,
    params: model.net.parameterCount(),
    macs: ctx.totalMacs,
    layers,
    blocks,
  };
}
