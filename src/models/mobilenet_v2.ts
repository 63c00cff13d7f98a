/**
 * MobileNetV2 (Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", 2018):
 * inverted residual blocks (expand 1x1 → depthwise 3x3 → linear 1x1) with ReLU6, as torchvision.
 */
import type { Value } from "../graph/ir.js";
import * as ops from "../graph/ops.js";
import { Conv2dNormActivation, makeDivisible } from "../nn/blocks.js";
import type { ForwardContext } from "../nn/context.js";
import { BatchNorm2d, Conv2d, Dropout, Linear, ReLU6, Sequential } from "../nn/layers.js";
import { Module } from "../nn/module.js";
import { FAN_OUT_INIT, initWeights } from "../nn/init.js";
import { registerArch } from "./registry.js";
import { StageRecorder } from "./stages.js";

const relu6 = () => new ReLU6();

export class InvertedResidual extends Module {
  readonly useResidual: boolean;
  readonly conv: Sequential;

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
    this.conv = this.addModule("conv", new Sequential(...layers));
  }

  forward(ctx: ForwardContext, x: Value): Value {
    const y = ctx.call(this.conv, x);
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
  readonly features: Sequential;
  readonly classifier: Sequential;
  /** The last block at each stride 2 … 16, and the final 1x1 conv (stride 32). */
  readonly stages: readonly string[];

  constructor(numClasses: number, widthMult = 1, dropout = 0.2) {
    super();
    const stages = new StageRecorder();
    const features: Module[] = [];
    const add = (m: Module, stride: number) => {
      stages.add(`features.${features.length}`, stride);
      features.push(m);
    };
    let inputChannel = makeDivisible(32 * widthMult, 8);
    const lastChannel = makeDivisible(1280 * Math.max(1, widthMult), 8);
    add(new Conv2dNormActivation(3, inputChannel, 3, { stride: 2, activation: relu6 }), 2);
    for (const [t, c, n, s] of SETTINGS) {
      const outputChannel = makeDivisible(c * widthMult, 8);
      for (let i = 0; i < n; i++) {
        const stride = i === 0 ? s : 1;
        add(new InvertedResidual(inputChannel, outputChannel, stride, t), stride);
        inputChannel = outputChannel;
      }
    }
    add(new Conv2dNormActivation(inputChannel, lastChannel, 1, { activation: relu6 }), 1);
    this.features = this.addModule("features", new Sequential(...features));
    this.classifier = this.addModule("classifier", new Sequential(new Dropout(dropout), new Linear(lastChannel, numClasses)));
    this.stages = stages.stages;
    initWeights(this, FAN_OUT_INIT);
  }

  forward(ctx: ForwardContext, x: Value): Value {
    const y = ops.globalAveragePool(ctx.g, ctx.call(this.features, x));
    return ctx.call(this.classifier, ops.flatten(ctx.g, y, 1));
  }
}

registerArch({
  name: "mobilenet_v2",
  family: "mobilenet_v2",
  description: "MobileNetV2: inverted residuals with linear bottlenecks and ReLU6 (Sandler et al. 2018); width multiplier α",
  defaultResolution: 224,
  minResolution: 32,
  accepts: { widthMult: { min: 0, minExclusive: true, max: 4, default: 1 }, dropout: { min: 0, max: 0.99, default: 0.2 } },
  build: (o) => {
    const net = new MobileNetV2(o.numClasses, o.widthMult ?? 1, o.dropout ?? 0.2);
    return { net, classifier: "classifier.1", head: ["classifier"], stages: [...net.stages] };
  },
});
