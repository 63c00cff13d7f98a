/**
 * VGG (Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition", ICLR 2015),
 * built as torchvision's vgg.py (same state_dict keys): depth from stacked 3x3 convs only (three see as far as
 * one 7x7 with 27C² instead of 49C² weights). Variants are columns A, B, D, E of Table 1; the `_bn` variants are
 * torchvision's, with BatchNorm after every conv.
 */
import type { Value } from "../graph/ir.js";
import * as ops from "../graph/ops.js";
import type { ForwardContext } from "../nn/context.js";
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Dropout, Linear, MaxPool2d, ReLU, Sequential } from "../nn/layers.js";
import { Module } from "../nn/module.js";
import { FAN_OUT_INIT, initWeights } from "../nn/init.js";
import { registerArch } from "./registry.js";
import { StageRecorder } from "./stages.js";

/** A conv layer's output channels (3x3, stride 1, padding 1, then ReLU), or "M": 2x2 max-pool, stride 2. */
type ConfigEntry = number | "M";

/**
 * Table 1 of the paper, one column per configuration (torchvision's `cfgs`). Every conv is 3x3 with
 * stride 1 and padding 1, so only the five max-pools change the resolution (stride 32 in total).
 * Configuration C (1x1 convs in the last three blocks) has no torchvision weights and is left out.
 */
const CONFIGS = {
  A: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
  B: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
  D: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
  E: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
} as const satisfies Record<string, readonly ConfigEntry[]>;

type ConfigName = keyof typeof CONFIGS;

/** The side of the pooled grid the first FC layer sees (7x7 at 224, the paper's input size). */
const POOLED = 7;

/**
 * torchvision's make_layers: the `features` Sequential (Conv2d[, BatchNorm2d], ReLU per conv, MaxPool2d per "M").
 * The max-pool outputs (strides 2 … 32) are the stages.
 */
export function makeLayers(cfg: readonly ConfigEntry[], batchNorm: boolean): { features: Sequential; stages: string[] } {
  const layers: Module[] = [];
  const stages = new StageRecorder();
  let inChannels = 3;
  for (const v of cfg) {
    if (v === "M") {
      stages.add(`features.${layers.length}`, 2);
      layers.push(new MaxPool2d(2, { stride: 2 }));
    } else {
      layers.push(new Conv2d(inChannels, v, 3, { padding: 1 }));
      if (batchNorm) layers.push(new BatchNorm2d(v));
      layers.push(new ReLU());
      inChannels = v;
    }
  }
  return { features: new Sequential(...layers), stages: stages.stages };
}

export class VGG extends Module {
  readonly features: Sequential;
  readonly avgpool: AdaptiveAvgPool2d;
  readonly classifier: Sequential;

  constructor(features: Sequential, numClasses: number, dropout = 0.5) {
    super();
    this.features = this.addModule("features", features);
    // Adaptive, so any input ≥ 32 works: at 224 the last map already is 7x7 and this is the identity.
    this.avgpool = this.addModule("avgpool", new AdaptiveAvgPool2d(POOLED));
    // The paper's "FC-4096, FC-4096, FC-1000 (soft-max)", with dropout 0.5 after the first two (§3.1).
    this.classifier = this.addModule(
      "classifier",
      new Sequential(
        new Linear(512 * POOLED * POOLED, 4096),
        new ReLU(),
        new Dropout(dropout),
        new Linear(4096, 4096),
        new ReLU(),
        new Dropout(dropout),
        new Linear(4096, numClasses),
      ),
    );
    // torchvision (init_weights=True).
    initWeights(this, FAN_OUT_INIT);
  }

  forward(ctx: ForwardContext, x: Value): Value {
    const y = ctx.call(this.avgpool, ctx.call(this.features, x));
    return ctx.call(this.classifier, ops.flatten(ctx.g, y, 1));
  }
}

/** The registered variants: configuration, and the weight-layer count the name refers to. */
const VARIANTS: readonly { depth: number; config: ConfigName }[] = [
  { depth: 11, config: "A" },
  { depth: 13, config: "B" },
  { depth: 16, config: "D" },
  { depth: 19, config: "E" },
];

for (const { depth, config } of VARIANTS) {
  const cfg = CONFIGS[config];
  const convs = cfg.filter((v) => v !== "M").length;
  // The name counts weight layers: the convs plus the three FC layers (paper, Table 1).
  if (convs + 3 !== depth) throw new Error(`VGG-${depth}: configuration ${config} has ${convs} conv layers`);
  for (const batchNorm of [false, true]) {
    const name = `vgg${depth}${batchNorm ? "_bn" : ""}`;
    const base = `VGG-${depth} (configuration ${config}): ${convs} conv 3x3 + 3 FC weight layers (Simonyan & Zisserman 2014)`;
    registerArch({
      name,
      family: "vgg",
      description: batchNorm ? `${base}, with BatchNorm after every conv (torchvision)` : base,
      defaultResolution: 224,
      // Five 2x2/2 max-pools, each needing at least a 2x2 input: 32 → 1.
      minResolution: 32,
      accepts: { dropout: { min: 0, max: 0.99, default: 0.5 } },
      build: (o) => {
        const { features, stages } = makeLayers(cfg, batchNorm);
        return {
          net: new VGG(features, o.numClasses, o.dropout ?? 0.5),
          classifier: "classifier.6",
          // The three FC layers. `avgpool` (parameter-free) only resizes the last feature map to the
          // 7x7 grid the first FC layer was trained on, so the backbone ends at the last max-pool.
          head: ["classifier"],
          stages,
        };
      },
    });
  }
}
