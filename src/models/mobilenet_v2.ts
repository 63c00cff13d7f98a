/**
 * MobileNetV2 (Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", 2018):
 * inverted residual blocks (expand 1x1 → depthwise 3x3 → linear 1x1) with ReLU6, as torchvision.
 */
import type { Value } from "../graph/graph.js";
import * as ops from "../graph/ops.js";
import { Conv2dNormActivation, makeDivisible } from "../nn/blocks.js";
import type { ForwardContext } from "../nn/context.js";
import { BatchNorm2d, Conv2d, Dropout, Linear, ReLU6, Sequential } from "../nn/layers.js";
import { Module } from "../nn/module.js";
import { init } from "../nn/parameter.js";
import { registerArch } from "./registry.js";

const relu6 = () => new ReLU6();

export class InvertedResidual extends Module {
  readonly useResidual: boolean;

  constructor(inp: number, oup: number, stride: number, expandRatio: number) {
    super();
    const hidden = Math.round(inp * expandRatio);
    this.useResidual = stride === 1 && inp === oup;
    const layers: Module[] = [];
    if (expandRatio !== 1) layers.push(new Conv2dNormActivation(inp, hidden, 1, { activation: relu6 }));
    layers.push(
      new Conv2dNormActivation(hidden, hidden, 3, { stride, groups: hidden, activation: relu6 }),
      new Conv2d(hidden, oup, 1, { bias: false }),
      new BatchNorm2d(oup),
    );
    this.addModule("conv", new Sequential(...layers));
  }

  forward(ctx: ForwardContext, x: Value): Value {
    const y = ctx.call(this.child("conv")!, x);
    return this.useResidual ? ops.add(ctx.g, x, y) : y;
  }
}

/** Table 2 of the paper: expansion t, output channels c, repeats n, first stride s. */
const SETTINGS: readonly [t: number, c: number, n: number, s: number][] = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

export class MobileNetV2 extends Module {
  constructor(numClasses: number, widthMult = 1, dropout = 0.2) {
    super();
    let inputChannel = makeDivisible(32 * widthMult, 8);
    const lastChannel = makeDivisible(1280 * Math.max(1, widthMult), 8);
    const features: Module[] = [new Conv2dNormActivation(3, inputChannel, 3, { stride: 2, activation: relu6 })];
    for (const [t, c, n, s] of SETTINGS) {
      const outputChannel = makeDivisible(c * widthMult, 8);
      for (let i = 0; i < n; i++) {
        features.push(new InvertedResidual(inputChannel, outputChannel, i === 0 ? s : 1, t));
        inputChannel = outputChannel;
      }
    }
    features.push(new Conv2dNormActivation(inputChannel, lastChannel, 1, { activation: relu6 }));
    this.addModule("features", new Sequential(...features));
    this.addModule("classifier", new Sequential(new Dropout(dropout), new Linear(lastChannel, numClasses)));

    // torchvision: kaiming_normal_(fan_out) convs with zero bias, BN γ=1 β=0, Linear N(0, 0.01) with zero bias.
    for (const [, m] of this.namedModules()) {
      if (m instanceof Conv2d) {
        m.weight.init = init.kaimingNormalFanOut(m.weight.shape);
        if (m.bias) m.bias.init = init.zeros;
      } else if (m instanceof Linear) {
        m.weight.init = init.normal(0.01);
        if (m.bias) m.bias.init = init.zeros;
      }
    }
  }

  forward(ctx: ForwardContext, x: Value): Value {
    const y = ops.globalAveragePool(ctx.g, ctx.call(this.child("features")!, x));
    return ctx.call(this.child("classifier")!, ops.flatten(ctx.g, y, 1));
  }
}

registerArch({
  name: "mobilenet_v2",
  family: "mobilenet_v2",
  description: "MobileNetV2: inverted residuals with linear bottlenecks and ReLU6 (Sandler et al. 2018); width multiplier α",
  defaultResolution: 224,
  minResolution: 32,
  accepts: { widthMult: { min: 0, minExclusive: true, max: 4, default: 1 }, dropout: { min: 0, max: 0.99, default: 0.2 } },
  build: (o) => ({
    net: new MobileNetV2(o.numClasses, o.widthMult ?? 1, o.dropout ?? 0.2),
    classifier: "classifier.1",
    head: ["classifier"],
    // Last block of each resolution (strides 2, 4, 8, 16) and the final 1x1 conv (stride 32).
    stages: ["features.1", "features.3", "features.6", "features.13", "features.18"],
  }),
});
