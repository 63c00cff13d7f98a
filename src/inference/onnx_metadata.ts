/**
 * ONNX models written by convzoo (`export`, `quantize`), decoded for inference: the bytes and the
 * metadata that say how to feed the model and read it (arch, classes, preprocessing, resolution,
 * output) and, for quantized models, how they were made. Browser-safe (readOnnxModel in
 * onnx_model.ts reads the file on Node).
 */
import { WeightsError } from "../errors.js";
import type { Preprocessing } from "../models/preprocessing.js";
import { fromOnnx } from "../onnx/serialize.js";

export interface OnnxModel {
  path: string;
  bytes: Uint8Array;
  arch: string;
  classes: string[];
  preprocessing: Preprocessing;
  resolution: number;
  /** "probabilities" or "logits". */
  output: "probabilities" | "logits";
  /** `quantize`'s record ({ mode, method, … }) when the model was quantized, else null. */
  quantization: Record<string, unknown> | null;
  /** The op types of the graph (to tell a quantized graph from a float one). */
  opTypes: string[];
  metadata: Record<string, string>;
}

/** Op types only an int8-quantized graph has. */
export const QUANTIZED_OPS = ["QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger"];

export function decodeOnnxModel(bytes: Uint8Array, path: string): OnnxModel {
  let decoded;
  try {
    decoded = fromOnnx(bytes);
  } catch (e) {
    throw new WeightsError(`${path}: not an ONNX model (${(e as Error).message})`);
  }
  const m = decoded.metadata;
  const json = <T>(key: string): T | undefined => {
    if (m[key] === undefined) return undefined;
    try {
      return JSON.parse(m[key]) as T;
    } catch {
      throw new WeightsError(`${path}: ONNX metadata "${key}" is not JSON: ${m[key].slice(0, 60)}`);
    }
  };
  const preprocessing = json<Preprocessing>("preprocessing");
  const classes = json<string[]>("classes");
  if (!m.arch || !preprocessing || !classes || !m.resolution) {
    throw new WeightsError(
      `${path}: no convzoo metadata (arch, classes, preprocessing, resolution) in this ONNX model: expected one written by ` +
        "`convzoo export` or `convzoo quantize` with probabilities or logits",
    );
  }
  if (decoded.inputs.length !== 1 || decoded.inputs[0] !== "input")
    throw new WeightsError(`${path}: expected one input named "input", found ${JSON.stringify(decoded.inputs)}`);
  const output = m.output === "logits" ? "logits" : "probabilities";
  if (!decoded.outputs.includes(output))
    throw new WeightsError(`${path}: expected an output "${output}", found ${JSON.stringify(decoded.outputs)}`);
  return {
    path,
    bytes,
    arch: m.arch,
    classes,
    preprocessing,
    resolution: Number(m.resolution),
    output,
    quantization: json<Record<string, unknown>>("quantization") ?? null,
    opTypes: decoded.opTypes,
    metadata: m,
  };
}
