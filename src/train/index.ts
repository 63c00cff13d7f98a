export { setDropout, targetDistribution, trainingGraph, underPrefix } from "./graph.js";
export type { StateEntry, TrainingGraph, TrainingGraphOptions } from "./graph.js";
export { resolveOptimizer, type AdamWOptions, type OptimizerOptions, type ResolvedOptimizer, type SgdOptions } from "./optimizers.js";
export { makeSchedule, SCHEDULES, type Schedule, type ScheduleKind, type ScheduleOptions } from "./schedules.js";
export { Trainer, type TrainerOptions } from "./session.js";
export { TrainingState, type TrainerState } from "./state.js";
