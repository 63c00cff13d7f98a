/**
 * MobileNetV3 (Howard et al., "Searching for MobileNetV3", 2019): MobileNetV2's inverted residual found by NAS +
 * NetAdapt, with SE in some blocks and hard-swish in the deeper half; built as torchvision's mobilenetv3.py
 * (same state_dict keys). Table 1 (Large) and Table 2 (Small) as data. α scales every width through
 * `_make_divisible`, the 1280/1024 head included: torchvision's rule, not the paper's for α < 1 (Table 3: Large
 * 0.75 has 4.0M params / 155M MAdds, torchvision's 3.38M / 140M). No `reduced_tail` / `dilated` options.
 */
import type { Value } from "../graph/ir.js";
import * as ops from "../graph/ops.js";
import { Conv2dNormActivation, makeDivisible, SqueezeExcitation, type ActivationFactory, type NormFactory } from "../nn/blocks.js";
import type { ForwardContext } from "../nn/context.js";
import { AdaptiveAvgPool2d, BatchNorm2d, Dropout, Hardsigmoid, Hardswish, Linear, ReLU, Sequential } from "../nn/layers.js";
import { Module } from "../nn/module.js";
import { FAN_OUT_INIT, initWeights } from "../nn/init.js";
import { registerArch, type BuiltNet } from "./registry.js";
import { StageRecorder } from "./stages.js";

/** Non-linearity column "NL" of the paper's tables: RE = ReLU, HS = hard-swish (§5.2). */
type Nonlinearity = "RE" | "HS";

/**
 * One bneck row of Table 1 / Table 2: kernel k×k, expansion size ("exp size"), output channels
 * ("#out"), squeeze-and-excite ("SE"), non-linearity ("NL"), stride ("s"). A row's input channels
 * are the previous row's output (the stem's for the first row).
 */
type BneckRow = readonly [kernel: number, expanded: number, out: number, se: boolean, nl: Nonlinearity, stride: 1 | 2];

interface Variant {
  /** Output channels of the stem's 3x3 stride-2 conv (HS), first row of the table. */
  stem: number;
  rows: readonly BneckRow[];
  /** The 1x1 "conv2d NBN" after pooling: 1280 (Large) / 1024 (Small); a Linear in torchvision. */
  lastChannel: number;
  description: string;
}

/** The paper's Table 1 (Large) and Table 2 (Small); torchvision's `_mobilenet_v3_conf` rows. */
const VARIANTS: Record<"mobilenet_v3_large" | "mobilenet_v3_small", Variant> = {
  mobilenet_v3_large: {
    stem: 16,
    rows: [
      [3, 16, 16, false, "RE", 1], // 112² (expansion 16 = input: no expand conv)
      [3, 64, 24, false, "RE", 2], // → 56²
      [3, 72, 24, false, "RE", 1],
      [5, 72, 40, true, "RE", 2], // → 28²
      [5, 120, 40, true, "RE", 1],
      [5, 120, 40, true, "RE", 1],
      [3, 240, 80, false, "HS", 2], // → 14²
      [3, 200, 80, false, "HS", 1],
      [3, 184, 80, false, "HS", 1],
      [3, 184, 80, false, "HS", 1],
      [3, 480, 112, true, "HS", 1],
      [3, 672, 112, true, "HS", 1],
      [5, 672, 160, true, "HS", 2], // → 7²
      [5, 960, 160, true, "HS", 1],
      [5, 960, 160, true, "HS", 1],
    ],
    lastChannel: 1280,
    description: "MobileNetV3-Large: NAS-found inverted residuals with SE and hard-swish (Howard et al. 2019, Table 1); width multiplier α",
  },
  mobilenet_v3_small: {
    stem: 16,
    rows: [
      [3, 16, 16, true, "RE", 2], // → 56²
      [3, 72, 24, false, "RE", 2], // → 28²
      [3, 88, 24, false, "RE", 1],
      [5, 96, 40, true, "HS", 2], // → 14²
      [5, 240, 40, true, "HS", 1],
      [5, 240, 40, true, "HS", 1],
      [5, 120, 48, true, "HS", 1],
      [5, 144, 48, true, "HS", 1],
      [5, 288, 96, true, "HS", 2], // → 7²
      [5, 576, 96, true, "HS", 1],
      [5, 576, 96, true, "HS", 1],
    ],
    lastChannel: 1024,
    description: "MobileNetV3-Small: NAS-found inverted residuals with SE and hard-swish (Howard et al. 2019, Table 2); width multiplier α",
  },
};

/**
 * Largest α accepted: the paper reports 0.35–1.25 (§6.1.2, Table 3), torchvision takes any; 2 leaves room to
 * experiment (Large 19.1M params / 816M MACs, Small 7.9M / 198M).
 */
export const MAX_WIDTH_MULT = 2;

/** A bneck after width scaling (torchvision's InvertedResidualConfig). */
export interface InvertedResidualConfig {
  inputChannels: number;
  kernel: number;
  expandedChannels: number;
  outChannels: number;
  useSE: boolean;
  useHS: boolean;
  stride: number;
}

/** torchvision's InvertedResidualConfig.adjust_channels: `_make_divisible(channels * width_mult, 8)`. */
export const adjustChannels = (channels: number, widthMult: number): number => makeDivisible(channels * widthMult, 8);

/** Decodes a table into configs: each row's input is the previous row's (unscaled) output, then α. */
export function invertedResidualSetting(v: Variant, widthMult: number): InvertedResidualConfig[] {
  let input = v.stem;
  return v.rows.map(([kernel, expanded, out, se, nl, stride]) => {
    const cfg = {
      inputChannels: adjustChannels(input, widthMult),
      kernel,
      expandedChannels: adjustChannels(expanded, widthMult),
      outChannels: adjustChannels(out, widthMult),
      useSE: se,
      useHS: nl === "HS",
      stride,
    };
    input = out;
    return cfg;
  });
}

/** Section 5 of the paper: [expand 1x1] → depthwise k×k → [SE] → linear 1x1, residual when shapes allow. */
export class InvertedResidual extends Module {
  readonly useResidual: boolean;
  readonly block: Sequential;

  constructor(cnf: InvertedResidualConfig, norm: NormFactory) {
    super();
    if (cnf.stride !== 1 && cnf.stride !== 2) throw new Error(`InvertedResidual: illegal stride ${cnf.stride}`);
    this.useResidual = cnf.stride === 1 && cnf.inputChannels === cnf.outChannels;
    const activation: ActivationFactory = cnf.useHS ? () => new Hardswish() : () => new ReLU();
    const layers: Module[] = [];
    if (cnf.expandedChannels !== cnf.inputChannels) {
      layers.push(new Conv2dNormActivation(cnf.inputChannels, cnf.expandedChannels, 1, { norm, activation }));
    }
    const expanded = cnf.expandedChannels;
    layers.push(new Conv2dNormActivation(expanded, expanded, cnf.kernel, { stride: cnf.stride, groups: expanded, norm, activation }));
    if (cnf.useSE) {
      // §5.3: SE squeezes to 1/4 of the EXPANSION layer's channels (rounded to a multiple of 8) and
      // gates with hard-sigmoid; the inner activation stays ReLU (torchvision's SElayer default).
      const squeeze = makeDivisible(Math.floor(cnf.expandedChannels / 4), 8);
      layers.push(
        new SqueezeExcitation(
          cnf.expandedChannels,
          squeeze,
          () => new ReLU(),
          () => new Hardsigmoid(),
        ),
      );
    }
    layers.push(new Conv2dNormActivation(cnf.expandedChannels, cnf.outChannels, 1, { norm, activation: null }));
    this.block = this.addModule("block", new Sequential(...layers));
  }

  forward(ctx: ForwardContext, x: Value): Value {
    const y = ctx.call(this.block, x);
    return this.useResidual ? ops.add(ctx.g, y, x) : y;
  }
}

export class MobileNetV3 extends Module {
  readonly features: Sequential;
  readonly avgpool: AdaptiveAvgPool2d;
  readonly classifier: Sequential;
  /** The deepest module at each stride 2 … 16 (features.0 is the stem), and the final 1x1 conv (stride 32). */
  readonly stages: readonly string[];

  constructor(setting: readonly InvertedResidualConfig[], lastChannel: number, numClasses: number, dropout = 0.2) {
    super();
    if (setting.length === 0) throw new Error("MobileNetV3: the inverted residual setting is empty");
    // TensorFlow's BN defaults (eps 1e-3, decay 0.99 = PyTorch momentum 0.01), as torchvision sets them.
    const norm: NormFactory = (c) => new BatchNorm2d(c, { eps: 0.001, momentum: 0.01 });
    const hswish = () => new Hardswish();
    const stages = new StageRecorder();
    const features: Module[] = [];
    const add = (m: Module, stride: number) => {
      stages.add(`features.${features.length}`, stride);
      features.push(m);
    };

    add(new Conv2dNormActivation(3, setting[0].inputChannels, 3, { stride: 2, norm, activation: hswish }), 2);
    for (const cnf of setting) add(new InvertedResidual(cnf, norm), cnf.stride);
    // The last 1x1 conv widens to 6× the last block's output (960 = 6·160, 576 = 6·96); the paper's
    // Table 2 marks SE on it for Small; torchvision (whose weights we load) has none, nor do we.
    const lastconvIn = setting[setting.length - 1].outChannels;
    const lastconvOut = 6 * lastconvIn;
    add(new Conv2dNormActivation(lastconvIn, lastconvOut, 1, { norm, activation: hswish }), 1);
    this.features = this.addModule("features", new Sequential(...features));
    this.avgpool = this.addModule("avgpool", new AdaptiveAvgPool2d(1));
    // §5.1 "efficient last stage": pool first, then the 1x1 "conv2d NBN" layers at 1×1 resolution,
    // which torchvision writes as Linear layers (identical weights up to a reshape).
    this.classifier = this.addModule(
      "classifier",
      new Sequential(new Linear(lastconvOut, lastChannel), new Hardswish(), new Dropout(dropout), new Linear(lastChannel, numClasses)),
    );
    this.stages = stages.stages;
    initWeights(this, FAN_OUT_INIT);
  }

  forward(ctx: ForwardContext, x: Value): Value {
    const y = ctx.call(this.avgpool, ctx.call(this.features, x));
    return ctx.call(this.classifier, ops.flatten(ctx.g, y, 1));
  }
}

for (const [name, v] of Object.entries(VARIANTS)) {
  registerArch({
    name,
    family: "mobilenet_v3",
    description: v.description,
    defaultResolution: 224,
    minResolution: 32,
    accepts: { widthMult: { min: 0, minExclusive: true, max: MAX_WIDTH_MULT, default: 1 }, dropout: { min: 0, max: 0.99, default: 0.2 } },
    details: (o) => ({ widthMult: o.widthMult ?? 1, lastChannel: adjustChannels(v.lastChannel, o.widthMult ?? 1) }),
    build: (o): BuiltNet => {
      const widthMult = o.widthMult ?? 1;
      const setting = invertedResidualSetting(v, widthMult);
      const net = new MobileNetV3(setting, adjustChannels(v.lastChannel, widthMult), o.numClasses, o.dropout ?? 0.2);
      return { net, classifier: "classifier.3", head: ["classifier"], stages: [...net.stages] };
    },
  });
}
