/**
 * The browser-safe part of convzoo: graph, ONNX, modules, models, weights formats (bytes in, bytes
 * out) and preprocessing arithmetic. Nothing here imports Node built-ins, sharp or
 * onnxruntime-node (tests/unit/browser.test.ts bundles it for the browser to prove it), so a web
 * app can build, load and export models and run them with onnxruntime-web — and train them: the
 * training graph is plain ONNX and WebTrainer runs it with the onnxruntime-web module the app
 * passes in (convzoo itself does not import onnxruntime-web).
 */
import "./models/index.js";

export { createModel, getArch, listArchs, type ArchSpec, type Model, type ModelOptions, type ResolvedOptions } from "./models/index.js";
export { summarize, type ModelSummary, type LayerSummary, type BlockSummary } from "./models/summary.js";
export {
  featureInfo,
  inferenceGraph,
  headInferenceGraph,
  traceModel,
  FEATURE_STRIDES,
  type FeatureInfo,
  type InferenceGraphOptions,
  type InferenceOutput,
} from "./models/inference_graph.js";
export { bindModel, initializeWeights, underPrefix, type BindOptions, type BoundModel } from "./models/bind.js";
export { BatchNormStatistics, batchNormStatisticsGraph, trainingBatchNorms } from "./train/batchnorm_statistics.js";
export { exportOnnx, type ExportOnnxOptions } from "./inference/export.js";
export { decodeOnnxModel, type OnnxModel } from "./inference/onnx_metadata.js";
export { loadStateDict, stateDict, stripModulePrefix, type LoadResult } from "./weights/load.js";
export { readSafetensors, writeSafetensors } from "./weights/safetensors.js";
export { readPth } from "./weights/pth.js";
export { decodeMetadata, encodeMetadata, type CheckpointMetadata } from "./weights/checkpoint.js";
export { IMAGENET_EVAL, preprocessingForResolution, type Preprocessing } from "./models/preprocessing.js";
export { centerCropOffsets, evalTransformRGB, normalizeHWCToCHW, resizedSize, resizeRGB } from "./data/preprocess.js";
export { IMAGENET_CLASSES } from "./data/imagenet_classes.js";
export { toOnnx, fromOnnx } from "./onnx/serialize.js";
export {
  targetDistribution,
  trainingGraph,
  type StateEntry,
  type TrainingGraph,
  type TrainingGraphOptions,
} from "./train/training_graph.js";
export { resolveOptimizer, type AdamWOptions, type OptimizerOptions, type ResolvedOptimizer, type SgdOptions } from "./train/optimizers.js";
export { TrainingState } from "./train/state.js";
export { WebTrainer, type OrtLike, type OrtSessionLike, type OrtTensorLike, type WebTrainerOptions } from "./train/web_trainer.js";
export { frozenPrefixes, unfreezeStagesPrefixes, STRATEGIES, type Strategy } from "./transfer/strategy.js";
export { linearProbe, type ProbeResult } from "./transfer/probe.js";
export { decideStrategy, type RuleDecision } from "./transfer/rule.js";
export { classificationMetrics, type ClassificationMetrics } from "./train/metrics.js";
export { Graph, type Value, type Node, type Dim } from "./graph/ir.js";
export { Module } from "./nn/module.js";
export { ForwardContext } from "./nn/context.js";
export * as nn from "./nn/index.js";
export { Random } from "./random.js";
export { ConvzooError, ShapeError, WeightsError, InputFileError, OptionError } from "./errors.js";
export { float32, tensor, numel, type Tensor, type DType } from "./tensor.js";
