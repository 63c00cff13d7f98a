/**
 * convzoo's library API (Node): what a user needs to build, load, run, export, train and
 * transfer-learn the zoo's models (README "Library"). The browser-safe subset is `convzoo/browser`
 * (src/browser.ts); internals stay reachable by path for those who build on them.
 */
import "./models/index.js";

// Models: the registry, structure, weights initialisation, graphs.
export { createModel, getArch, listArchs, type ArchSpec, type Model, type ModelOptions, type ResolvedOptions } from "./models/index.js";
export { summarize, type ModelSummary, type LayerSummary, type BlockSummary } from "./models/summary.js";
export { bindModel, initializeWeights, type BindOptions, type BoundModel, type WeightBinding } from "./models/bind.js";
export {
  featureInfo,
  inferenceGraph,
  traceModel,
  FEATURE_STRIDES,
  type FeatureInfo,
  type InferenceGraphOptions,
  type InferenceOutput,
} from "./models/inference_graph.js";
export { IMAGENET_EVAL, preprocessingForResolution, type Interpolation, type Preprocessing } from "./models/preprocessing.js";

// Inference: load weights, classify, export.
export { defaultClassNames } from "./data/imagenet_classes.js";
export { loadModel, type LoadModelOptions, type LoadedModel } from "./inference/load.js";
export { Predictor, type PredictorOptions, type Prediction, type Classification } from "./inference/predictor.js";
export { exportOnnx, type ExportOnnxOptions } from "./inference/export.js";
export { readOnnxModel, decodeOnnxModel, type OnnxModel } from "./inference/onnx_model.js";
export { Session, type SessionOptions } from "./runtime/session.js";

// Serving: the Open Inference Protocol server, its client, model sources, Triton repositories.
export { InferenceServer, type ServerOptions } from "./serve/server.js";
export { InferenceClient, type ClientOptions, type TopClass, type ModelMetadata } from "./serve/client.js";
export {
  modelSource,
  predictorSource,
  onnxFileSource,
  type ModelSource,
  type SourceOutput,
  type CompileOptions,
} from "./serve/model_source.js";
export type { BatchingOptions } from "./serve/batcher.js";
export { tritonConfig, writeTritonRepository, type TritonModelOptions, type InstanceKind } from "./serve/triton.js";

// Weights files.
export { loadStateDict, stateDict, type LoadResult } from "./weights/load.js";
export { readWeightsFile, saveCheckpoint, writeFileAtomic, type WeightsFile } from "./weights/files.js";
export { readSafetensors, writeSafetensors } from "./weights/safetensors.js";
export { readPth } from "./weights/pth.js";
export type { CheckpointMetadata } from "./weights/checkpoint.js";

// Images and labelled data.
export { loadImageBatch, loadImageForEval, decodeImageRGB } from "./data/image.js";
export { DEFAULT_MAX_IMAGE_PIXELS, maxImagePixels, setMaxImagePixels } from "./data/image.js";
export { nonFiniteTensors, refuseNonFinite } from "./weights/finite.js";
export { IMAGENET_CLASSES } from "./data/imagenet_classes.js";
export { readImageFolder, stratifiedSplit, IMAGE_EXTENSIONS, type ImageFolder, type Sample } from "./data/folder.js";
export { readCsvList } from "./data/csv.js";
export { readDataset, type Dataset, type DatasetOptions } from "./data/dataset.js";
export { epochBatches, closeDataWorkers, type Batch, type BatchOptions } from "./data/loader.js";
export type { ColorJitter } from "./data/augment.js";

// Training: the step, the loop, evaluation.
export {
  trainingGraph,
  targetDistribution,
  balancedClassWeights,
  type StateEntry,
  type TrainingGraph,
  type TrainingGraphOptions,
} from "./train/training_graph.js";
export { layerwiseLrMultipliers, type LayerwiseOptions } from "./train/lr_multipliers.js";
export { mixBatch, type MixOptions } from "./data/mix.js";
export { autoAugmentRGB, type AutoAugmentPolicy } from "./data/auto_augment.js";
export { Trainer, type TrainerOptions } from "./train/trainer.js";
export { resolveOptimizer, type AdamWOptions, type OptimizerOptions, type SgdOptions } from "./train/optimizers.js";
export { makeSchedule, SCHEDULES, type Schedule, type ScheduleKind, type ScheduleOptions } from "./train/schedules.js";
export {
  fit,
  type FitOptions,
  type LoopSettings,
  type FitEvent,
  type FitResult,
  type EpochMetrics,
  type FitProgress,
  type EpochEnd,
  type StopReason,
} from "./train/fit.js";
export { recalibrateBatchNorm, type RecalibrateOptions } from "./train/recalibrate.js";
export { lrFind, type LrFindOptions, type LrFindResult, type LrSuggestions } from "./train/lr_find.js";
export { extractFeatures, type Features, type FeatureOptions } from "./train/features.js";
export { evaluateSamples, evaluatePredictor, type EvaluateOptions, type Evaluation } from "./train/evaluate.js";

// Quantization: int8 (static QDQ, calibrated), weight-only int8, fp16.
export {
  quantizeModel,
  type QuantizeMode,
  type QuantizeOptions,
  type QuantizationRecord,
  type QuantizedModel,
} from "./quantize/quantize.js";
export { readCalibrationSet, loadBatches, type CalibrationSet } from "./quantize/calibration_set.js";
export { compareModels, type Comparison } from "./quantize/compare.js";
export { CALIBRATION_METHODS, type CalibrationMethod } from "./quantize/statistics.js";
export { classificationMetrics, type ClassificationMetrics, type ClassMetrics, type Misclassified } from "./train/metrics.js";

// Transfer learning: the strategies and auto's measured choice.
export { frozenPrefixes, unfreezeStagesPrefixes, STRATEGIES, type Strategy } from "./transfer/strategy.js";
export { chooseStrategy, type AutoDecision, type AutoOptions, type Quadrant } from "./transfer/auto.js";

// A run as `convzoo train` does it: settings, files, report.
export { RUN_OPTIONS, withDefaults, type RunRequest, type RunSettings, type RunOption } from "./run/settings.js";
export {
  prepareRun,
  prepareResumedRun,
  executeRun,
  writeRunReport,
  type PreparedRun,
  type RunOutcome,
  type RunDisplay,
} from "./run/run.js";
export { readResumeFile, type ResumedRun } from "./run/files.js";
export { writeReport, type ReportData } from "./run/report.js";

// Measuring and the demo.
export {
  benchInference,
  benchPredictor,
  benchTraining,
  type BenchOptions,
  type BenchResult,
  type TrainBenchOptions,
  type TrainBenchResult,
} from "./tools/bench.js";
export { compare, COMPARE_PRESETS, type CompareEntry, type CompareOptions, type CompareRow } from "./tools/compare.js";
export { runDemo, DEMO_STRATEGIES, type DemoOptions, type DemoResult, type DemoRow, type DemoStrategy } from "./demo/demo.js";

// The building blocks underneath.
export { toOnnx, fromOnnx } from "./onnx/serialize.js";
export { Graph, type Value, type Node, type Dim } from "./graph/ir.js";
export { Module } from "./nn/module.js";
export { ForwardContext } from "./nn/context.js";
export * as nn from "./nn/index.js";
export { Random } from "./random.js";
export { ConvzooError, ShapeError, WeightsError, InputFileError, OptionError } from "./errors.js";
export { float32, tensor, numel, type Tensor, type DType } from "./tensor.js";
