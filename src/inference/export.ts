/** Model → ONNX bytes for any runtime: input [N, 3, H, W] float32 normalised, N dynamic. */
import type { Preprocessing } from "../models/preprocessing.js";
import { inferenceGraph, type InferenceOutput } from "../models/inference_graph.js";
import type { Model } from "../models/model.js";
import { toOnnx } from "../onnx/serialize.js";

export interface ExportOnnxOptions {
  resolution?: number;
  output?: InferenceOutput;
  classes?: readonly string[];
  preprocessing?: Preprocessing;
}

export function exportOnnx(model: Model, options: ExportOnnxOptions = {}): Uint8Array {
  const resolution = options.resolution ?? model.defaultResolution;
  const graph = inferenceGraph(model, { resolution, output: options.output });
  return toOnnx(graph, { metadata: onnxMetadata(model, options), docString: `convzoo ${model.arch} at ${resolution}x${resolution}` });
}

/** Metadata so a consumer knows how to feed the model and read its output (also kept by quantized models). */
export function onnxMetadata(model: Model, options: ExportOnnxOptions = {}): Record<string, string> {
  const resolution = options.resolution ?? model.defaultResolution;
  const metadata: Record<string, string> = {
    arch: model.arch,
    options: JSON.stringify(model.options),
    resolution: String(resolution),
    output: options.output ?? "probabilities",
    preprocessing: JSON.stringify(options.preprocessing ?? model.preprocessing),
  };
  if (options.classes && (metadata.output === "probabilities" || metadata.output === "logits"))
    metadata.classes = JSON.stringify(options.classes);
  return metadata;
}
