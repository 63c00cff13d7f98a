/**
 * A model → a smaller/faster ONNX model (Node): `static` int8 (QDQ, calibrated activations, int8
 * weights), `dynamic` (weight-only int8) or `fp16`. BatchNorm is folded first; the metadata of
 * `convzoo export` is kept (arch, classes, preprocessing, resolution) and a `quantization` record
 * says how the model was made.
 */
import { inferenceGraph } from "../models/inference_graph.js";
import type { Model } from "../models/model.js";
import type { Preprocessing } from "../models/preprocessing.js";
import { onnxMetadata } from "../inference/export.js";
import { toOnnx } from "../onnx/serialize.js";
import { OptionError } from "../errors.js";
import type { Tensor } from "../tensor.js";
import { calibrate } from "./calibrate.js";
import { convertToFloat16 } from "./float16.js";
import { foldBatchNorm } from "./fold_batchnorm.js";
import { insertStaticQdq, insertWeightOnlyQdq, planQuantization, type PlanOptions } from "./qdq.js";
import type { CalibrationMethod } from "./statistics.js";

export type QuantizeMode = "static" | "dynamic" | "fp16";

/** Activations ONNX Runtime's CPU provider has no int8 kernel for (they run in float between DQ and Q). */
const FLOAT_ACTIVATIONS = ["HardSwish", "HardSigmoid"];

export interface QuantizeOptions extends PlanOptions {
  mode: QuantizeMode;
  /** Input side; the model's default when omitted. */
  resolution?: number;
  /** Static only: how activation ranges are chosen (default percentile: measured best, see the README). */
  method?: CalibrationMethod;
  /** Weight scales per output channel (default true). */
  perChannel?: boolean;
  /** Static only: normalised calibration batches [n, 3, R, R]. */
  calibration?: readonly Tensor<"float32">[];
  classes?: readonly string[];
  preprocessing?: Preprocessing;
  threads?: number;
}

/** What `quantize` did, stored as JSON in the model's `quantization` metadata. */
export interface QuantizationRecord {
  mode: QuantizeMode;
  method?: CalibrationMethod;
  perChannel?: boolean;
  calibrationImages?: number;
  /** Activations with a Q/DQ pair. */
  activations?: number;
  /** Conv/Gemm weights stored as int8. */
  weights?: number;
  /** Op types and node scopes left in float32 on purpose. */
  fp32Ops?: string[];
  fp32Nodes?: string[];
  fp32Depthwise?: boolean;
  /** Activation op types of the graph that have no int8 kernel and run in float between DQ and Q (e.g. HardSwish). */
  floatActivations?: string[];
  foldedBatchNorms: number;
}

export interface QuantizedModel {
  onnx: Uint8Array;
  record: QuantizationRecord;
}

export async function quantizeModel(model: Model, options: QuantizeOptions): Promise<QuantizedModel> {
  const resolution = options.resolution ?? model.defaultResolution;
  const perChannel = options.perChannel ?? true;
  const graph = inferenceGraph(model, { resolution, output: "probabilities" });
  const foldedBatchNorms = foldBatchNorm(graph);
  let record: QuantizationRecord;
  switch (options.mode) {
    case "static": {
      const batches = options.calibration ?? [];
      const images = batches.reduce((n, b) => n + b.shape[0], 0);
      if (images === 0) throw new OptionError("static quantization needs calibration images");
      const method = options.method ?? "percentile";
      const plan = planQuantization(graph, options);
      const ranges = await calibrate(graph, plan, batches, { method, threads: options.threads });
      insertStaticQdq(graph, plan, ranges, { perChannel });
      const weights = graph.nodes.filter((n) => n.op === "DequantizeLinear" && n.inputs[0]?.dtype === "int8").length;
      record = {
        mode: "static",
        method,
        perChannel,
        calibrationImages: images,
        activations: plan.activations.length,
        weights,
        fp32Ops: [...(options.fp32Ops ?? [])],
        fp32Nodes: [...(options.fp32Nodes ?? [])],
        fp32Depthwise: options.fp32Depthwise ?? false,
        floatActivations: [...new Set(graph.nodes.filter((n) => FLOAT_ACTIVATIONS.includes(n.op)).map((n) => n.op))],
        foldedBatchNorms,
      };
      break;
    }
    case "dynamic":
      record = { mode: "dynamic", perChannel, weights: insertWeightOnlyQdq(graph, { perChannel }), foldedBatchNorms };
      break;
    case "fp16":
      convertToFloat16(graph);
      record = { mode: "fp16", foldedBatchNorms };
      break;
  }
  const metadata = {
    ...onnxMetadata(model, { resolution, classes: options.classes, preprocessing: options.preprocessing }),
    quantization: JSON.stringify(record),
  };
  const onnx = toOnnx(graph, { metadata, docString: `convzoo ${model.arch} at ${resolution}x${resolution}, ${options.mode}` });
  return { onnx, record };
}
