/**
 * EfficientNet (Tan & Le, ICML 2019) and EfficientNetV2 (Tan & Le, ICML 2021), built as torchvision's
 * efficientnet.py (same state_dict keys). Every variant is data (stage table, width/depth multipliers, head
 * width, dropout, BatchNorm settings, eval transform) decoded by one builder:
 *
 * - `efficientnet_b0` … `efficientnet_b7`: B0's Table 1 scaled by torchvision's (width, depth).
 * - `efficientnet`: compound scaling (§3.3, Eq. 3) for any φ in [0, 8]: depth 1.2^φ, width 1.1^φ, resolution 1.15^φ.
 * - `efficientnet_v2_s/_m/_l`: Fused-MBConv early stages, torchvision's tables.
 * - `efficientnet_v2_xl`: not in torchvision; the paper's largest model, table from timm/automl.
 */
import type { Value } from "../graph/ir.js";
import * as ops from "../graph/ops.js";
import { IMAGENET_EVAL, preprocessingForResolution, type Preprocessing } from "./preprocessing.js";
import { Conv2dNormActivation, makeDivisible, SqueezeExcitation, type NormFactory } from "../nn/blocks.js";
import type { ForwardContext } from "../nn/context.js";
import { AdaptiveAvgPool2d, BatchNorm2d, Dropout, Linear, Sequential, SiLU, StochasticDepth } from "../nn/layers.js";
import { Module } from "../nn/module.js";
import { initWeights } from "../nn/init.js";
import { init } from "../nn/parameter.js";
import type { ResolvedOptions } from "./model.js";
import { registerArch, type BuiltNet } from "./registry.js";
import { StageRecorder } from "./stages.js";

const silu = () => new SiLU();

/** MBConv: expand 1x1 → depthwise k×k → SE → linear 1x1. Fused-MBConv: one k×k conv → linear 1x1. */
export type BlockKind = "mbconv" | "fused";

/**
 * One stage of a stage table: block type, expansion ratio, kernel, stride of the stage's first
 * block, input and output channels, number of blocks — the columns of torchvision's
 * MBConvConfig (EfficientNet Table 1, EfficientNetV2 Table 4).
 */
export type StageRow = readonly [
  block: BlockKind,
  expand: number,
  kernel: number,
  stride: number,
  inChannels: number,
  outChannels: number,
  layers: number,
];

/** A stage after width/depth scaling (torchvision's MBConvConfig / FusedMBConvConfig). */
export interface StageConfig {
  block: BlockKind;
  expandRatio: number;
  kernel: number;
  stride: number;
  inputChannels: number;
  outputChannels: number;
  numLayers: number;
}

/** torchvision's MBConvConfig.adjust_channels: `_make_divisible(ch * width_mult, 8)`. */
export const adjustChannels = (channels: number, widthMult: number): number => makeDivisible(channels * widthMult, 8);

/**
 * torchvision's MBConvConfig.adjust_depth: `ceil(layers * depth_mult)`. The 1e-9 only absorbs
 * floating-point noise of α^φ (a product that is mathematically an integer must not gain a block);
 * no torchvision variant comes within 1e-9 of an integer, so they are unaffected (parity-tested).
 */
export const adjustDepth = (layers: number, depthMult: number): number => Math.ceil(layers * depthMult - 1e-9);

/** Width and depth scaling happen inside the config, as in torchvision (not in the builder). */
export function scaleStages(table: readonly StageRow[], widthMult = 1, depthMult = 1): StageConfig[] {
  return table.map(([block, expandRatio, kernel, stride, inC, outC, layers]) => ({
    block,
    expandRatio,
    kernel,
    stride,
    inputChannels: adjustChannels(inC, widthMult),
    outputChannels: adjustChannels(outC, widthMult),
    numLayers: adjustDepth(layers, depthMult),
  }));
}

/** What one block needs: its stage's config with this block's input channels and stride. */
interface BlockConfig {
  expandRatio: number;
  kernel: number;
  stride: number;
  inputChannels: number;
  outputChannels: number;
}

/** Both block types: a residual branch `block`, dropped per sample by stochastic depth in training. */
abstract class EfficientNetBlock extends Module {
  readonly useResidual: boolean;
  readonly block: Sequential;
  readonly stochasticDepth: StochasticDepth;

  constructor(cfg: BlockConfig, layers: Module[], stochasticDepthProb: number) {
    super();
    if (cfg.stride !== 1 && cfg.stride !== 2) throw new Error(`${new.target.name}: illegal stride ${cfg.stride}`);
    this.useResidual = cfg.stride === 1 && cfg.inputChannels === cfg.outputChannels;
    this.block = this.addModule("block", new Sequential(...layers));
    // Always present (no parameters), as in torchvision; only applied when there is a shortcut.
    this.stochasticDepth = this.addModule("stochastic_depth", new StochasticDepth(stochasticDepthProb, "row"));
  }

  forward(ctx: ForwardContext, x: Value): Value {
    const y = ctx.call(this.block, x);
    return this.useResidual ? ops.add(ctx.g, ctx.call(this.stochasticDepth, y), x) : y;
  }
}

/** Mobile inverted bottleneck (MobileNetV2's block, Sandler et al. 2018) with SE and SiLU. */
export class MBConv extends EfficientNetBlock {
  constructor(cfg: BlockConfig, stochasticDepthProb: number, norm: NormFactory) {
    const expanded = adjustChannels(cfg.inputChannels, cfg.expandRatio);
    const layers: Module[] = [];
    if (expanded !== cfg.inputChannels) layers.push(new Conv2dNormActivation(cfg.inputChannels, expanded, 1, { norm, activation: silu }));
    layers.push(
      new Conv2dNormActivation(expanded, expanded, cfg.kernel, { stride: cfg.stride, groups: expanded, norm, activation: silu }),
      // SE squeezes to a quarter of the block's INPUT channels (not the expanded ones): se_ratio 0.25
      // of input_filters in the reference TF code; gate activation SiLU, sigmoid scale.
      new SqueezeExcitation(expanded, Math.max(1, Math.floor(cfg.inputChannels / 4)), silu),
      new Conv2dNormActivation(expanded, cfg.outputChannels, 1, { norm, activation: null }),
    );
    super(cfg, layers, stochasticDepthProb);
  }
}

/**
 * Fused-MBConv (EfficientNetV2 §3.2, Fig. 2): the expansion 1x1 and the depthwise k×k are replaced
 * by one regular k×k conv — fewer, larger ops that accelerators run faster in the early, wide-map
 * stages. No SE. With expansion 1 it is a single conv (+ BN + SiLU).
 */
export class FusedMBConv extends EfficientNetBlock {
  constructor(cfg: BlockConfig, stochasticDepthProb: number, norm: NormFactory) {
    const expanded = adjustChannels(cfg.inputChannels, cfg.expandRatio);
    const layers: Module[] =
      expanded !== cfg.inputChannels
        ? [
            new Conv2dNormActivation(cfg.inputChannels, expanded, cfg.kernel, { stride: cfg.stride, norm, activation: silu }),
            new Conv2dNormActivation(expanded, cfg.outputChannels, 1, { norm, activation: null }),
          ]
        : [new Conv2dNormActivation(cfg.inputChannels, cfg.outputChannels, cfg.kernel, { stride: cfg.stride, norm, activation: silu })];
    super(cfg, layers, stochasticDepthProb);
  }
}

const BLOCKS: Record<BlockKind, new (cfg: BlockConfig, sdProb: number, norm: NormFactory) => EfficientNetBlock> = {
  mbconv: MBConv,
  fused: FusedMBConv,
};

/** BatchNorm settings in PyTorch's convention (ONNX momentum = 1 − momentum). */
export interface NormSettings {
  eps: number;
  momentum: number;
}

export interface EfficientNetConfig {
  stages: readonly StageConfig[];
  /** Classifier dropout (the paper raises it with model size: 0.2 for B0 … 0.5 for B7). */
  dropout: number;
  /** Final 1x1 conv width; null: 4 × the last stage's channels (V1: 1280 for B0). V2: 1280. */
  lastChannel: number | null;
  norm: NormSettings;
  /** Maximum stochastic-depth rate (Huang et al. 2016); torchvision uses 0.2 for every variant. */
  stochasticDepthProb?: number;
}

export class EfficientNet extends Module {
  readonly features: Sequential;
  readonly avgpool: AdaptiveAvgPool2d;
  readonly classifier: Sequential;
  /** The last stage at each stride 2 … 16 (features.0 is the stem), and the final 1x1 conv (stride 32). */
  readonly stages: readonly string[];

  constructor(cfg: EfficientNetConfig, numClasses: number) {
    super();
    if (cfg.stages.length === 0) throw new Error("EfficientNet: the stage table is empty");
    const norm: NormFactory = (c) => new BatchNorm2d(c, cfg.norm);
    const sdMax = cfg.stochasticDepthProb ?? 0.2;
    const stages = new StageRecorder();
    const features: Module[] = [];
    const add = (m: Module, stride: number) => {
      stages.add(`features.${features.length}`, stride);
      features.push(m);
    };

    add(new Conv2dNormActivation(3, cfg.stages[0].inputChannels, 3, { stride: 2, norm, activation: silu }), 2);
    const totalBlocks = cfg.stages.reduce((n, s) => n + s.numLayers, 0);
    let blockId = 0;
    for (const stage of cfg.stages) {
      const blocks: Module[] = [];
      for (let i = 0; i < stage.numLayers; i++) {
        // Only a stage's first block changes channels and stride.
        const inputChannels = i === 0 ? stage.inputChannels : stage.outputChannels;
        const blockCfg: BlockConfig = { ...stage, inputChannels, stride: i === 0 ? stage.stride : 1 };
        // Stochastic depth grows linearly with depth, 0 for the first block (torchvision's schedule).
        blocks.push(new BLOCKS[stage.block](blockCfg, (sdMax * blockId) / totalBlocks, norm));
        blockId++;
      }
      add(new Sequential(...blocks), stage.stride);
    }
    const lastIn = cfg.stages[cfg.stages.length - 1].outputChannels;
    const lastOut = cfg.lastChannel ?? 4 * lastIn;
    add(new Conv2dNormActivation(lastIn, lastOut, 1, { norm, activation: silu }), 1);
    this.features = this.addModule("features", new Sequential(...features));
    this.avgpool = this.addModule("avgpool", new AdaptiveAvgPool2d(1));
    this.classifier = this.addModule("classifier", new Sequential(new Dropout(cfg.dropout), new Linear(lastOut, numClasses)));
    this.stages = stages.stages;

    // torchvision: kaiming_normal_(fan_out) convs, Linear U(±1/√out_features), zero biases (BN: its default).
    initWeights(this, {
      conv: { weight: init.kaimingNormalFanOut, bias: init.zeros },
      linear: { weight: ([outFeatures]) => init.uniform(1 / Math.sqrt(outFeatures)), bias: init.zeros },
    });
  }

  forward(ctx: ForwardContext, x: Value): Value {
    const y = ctx.call(this.avgpool, ctx.call(this.features, x));
    return ctx.call(this.classifier, ops.flatten(ctx.g, y, 1));
  }
}

function built(cfg: EfficientNetConfig, numClasses: number): BuiltNet {
  const net = new EfficientNet(cfg, numClasses);
  return { net, classifier: "classifier.1", head: ["classifier"], stages: [...net.stages] };
}

// ---------------------------------------------------------------------------------------------
// EfficientNet B0–B7

/**
 * EfficientNet-B0, Table 1 of the paper (stage 1, the stem conv, and stage 9, the head, are built
 * around it): expand, kernel, stride, in, out, layers.
 */
const B0_TABLE: readonly StageRow[] = [
  ["mbconv", 1, 3, 1, 32, 16, 1], // MBConv1, k3x3, 112² → 112²
  ["mbconv", 6, 3, 2, 16, 24, 2], // MBConv6, k3x3, → 56²
  ["mbconv", 6, 5, 2, 24, 40, 2], // MBConv6, k5x5, → 28²
  ["mbconv", 6, 3, 2, 40, 80, 3], // MBConv6, k3x3, → 14²
  ["mbconv", 6, 5, 1, 80, 112, 3], // MBConv6, k5x5, 14²
  ["mbconv", 6, 5, 2, 112, 192, 4], // MBConv6, k5x5, → 7²
  ["mbconv", 6, 3, 1, 192, 320, 1], // MBConv6, k3x3, 7²
];

/** torchvision's default BatchNorm (B0–B4, whose weights are ports of timm's PyTorch training). */
const BN_TORCH: NormSettings = { eps: 1e-5, momentum: 0.1 };
/** TensorFlow's BN (eps 1e-3, decay 0.99): B5–B7, whose weights are ports of the TF checkpoints. */
const BN_TF: NormSettings = { eps: 1e-3, momentum: 0.01 };

/** torchvision's eval transform for a crop/resize pair: ImageNet mean/std, PIL bicubic or bilinear. */
const evalTransform = (
  cropSize: number,
  resizeSize: number,
  interpolation: Preprocessing["interpolation"],
  mean = IMAGENET_EVAL.mean,
  std = IMAGENET_EVAL.std,
): Preprocessing =>
  Object.freeze({
    cropSize,
    resizeSize,
    interpolation,
    mean: Object.freeze([...mean]) as [number, number, number],
    std: Object.freeze([...std]) as [number, number, number],
  });

interface V1Variant {
  /** torchvision's (width_mult, depth_mult): the paper's φ-derived coefficients, rounded by hand. */
  width: number;
  depth: number;
  dropout: number;
  norm: NormSettings;
  /** torchvision's IMAGENET1K_V1 weights' `ImageClassification(crop_size, resize_size, interpolation)`. */
  preprocessing: Preprocessing;
}

/**
 * The variants as torchvision defines them (efficientnet_b0 … b7). The crop size is each variant's
 * resolution (the paper's 224, 240, 260 …; torchvision's B2 uses 288 for the timm-trained weights).
 * B1's transform is its IMAGENET1K_V1 weights' (the ones whose 78.642% top-1 we report);
 * torchvision's DEFAULT for B1 is IMAGENET1K_V2 (crop 240, resize 255, bilinear).
 */
const V1_VARIANTS: Record<string, V1Variant> = {
  efficientnet_b0: { width: 1.0, depth: 1.0, dropout: 0.2, norm: BN_TORCH, preprocessing: evalTransform(224, 256, "bicubic") },
  efficientnet_b1: { width: 1.0, depth: 1.1, dropout: 0.2, norm: BN_TORCH, preprocessing: evalTransform(240, 256, "bicubic") },
  efficientnet_b2: { width: 1.1, depth: 1.2, dropout: 0.3, norm: BN_TORCH, preprocessing: evalTransform(288, 288, "bicubic") },
  efficientnet_b3: { width: 1.2, depth: 1.4, dropout: 0.3, norm: BN_TORCH, preprocessing: evalTransform(300, 320, "bicubic") },
  efficientnet_b4: { width: 1.4, depth: 1.8, dropout: 0.4, norm: BN_TORCH, preprocessing: evalTransform(380, 384, "bicubic") },
  efficientnet_b5: { width: 1.6, depth: 2.2, dropout: 0.4, norm: BN_TF, preprocessing: evalTransform(456, 456, "bicubic") },
  efficientnet_b6: { width: 1.8, depth: 2.6, dropout: 0.5, norm: BN_TF, preprocessing: evalTransform(528, 528, "bicubic") },
  efficientnet_b7: { width: 2.0, depth: 3.1, dropout: 0.5, norm: BN_TF, preprocessing: evalTransform(600, 600, "bicubic") },
};

const DROPOUT_RANGE = { min: 0, max: 0.99, default: 0.2 };
/** torchvision's stochastic_depth_prob, 0.2 for every EfficientNet (V1 and V2). */
const DROP_PATH_RANGE = { min: 0, max: 0.99, default: 0.2 };

for (const [name, v] of Object.entries(V1_VARIANTS)) {
  const stages = scaleStages(B0_TABLE, v.width, v.depth);
  const blocks = stages.reduce((n, s) => n + s.numLayers, 0);
  registerArch({
    name,
    family: "efficientnet",
    description:
      `EfficientNet-${name.slice(-2).toUpperCase()}: MBConv + SE + SiLU, B0 scaled by width ${v.width}, depth ${v.depth}, ` +
      `resolution ${v.preprocessing.cropSize} (Tan & Le 2019)`,
    defaultResolution: v.preprocessing.cropSize,
    minResolution: 32,
    accepts: { dropout: { ...DROPOUT_RANGE, default: v.dropout }, dropPath: DROP_PATH_RANGE },
    preprocessing: v.preprocessing,
    details: () => ({ widthMult: v.width, depthMult: v.depth, resolution: v.preprocessing.cropSize, blocks }),
    build: (o) =>
      built({ stages, dropout: o.dropout ?? v.dropout, lastChannel: null, norm: v.norm, stochasticDepthProb: o.dropPath }, o.numClasses),
  });
}

// ---------------------------------------------------------------------------------------------
// Compound scaling for any φ

/**
 * The paper's compound coefficients (§3.3, Eq. 3): a grid search on B0 under "twice the FLOPs"
 * found depth α = 1.2, width β = 1.1, resolution γ = 1.15, with α·β²·γ² ≈ 2 (1.92), so FLOPs grow
 * by about 2^φ.
 */
export const COMPOUND = Object.freeze({ alpha: 1.2, beta: 1.1, gamma: 1.15 });

/** Largest φ accepted: B7 is about φ = 7 in width (1.1⁷ ≈ 1.95); φ = 8 is already ~3x B0's input side. */
export const MAX_PHI = 8;

export interface CompoundScaling {
  phi: number;
  depthMult: number;
  widthMult: number;
  resolutionMult: number;
  /** round(224 · γ^φ), to the nearest integer (halves up): 224, 258, 296, 341 … */
  resolution: number;
  /** (α·β²·γ²)^φ: the factor by which FLOPs grow, ≈ 2^φ. */
  flopsMult: number;
}

export function compoundScaling(phi: number): CompoundScaling {
  const { alpha, beta, gamma } = COMPOUND;
  return {
    phi,
    depthMult: alpha ** phi,
    widthMult: beta ** phi,
    resolutionMult: gamma ** phi,
    resolution: Math.round(224 * gamma ** phi),
    flopsMult: (alpha * beta ** 2 * gamma ** 2) ** phi,
  };
}

const B0 = V1_VARIANTS.efficientnet_b0;

registerArch({
  name: "efficientnet",
  family: "efficientnet",
  description:
    "EfficientNet by the compound scaling rule for any φ in [0, 8] (--phi): " +
    "B0 with depth 1.2^φ, width 1.1^φ, resolution 1.15^φ (Tan & Le 2019, Eq. 3). " +
    "φ = 0 is B0; B1–B7 use hand-rounded coefficients, so φ = 1 is not efficientnet_b1",
  defaultResolution: (o) => compoundScaling(o.phi ?? 0).resolution,
  minResolution: 32,
  accepts: { phi: { min: 0, max: MAX_PHI, default: 0 }, dropout: DROPOUT_RANGE, dropPath: DROP_PATH_RANGE },
  // B0's recipe at the scaled crop: resize = floor(crop · 256/224), bicubic, ImageNet mean/std.
  preprocessing: (o: ResolvedOptions) => preprocessingForResolution(B0.preprocessing, compoundScaling(o.phi ?? 0).resolution),
  details: (o) => ({ ...compoundScaling(o.phi ?? 0) }),
  build: (o) => {
    const s = compoundScaling(o.phi ?? 0);
    // B0's BN and dropout: the paper raises dropout with size, but gives no rule in φ (--dropout overrides).
    const stages = scaleStages(B0_TABLE, s.widthMult, s.depthMult);
    const dropout = o.dropout ?? B0.dropout;
    return built({ stages, dropout, lastChannel: null, norm: B0.norm, stochasticDepthProb: o.dropPath }, o.numClasses);
  },
});

// ---------------------------------------------------------------------------------------------
// EfficientNetV2

interface V2Variant {
  description: string;
  /** Searched and scaled by hand in the paper (no width/depth multipliers): Table 4 for S. */
  table: readonly StageRow[];
  dropout: number;
  preprocessing: Preprocessing;
}

/** V2's BN: torchvision passes eps 1e-3 only, so its momentum stays PyTorch's 0.1. */
const BN_V2: NormSettings = { eps: 1e-3, momentum: 0.1 };
/** Google's V2 checkpoints (L, XL) were trained with inputs scaled to [-1, 1]. */
const HALF: [number, number, number] = [0.5, 0.5, 0.5];

const V2_VARIANTS: Record<string, V2Variant> = {
  // Table 4 of the V2 paper: Fused-MBConv in the first three stages, MBConv with SE 0.25 after.
  efficientnet_v2_s: {
    description: "EfficientNetV2-S: Fused-MBConv stages 1–3, MBConv + SE after (Tan & Le 2021, Table 4)",
    table: [
      ["fused", 1, 3, 1, 24, 24, 2],
      ["fused", 4, 3, 2, 24, 48, 4],
      ["fused", 4, 3, 2, 48, 64, 4],
      ["mbconv", 4, 3, 2, 64, 128, 6],
      ["mbconv", 6, 3, 1, 128, 160, 9],
      ["mbconv", 6, 3, 2, 160, 256, 15],
    ],
    dropout: 0.2,
    preprocessing: evalTransform(384, 384, "bilinear"),
  },
  // M and L: S scaled up with compound scaling as in V1 plus extra layers in the late stages (V2
  // paper §4.2), hence a seventh stage; rows from torchvision = the reference TF code's v2_m/l_block.
  efficientnet_v2_m: {
    description: "EfficientNetV2-M: Fused-MBConv stages 1–3, MBConv + SE after, 7 stages (Tan & Le 2021)",
    table: [
      ["fused", 1, 3, 1, 24, 24, 3],
      ["fused", 4, 3, 2, 24, 48, 5],
      ["fused", 4, 3, 2, 48, 80, 5],
      ["mbconv", 4, 3, 2, 80, 160, 7],
      ["mbconv", 6, 3, 1, 160, 176, 14],
      ["mbconv", 6, 3, 2, 176, 304, 18],
      ["mbconv", 6, 3, 1, 304, 512, 5],
    ],
    dropout: 0.3,
    preprocessing: evalTransform(480, 480, "bilinear"),
  },
  efficientnet_v2_l: {
    description: "EfficientNetV2-L: Fused-MBConv stages 1–3, MBConv + SE after, 7 stages (Tan & Le 2021)",
    table: [
      ["fused", 1, 3, 1, 32, 32, 4],
      ["fused", 4, 3, 2, 32, 64, 7],
      ["fused", 4, 3, 2, 64, 96, 7],
      ["mbconv", 4, 3, 2, 96, 192, 10],
      ["mbconv", 6, 3, 1, 192, 224, 19],
      ["mbconv", 6, 3, 2, 224, 384, 25],
      ["mbconv", 6, 3, 1, 384, 640, 7],
    ],
    dropout: 0.4,
    preprocessing: evalTransform(480, 480, "bicubic", HALF, HALF),
  },
  // Not in torchvision. Rows: timm's _gen_efficientnetv2_xl arch_def (= automl's v2_xl_block);
  // dropout 0.4 and eval size 512 from automl's efficientnetv2 hparams; transform of timm's
  // tf_efficientnetv2_xl.in21k_ft_in1k (crop_pct 1.0, bicubic, mean = std = 0.5; timm "squashes"
  // non-square images to 512x512, which resize 512 + centre crop 512 matches for square ones).
  // 208,119,808 parameters at 1000 classes: the paper's 208M (Table 7), timm's 208.12M.
  efficientnet_v2_xl: {
    description: "EfficientNetV2-XL: the V2 paper's largest model, 208M params (Tan & Le 2021, Table 7; configuration from timm/automl)",
    table: [
      ["fused", 1, 3, 1, 32, 32, 4],
      ["fused", 4, 3, 2, 32, 64, 8],
      ["fused", 4, 3, 2, 64, 96, 8],
      ["mbconv", 4, 3, 2, 96, 192, 16],
      ["mbconv", 6, 3, 1, 192, 256, 24],
      ["mbconv", 6, 3, 2, 256, 512, 32],
      ["mbconv", 6, 3, 1, 512, 640, 8],
    ],
    dropout: 0.4,
    preprocessing: evalTransform(512, 512, "bicubic", HALF, HALF),
  },
};

for (const [name, v] of Object.entries(V2_VARIANTS)) {
  const stages = scaleStages(v.table);
  const count = (kind: BlockKind) => stages.filter((s) => s.block === kind).reduce((n, s) => n + s.numLayers, 0);
  registerArch({
    name,
    family: "efficientnet_v2",
    description: v.description,
    defaultResolution: v.preprocessing.cropSize,
    minResolution: 32,
    accepts: { dropout: { ...DROPOUT_RANGE, default: v.dropout }, dropPath: DROP_PATH_RANGE },
    preprocessing: v.preprocessing,
    details: () => ({ fusedBlocks: count("fused"), mbconvBlocks: count("mbconv"), resolution: v.preprocessing.cropSize }),
    // Head: always 1280 channels (not 4 × the last stage as in V1).
    build: (o) =>
      built({ stages, dropout: o.dropout ?? v.dropout, lastChannel: 1280, norm: BN_V2, stochasticDepthProb: o.dropPath }, o.numClasses),
  });
}
