/** The module library: torch.nn-named layers and torchvision's shared blocks. */
export * from "./layers.js";
export * from "./blocks.js";
export { Module } from "./module.js";
export { Parameter, init, type Init } from "./parameter.js";
export { ForwardContext, type LayerRecord } from "./context.js";
