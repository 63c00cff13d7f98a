/**
 * MobileNet V1 (Howard et al. 2017): a 3x3 stride-2 conv, 13 depthwise separable convs (§3.1, Fig. 3), global
 * pooling, one FC layer; Table 1 as data. Width multiplier α ∈ (0, 1] (`--width-mult`, §3.3); resolution
 * multiplier ρ is the input side 224·ρ (`--resolution`, §3.4).
 *
 * torchvision has none, so the names are ours in its MobileNetV2 style: `features.0` the stem,
 * `features.N.{depthwise,pointwise}` block N (1…13), `classifier.1` the FC layer. Parameter counts and mult-adds
 * equal Table 6/7 (tests/unit/mobilenet_v1.test.ts); the forward pass equals plain torch.nn (tests/parity).
 *
 * `padding: "tf"` is Keras's MobileNet V1 (keras/applications/mobilenet.py), for Google's ImageNet weights
 * (src/hub/keras.ts): stride-2 convs pad at the bottom/right only, BatchNorm ε 1e-3, ReLU6. Same parameters.
 */
import type { Value } from "../graph/ir.js";
import * as ops from "../graph/ops.js";
import { Conv2dNormActivation } from "../nn/blocks.js";
import type { ForwardContext } from "../nn/context.js";
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Dropout, Linear, ReLU6, Sequential } from "../nn/layers.js";
import { Module } from "../nn/module.js";
import { FAN_OUT_INIT, initWeights } from "../nn/init.js";
import type { Padding } from "./model.js";
import { registerArch } from "./registry.js";
import { StageRecorder } from "./stages.js";

/** Output channels of the first, full 3x3 convolution ("Conv / s2", 3×3×3×32; Table 1, row 1). */
const STEM_CHANNELS = 32;

/**
 * The 13 depthwise separable blocks of Table 1: pointwise output channels and the depthwise conv's
 * stride (the depthwise conv keeps its input's channels). The table's second-to-last "Conv dw / s2"
 * is a typo for s1: its input and output are both 7×7 (and the paper's mult-adds count it at 7×7).
 */
const TABLE_1: readonly [out: number, stride: 1 | 2][] = [
  [64, 1], // 112² × 32 → 112² × 64
  [128, 2], // → 56²
  [128, 1],
  [256, 2], // → 28²
  [256, 1],
  [512, 2], // → 14²
  [512, 1], // 5 × (dw 3×3 + 1×1, 512 → 512)
  [512, 1],
  [512, 1],
  [512, 1],
  [512, 1],
  [1024, 2], // → 7²
  [1024, 1],
];

/** The paper's range (§3.3): "α ∈ (0, 1] with typical settings of 1, 0.75, 0.5 and 0.25". */
export const MAX_WIDTH_MULT = 1;

/**
 * Channels at width α: ⌊c·α⌋, never below 8 (TF-Slim mobilenet_v1.py's `max(int(d * depth_multiplier), 8)`):
 * exact for Table 6's 0.75, 0.5, 0.25. Unlike V2/V3's `_make_divisible`, not multiples of 8 (α 0.35: 11, 22 …).
 */
export const scaledChannels = (channels: number, widthMult: number): number => Math.max(8, Math.trunc(channels * widthMult));

/**
 * Keras's stride-2 conv: ZeroPadding2D(((0, 1), (0, 1))) then a 'valid' conv, i.e. one zero row and column at the
 * bottom/right only (TensorFlow's 'SAME' on even sizes, which all of Keras's weights' resolutions give every such conv);
 * one Conv node with ONNX pads [top, left, bottom, right] = [0, 0, 1, 1].
 */
class BottomRightPaddedConv2d extends Conv2d {
  override forward(ctx: ForwardContext, x: Value): Value {
    const b = this.bias ? ctx.param(this, "bias") : null;
    const attrs = { strides: this.stride, pads: [0, 0, 1, 1], dilations: this.dilation, group: this.groups } as const;
    return ops.conv2dWithPads(ctx.g, x, ctx.param(this, "weight"), b, attrs);
  }
}

/** Keras's BatchNormalization default ε (PyTorch's is 1e-5). */
const KERAS_BN_EPS = 1e-3;

/**
 * conv + BN + activation as Conv2dNormActivation lays it out (children 0, 1, 2): the paper's ReLU and PyTorch's
 * symmetric padding, or with padding "tf" Keras's (bottom/right padding at stride 2, BN ε 1e-3, ReLU6).
 */
function convBnAct(inChannels: number, outChannels: number, kernel: number, stride: number, groups: number, padding: Padding): Sequential {
  if (padding === "symmetric") return new Conv2dNormActivation(inChannels, outChannels, kernel, { stride, groups });
  const Conv = stride === 1 ? Conv2d : BottomRightPaddedConv2d;
  const conv = new Conv(inChannels, outChannels, kernel, { stride, groups, bias: false, padding: stride === 1 ? (kernel - 1) / 2 : 0 });
  return new Sequential(conv, new BatchNorm2d(outChannels, { eps: KERAS_BN_EPS }), new ReLU6());
}

/**
 * Depthwise separable conv (§3.1, Fig. 3 right): depthwise 3x3 + BN + ReLU, then pointwise 1x1 + BN + ReLU;
 * 1/N + 1/9 of a full 3x3 conv's mult-adds (Eq. 5).
 */
export class DepthwiseSeparableConv extends Module {
  readonly depthwise: Sequential;
  readonly pointwise: Sequential;

  constructor(inChannels: number, outChannels: number, stride: number, padding: Padding = "symmetric") {
    super();
    this.depthwise = this.addModule("depthwise", convBnAct(inChannels, inChannels, 3, stride, inChannels, padding));
    this.pointwise = this.addModule("pointwise", convBnAct(inChannels, outChannels, 1, 1, 1, padding));
  }

  forward(ctx: ForwardContext, x: Value): Value {
    return ctx.call(this.pointwise, ctx.call(this.depthwise, x));
  }
}

/** Classifier dropout: the paper gives no rate (§3.2); TF-Slim keeps 0.999, Keras `dropout=1e-3`. */
const DEFAULT_DROPOUT = 0.001;

export class MobileNetV1 extends Module {
  readonly features: Sequential;
  readonly avgpool: AdaptiveAvgPool2d;
  readonly classifier: Sequential;
  /** The deepest module at each stride 2 … 32 (features.0 is the stem). */
  readonly stages: readonly string[];

  constructor(numClasses: number, widthMult = 1, dropout = DEFAULT_DROPOUT, padding: Padding = "symmetric") {
    super();
    const stages = new StageRecorder();
    const features: Module[] = [];
    const add = (m: Module, stride: number) => {
      stages.add(`features.${features.length}`, stride);
      features.push(m);
    };
    let channels = scaledChannels(STEM_CHANNELS, widthMult);
    add(convBnAct(3, channels, 3, 2, 1, padding), 2);
    for (const [out, stride] of TABLE_1) {
      const next = scaledChannels(out, widthMult);
      add(new DepthwiseSeparableConv(channels, next, stride, padding), stride);
      channels = next;
    }
    this.features = this.addModule("features", new Sequential(...features));
    // "Avg Pool 7×7" at 224; global pooling so every resolution multiplier works.
    this.avgpool = this.addModule("avgpool", new AdaptiveAvgPool2d(1));
    this.classifier = this.addModule("classifier", new Sequential(new Dropout(dropout), new Linear(channels, numClasses)));
    this.stages = stages.stages;
    // No torchvision reference: torchvision's MobileNetV2 init.
    initWeights(this, FAN_OUT_INIT);
  }

  forward(ctx: ForwardContext, x: Value): Value {
    const y = ctx.call(this.avgpool, ctx.call(this.features, x));
    return ctx.call(this.classifier, ops.flatten(ctx.g, y, 1));
  }
}

registerArch({
  name: "mobilenet_v1",
  family: "mobilenet_v1",
  description:
    "MobileNet V1: 3x3 conv then 13 depthwise separable convs (Howard et al. 2017, Table 1); " +
    "width multiplier α ∈ (0, 1], resolution multiplier via --resolution (224·ρ)",
  defaultResolution: 224,
  minResolution: 32,
  accepts: {
    widthMult: { min: 0, minExclusive: true, max: MAX_WIDTH_MULT, default: 1 },
    dropout: { min: 0, max: 0.99, default: DEFAULT_DROPOUT },
    padding: ["symmetric", "tf"],
  },
  details: (o) => {
    const alpha = o.widthMult ?? 1;
    const channels = `${scaledChannels(STEM_CHANNELS, alpha)}→${scaledChannels(1024, alpha)}`;
    const out: Record<string, number | string> = { widthMult: alpha, channels };
    if (o.padding === "tf") out.padding = "tf (Keras)";
    return out;
  },
  build: (o) => {
    const net = new MobileNetV1(o.numClasses, o.widthMult ?? 1, o.dropout ?? DEFAULT_DROPOUT, o.padding ?? "symmetric");
    return { net, classifier: "classifier.1", head: ["classifier"], stages: [...net.stages] };
  },
});
