/**
 * `compare`: architectures side by side — parameters, MACs, measured batch-1 latency on this
 * machine, and the published ImageNet top-1 — so the lecture's comparisons can be re-run.
 */
import { OptionError } from "../errors.js";
import { initializeWeights } from "../models/bind.js";
import { createModel } from "../models/registry.js";
import type { ModelOptions } from "../models/model.js";
import { reportedAccuracy } from "../models/reported.js";
import { getWeights } from "../hub/registry.js";
import { summarize } from "../models/summary.js";
import { benchInference } from "./bench.js";

/** One entry: an arch with optional α, φ and resolution (`mobilenet_v1:alpha=0.5,res=160`). */
export interface CompareEntry {
  arch: string;
  widthMult?: number;
  phi?: number;
  resolution?: number;
}

export interface CompareRow {
  name: string;
  arch: string;
  widthMult?: number;
  phi?: number;
  resolution: number;
  params: number;
  macs: number;
  /** Median batch-1 latency in ms (absent with `latency: false`). */
  latencyMs?: number;
  paperTop1?: number;
  paperSource?: string;
  torchvisionTop1?: number;
}

/** The lecture's comparisons, ready to run (`convzoo compare --preset NAME`). */
export const COMPARE_PRESETS: Record<string, { description: string; entries: string[] }> = {
  "mobilenet-vs-classics": {
    description: "MobileNet V1 against VGG16 and GoogLeNet (MobileNet paper, Table 8)",
    entries: ["mobilenet_v1", "googlenet", "vgg16"],
  },
  "mobilenet-v1-alpha-rho": {
    description: "MobileNet V1 width multiplier α and resolution multiplier ρ (MobileNet paper, Tables 6 and 7)",
    entries: [
      "mobilenet_v1:alpha=1",
      "mobilenet_v1:alpha=0.75",
      "mobilenet_v1:alpha=0.5",
      "mobilenet_v1:alpha=0.25",
      "mobilenet_v1:alpha=1,res=192",
      "mobilenet_v1:alpha=1,res=160",
      "mobilenet_v1:alpha=1,res=128",
    ],
  },
  "plain-vs-residual": {
    description: "plain vs residual 18/34-layer nets (ResNet paper, Table 2)",
    entries: ["resnet18_plain", "resnet18", "resnet34_plain", "resnet34"],
  },
  mobilenets: {
    description: "MobileNet V1, V2, V3 Large/Small",
    entries: ["mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small"],
  },
  "efficientnet-b": {
    description: "EfficientNet B0–B7 at torchvision's native resolutions (B2: 288, the paper's 260) (EfficientNet paper, Table 2)",
    entries: [0, 1, 2, 3, 4, 5, 6, 7].map((i) => `efficientnet_b${i}`),
  },
  "efficientnet-v2": {
    description: "EfficientNetV2 S/M/L (EfficientNetV2 paper, Table 7)",
    entries: ["efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l"],
  },
};

const KEYS: Record<string, keyof Omit<CompareEntry, "arch">> = {
  alpha: "widthMult",
  res: "resolution",
  resolution: "resolution",
  phi: "phi",
};

export function parseCompareEntry(text: string): CompareEntry {
  const [arch, rest] = text.split(":", 2);
  const entry: CompareEntry = { arch };
  for (const part of rest ? rest.split(",") : []) {
    const [key, value] = part.split("=", 2);
    const field = KEYS[key];
    const n = Number(value);
    if (!field || value === undefined || !Number.isFinite(n)) {
      throw new OptionError(`compare entry "${text}": expected ARCH[:alpha=A][,res=N][,phi=P], e.g. mobilenet_v1:alpha=0.5,res=160`);
    }
    entry[field] = n;
  }
  return entry;
}

export interface CompareOptions {
  /** Resolution for entries that do not set their own (default: each arch's native one). */
  resolution?: number;
  /** Measure latency (default true). */
  latency?: boolean;
  runs?: number;
  threads?: number;
  /** Called before each entry's latency measurement (progress on long comparisons). */
  onProgress?: (done: number, total: number, name: string) => void;
}

export async function compare(entries: readonly CompareEntry[], options: CompareOptions = {}): Promise<CompareRow[]> {
  const rows: CompareRow[] = [];
  for (const [i, e] of entries.entries()) {
    const modelOptions: ModelOptions = { widthMult: e.widthMult, phi: e.phi };
    const model = createModel(e.arch, modelOptions);
    const resolution = e.resolution ?? options.resolution ?? model.defaultResolution;
    const s = summarize(model, resolution);
    const name = [e.arch, e.widthMult !== undefined ? `α=${e.widthMult}` : "", e.phi !== undefined ? `φ=${e.phi}` : ""]
      .filter(Boolean)
      .join(" ");
    const reported = reportedAccuracy(e.arch, model.options.widthMult, resolution, model.defaultResolution);
    const row: CompareRow = {
      name,
      arch: e.arch,
      widthMult: model.options.widthMult,
      phi: model.options.phi,
      resolution,
      params: s.params,
      macs: s.macs,
      paperTop1: reported?.paper?.top1,
      paperSource: reported?.paper?.source,
      torchvisionTop1: torchvisionTop1(e.arch, model.options.widthMult, resolution),
    };
    if (options.latency !== false) {
      options.onProgress?.(i, entries.length, name);
      const runs = options.runs ?? 10;
      initializeWeights(model);
      row.latencyMs = (await benchInference(model, { batchSize: 1, resolution, runs, warmup: 2, threads: options.threads })).medianMs;
    }
    rows.push(row);
  }
  return rows;
}

/**
 * torchvision's acc@1 for its IMAGENET1K_V1 weights of the arch (the registry's figure), where the
 * row is the one those weights were measured as: the default width, at the weights' crop size.
 */
function torchvisionTop1(arch: string, widthMult: number | undefined, resolution: number): number | undefined {
  const v1 = getWeights(`${arch}.IMAGENET1K_V1`);
  if (!v1?.metrics || (widthMult ?? 1) !== 1 || resolution !== v1.transforms.cropSize) return undefined;
  return v1.metrics.acc1;
}
