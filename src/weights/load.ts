/**
 * Strict loading of a state_dict into a model. Everything is checked before anything is assigned,
 * so a model is never half-loaded: missing, unexpected and wrong-shape keys are listed together in
 * one WeightsError. The one tolerated mismatch is the transfer-learning case — a classifier trained
 * for another class count — which is re-initialised with a note instead.
 */
import { WeightsError } from "../errors.js";
import type { Model } from "../models/model.js";
import type { Parameter } from "../nn/parameter.js";
import type { Tensor } from "../tensor.js";
import { formatShape, toFloat32 } from "../tensor.js";
import { shown } from "../text.js";

export interface LoadResult {
  /** Keys assigned from the checkpoint. */
  loaded: number;
  /** Human-readable notes (a re-initialised classifier), for the CLI to print. */
  notes: string[];
  /** True when the checkpoint's classifier had another class count and was re-initialised. */
  classifierReinitialized: boolean;
}

/** Buffers a checkpoint may omit: they carry no weights (PyTorch fills them in the same way). */
const OPTIONAL_SUFFIXES = [".num_batches_tracked"];

const LIST_LIMIT = 12;

function listed(title: string, items: string[]): string {
  // Keys come from the file: printable and shortened.
  const lines = items.slice(0, LIST_LIMIT).map((s) => `    ${shown(s, 200)}`);
  if (items.length > LIST_LIMIT) lines.push(`    … and ${items.length - LIST_LIMIT} more`);
  return `  ${title} (${items.length}):\n${lines.join("\n")}`;
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/** Strips DataParallel/DistributedDataParallel's `module.` prefix. */
export function stripModulePrefix(tensors: Map<string, Tensor>): Map<string, Tensor> {
  if (![...tensors.keys()].some((k) => k.startsWith("module."))) return tensors;
  return new Map([...tensors].map(([k, t]) => [k.startsWith("module.") ? k.slice("module.".length) : k, t]));
}

export interface LoadOptions {
  /**
   * Path prefixes whose tensors in the file are ignored and whose parameters are re-initialised
   * (weights whose classifier holds no trained values, such as vgg16.IMAGENET1K_FEATURES).
   */
  reinitialize?: readonly string[];
}

export function loadStateDict(model: Model, stateDict: Map<string, Tensor>, source: string, o: LoadOptions = {}): LoadResult {
  const reinitialize = o.reinitialize ?? [];
  const underReinit = (key: string) => reinitialize.some((prefix) => key === prefix || key.startsWith(`${prefix}.`));
  const tensors = new Map([...stripModulePrefix(stateDict)].filter(([key]) => !underReinit(key)));
  const expected = new Map<string, Parameter>(model.net.namedParameters());
  const classifierPrefix = `${model.classifier}.`;
  const missing: string[] = [];
  const wrongShape: string[] = [];
  const wrongType: string[] = [];
  const classifierMismatch: string[] = [];
  /** Optional parts (auxiliary classifiers) whose shapes differ: they keep their initialisation. */
  const optionalMismatch: string[] = [];

  const inOptionalPart = (key: string) => model.optional.some((prefix) => key.startsWith(`${prefix}.`));
  const optional = (key: string) => OPTIONAL_SUFFIXES.some((s) => key.endsWith(s)) || inOptionalPart(key);
  for (const [key, p] of expected) {
    const t = tensors.get(key);
    if (!t) {
      if (!optional(key) && !underReinit(key)) missing.push(key);
      continue;
    }
    if (!sameShape(t.shape, p.shape)) {
      if (inOptionalPart(key)) {
        optionalMismatch.push(key);
        continue;
      }
      // A classifier differing only in its output dimension is the transfer-learning case.
      const outputDimOnly =
        key.startsWith(classifierPrefix) && t.shape.length === p.shape.length && t.shape.slice(1).every((d, i) => d === p.shape[i + 1]);
      (outputDimOnly ? classifierMismatch : wrongShape).push(`${key}: expected ${formatShape(p.shape)}, found ${formatShape(t.shape)}`);
      continue;
    }
    const isFloat = t.dtype === "float32" || t.dtype === "float16" || t.dtype === "float64";
    if (p.dtype === "float32" ? !isFloat : t.dtype !== "int64") wrongType.push(`${key}: expected ${p.dtype}, found ${t.dtype}`);
  }
  const unexpected = [...tensors.keys()].filter((k) => !expected.has(k));

  const problems: string[] = [];
  if (missing.length) problems.push(listed("missing keys", missing));
  if (unexpected.length) problems.push(listed("unexpected keys", unexpected));
  if (wrongShape.length) problems.push(listed("wrong shapes", wrongShape));
  if (wrongType.length) problems.push(listed("wrong dtypes", wrongType));
  // A partly matching classifier (one key fits, another not) is corruption, not transfer learning.
  const classifierKeys = [...expected.keys()].filter(
    (k) => k.startsWith(classifierPrefix) && !OPTIONAL_SUFFIXES.some((s) => k.endsWith(s)),
  );
  const reinit = classifierMismatch.length > 0;
  if (reinit && classifierMismatch.length !== classifierKeys.filter((k) => tensors.has(k)).length) {
    problems.push(listed("classifier keys that disagree with each other", classifierMismatch));
  }
  if (problems.length) {
    throw new WeightsError(`${source} does not fit ${model.arch} (${model.options.numClasses} classes):\n${problems.join("\n")}`);
  }

  let loaded = 0;
  for (const [key, p] of expected) {
    const t = tensors.get(key);
    if ((reinit && key.startsWith(classifierPrefix)) || optionalMismatch.includes(key) || underReinit(key)) {
      p.reset();
      continue;
    }
    if (!t) continue;
    p.assign(p.dtype === "int64" ? (t.data as BigInt64Array).slice() : copyFloat32(t));
    loaded++;
  }
  const notes: string[] = [];
  if (reinit) {
    const found = tensors.get(classifierKeys[0])?.shape[0];
    notes.push(
      `${source}: classifier ${model.classifier} was trained for ${found} classes, the model has ` +
        `${model.options.numClasses}: ${model.classifier} is re-initialised (the transfer-learning case)`,
    );
  }
  if (reinitialize.length) notes.push(`${source}: ${reinitialize.join(", ")} hold no trained values: re-initialised`);
  if (optionalMismatch.length) {
    notes.push(`${source}: ${optionalMismatch.join(", ")} differ in shape (auxiliary heads for another class count): re-initialised`);
  }
  return { loaded, notes, classifierReinitialized: reinit };
}

/** A float32 copy that does not alias the checkpoint's buffer (which may be one big file). */
function copyFloat32(t: Tensor): Float32Array {
  const f = toFloat32(t).data;
  return f === t.data ? (f as Float32Array).slice() : (f as Float32Array);
}

/** The model's state_dict (parameters and buffers, torchvision keys and order). */
export function stateDict(model: Model): Map<string, Tensor> {
  return new Map([...model.net.namedParameters()].map(([k, p]) => [k, p.tensor]));
}
