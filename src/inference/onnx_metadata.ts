/**
 * ONNX models written by convzoo (`export`, `quantize`), decoded for inference: the bytes and the
 * metadata that say how to feed the model and read it (arch, classes, preprocessing, resolution,
 * output) and, for quantized models, how they were made. Browser-safe (readOnnxModel in
 * onnx_model.ts reads the file on Node).
 */
import { WeightsError } from "../errors.js";
import { defaultClassNames } from "../data/imagenet_classes.js";
import { validatePreprocessing, type Preprocessing } from "../models/preprocessing.js";
import { fromOnnx } from "../onnx/serialize.js";
import { shown, shownList } from "../text.js";

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

/**
 * Reads a convzoo ONNX model's metadata and checks it against the graph. Class names may be absent
 * (a library `exportOnnx` without them): they are then numbered by the output's recorded width.
 */
export function decodeOnnxModel(bytes: Uint8Array, path: string): OnnxModel {
  const decoded = fromOnnx(bytes, path);
  const m = decoded.metadata;
  const json = (key: string): unknown => {
    if (m[key] === undefined) return undefined;
    try {
      return JSON.parse(m[key]);
    } catch {
      throw new WeightsError(`${path}: ONNX metadata "${key}" is not JSON: ${shown(m[key], 60)}`);
    }
  };
  if (!m.arch || m.preprocessing === undefined || !m.resolution) {
    throw new WeightsError(
      `${path}: no convzoo metadata (arch, preprocessing, resolution) in this ONNX model: expected one written by ` +
        "`convzoo export` or `convzoo quantize` with probabilities or logits",
    );
  }
  const output = m.output ?? "probabilities";
  if (output !== "logits" && output !== "probabilities")
    throw new WeightsError(`${path}: a classifier's output is probabilities or logits; this model's metadata says "${shown(output, 40)}"`);
  if (decoded.inputs.length !== 1 || decoded.inputs[0] !== "input")
    throw new WeightsError(`${path}: expected one input named "input", found [${shownList(decoded.inputs)}]`);
  if (!decoded.outputs.includes(output))
    throw new WeightsError(`${path}: expected an output "${output}", found [${shownList(decoded.outputs)}]`);
  const resolution = Number(m.resolution);
  if (!Number.isInteger(resolution) || resolution < 1)
    throw new WeightsError(`${path}: ONNX metadata "resolution" must be a positive integer, got ${shown(m.resolution, 40)}`);
  const preprocessing = validatePreprocessing(json("preprocessing"), path);
  const width = decoded.outputDims[output]?.[1] ?? null;
  const recorded = json("classes");
  let classes: string[];
  if (recorded === undefined) {
    if (width === null) throw new WeightsError(`${path}: no class names in the metadata and no class count in the output's shape`);
    classes = defaultClassNames(width);
  } else {
    if (!Array.isArray(recorded) || !recorded.every((c) => typeof c === "string"))
      throw new WeightsError(`${path}: ONNX metadata "classes" must be a list of strings`);
    if (width !== null && recorded.length !== width)
      throw new WeightsError(`${path}: ${recorded.length} class names in the metadata for an output of ${width} classes`);
    classes = recorded;
  }
  const quantization = json("quantization");
  return {
    path,
    bytes,
    arch: m.arch,
    classes,
    preprocessing,
    resolution,
    output,
    quantization: typeof quantization === "object" && quantization !== null ? (quantization as Record<string, unknown>) : null,
    opTypes: decoded.opTypes,
    metadata: m,
  };
}
