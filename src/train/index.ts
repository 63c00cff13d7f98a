export { targetDistribution, trainingGraph } from "./training_graph.js";
export { underPrefix } from "../models/bind.js";
export type { StateEntry, TrainingGraph, TrainingGraphOptions } from "./training_graph.js";
export { resolveOptimizer, type AdamWOptions, type OptimizerOptions, type ResolvedOptimizer, type SgdOptions } from "./optimizers.js";
export { makeSchedule, SCHEDULES, type Schedule, type ScheduleKind, type ScheduleOptions } from "./schedules.js";
export { Trainer, type TrainerOptions } from "./trainer.js";
export { TrainingState, type TrainerState } from "./state.js";
export { linearProbe, PROBE_DEFAULTS, type ProbeOptions, type ProbeResult } from "../transfer/probe.js";
export { AUTO_IMAGES, AUTO_THRESHOLDS, chooseStrategy, decideStrategy, PARTIAL_FROM_STRIDE, type AutoDecision, type AutoOptions, type AutoThresholds, type BatchNormShift, type Quadrant, type RuleDecision } from "../transfer/auto.js";
