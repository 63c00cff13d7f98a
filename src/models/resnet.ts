/**
 * ResNet (He et al., "Deep Residual Learning for Image Recognition", 2015), torchvision's v1.5:
 * the stride of a bottleneck sits on its 3x3 conv. Variants are rows of the paper's Table 1.
 */
import type { Value } from "../graph/graph.js";
import * as ops from "../graph/ops.js";
import type { ForwardContext } from "../nn/context.js";
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Linear, MaxPool2d, ReLU, Sequential } from "../nn/layers.js";
import { Module } from "../nn/module.js";
import { init } from "../nn/parameter.js";
import { registerArch } from "./registry.js";

const conv3x3 = (inC: number, outC: number, stride = 1) => new Conv2d(inC, outC, 3, { stride, padding: 1, bias: false });
const conv1x1 = (inC: number, outC: number, stride = 1) => new Conv2d(inC, outC, 1, { stride, bias: false });

interface ResidualBlock extends Module {
  readonly outChannels: number;
}

/**
 * Two 3x3 convs; the shortcut adds the input (projected by `downsample` when shapes change).
 * `residual: false` is the paper's plain block (Fig. 3, middle): the same two convs, no shortcut.
 */
export class BasicBlock extends Module implements ResidualBlock {
  static readonly expansion = 1;
  readonly outChannels: number;

  constructor(
    inplanes: number,
    planes: number,
    stride: number,
    downsample: Module | null,
    readonly residual = true,
  ) {
    super();
    this.outChannels = planes;
    this.addModule("conv1", conv3x3(inplanes, planes, stride));
    this.addModule("bn1", new BatchNorm2d(planes));
    this.addModule("relu", new ReLU());
    this.addModule("conv2", conv3x3(planes, planes));
    this.addModule("bn2", new BatchNorm2d(planes));
    if (downsample) this.addModule("downsample", downsample);
  }

  forward(ctx: ForwardContext, x: Value): Value {
    const c = (name: string) => this.child(name)!;
    let out = ctx.call(c("relu"), ctx.call(c("bn1"), ctx.call(c("conv1"), x)));
    out = ctx.call(c("bn2"), ctx.call(c("conv2"), out));
    if (!this.residual) return ctx.call(c("relu"), out);
    const shortcut = this.child("downsample") ? ctx.call(c("downsample"), x) : x;
    return ctx.call(c("relu"), ops.add(ctx.g, out, shortcut));
  }
}

/** 1x1 reduce, 3x3 (strided), 1x1 expand ×4, plus the shortcut. */
export class Bottleneck extends Module implements ResidualBlock {
  static readonly expansion = 4;
  readonly outChannels: number;

  constructor(inplanes: number, planes: number, stride: number, downsample: Module | null) {
    super();
    const width = planes;
    this.outChannels = planes * Bottleneck.expansion;
    this.addModule("conv1", conv1x1(inplanes, width));
    this.addModule("bn1", new BatchNorm2d(width));
    this.addModule("conv2", conv3x3(width, width, stride));
    this.addModule("bn2", new BatchNorm2d(width));
    this.addModule("conv3", conv1x1(width, this.outChannels));
    this.addModule("bn3", new BatchNorm2d(this.outChannels));
    this.addModule("relu", new ReLU());
    if (downsample) this.addModule("downsample", downsample);
  }

  forward(ctx: ForwardContext, x: Value): Value {
    const c = (name: string) => this.child(name)!;
    let out = ctx.call(c("relu"), ctx.call(c("bn1"), ctx.call(c("conv1"), x)));
    out = ctx.call(c("relu"), ctx.call(c("bn2"), ctx.call(c("conv2"), out)));
    out = ctx.call(c("bn3"), ctx.call(c("conv3"), out));
    const shortcut = this.child("downsample") ? ctx.call(c("downsample"), x) : x;
    return ctx.call(c("relu"), ops.add(ctx.g, out, shortcut));
  }
}

type BlockClass = (typeof BasicBlock | typeof Bottleneck) & { expansion: number };

export class ResNet extends Module {
  /** `residual: false` builds the paper's plain net (basic blocks only): no shortcuts, no projections. */
  constructor(block: BlockClass, layers: readonly number[], numClasses: number, residual = true) {
    super();
    if (!residual && block !== BasicBlock) throw new Error("plain (non-residual) nets are defined for basic blocks only (He et al. 2015, Table 2)");
    let inplanes = 64;
    this.addModule("conv1", new Conv2d(3, 64, 7, { stride: 2, padding: 3, bias: false }));
    this.addModule("bn1", new BatchNorm2d(64));
    this.addModule("relu", new ReLU());
    this.addModule("maxpool", new MaxPool2d(3, { stride: 2, padding: 1 }));
    [64, 128, 256, 512].forEach((planes, i) => {
      const stride = i === 0 ? 1 : 2;
      const blocks: Module[] = [];
      for (let b = 0; b < layers[i]; b++) {
        const s = b === 0 ? stride : 1;
        // Without a shortcut there is nothing to project: the stage's first conv alone changes stride and width.
        const needsProjection = residual && b === 0 && (s !== 1 || inplanes !== planes * block.expansion);
        const downsample = needsProjection ? new Sequential(conv1x1(inplanes, planes * block.expansion, s), new BatchNorm2d(planes * block.expansion)) : null;
        blocks.push(residual ? new block(inplanes, planes, s, downsample) : new BasicBlock(inplanes, planes, s, null, false));
        inplanes = planes * block.expansion;
      }
      this.addModule(`layer${i + 1}`, new Sequential(...blocks));
    });
    this.addModule("avgpool", new AdaptiveAvgPool2d(1));
    this.addModule("fc", new Linear(512 * block.expansion, numClasses));

    // torchvision: kaiming_normal_(fan_out, relu) for convs, BN γ=1 β=0, Linear keeps torch's default.
    for (const [, m] of this.namedModules()) {
      if (m instanceof Conv2d) m.weight.init = init.kaimingNormalFanOut(m.weight.shape);
    }
  }

  forward(ctx: ForwardContext, x: Value): Value {
    let y = x;
    for (const name of ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool"]) y = ctx.call(this.child(name)!, y);
    return ctx.call(this.child("fc")!, ops.flatten(ctx.g, y, 1));
  }
}

/** Blocks per stage, from the paper's Table 1. */
const RESNETS: Record<string, { block: BlockClass; layers: number[]; description: string }> = {
  resnet18: { block: BasicBlock, layers: [2, 2, 2, 2], description: "ResNet-18: basic blocks [2,2,2,2]" },
  resnet34: { block: BasicBlock, layers: [3, 4, 6, 3], description: "ResNet-34: basic blocks [3,4,6,3]" },
  resnet50: { block: Bottleneck, layers: [3, 4, 6, 3], description: "ResNet-50: bottleneck blocks [3,4,6,3]" },
  resnet101: { block: Bottleneck, layers: [3, 4, 23, 3], description: "ResNet-101: bottleneck blocks [3,4,23,3]" },
  resnet152: { block: Bottleneck, layers: [3, 8, 36, 3], description: "ResNet-152: bottleneck blocks [3,8,36,3]" },
};

for (const [name, row] of Object.entries(RESNETS)) {
  registerArch({
    name,
    family: "resnet",
    description: `${row.description}, residual shortcuts (He et al. 2015)`,
    defaultResolution: 224,
    // Five stride-2 steps (conv1, maxpool, layer2-4) must each leave at least one pixel.
    minResolution: 32,
    build: (o) => ({
      net: new ResNet(row.block, row.layers, o.numClasses),
      classifier: "fc",
      head: ["fc"],
      stages: ["relu", "layer1", "layer2", "layer3", "layer4"],
    }),
  });
}

/**
 * The paper's plain baselines (He et al. 2015, Fig. 3 middle, Table 2 "plain-18/34"): ResNet-18/34's
 * layers without the shortcuts. Plain-34 trains worse than plain-18 (degradation, Fig. 4 left),
 * while ResNet-34 beats ResNet-18: the comparison the residual connection was introduced with.
 */
const PLAIN: Record<string, { layers: number[]; description: string }> = {
  resnet18_plain: { layers: [2, 2, 2, 2], description: "Plain-18: ResNet-18's 3x3 conv pairs [2,2,2,2] without shortcuts" },
  resnet34_plain: { layers: [3, 4, 6, 3], description: "Plain-34: ResNet-34's 3x3 conv pairs [3,4,6,3] without shortcuts" },
};

for (const [name, row] of Object.entries(PLAIN)) {
  registerArch({
    name,
    family: "resnet",
    description: `${row.description}, the paper's baseline (He et al. 2015, Table 2)`,
    defaultResolution: 224,
    minResolution: 32,
    build: (o) => ({
      net: new ResNet(BasicBlock, row.layers, o.numClasses, false),
      classifier: "fc",
      head: ["fc"],
      stages: ["relu", "layer1", "layer2", "layer3", "layer4"],
    }),
  });
}
