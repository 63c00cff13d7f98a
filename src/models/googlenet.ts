/**
 * GoogLeNet / Inception v1 (Szegedy et al., "Going Deeper with Convolutions", 2014), built as torchvision's
 * googlenet.py (same state_dict keys). Inception modules run 1x1, 3x3, "5x5" convs and a max-pool side by side
 * and concatenate them, with 1x1 reductions in front to keep the cost down (Fig. 2b); auxiliary classifiers on
 * inception4a/4d add gradient in training and are dropped at inference.
 *
 * torchvision's differences from the paper, kept for its weights (DESIGN.md, known pitfalls): the "5x5" branch
 * is 3x3 (pytorch/vision#906); BatchNorm (eps 0.001) after every conv; ceil_mode max-pools; `transform_input`.
 */
import type { Value } from "../graph/ir.js";
import * as ops from "../graph/ops.js";
import type { ForwardContext } from "../nn/context.js";
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Dropout, Linear, MaxPool2d, Sequential } from "../nn/layers.js";
import { Module } from "../nn/module.js";
import { initWeights } from "../nn/init.js";
import { init } from "../nn/parameter.js";
import { registerArch } from "./registry.js";
import { StageRecorder } from "./stages.js";

/** Conv (no bias) → BatchNorm (eps 0.001) → ReLU; the ReLU is functional in torchvision (no module). */
export class BasicConv2d extends Module {
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d;

  constructor(inChannels: number, outChannels: number, kernelSize: number, options: { stride?: number; padding?: number } = {}) {
    super();
    this.conv = this.addModule("conv", new Conv2d(inChannels, outChannels, kernelSize, { ...options, bias: false }));
    this.bn = this.addModule("bn", new BatchNorm2d(outChannels, { eps: 0.001 }));
  }

  forward(ctx: ForwardContext, x: Value): Value {
    return ops.relu(ctx.g, ctx.call(this.bn, ctx.call(this.conv, x)));
  }
}

/**
 * One row of the paper's Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj. The
 * module's output channels are #1x1 + #3x3 + #5x5 + pool proj.
 */
export type InceptionRow = readonly [ch1x1: number, ch3x3red: number, ch3x3: number, ch5x5red: number, ch5x5: number, poolProj: number];

const outChannels = ([ch1x1, , ch3x3, , ch5x5, poolProj]: InceptionRow) => ch1x1 + ch3x3 + ch5x5 + poolProj;

/** The Inception module with dimension reductions (Fig. 2b): four branches, concatenated. */
export class Inception extends Module {
  readonly branch1: BasicConv2d;
  readonly branch2: Sequential;
  readonly branch3: Sequential;
  readonly branch4: Sequential;

  constructor(inChannels: number, [ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, poolProj]: InceptionRow) {
    super();
    this.branch1 = this.addModule("branch1", new BasicConv2d(inChannels, ch1x1, 1));
    this.branch2 = this.addModule(
      "branch2",
      new Sequential(new BasicConv2d(inChannels, ch3x3red, 1), new BasicConv2d(ch3x3red, ch3x3, 3, { padding: 1 })),
    );
    // The paper's 5x5 branch; torchvision's is 3x3 (a known bug kept so its weights load).
    this.branch3 = this.addModule(
      "branch3",
      new Sequential(new BasicConv2d(inChannels, ch5x5red, 1), new BasicConv2d(ch5x5red, ch5x5, 3, { padding: 1 })),
    );
    this.branch4 = this.addModule(
      "branch4",
      new Sequential(new MaxPool2d(3, { stride: 1, padding: 1, ceilMode: true }), new BasicConv2d(inChannels, poolProj, 1)),
    );
  }

  forward(ctx: ForwardContext, x: Value): Value {
    const branches = [this.branch1, this.branch2, this.branch3, this.branch4].map((branch) => ctx.call(branch, x));
    return ops.concat(ctx.g, branches, 1);
  }
}

/**
 * An auxiliary classifier (paper §5: 5x5/3 average pool → 1x1 conv with 128 filters → FC 1024 with
 * ReLU → dropout 0.7 → linear softmax classifier). torchvision pools adaptively to 4x4 (what the
 * paper's pool gives at 224) and keeps the children's order conv, fc1, fc2, dropout.
 */
export class InceptionAux extends Module {
  /** torchvision calls F.adaptive_avg_pool2d: functional, so not a child in the module tree. */
  private readonly pool = new AdaptiveAvgPool2d(4);
  readonly conv: BasicConv2d;
  readonly fc1: Linear;
  readonly fc2: Linear;
  readonly dropout: Dropout;

  constructor(inChannels: number, numClasses: number, dropout = 0.7) {
    super();
    this.conv = this.addModule("conv", new BasicConv2d(inChannels, 128, 1));
    this.fc1 = this.addModule("fc1", new Linear(128 * 4 * 4, 1024));
    this.fc2 = this.addModule("fc2", new Linear(1024, numClasses));
    this.dropout = this.addModule("dropout", new Dropout(dropout));
  }

  forward(ctx: ForwardContext, x: Value): Value {
    let y = ctx.call(this.conv, this.pool.forward(ctx, x));
    y = ops.relu(ctx.g, ctx.call(this.fc1, ops.flatten(ctx.g, y, 1)));
    return ctx.call(this.fc2, ctx.call(this.dropout, y));
  }
}

/** Table 1 of the paper, the nine Inception modules in order. */
const INCEPTIONS: readonly [name: string, row: InceptionRow][] = [
  ["inception3a", [64, 96, 128, 16, 32, 32]],
  ["inception3b", [128, 128, 192, 32, 96, 64]],
  ["inception4a", [192, 96, 208, 16, 48, 64]],
  ["inception4b", [160, 112, 224, 24, 64, 64]],
  ["inception4c", [128, 128, 256, 24, 64, 64]],
  ["inception4d", [112, 144, 288, 32, 64, 64]],
  ["inception4e", [256, 160, 320, 32, 128, 128]],
  ["inception5a", [256, 160, 320, 32, 128, 128]],
  ["inception5b", [384, 192, 384, 48, 128, 128]],
];

/** The max-pool inserted after a module (Table 1's "max pool 3x3/2" rows; torchvision's last is 2x2/2). */
const POOL_AFTER: Readonly<Record<string, [name: string, kernel: number]>> = {
  conv1: ["maxpool1", 3],
  conv3: ["maxpool2", 3],
  inception3b: ["maxpool3", 3],
  inception4e: ["maxpool4", 2],
};

/** Where the auxiliary classifiers tap the trunk (paper §5: on top of 4a and 4d), and their input channels. */
const AUX_TAPS = {
  aux1: ["inception4a", 512],
  aux2: ["inception4d", 528],
} as const satisfies Record<string, readonly [tap: string, inChannels: number]>;

/**
 * `transform_input`: the net maps ImageNet-normalised input to the [-1, 1] range torchvision's pretrained
 * `googlenet-1378be20.pth` expects (x' = x · std / 0.5 + (mean − 0.5) / 0.5). True, as torchvision's
 * `googlenet(weights=…)` sets it; a bare torchvision `GoogLeNet()` has false (`new GoogLeNet({ transformInput:
 * false })` for weights trained that way). From scratch either works: a fixed affine map in front of conv1.
 */
export const GOOGLENET_TRANSFORM_INPUT = true;

/** torchvision's constants in `_transform_input` (the ImageNet mean and std). */
const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

export interface GoogLeNetOptions {
  numClasses?: number;
  /** See GOOGLENET_TRANSFORM_INPUT (default true). */
  transformInput?: boolean;
  /** Dropout before `fc` (0.2, torchvision; the paper used 0.4). */
  dropout?: number;
  /** Dropout in the auxiliary classifiers (0.7, paper §5). */
  dropoutAux?: number;
}

/** A trunk module and the auxiliary classifier that taps its output, if any. */
interface TrunkEntry {
  module: Module;
  aux?: { name: string; module: InceptionAux };
}

export class GoogLeNet extends Module {
  readonly transformInput: boolean;
  readonly aux1: InceptionAux;
  readonly aux2: InceptionAux;
  readonly avgpool: AdaptiveAvgPool2d;
  readonly dropout: Dropout;
  readonly fc: Linear;
  /** The last module before each max-pool (strides 2 … 16) and the final Inception module (32). */
  readonly stages: readonly string[];
  /** The trunk in execution order (stem convs, max-pools, Inception modules). */
  private readonly trunk: TrunkEntry[] = [];

  constructor(options: GoogLeNetOptions = {}) {
    super();
    const numClasses = options.numClasses ?? 1000;
    this.transformInput = options.transformInput ?? GOOGLENET_TRANSFORM_INPUT;
    const stages = new StageRecorder();
    const taps = new Map<string, TrunkEntry>();
    const add = (name: string, module: Module, stride = 1) => {
      const entry = { module: this.addModule(name, module) };
      this.trunk.push(entry);
      taps.set(name, entry);
      stages.add(name, stride);
      const pool = POOL_AFTER[name];
      if (pool) add(pool[0], new MaxPool2d(pool[1], { stride: 2, ceilMode: true }), 2);
    };
    // The stem (Table 1's first rows): 7x7/2 conv, pool, 1x1 reduce, 3x3 conv, pool.
    add("conv1", new BasicConv2d(3, 64, 7, { stride: 2, padding: 3 }), 2);
    add("conv2", new BasicConv2d(64, 64, 1));
    add("conv3", new BasicConv2d(64, 192, 3, { padding: 1 }));
    let channels = 192;
    for (const [name, row] of INCEPTIONS) {
      add(name, new Inception(channels, row));
      channels = outChannels(row);
    }
    // Training-only heads: part of the tree (so checkpoints that have them load, and training can
    // use them) but never called at inference. Registered after the trunk, as torchvision does.
    const aux = (name: "aux1" | "aux2") => {
      const [tap, inChannels] = AUX_TAPS[name];
      const module = this.addModule(name, new InceptionAux(inChannels, numClasses, options.dropoutAux ?? 0.7));
      taps.get(tap)!.aux = { name, module };
      return module;
    };
    this.aux1 = aux("aux1");
    this.aux2 = aux("aux2");
    this.avgpool = this.addModule("avgpool", new AdaptiveAvgPool2d(1));
    this.dropout = this.addModule("dropout", new Dropout(options.dropout ?? 0.2));
    this.fc = this.addModule("fc", new Linear(channels, numClasses));
    this.stages = stages.stages;

    // torchvision: trunc_normal_(std 0.01, a=-2, b=2) for conv and linear weights (a cut-off at ±200σ:
    // a plain normal); BN γ=1 β=0; linear biases keep torch's default.
    const normal = { weight: () => init.normal(0.01) };
    initWeights(this, { conv: normal, linear: normal });
  }

  forward(ctx: ForwardContext, x: Value): Value {
    let y = this.transformInput ? toInceptionRange(ctx, x) : x;
    for (const { module, aux } of this.trunk) {
      y = ctx.call(module, y);
      // Auxiliary logits only exist in training graphs (removed for inference).
      if (aux && ctx.training) ctx.auxOutputs.set(aux.name, ctx.call(aux.module, y));
    }
    y = ops.flatten(ctx.g, ctx.call(this.avgpool, y), 1);
    return ctx.call(this.fc, ctx.call(this.dropout, y));
  }
}

/** torchvision's `_transform_input`: x · (std / 0.5) + (mean − 0.5) / 0.5, per channel. */
function toInceptionRange(ctx: ForwardContext, x: Value): Value {
  const perChannel = (values: number[]) =>
    ctx.g.constant({ dtype: "float32", shape: [1, 3, 1, 1], data: Float32Array.from(values) }, "transform_input");
  const scale = perChannel(IMAGENET_STD.map((s) => s / 0.5));
  const shift = perChannel(IMAGENET_MEAN.map((m) => (m - 0.5) / 0.5));
  return ops.add(ctx.g, ops.mul(ctx.g, x, scale), shift);
}

registerArch({
  name: "googlenet",
  family: "googlenet",
  description:
    "GoogLeNet / Inception v1: 9 Inception modules with 1x1 bottlenecks, auxiliary classifiers for training (Szegedy et al. 2014)",
  defaultResolution: 224,
  // The smallest side for which every max-pool window fits inside its input (maxpool4 needs 2x2).
  minResolution: 31,
  accepts: { dropout: { min: 0, max: 0.99, default: 0.2 } },
  details: () => ({ transformInput: GOOGLENET_TRANSFORM_INPUT ? "on" : "off", auxClassifiers: "aux1, aux2 (training only)" }),
  build: (o) => {
    const net = new GoogLeNet({ numClasses: o.numClasses, dropout: o.dropout });
    // The inference head is `fc`. The auxiliary classifiers are training-only heads hanging off the
    // middle of the backbone; they are `optional` (torchvision's pretrained file omits them).
    return { net, classifier: "fc", head: ["fc"], stages: [...net.stages], optional: ["aux1", "aux2"] };
  },
});
