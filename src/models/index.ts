/** Importing this module registers every architecture family. */
import "./resnet.js";
import "./mobilenet_v1.js";
import "./mobilenet_v2.js";
import "./mobilenet_v3.js";
import "./vgg.js";
import "./googlenet.js";
import "./efficientnet.js";

export { initializeWeights } from "./bind.js";
export { createModel, getArch, listArchs, registerArch, type ArchSpec } from "./registry.js";
export type { Model, ModelOptions, ResolvedOptions } from "./model.js";
