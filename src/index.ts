/**
 * convzoo's library API (Node). The browser-safe core (graph, ONNX, modules, models, weights
 * formats) has no Node imports; this entry adds ONNX Runtime sessions, sharp image decoding and
 * file I/O on top.
 */
import "./models/index.js";

export { createModel, getArch, listArchs, type ArchSpec, type Model, type ModelOptions, type ResolvedOptions } from "./models/index.js";
export { summarize, type ModelSummary, type LayerSummary, type BlockSummary } from "./models/summary.js";
export { featureInfo, inferenceGraph, traceModel, FEATURE_STRIDES, type FeatureInfo, type InferenceGraphOptions, type InferenceOutput } from "./models/inference_graph.js";
export { initializeWeights } from "./models/bind.js";
export { exportOnnx, type ExportOnnxOptions } from "./inference/export.js";
export { loadModel, defaultClassNames, type LoadModelOptions, type LoadedModel } from "./inference/load.js";
export { Predictor, type PredictorOptions, type Prediction, type Classification } from "./inference/predictor.js";
export { benchInference, benchTraining, type BenchOptions, type BenchResult, type TrainBenchOptions, type TrainBenchResult } from "./tools/bench.js";
export { Session, type SessionOptions } from "./runtime/session.js";
export { loadStateDict, stateDict, type LoadResult } from "./weights/load.js";
export { readWeightsFile, saveCheckpoint, writeFileAtomic, type WeightsFile } from "./weights/files.js";
export { readSafetensors, writeSafetensors } from "./weights/safetensors.js";
export { readPth } from "./weights/pth.js";
export type { CheckpointMetadata } from "./weights/checkpoint.js";
export { loadImageBatch, loadImageForEval, decodeImageRGB } from "./data/image.js";
export { IMAGENET_EVAL, preprocessingForResolution, type Preprocessing } from "./models/preprocessing.js";
export { IMAGENET_CLASSES } from "./data/imagenet_classes.js";
export { toOnnx, fromOnnx } from "./onnx/serialize.js";
export { Graph, type Value, type Node, type Dim } from "./graph/graph.js";
export { Module } from "./nn/module.js";
export { ForwardContext } from "./nn/context.js";
export * as nn from "./nn/index.js";
export { Random } from "./random.js";
export { ConvzooError, ShapeError, WeightsError, InputFileError, OptionError } from "./errors.js";
export { float32, tensor, numel, type Tensor, type DType } from "./tensor.js";
export * from "./train/index.js";
export { fit, evaluate, type FitOptions, type FitEvent, type FitResult, type EpochMetrics, type FitProgress, type EpochEnd, type StopReason } from "./train/fit.js";
export { callOrder, frozenPrefixes, unfreezeStagesPrefixes, STRATEGIES, type Strategy } from "./transfer/strategy.js";
export { classificationMetrics, LOSS_FLOOR, type ClassificationMetrics, type ClassMetrics, type Misclassified } from "./train/metrics.js";
export { evaluateSamples, type EvaluateOptions, type Evaluation } from "./train/evaluate.js";
export { renderReport, writeReport, thumbnails, escapeHtml, REPORT_MISTAKES, REPORT_MAX_MATRIX, type ReportData, type ReportEpoch } from "./run/report.js";
export { readImageFolder, stratifiedSplit, IMAGE_EXTENSIONS, type ImageFolder, type Sample } from "./data/folder.js";
export { epochBatches, type Batch, type BatchOptions } from "./data/loader.js";
export { trainTransformRGB, randomResizedCropBox, type TrainTransform } from "./data/augment.js";
export { readCsvList, parseCsv, type CsvRecord } from "./data/csv.js";
export { readDataset, readLabelledImages, mapClassesByName, detectTrainValLayout, VAL_FOLDER_NAMES, type Dataset, type DatasetOptions } from "./data/dataset.js";
export { closeDataWorkers, MIN_SAMPLES_FOR_WORKERS } from "./data/loader.js";
export { DataWorkerPool, defaultDataWorkers } from "./data/workers.js";
export { adjustBrightness, adjustContrast, adjustSaturation, adjustHue, colorJitterRGB, type ColorJitter } from "./data/augment.js";
export { extractFeatures, type Features, type FeatureOptions } from "./train/features.js";
export { prepareRun, prepareResumedRun, executeRun, writeRunReport, type PreparedRun, type RunOutcome, type RunDisplay } from "./run/run.js";
export { type RunRequest } from "./run/settings.js";
export { saveRunCheckpoint, saveResumeFile, readResumeFile, siblingPath, type RunDescription, type ResumedRun } from "./run/files.js";
export { type RunSettings } from "./run/settings.js";
export { runDemo, DEMO_STRATEGIES, type DemoOptions, type DemoResult, type DemoRow, type DemoStrategy } from "./demo/demo.js";
export { writeDigitFolders } from "./demo/mnist.js";
