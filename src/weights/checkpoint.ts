/**
 * convzoo's native checkpoint: a safetensors file whose tensors are the torchvision state_dict
 * (PyTorch loads it with `load_state_dict(safetensors.torch.load_file(f))`) and whose metadata
 * holds one JSON entry, "convzoo", describing how to rebuild and use the model. Browser-safe.
 */
import { validatePreprocessing, type Preprocessing } from "../models/preprocessing.js";
import { WeightsError } from "../errors.js";
import type { ResolvedOptions } from "../models/model.js";
import type { Tensor } from "../tensor.js";

export const METADATA_KEY = "convzoo";

export interface CheckpointMetadata {
  /** Registry name of the architecture. */
  arch: string;
  /** Options the model was built with (numClasses, widthMult …). */
  options: ResolvedOptions;
  /** Class names, index-aligned with the classifier's outputs. */
  classes?: string[];
  /** The eval transform the weights expect. */
  preprocessing?: Preprocessing;
  /** Input side the model was trained at. */
  resolution?: number;
  /** Anything else a producer records (training strategy, metrics …). */
  [extra: string]: unknown;
}

export function encodeMetadata(meta: CheckpointMetadata): Record<string, string> {
  return { [METADATA_KEY]: JSON.stringify(meta), format: "pt" };
}

/** ResolvedOptions' numeric fields besides numClasses. */
const NUMERIC_OPTIONS = ["widthMult", "dropout", "phi", "dropPath"] as const;

/** A JSON value's kind for messages, with short values shown (a long one would flood the terminal). */
function jsonType(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return "an object";
  const text = JSON.stringify(v);
  return `${typeof v} ${text.length > 40 ? `${text.slice(0, 40)}…` : text}`;
}

/** Parses and checks the convzoo entry of a safetensors header; null when the file has none. */
export function decodeMetadata(raw: Record<string, string>, source: string): CheckpointMetadata | null {
  const text = raw[METADATA_KEY];
  if (text === undefined) return null;
  let meta: unknown;
  try {
    meta = JSON.parse(text);
  } catch (e) {
    throw new WeightsError(`${source}: metadata entry "${METADATA_KEY}" is not valid JSON (${(e as Error).message})`);
  }
  const m = meta as Partial<CheckpointMetadata> | null;
  if (!m || typeof m !== "object" || typeof m.arch !== "string") {
    throw new WeightsError(`${source}: metadata entry "${METADATA_KEY}" must be an object with a string "arch"`);
  }
  if (!m.options || typeof m.options !== "object" || !Number.isInteger(m.options.numClasses)) {
    throw new WeightsError(`${source}: metadata "options.numClasses" must be an integer`);
  }
  if (
    m.classes !== undefined &&
    (!Array.isArray(m.classes) || m.classes.length !== m.options.numClasses || m.classes.some((c) => typeof c !== "string"))
  ) {
    throw new WeightsError(`${source}: metadata "classes" must be ${m.options.numClasses} strings`);
  }
  // Values are typed here, once: createModel and the commands trust ResolvedOptions' types.
  const options = m.options as unknown as Record<string, unknown>;
  for (const key of NUMERIC_OPTIONS) {
    if (options[key] !== undefined && typeof options[key] !== "number") {
      throw new WeightsError(`${source}: metadata "options.${key}" must be a number, found ${jsonType(options[key])}`);
    }
  }
  if (options.padding !== undefined && options.padding !== "symmetric" && options.padding !== "tf") {
    throw new WeightsError(`${source}: metadata "options.padding" must be "symmetric" or "tf", found ${jsonType(options.padding)}`);
  }
  if (m.resolution !== undefined && !(Number.isInteger(m.resolution) && (m.resolution as number) > 0)) {
    throw new WeightsError(`${source}: metadata "resolution" must be a positive integer, found ${jsonType(m.resolution)}`);
  }
  const preprocessing = m.preprocessing === undefined ? undefined : validatePreprocessing(m.preprocessing, source);
  return { ...(m as CheckpointMetadata), preprocessing };
}

/**
 * A checkpoint's metadata must agree with its own classifier: a model is built for the metadata's class
 * count before the tensors are checked, and a classifier that disagrees would be re-initialised (the
 * transfer-learning case) at that count, so a few bytes of JSON declaring millions of classes would allocate
 * GBs. `classifier` is the model's classifier prefix (`fc`, `classifier.3`).
 */
export function checkMetadataClassifier(
  meta: CheckpointMetadata,
  tensors: ReadonlyMap<string, Tensor>,
  classifier: string,
  source: string,
): void {
  const weight = tensors.get(`${classifier}.weight`);
  if (weight === undefined) return; // loadStateDict lists it as missing
  if (weight.shape[0] !== meta.options.numClasses) {
    throw new WeightsError(
      `${source}: metadata declares ${meta.options.numClasses} classes, but its classifier ${classifier}.weight has ` +
        `${weight.shape[0]} outputs (shape [${weight.shape.join(", ")}])`,
    );
  }
}
