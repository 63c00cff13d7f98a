/**
 * ResNet (He et al., "Deep Residual Learning for Image Recognition", 2015), torchvision's v1.5:
 * the stride of a bottleneck sits on its 3x3 conv. Variants are rows of the paper's Table 1.
 */
import type { Value } from "../graph/ir.js";
import * as ops from "../graph/ops.js";
import type { ForwardContext } from "../nn/context.js";
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Linear, MaxPool2d, ReLU, Sequential } from "../nn/layers.js";
import { Module } from "../nn/module.js";
import { initWeights } from "../nn/init.js";
import { init } from "../nn/parameter.js";
import { registerArch, type BuiltNet } from "./registry.js";
import { StageRecorder } from "./stages.js";

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
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly relu: ReLU;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly downsample: Module | null;

  constructor(
    inplanes: number,
    planes: number,
    stride: number,
    downsample: Module | null,
    readonly residual = true,
  ) {
    super();
    this.outChannels = planes;
    this.conv1 = this.addModule("conv1", conv3x3(inplanes, planes, stride));
    this.bn1 = this.addModule("bn1", new BatchNorm2d(planes));
    this.relu = this.addModule("relu", new ReLU());
    this.conv2 = this.addModule("conv2", conv3x3(planes, planes));
    this.bn2 = this.addModule("bn2", new BatchNorm2d(planes));
    this.downsample = downsample && this.addModule("downsample", downsample);
  }

  forward(ctx: ForwardContext, x: Value): Value {
    let out = ctx.call(this.relu, ctx.call(this.bn1, ctx.call(this.conv1, x)));
    out = ctx.call(this.bn2, ctx.call(this.conv2, out));
    if (!this.residual) return ctx.call(this.relu, out);
    const shortcut = this.downsample ? ctx.call(this.downsample, x) : x;
    return ctx.call(this.relu, ops.add(ctx.g, out, shortcut));
  }
}

/** 1x1 reduce, 3x3 (strided), 1x1 expand ×4, plus the shortcut. */
export class Bottleneck extends Module implements ResidualBlock {
  static readonly expansion = 4;
  readonly outChannels: number;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly relu: ReLU;
  readonly downsample: Module | null;

  constructor(inplanes: number, planes: number, stride: number, downsample: Module | null) {
    super();
    const width = planes;
    this.outChannels = planes * Bottleneck.expansion;
    this.conv1 = this.addModule("conv1", conv1x1(inplanes, width));
    this.bn1 = this.addModule("bn1", new BatchNorm2d(width));
    this.conv2 = this.addModule("conv2", conv3x3(width, width, stride));
    this.bn2 = this.addModule("bn2", new BatchNorm2d(width));
    this.conv3 = this.addModule("conv3", conv1x1(width, this.outChannels));
    this.bn3 = this.addModule("bn3", new BatchNorm2d(this.outChannels));
    this.relu = this.addModule("relu", new ReLU());
    this.downsample = downsample && this.addModule("downsample", downsample);
  }

  forward(ctx: ForwardContext, x: Value): Value {
    let out = ctx.call(this.relu, ctx.call(this.bn1, ctx.call(this.conv1, x)));
    out = ctx.call(this.relu, ctx.call(this.bn2, ctx.call(this.conv2, out)));
    out = ctx.call(this.bn3, ctx.call(this.conv3, out));
    const shortcut = this.downsample ? ctx.call(this.downsample, x) : x;
    return ctx.call(this.relu, ops.add(ctx.g, out, shortcut));
  }
}

type BlockClass = (typeof BasicBlock | typeof Bottleneck) & { expansion: number };

export class ResNet extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly relu: ReLU;
  readonly maxpool: MaxPool2d;
  readonly layer1: Sequential;
  readonly layer2: Sequential;
  readonly layer3: Sequential;
  readonly layer4: Sequential;
  readonly avgpool: AdaptiveAvgPool2d;
  readonly fc: Linear;
  /** Stage outputs: the stem's ReLU (stride 2), then each layer (4 … 32). */
  readonly stages: readonly string[];

  /** `residual: false` builds the paper's plain net (basic blocks only): no shortcuts, no projections. */
  constructor(block: BlockClass, layers: readonly number[], numClasses: number, residual = true) {
    super();
    if (!residual && block !== BasicBlock) {
      throw new Error("plain (non-residual) nets are defined for basic blocks only (He et al. 2015, Table 2)");
    }
    const stages = new StageRecorder();
    let inplanes = 64;
    // torchvision's _make_layer: the first block takes the stride and, with a shortcut, the projection.
    const makeLayer = (planes: number, blocks: number, stride: number): Sequential => {
      const out = planes * block.expansion;
      const layer: Module[] = [];
      for (let b = 0; b < blocks; b++) {
        const s = b === 0 ? stride : 1;
        // Without a shortcut there is nothing to project: the first conv alone changes stride and width.
        const needsProjection = residual && b === 0 && (s !== 1 || inplanes !== out);
        const downsample = needsProjection ? new Sequential(conv1x1(inplanes, out, s), new BatchNorm2d(out)) : null;
        layer.push(residual ? new block(inplanes, planes, s, downsample) : new BasicBlock(inplanes, planes, s, null, false));
        inplanes = out;
      }
      return new Sequential(...layer);
    };
    this.conv1 = this.addModule("conv1", new Conv2d(3, 64, 7, { stride: 2, padding: 3, bias: false }));
    this.bn1 = this.addModule("bn1", new BatchNorm2d(64));
    this.relu = this.addModule("relu", new ReLU());
    stages.add("relu", 2);
    this.maxpool = this.addModule("maxpool", new MaxPool2d(3, { stride: 2, padding: 1 }));
    stages.add("maxpool", 2);
    this.layer1 = this.addModule("layer1", makeLayer(64, layers[0], 1));
    stages.add("layer1", 1);
    this.layer2 = this.addModule("layer2", makeLayer(128, layers[1], 2));
    stages.add("layer2", 2);
    this.layer3 = this.addModule("layer3", makeLayer(256, layers[2], 2));
    stages.add("layer3", 2);
    this.layer4 = this.addModule("layer4", makeLayer(512, layers[3], 2));
    stages.add("layer4", 2);
    this.avgpool = this.addModule("avgpool", new AdaptiveAvgPool2d(1));
    this.fc = this.addModule("fc", new Linear(512 * block.expansion, numClasses));
    this.stages = stages.stages;

    // torchvision: kaiming_normal_(fan_out, relu) for convs, BN γ=1 β=0, Linear keeps torch's default.
    initWeights(this, { conv: { weight: init.kaimingNormalFanOut } });
  }

  forward(ctx: ForwardContext, x: Value): Value {
    let y = ctx.call(this.maxpool, ctx.call(this.relu, ctx.call(this.bn1, ctx.call(this.conv1, x))));
    for (const layer of [this.layer1, this.layer2, this.layer3, this.layer4]) y = ctx.call(layer, y);
    return ctx.call(this.fc, ops.flatten(ctx.g, ctx.call(this.avgpool, y), 1));
  }
}

const built = (net: ResNet): BuiltNet => ({ net, classifier: "fc", head: ["fc"], stages: [...net.stages] });

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
    build: (o) => built(new ResNet(row.block, row.layers, o.numClasses)),
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
    build: (o) => built(new ResNet(BasicBlock, row.layers, o.numClasses, false)),
  });
}
