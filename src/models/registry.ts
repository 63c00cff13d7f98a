/**
 * The registry of named architectures. Each family file registers its variants with a one-line
 * description and the options it accepts; `createModel` checks options against those ranges so a
 * bad α or an unknown name is one clear OptionError.
 */
import { IMAGENET_EVAL, type Preprocessing } from "./preprocessing.js";
import { OptionError } from "../errors.js";
import { shown } from "../text.js";
import type { Module } from "../nn/module.js";
import type { Model, ModelOptions, Padding, ResolvedOptions } from "./model.js";

export interface Range {
  min: number;
  /** Exclusive lower bound when true (α ∈ (0, max]). */
  minExclusive?: boolean;
  max: number;
  default: number;
}

export interface ArchSpec {
  name: string;
  family: string;
  description: string;
  /** The input side the architecture was designed for; may depend on options (EfficientNet's φ). */
  defaultResolution: number | ((options: ResolvedOptions) => number);
  minResolution: number;
  /** Ranges of the family-specific options this architecture accepts. */
  accepts?: { widthMult?: Range; dropout?: Range; phi?: Range; dropPath?: Range; padding?: readonly Padding[] };
  preprocessing?: Preprocessing | ((options: ResolvedOptions) => Preprocessing);
  /** Derived figures `summary` shows (scaling factors, block counts …). */
  details?: (options: ResolvedOptions) => Record<string, number | string>;
  build(options: ResolvedOptions): BuiltNet;
}

/** What a family builder returns: the tree plus the names that split it into backbone and head. */
export interface BuiltNet {
  net: Module;
  /** Path of the final classifier layer (re-initialised for a new class count). */
  classifier: string;
  /** Path prefixes of the head (everything after global pooling: what `--strategy head` trains). */
  head: string[];
  /**
   * Paths of the modules whose outputs are the backbone's feature maps, shallow to deep, one per
   * stage (reduction 2, 4, 8, 16, 32 as the net has them); the last is the final feature map.
   */
  stages: string[];
  /**
   * Path prefixes a checkpoint may lack (GoogLeNet's training-only auxiliary classifiers, which
   * torchvision's pretrained files omit); they keep their initialisation when absent.
   */
  optional?: string[];
}

const specs = new Map<string, ArchSpec>();

export function registerArch(spec: ArchSpec): void {
  if (specs.has(spec.name)) throw new Error(`architecture ${spec.name} registered twice`);
  specs.set(spec.name, spec);
}

export function listArchs(): ArchSpec[] {
  return [...specs.values()];
}

export function getArch(name: string): ArchSpec {
  const spec = specs.get(name);
  if (!spec) {
    // The edit distance costs length × length: a name far longer than any registered one gets no hint.
    const close = name.length <= 64 ? closestArchs(name) : [];
    const hint = close.length ? ` Did you mean ${close.slice(0, 6).join(", ")}?` : "";
    throw new OptionError(`unknown architecture "${shown(name)}".${hint} Run \`convzoo models\` for the list.`);
  }
  return spec;
}

/**
 * The registered names nearest to a mistyped one: the least edit distance after ignoring case,
 * '-', '_' and '.' (resnet-18 → resnet18, mobilenetv2 → mobilenet_v2, resnet51 → resnet50), if
 * that distance is small for the name's length; else the names of the same family prefix.
 */
function closestArchs(name: string): string[] {
  const norm = (n: string) => n.toLowerCase().replace(/[-_.\s]/g, "");
  const wanted = norm(name);
  const scored = [...specs.keys()].map((n) => ({ n, d: editDistance(wanted, norm(n)) }));
  const best = Math.min(...scored.map((s) => s.d));
  if (best <= Math.max(1, Math.floor(wanted.length / 4))) return scored.filter((s) => s.d === best).map((s) => s.n);
  return [...specs.keys()].filter((n) => n.startsWith(name.replace(/\d+.*$/, "")) || name.startsWith(n.replace(/_.*$/, "")));
}

/** Levenshtein distance (insertions, deletions, substitutions). */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length];
}

function checkRange(arch: string, flag: string, value: number, range: Range): number {
  const lowOk = range.minExclusive ? value > range.min : value >= range.min;
  if (!Number.isFinite(value) || !lowOk || value > range.max) {
    const low = range.minExclusive ? `(${range.min}` : `[${range.min}`;
    throw new OptionError(`${arch}: ${flag} must be in ${low}, ${range.max}], got ${value}`);
  }
  return value;
}

/** Builds an architecture by name with validated options (nothing is allocated until weights are needed). */
export function createModel(arch: string, options: ModelOptions = {}): Model {
  const spec = getArch(arch);
  const numClasses = options.numClasses ?? 1000;
  if (!Number.isInteger(numClasses) || numClasses < 1)
    throw new OptionError(`${arch}: numClasses must be a positive integer, got ${numClasses}`);
  const resolved: ResolvedOptions = { numClasses };
  if (options.widthMult !== undefined || spec.accepts?.widthMult) {
    if (!spec.accepts?.widthMult)
      throw new OptionError(`${arch} has no width multiplier (--width-mult); it applies to the MobileNet families`);
    resolved.widthMult = checkRange(
      arch,
      "width multiplier α",
      options.widthMult ?? spec.accepts.widthMult.default,
      spec.accepts.widthMult,
    );
  }
  if (options.phi !== undefined || spec.accepts?.phi) {
    if (!spec.accepts?.phi) throw new OptionError(`${arch} has no compound coefficient φ (--phi); it applies to \`efficientnet\``);
    resolved.phi = checkRange(arch, "compound coefficient φ", options.phi ?? spec.accepts.phi.default, spec.accepts.phi);
  }
  if (options.dropout !== undefined) {
    resolved.dropout = checkRange(arch, "dropout", options.dropout, spec.accepts?.dropout ?? { min: 0, max: 0.99, default: 0 });
  }
  if (options.dropPath !== undefined) {
    if (!spec.accepts?.dropPath)
      throw new OptionError(`${arch} has no stochastic depth (--drop-path); it applies to the EfficientNet families`);
    resolved.dropPath = checkRange(arch, "drop-path rate", options.dropPath, spec.accepts.dropPath);
  }
  if (options.padding !== undefined) {
    const allowed = spec.accepts?.padding;
    if (!allowed) throw new OptionError(`${arch} has no padding option; it applies to mobilenet_v1`);
    if (!allowed.includes(options.padding)) {
      throw new OptionError(`${arch}: padding must be one of ${allowed.join(", ")}, got ${String(options.padding)}`);
    }
    resolved.padding = options.padding;
  }
  const { net, classifier, head, stages, optional } = spec.build(resolved);
  return {
    arch,
    options: resolved,
    net,
    classifier,
    head,
    stages,
    optional: optional ?? [],
    defaultResolution: typeof spec.defaultResolution === "function" ? spec.defaultResolution(resolved) : spec.defaultResolution,
    minResolution: spec.minResolution,
    details: spec.details?.(resolved) ?? {},
    preprocessing: (typeof spec.preprocessing === "function" ? spec.preprocessing(resolved) : spec.preprocessing) ?? IMAGENET_EVAL,
  };
}

/**
 * A name filter in the manner of timm's `list_models('*resnet*')`: shell-style `*`, `?` and `[...]`,
 * case-insensitive, matching the whole name; a pattern without wildcards matches anywhere in it.
 */
export function globMatcher(pattern: string): (name: string) => boolean {
  const glob = /[*?[]/.test(pattern) ? pattern : `*${pattern}*`;
  let source = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    const close = c === "[" ? glob.indexOf("]", i + 2) : -1;
    if (c === "*") source += ".*";
    else if (c === "?") source += ".";
    else if (close > 0) {
      const set = glob.slice(i + 1, close);
      source += `[${set.startsWith("!") ? `^${set.slice(1)}` : set}]`.replace(/\\/g, "\\\\");
      i = close;
    } else source += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  const re = new RegExp(`^${source}$`, "i");
  return (name) => re.test(name);
}
