export { targetDistribution, trainingGraph, underPrefix } from "./graph.js";
export type { OptimizerOptions, SgdOptions, StateEntry, TrainingGraph, TrainingGraphOptions } from "./graph.js";
export { Trainer, type TrainerOptions } from "./session.js";
