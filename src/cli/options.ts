/**
 * Flag parsers and shared options. Every value kind is checked once, by run/settings.ts's
 * parseValue; here its errors become commander's InvalidArgumentError (one usage line).
 */
import { InvalidArgumentError, Option, type Command } from "commander";
import { OptionError } from "../errors.js";
import { existsSync } from "node:fs";
import type { FetchOptions } from "../hub/download.js";
import type { WeightsEntry } from "../hub/entry.js";
import { findWeights } from "../hub/registry.js";
import { loadModel, type LoadedModel, type LoadModelOptions } from "../inference/load.js";
import { readOnnxModel, type OnnxModel } from "../inference/onnx_model.js";
import { Predictor } from "../inference/predictor.js";
import { INTERPOLATIONS, type Interpolation, type Preprocessing } from "../models/preprocessing.js";
import { DEFAULT_MAX_IMAGE_PIXELS, setMaxImagePixels } from "../data/image.js";
import { downloadDisplay } from "./download_progress.js";
import { parseValue, runOption, type RunOption, type ValueKind } from "../run/settings.js";
import { printableLines } from "../text.js";

function parser(flag: string, kind: ValueKind) {
  return (text: string): number => parseValue({ flag, kind }, text, (m) => new InvalidArgumentError(m)) as number;
}

export const positiveInt = (flag: string) => parser(flag, "positiveInt");
export const nonNegativeInt = (flag: string) => parser(flag, "nonNegativeInt");
export const positiveNumber = (flag: string) => parser(flag, "positiveNumber");
export const nonNegativeNumber = (flag: string) => parser(flag, "nonNegativeNumber");

/** A commander option from a row of the run-settings table. */
export function optionFrom(row: RunOption): Option {
  const option = new Option(row.flag, row.help);
  if (typeof row.kind === "object") option.choices(row.kind.choices);
  else if (row.kind !== "boolean" && row.kind !== "negatable")
    option.argParser((text: string) => parseValue(row, text, (m) => new InvalidArgumentError(m)));
  // Negatable flags (--no-augment) carry their default themselves.
  if (row.default !== undefined && row.kind !== "negatable") option.default(row.default);
  return option;
}

/** The architecture options every model-building command takes (α for MobileNets, φ for EfficientNet). */
export interface ArchFlags {
  widthMult?: number;
  phi?: number;
}

export function addArchFlags(command: Command): Command {
  return command.addOption(optionFrom(runOption("widthMult"))).addOption(optionFrom(runOption("phi")));
}

/**
 * `--max-image-pixels N`, a program-wide flag (before or after the command): images declaring more decoded
 * pixels are refused before decoding (data/image.ts); the limit reaches the data worker threads too.
 */
export function addImageLimitFlag(program: Command): Command {
  return program
    .option(
      "--max-image-pixels <N>",
      `refuse images of more than N decoded pixels (width × height; default ${DEFAULT_MAX_IMAGE_PIXELS}, also CONVZOO_MAX_IMAGE_PIXELS)`,
      positiveInt("--max-image-pixels"),
    )
    .hook("preAction", (command) => {
      const pixels = command.opts<{ maxImagePixels?: number }>().maxImagePixels;
      if (pixels !== undefined) setMaxImagePixels(pixels);
    });
}

/** The flags every command that takes `--weights` shares: offline, and the transform's overrides. */
export interface WeightsFlags {
  offline?: boolean;
  resizeSize?: number;
  cropSize?: number;
  interpolation?: Interpolation;
  mean?: [number, number, number];
  std?: [number, number, number];
  allowNonFinite?: boolean;
}

function rgb(flag: string, kind: "rgb" | "positiveRgb") {
  return (text: string) => parseValue({ flag, kind }, text, (m) => new InvalidArgumentError(m)) as [number, number, number];
}

/** `--offline` and timm-style overrides of the weights' eval transform. */
export function addWeightsFlags(command: Command): Command {
  return command
    .option("--offline", "never use the network: named weights must already be cached (also CONVZOO_OFFLINE=1)")
    .option(
      "--resize-size <N>",
      "override the weights' resize size (the shorter side, before the centre crop)",
      positiveInt("--resize-size"),
    )
    .option("--crop-size <N>", "override the weights' centre-crop size", positiveInt("--crop-size"))
    .addOption(new Option("--interpolation <mode>", "override the weights' resize interpolation").choices(INTERPOLATIONS))
    .option("--mean <r,g,b>", "override the weights' normalisation mean", rgb("--mean", "rgb"))
    .option("--std <r,g,b>", "override the weights' normalisation std", rgb("--std", "positiveRgb"))
    .option("--allow-non-finite", "load weights holding NaN or infinite values (refused by default: they predict NaN)");
}

/** The weights' transform with the flags' overrides applied (and checked as a whole). */
export function withOverrides(p: Preprocessing, flags: WeightsFlags): Preprocessing {
  const out: Preprocessing = {
    resizeSize: flags.resizeSize ?? p.resizeSize,
    cropSize: flags.cropSize ?? p.cropSize,
    interpolation: flags.interpolation ?? p.interpolation,
    mean: flags.mean ?? p.mean,
    std: flags.std ?? p.std,
  };
  // Only a crop raised alone pulls the resize along; given both, they must agree.
  if (flags.cropSize !== undefined && flags.resizeSize === undefined && out.resizeSize < out.cropSize) out.resizeSize = out.cropSize;
  if (out.cropSize > out.resizeSize) throw new OptionError(`--crop-size ${out.cropSize} exceeds the resize size ${out.resizeSize}`);
  return out;
}

/** One line naming the transform in use and where it comes from. */
export function describePreprocessing(p: Preprocessing, source: string): string {
  const n = (v: readonly number[]) => v.map((x) => Number(x.toFixed(5))).join(",");
  return `preprocessing (${source}): resize ${p.resizeSize} ${p.interpolation}, crop ${p.cropSize}, mean ${n(p.mean)}, std ${n(p.std)}`;
}

/** Fetch options for named weights: offline from the flag, a progress display (labelled) while downloading. */
export function downloadOptions(flags: WeightsFlags, label = "weights"): FetchOptions {
  let display: ReturnType<typeof downloadDisplay> | null = null;
  return {
    offline: flags.offline,
    onNote: (line) => console.error(printableLines(line)),
    onProgress: (p) => {
      display ??= downloadDisplay(label);
      display.onProgress(p);
      if (p.total !== null && p.received >= p.total) display.stop();
    },
  };
}

/** What a command that runs a model needs from `--weights` and its flags. */
export interface InferenceSetup {
  loaded: LoadedModel;
  preprocessing: Preprocessing;
  resolution: number;
}

/**
 * Loads `--weights` (a file or a registry name, downloaded once) for inference, applies the
 * transform overrides, prints the notes and the transform in use on stderr, and picks the input
 * side: the flag's, the checkpoint's, the transform's crop (named weights or overrides), else the
 * architecture's.
 */
export async function loadForInference(
  request: Omit<LoadModelOptions, "download">,
  flags: WeightsFlags & { resolution?: number },
  needsClassifierTo?: string,
): Promise<InferenceSetup> {
  // Before any download: weights without a classifier cannot classify.
  const named = request.weights && !existsSync(request.weights) ? findWeights(request.weights, request.arch) : undefined;
  if (named && needsClassifierTo) requireClassifier(named, needsClassifierTo);
  const loaded = await loadModel({
    ...request,
    allowNonFinite: flags.allowNonFinite ?? request.allowNonFinite,
    download: downloadOptions(flags, request.weights),
  });
  if (needsClassifierTo) requireClassifier(loaded.entry, needsClassifierTo);
  for (const note of loaded.notes) console.error(`note: ${printableLines(note)}`);
  const overridden = [flags.resizeSize, flags.cropSize, flags.interpolation, flags.mean, flags.std].some((v) => v !== undefined);
  const preprocessing = withOverrides(loaded.preprocessing, flags);
  const fromCheckpoint = loaded.metadata?.resolution as number | undefined;
  const fromTransform = loaded.entry || overridden ? preprocessing.cropSize : undefined;
  const resolution = flags.resolution ?? fromCheckpoint ?? fromTransform ?? loaded.model.defaultResolution;
  const source = [
    loaded.entry?.name ?? (loaded.metadata ? "checkpoint" : `${loaded.model.arch} default`),
    overridden ? "overridden by flags" : "",
  ];
  console.error(describePreprocessing(preprocessing, source.filter(Boolean).join(", ")));
  return { loaded, preprocessing, resolution };
}

/** Named weights without a classifier (vgg16.IMAGENET1K_FEATURES) cannot classify: say what they are for. */
export function requireClassifier(e: WeightsEntry | null, command: string): void {
  if (e && e.numClasses === null) {
    throw new OptionError(
      `${e.name} has no trained classifier (only the convolutional features hold trained values), so it cannot ${command}: ` +
        `use it as a backbone with \`convzoo train DIR --weights ${e.name}\`, or export its features with ` +
        `\`convzoo export --weights ${e.name} --features\``,
    );
  }
}

/** The weights-only flags make no sense with `--onnx` (the model carries its weights, arch and transform). */
const WEIGHTS_ONLY_FLAGS = ["weights", "arch", "widthMult", "phi", "resolution", "cropSize"] as const;

/**
 * `--onnx model.onnx` (from `convzoo export` or `quantize`): checks that no weights flag was given,
 * reads the model and its metadata, prints its transform on stderr; `--interpolation --mean --std` still override.
 */
export async function readOnnxFlag(path: string, flags: WeightsFlags): Promise<OnnxModel> {
  const clash = WEIGHTS_ONLY_FLAGS.filter((k) => (flags as Record<string, unknown>)[k] !== undefined);
  if (clash.length) throw new OptionError(`--onnx takes the model with its weights, architecture and input size: drop ${flagNames(clash)}`);
  const onnx = await readOnnxModel(path);
  onnx.preprocessing = withOverrides(onnx.preprocessing, flags);
  const kind = onnx.quantization ? `, ${String(onnx.quantization.mode)}` : "";
  console.error(describePreprocessing(onnx.preprocessing, `${path}${kind}`));
  return onnx;
}

/** A predictor for `--onnx`; it must output class scores (`probabilities` or `logits`) to `purpose`. */
export async function onnxPredictor(path: string, flags: WeightsFlags & { threads?: number }, purpose: string): Promise<Predictor> {
  const onnx = await readOnnxFlag(path, flags);
  if (!onnx.classes.length) throw new OptionError(`${path} has no class names, so it cannot ${purpose}`);
  return Predictor.fromOnnx(onnx, { threads: flags.threads });
}

/** ["widthMult", "phi"] → "--width-mult, --phi". */
export function flagNames(keys: readonly string[]): string {
  return keys.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(", ");
}
