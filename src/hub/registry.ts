/**
 * The registry of named weights: `<arch>.<tag>` (`resnet50.IMAGENET1K_V2`), `<arch>.DEFAULT`, or a
 * bare tag with the architecture given separately (`--arch resnet50 --weights DEFAULT`). One table
 * a reader can scan (torchvision's, then Keras's MobileNet V1), decoded here into WeightsEntry.
 */
import { IMAGENET_CLASSES } from "../data/imagenet_classes.js";
import { OptionError } from "../errors.js";
import { globMatcher } from "../models/registry.js";
import type { TorchvisionWeights, WeightsEntry } from "./entry.js";
import { KERAS_MOBILENET_V1 } from "./keras.js";
import { TORCHVISION_WEIGHTS } from "./torchvision.js";

const entries = new Map<string, WeightsEntry>();

/** The file name torch.hub gives a URL's download (its last path segment). */
export function fileNameOf(url: string): string {
  const file = new URL(url).pathname.split("/").pop();
  if (!file) throw new OptionError(`${url}: the URL names no file`);
  return file;
}

function fromTorchvision(row: TorchvisionWeights): WeightsEntry {
  const [arch, tag] = row.name.split(".");
  return {
    name: row.name,
    arch,
    tag,
    url: row.url,
    file: fileNameOf(row.url),
    format: "torchvision",
    transforms: row.transforms,
    metrics: row.metrics,
    numParams: row.numParams,
    minSize: row.minSize,
    numClasses: row.classes === "imagenet1k" ? IMAGENET_CLASSES.length : null,
    classes: row.classes === "imagenet1k" ? IMAGENET_CLASSES : null,
    recipe: row.recipe,
    isDefault: row.default === true,
    source: "torchvision 0.14 (torchvision.models)",
  };
}

/** Adds an entry (the built-in tables, a test's local server, a user's own hub). */
export function registerWeights(entry: WeightsEntry): void {
  if (entries.has(entry.name)) throw new Error(`weights ${entry.name} registered twice`);
  if (entry.name !== `${entry.arch}.${entry.tag}`) throw new Error(`weights name ${entry.name} is not ${entry.arch}.${entry.tag}`);
  entries.set(entry.name, entry);
}

/** Removes an entry registered by registerWeights (tests). */
export function unregisterWeights(name: string): void {
  entries.delete(name);
}

for (const row of TORCHVISION_WEIGHTS) registerWeights(fromTorchvision(row));
for (const entry of KERAS_MOBILENET_V1) registerWeights(entry);

/** Every entry, or those whose name matches a glob (`resnet*`, `*IMAGENET1K_V2`; a bare word matches anywhere). */
export function listWeights(pattern?: string): WeightsEntry[] {
  const all = [...entries.values()];
  if (!pattern) return all;
  const matches = globMatcher(pattern);
  return all.filter((e) => matches(e.name));
}

/** The entry with this exact name (`resnet50.IMAGENET1K_V1`), if there is one. */
export function getWeights(name: string): WeightsEntry | undefined {
  return entries.get(name);
}

/** The arch's DEFAULT entry, if it has any weights. */
export function defaultWeights(arch: string): WeightsEntry | undefined {
  return [...entries.values()].find((e) => e.arch === arch && e.isDefault);
}

/** True when text has the shape of a weights name (`arch.TAG`, or a bare upper-case tag). */
export function looksLikeWeightsName(text: string): boolean {
  return /^[a-z0-9_]+\.[A-Z0-9_]+$/.test(text) || /^[A-Z][A-Z0-9_]*$/.test(text);
}

/**
 * The entry a name stands for: `arch.TAG`, `arch.DEFAULT`, or with `arch` given a bare `TAG` /
 * `DEFAULT`. Undefined when the text names no entry (it may be a file path); an OptionError when
 * it has a weights name's shape but no entry matches, naming what exists.
 */
export function findWeights(text: string, arch?: string): WeightsEntry | undefined {
  const dot = text.lastIndexOf(".");
  const [a, tag] = dot > 0 && /^[A-Z0-9_]+$/.test(text.slice(dot + 1)) ? [text.slice(0, dot), text.slice(dot + 1)] : [arch, text];
  if (a === undefined || !/^[A-Z][A-Z0-9_]*$/.test(tag)) return undefined;
  if (arch !== undefined && a !== arch) throw new OptionError(`--weights ${text} is for ${a}, but --arch ${arch} was given`);
  const entry = tag === "DEFAULT" ? defaultWeights(a) : entries.get(`${a}.${tag}`);
  if (entry) return entry;
  const known = [...entries.values()].filter((e) => e.arch === a).map((e) => e.name);
  const hint = known.length
    ? `; ${a} has ${known.join(", ")} (and ${a}.DEFAULT)`
    : `; no pretrained weights are registered for ${a} (\`convzoo weights list\` shows them all)`;
  throw new OptionError(`unknown weights "${a}.${tag}"${hint}`);
}

/** The entry whose file this is (a torchvision .pth by its torch.hub name), so its transform applies. */
export function weightsForFile(fileName: string): WeightsEntry | undefined {
  return [...entries.values()].find((e) => e.file === fileName);
}
