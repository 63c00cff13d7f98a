/**
 * The building blocks torchvision shares between families (torchvision/ops/misc.py), with the same
 * child names so parameter paths match: Conv2dNormActivation = Sequential(conv, norm, activation)
 * and SqueezeExcitation (avgpool, fc1, fc2, activation, scale_activation).
 */
import type { Value } from "../graph/ir.js";
import * as ops from "../graph/ops.js";
import type { ForwardContext } from "./context.js";
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, ReLU, Sequential, Sigmoid } from "./layers.js";
import { Module } from "./module.js";

export type NormFactory = (channels: number) => Module;
export type ActivationFactory = () => Module;

export interface ConvNormActOptions {
  stride?: number;
  /** Default (k - 1) / 2 · dilation: "same" for odd kernels at stride 1. */
  padding?: number;
  groups?: number;
  dilation?: number;
  /** null: no normalisation (then the conv gets a bias, as torchvision does). */
  norm?: NormFactory | null;
  /** null: no activation. */
  activation?: ActivationFactory | null;
}

export class Conv2dNormActivation extends Sequential {
  constructor(inChannels: number, outChannels: number, kernelSize = 3, options: ConvNormActOptions = {}) {
    const dilation = options.dilation ?? 1;
    const norm = options.norm === undefined ? (c: number) => new BatchNorm2d(c) : options.norm;
    const activation = options.activation === undefined ? () => new ReLU() : options.activation;
    const layers: Module[] = [
      new Conv2d(inChannels, outChannels, kernelSize, {
        stride: options.stride ?? 1,
        padding: options.padding ?? Math.floor((kernelSize - 1) / 2) * dilation,
        dilation,
        groups: options.groups ?? 1,
        bias: norm === null,
      }),
    ];
    if (norm) layers.push(norm(outChannels));
    if (activation) layers.push(activation());
    super(...layers);
  }
}

/** Squeeze-and-Excitation (Hu et al., 2018, Fig. 2): x · gate(fc2(act(fc1(avgpool(x))))). */
export class SqueezeExcitation extends Module {
  readonly avgpool: AdaptiveAvgPool2d;
  readonly fc1: Conv2d;
  readonly fc2: Conv2d;
  readonly activation: Module;
  readonly scaleActivation: Module;

  constructor(
    inputChannels: number,
    squeezeChannels: number,
    activation: ActivationFactory = () => new ReLU(),
    scaleActivation: ActivationFactory = () => new Sigmoid(),
  ) {
    super();
    this.avgpool = this.addModule("avgpool", new AdaptiveAvgPool2d(1));
    this.fc1 = this.addModule("fc1", new Conv2d(inputChannels, squeezeChannels, 1));
    this.fc2 = this.addModule("fc2", new Conv2d(squeezeChannels, inputChannels, 1));
    this.activation = this.addModule("activation", activation());
    this.scaleActivation = this.addModule("scale_activation", scaleActivation());
  }

  forward(ctx: ForwardContext, x: Value): Value {
    let s = ctx.call(this.avgpool, x);
    s = ctx.call(this.activation, ctx.call(this.fc1, s));
    s = ctx.call(this.scaleActivation, ctx.call(this.fc2, s));
    return ops.mul(ctx.g, s, x);
  }
}

/** torchvision's _make_divisible (from the TF MobileNet code): round to a multiple of `divisor`, never below 90%. */
export function makeDivisible(v: number, divisor = 8, minValue?: number): number {
  const min = minValue ?? divisor;
  let out = Math.max(min, Math.floor(v + divisor / 2) - (Math.floor(v + divisor / 2) % divisor));
  if (out < 0.9 * v) out += divisor;
  return out;
}
