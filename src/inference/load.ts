/**
 * Building a model from a weights file (Node): the architecture and class count come from the
 * flags, from the checkpoint's convzoo metadata, or from the shape of its classifier, in that order.
 */
import { existsSync } from "node:fs";
import { basename } from "node:path";
import { defaultClassNames } from "../data/imagenet_classes.js";
import { fetchWeights, type FetchOptions } from "../hub/download.js";
import type { WeightsEntry } from "../hub/entry.js";
import { findWeights, weightsForFile } from "../hub/registry.js";
import type { Preprocessing } from "../models/preprocessing.js";
import { OptionError, WeightsError } from "../errors.js";
import { initializeWeights } from "../models/bind.js";
import { createModel } from "../models/registry.js";
import type { Model, ModelOptions } from "../models/model.js";
import { checkMetadataClassifier, type CheckpointMetadata } from "../weights/checkpoint.js";
import { readWeightsFile } from "../weights/files.js";
import { refuseNonFinite } from "../weights/finite.js";
import { readKerasMobileNetV1 } from "../weights/keras.js";
import { loadStateDict, stripModulePrefix } from "../weights/load.js";
import { shown } from "../text.js";

export interface LoadModelOptions extends ModelOptions {
  /** Registry name; optional when the weights are a convzoo checkpoint (its metadata names it). */
  arch?: string;
  /**
   * A torchvision .pth or a safetensors file, or a registry name (`resnet50.IMAGENET1K_V2`,
   * `resnet50.DEFAULT`; `DEFAULT` with `arch`). Without it the model keeps its seeded random init.
   */
  weights?: string;
  /**
   * Seed of the initial values of whatever the weights do not provide (everything without
   * `weights`; a re-initialised classifier; GoogLeNet's auxiliary heads); default 0.
   */
  seed?: number;
  /** How named weights are fetched: offline, a mirror, progress (hub/download.ts). */
  download?: FetchOptions;
  /** Load weights holding NaN or ±Inf instead of refusing them (weights/finite.ts); default false. */
  allowNonFinite?: boolean;
}

export interface LoadedModel {
  model: Model;
  /** Class names for the outputs: the checkpoint's, ImageNet's for 1000 classes, else `class_i`. */
  classes: string[];
  preprocessing: Preprocessing;
  metadata: CheckpointMetadata | null;
  /** Things the user should be told (e.g. a re-initialised classifier). */
  notes: string[];
  /** The registry entry the weights are (by name, or a torchvision file by its file name). */
  entry: WeightsEntry | null;
}

/**
 * A model with its weights: a file (torchvision .pth, safetensors), a registry name
 * (`resnet50.IMAGENET1K_V2`, `resnet50.DEFAULT`, or `DEFAULT` with `arch`: downloaded once into the
 * cache and verified), or none (seeded random weights). Named weights, and torchvision files known
 * to the registry by their file name, bring their own eval transform and class names.
 */
export async function loadModel(options: LoadModelOptions): Promise<LoadedModel> {
  if (!options.weights) {
    if (!options.arch) throw new OptionError("an architecture is required (--arch)");
    const model = initializeWeights(createModel(options.arch, options), options.seed);
    return {
      model,
      classes: defaultClassNames(model.options.numClasses),
      preprocessing: model.preprocessing,
      metadata: null,
      notes: [],
      entry: null,
    };
  }
  const named = existsSync(options.weights) ? undefined : findWeights(options.weights, options.arch);
  if (!named && !existsSync(options.weights) && !options.arch && /^[A-Z][A-Z0-9_]*$/.test(options.weights)) {
    throw new OptionError(`--weights ${options.weights} names weights of an architecture: give --arch, or write <arch>.${options.weights}`);
  }
  const path = named ? await fetchWeights(named, options.download) : options.weights;
  const entry = named ?? weightsForFile(basename(path)) ?? null;
  // Keras's MobileNet V1 files are HDF5 in Keras's layer names and tensor layouts (weights/keras.ts).
  const file = entry?.format === "keras-mobilenet-v1" ? await readKerasMobileNetV1(path) : await readWeightsFile(path);
  const meta = file.metadata;
  if (options.arch && meta && meta.arch !== options.arch) {
    throw new WeightsError(`${file.path}: checkpoint is for ${shown(meta.arch)}, but --arch ${options.arch} was given`);
  }
  const arch = options.arch ?? meta?.arch ?? entry?.arch;
  if (!arch) throw new OptionError(`${file.path} has no convzoo metadata naming its architecture: pass --arch`);

  const tensors = stripModulePrefix(file.tensors);
  if (!options.allowNonFinite) refuseNonFinite(tensors, file.path, "--allow-non-finite loads them anyway");
  const base: ModelOptions = { ...entry?.modelOptions, ...meta?.options, ...definedOnly(options) };
  if (base.numClasses === undefined && entry?.numClasses) base.numClasses = entry.numClasses;
  if (base.numClasses === undefined) {
    // A plain state_dict: take the class count from the classifier's weight, so a fine-tuned
    // torchvision checkpoint loads as it was trained rather than being re-initialised.
    const probe = createModel(arch, base);
    const w = tensors.get(`${probe.classifier}.weight`);
    if (w) base.numClasses = w.shape[0];
  }
  const model = createModel(arch, base);
  if (meta && options.numClasses === undefined) checkMetadataClassifier(meta, tensors, model.classifier, file.path);
  // Weights without a trained classifier (vgg16.IMAGENET1K_FEATURES): the whole head starts afresh.
  const reinitialize = entry && entry.numClasses === null ? model.head : [];
  const result = loadStateDict(model, tensors, file.path, { reinitialize });
  initializeWeights(model, options.seed);
  const keepsClasses = !result.classifierReinitialized && reinitialize.length === 0;
  const classes = (keepsClasses && (meta?.classes ?? entry?.classes)) || defaultClassNames(model.options.numClasses);
  const preprocessing = meta?.preprocessing ?? entry?.transforms ?? model.preprocessing;
  return { model, classes: [...classes], preprocessing, metadata: meta, notes: result.notes, entry };
}

function definedOnly(o: LoadModelOptions): ModelOptions {
  const out: ModelOptions = {};
  if (o.numClasses !== undefined) out.numClasses = o.numClasses;
  if (o.widthMult !== undefined) out.widthMult = o.widthMult;
  if (o.dropout !== undefined) out.dropout = o.dropout;
  if (o.phi !== undefined) out.phi = o.phi;
  if (o.dropPath !== undefined) out.dropPath = o.dropPath;
  if (o.padding !== undefined) out.padding = o.padding;
  return out;
}
