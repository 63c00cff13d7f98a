/**
 * Building a model from a weights file (Node): the architecture and class count come from the
 * flags, from the checkpoint's convzoo metadata, or from the shape of its classifier, in that order.
 */
import { IMAGENET_CLASSES } from "../data/imagenet_classes.js";
import type { Preprocessing } from "../models/preprocessing.js";
import { OptionError, WeightsError } from "../errors.js";
import { initializeWeights } from "../models/bind.js";
import { createModel } from "../models/registry.js";
import type { Model, ModelOptions } from "../models/model.js";
import type { CheckpointMetadata } from "../weights/checkpoint.js";
import { readWeightsFile } from "../weights/files.js";
import { loadStateDict, stripModulePrefix } from "../weights/load.js";

export interface LoadModelOptions extends ModelOptions {
  /** Registry name; optional when the weights are a convzoo checkpoint (its metadata names it). */
  arch?: string;
  /** A torchvision .pth or a safetensors file. Without it the model keeps its seeded random init. */
  weights?: string;
  /**
   * Seed of the initial values of whatever the weights do not provide (everything without
   * `weights`; a re-initialised classifier; GoogLeNet's auxiliary heads); default 0.
   */
  seed?: number;
}

export interface LoadedModel {
  model: Model;
  /** Class names for the outputs: the checkpoint's, ImageNet's for 1000 classes, else `class_i`. */
  classes: string[];
  preprocessing: Preprocessing;
  metadata: CheckpointMetadata | null;
  /** Things the user should be told (e.g. a re-initialised classifier). */
  notes: string[];
}

export function defaultClassNames(numClasses: number): string[] {
  return numClasses === IMAGENET_CLASSES.length ? [...IMAGENET_CLASSES] : Array.from({ length: numClasses }, (_, i) => `class_${i}`);
}

export async function loadModel(options: LoadModelOptions): Promise<LoadedModel> {
  if (!options.weights) {
    if (!options.arch) throw new OptionError("an architecture is required (--arch)");
    const model = initializeWeights(createModel(options.arch, options), options.seed);
    return { model, classes: defaultClassNames(model.options.numClasses), preprocessing: model.preprocessing, metadata: null, notes: [] };
  }
  const file = await readWeightsFile(options.weights);
  const meta = file.metadata;
  if (options.arch && meta && meta.arch !== options.arch) {
    throw new WeightsError(`${file.path}: checkpoint is for ${meta.arch}, but --arch ${options.arch} was given`);
  }
  const arch = options.arch ?? meta?.arch;
  if (!arch) throw new OptionError(`${file.path} has no convzoo metadata naming its architecture: pass --arch`);

  const tensors = stripModulePrefix(file.tensors);
  const base: ModelOptions = { ...meta?.options, ...definedOnly(options) };
  if (base.numClasses === undefined) {
    // A plain state_dict: take the class count from the classifier's weight, so a fine-tuned
    // torchvision checkpoint loads as it was trained rather than being re-initialised.
    const probe = createModel(arch, base);
    const w = tensors.get(`${probe.classifier}.weight`);
    if (w) base.numClasses = w.shape[0];
  }
  const model = createModel(arch, base);
  const result = loadStateDict(model, tensors, file.path);
  initializeWeights(model, options.seed);
  const classes = meta?.classes && !result.classifierReinitialized ? meta.classes : defaultClassNames(model.options.numClasses);
  return { model, classes, preprocessing: meta?.preprocessing ?? model.preprocessing, metadata: meta, notes: result.notes };
}

function definedOnly(o: LoadModelOptions): ModelOptions {
  const out: ModelOptions = {};
  if (o.numClasses !== undefined) out.numClasses = o.numClasses;
  if (o.widthMult !== undefined) out.widthMult = o.widthMult;
  if (o.dropout !== undefined) out.dropout = o.dropout;
  if (o.phi !== undefined) out.phi = o.phi;
  if (o.dropPath !== undefined) out.dropPath = o.dropPath;
  return out;
}
