/**
 * The basic layers, named and parameterised as in torch.nn so state_dict keys match
 * (`weight`, `bias`, `running_mean`, `running_var`, `num_batches_tracked`).
 */
import type { Graph, Value } from "../graph/ir.js";
import * as ops from "../graph/ops.js";
import { numel } from "../tensor.js";
import type { ForwardContext } from "./context.js";
import { Module } from "./module.js";
import { init, type Parameter } from "./parameter.js";

type Pair = number | readonly [number, number];
const pair = (v: Pair): [number, number] => (typeof v === "number" ? [v, v] : [v[0], v[1]]);

/** Elements per image of a value (all dims but the batch). */
function perImage(v: Value): number {
  return numel(v.shape.slice(1).map((d) => (typeof d === "number" ? d : 1)));
}

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
  bias?: boolean;
}

export class Conv2d extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: Pair,
    options: Conv2dOptions = {},
  ) {
    super();
    this.groups = options.groups ?? 1;
    if (inChannels % this.groups !== 0 || outChannels % this.groups !== 0) {
      throw new Error(`Conv2d(${inChannels}, ${outChannels}): channels must be divisible by groups ${this.groups}`);
    }
    const [kh, kw] = pair(kernelSize);
    this.stride = pair(options.stride ?? 1);
    this.padding = pair(options.padding ?? 0);
    this.dilation = pair(options.dilation ?? 1);
    const shape = [outChannels, inChannels / this.groups, kh, kw];
    this.weight = this.addParameter("weight", shape, init.torchDefault(shape));
    this.bias = options.bias === false ? null : this.addParameter("bias", [outChannels], init.torchDefault(shape));
  }

  get kernelSize(): [number, number] {
    return [this.weight.shape[2], this.weight.shape[3]];
  }

  forward(ctx: ForwardContext, x: Value): Value {
    const w = ctx.param(this, "weight");
    const b = this.bias ? ctx.param(this, "bias") : null;
    return ops.conv2d(ctx.g, x, w, b, { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups });
  }

  override macs(_x: Value, y: Value): number {
    const [, cinPerGroup, kh, kw] = this.weight.shape;
    return perImage(y) * cinPerGroup * kh * kw;
  }
}

export interface BatchNormOptions {
  /** torchvision's default 1e-5; MobileNetV3 and EfficientNet use 1e-3. */
  eps?: number;
  /** PyTorch convention: running = (1 - momentum) · running + momentum · batch; default 0.1. */
  momentum?: number;
}

export class BatchNorm2d extends Module {
  readonly eps: number;
  readonly momentum: number;
  readonly weight: Parameter;
  readonly bias: Parameter;
  readonly runningMean: Parameter;
  readonly runningVar: Parameter;

  constructor(
    readonly numFeatures: number,
    options: BatchNormOptions = {},
  ) {
    super();
    this.eps = options.eps ?? 1e-5;
    this.momentum = options.momentum ?? 0.1;
    this.weight = this.addParameter("weight", [numFeatures], init.ones);
    this.bias = this.addParameter("bias", [numFeatures], init.zeros);
    this.runningMean = this.addBuffer("running_mean", [numFeatures], init.zeros);
    this.runningVar = this.addBuffer("running_var", [numFeatures], init.ones);
    this.addBuffer("num_batches_tracked", [], init.zeros, "int64");
  }

  forward(ctx: ForwardContext, x: Value): Value {
    const p = (name: string) => ctx.param(this, name);
    if (ctx.isTraining(this)) return this.forwardTraining(ctx, x);
    return ops.batchNormInference(ctx.g, x, p("weight"), p("bias"), p("running_mean"), p("running_var"), this.eps);
  }

  /**
   * Training mode (PyTorch semantics): one training-mode BatchNormalization node (momentum 0: its extra outputs are
   * the batch mean and biased variance) with one gradient rule (rules.ts); as separate elementwise ops the same maths
   * took 31% of a mobilenet_v2 step's kernel time. Running statistics: (1 − m)·running + m·batch with the unbiased
   * variance (ONNX's own update would use the biased one), in ctx.bufferUpdates. docs/training.md#batchnorm-in-training-mode
   */
  private forwardTraining(ctx: ForwardContext, x: Value): Value {
    const g: Graph = ctx.g;
    const axes = [0, ...x.shape.slice(2).map((_, i) => i + 2)];
    const n = axes.reduce((acc, a) => {
      const d = x.shape[a];
      if (typeof d !== "number") {
        g.fail(`BatchNorm2d in training mode needs a static batch size and spatial sizes, got [${x.shape.join(", ")}]`);
      }
      return acc * d;
    }, 1);
    if (n < 2) g.fail(`BatchNorm2d in training mode needs more than one value per channel, got input [${x.shape.join(", ")}]`);
    const p = (name: string) => ctx.param(this, name);
    const { y, mean, variance } = ops.batchNormTraining(g, x, p("weight"), p("bias"), this.eps);
    const m = ctx.batchNormMomentum ?? this.momentum;
    const update = (name: string, batch: Value, scale: number) => {
      const next = ops.add(g, ops.mul(g, p(name), ops.scalarConstant(g, 1 - m)), ops.mul(g, batch, ops.scalarConstant(g, m * scale)));
      const path = ctx.pathOf(this);
      ctx.bufferUpdates.set(path ? `${path}.${name}` : name, next);
    };
    update("running_mean", mean, 1);
    update("running_var", variance, n / (n - 1));
    return y;
  }
}

export class Linear extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: { bias?: boolean } = {},
  ) {
    super();
    const shape = [outFeatures, inFeatures];
    this.weight = this.addParameter("weight", shape, init.torchDefault(shape));
    this.bias = options.bias === false ? null : this.addParameter("bias", [outFeatures], init.torchDefault(shape));
  }

  forward(ctx: ForwardContext, x: Value): Value {
    return ops.linear(ctx.g, x, ctx.param(this, "weight"), this.bias ? ctx.param(this, "bias") : null);
  }

  override macs(): number {
    return this.inFeatures * this.outFeatures;
  }
}

/** Activations and other parameter-free layers, one class each so summaries show torch's names. */
export class ReLU extends Module {
  forward(ctx: ForwardContext, x: Value): Value {
    return ops.relu(ctx.g, x);
  }
}

export class ReLU6 extends Module {
  forward(ctx: ForwardContext, x: Value): Value {
    return ops.clip(ctx.g, x, 0, 6);
  }
}

export class Hardswish extends Module {
  forward(ctx: ForwardContext, x: Value): Value {
    return ops.hardSwish(ctx.g, x);
  }
}

export class Hardsigmoid extends Module {
  forward(ctx: ForwardContext, x: Value): Value {
    return ops.hardSigmoid(ctx.g, x);
  }
}

export class Sigmoid extends Module {
  forward(ctx: ForwardContext, x: Value): Value {
    return ops.sigmoid(ctx.g, x);
  }
}

/** SiLU (swish) = x · sigmoid(x). */
export class SiLU extends Module {
  forward(ctx: ForwardContext, x: Value): Value {
    return ops.mul(ctx.g, x, ops.sigmoid(ctx.g, x));
  }
}

export class Identity extends Module {
  forward(_ctx: ForwardContext, x: Value): Value {
    return x;
  }
}

/**
 * Dropout (Srivastava et al. 2014), inverted as in PyTorch: in training each activation is kept
 * with probability 1 − p and scaled by 1/(1 − p), so inference is the identity.
 */
export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    if (!(p >= 0 && p < 1)) throw new Error(`Dropout probability must be in [0, 1), got ${p}`);
  }

  forward(ctx: ForwardContext, x: Value): Value {
    const p = ctx.dropoutRate(this.p);
    if (!ctx.isTraining(this) || p === 0) return x;
    return ops.mul(ctx.g, x, ctx.randomMask(this, 1 - p, x.shape));
  }
}

/**
 * Stochastic depth (Huang et al. 2016), torchvision.ops.StochasticDepth in "row" mode: drops a
 * residual branch per sample while training; the identity at inference.
 */
export class StochasticDepth extends Module {
  constructor(
    public p: number,
    readonly mode: "row" | "batch" = "row",
  ) {
    super();
    if (!(p >= 0 && p < 1)) throw new Error(`StochasticDepth probability must be in [0, 1), got ${p}`);
  }

  forward(ctx: ForwardContext, x: Value): Value {
    if (!ctx.isTraining(this) || this.p === 0) return x;
    // "row": one draw per sample, [N, 1, 1, 1]; "batch": one draw for the whole batch.
    const shape = this.mode === "row" ? [x.shape[0], ...x.shape.slice(1).map(() => 1)] : x.shape.map(() => 1);
    return ops.mul(ctx.g, x, ctx.randomMask(this, 1 - this.p, shape));
  }
}

export class Flatten extends Module {
  constructor(readonly startDim = 1) {
    super();
  }

  forward(ctx: ForwardContext, x: Value): Value {
    return ops.flatten(ctx.g, x, this.startDim);
  }
}

export class MaxPool2d extends Module {
  constructor(
    readonly kernelSize: Pair,
    readonly options: { stride?: Pair; padding?: Pair; dilation?: Pair; ceilMode?: boolean } = {},
  ) {
    super();
  }

  forward(ctx: ForwardContext, x: Value): Value {
    const o = this.options;
    return ops.maxPool2d(ctx.g, x, {
      kernel: pair(this.kernelSize),
      stride: pair(o.stride ?? this.kernelSize),
      padding: pair(o.padding ?? 0),
      dilation: pair(o.dilation ?? 1),
      ceilMode: o.ceilMode ?? false,
    });
  }
}

export class AvgPool2d extends Module {
  constructor(
    readonly kernelSize: Pair,
    readonly options: { stride?: Pair; padding?: Pair; ceilMode?: boolean; countIncludePad?: boolean } = {},
  ) {
    super();
  }

  forward(ctx: ForwardContext, x: Value): Value {
    const o = this.options;
    return ops.avgPool2d(ctx.g, x, {
      kernel: pair(this.kernelSize),
      stride: pair(o.stride ?? this.kernelSize),
      padding: pair(o.padding ?? 0),
      ceilMode: o.ceilMode ?? false,
      countIncludePad: o.countIncludePad ?? true,
    });
  }
}

/**
 * AdaptiveAvgPool2d with PyTorch's bins (start ⌊i·in/out⌋, end ⌈(i+1)·in/out⌉). Output 1×1 is a
 * GlobalAveragePool; an evenly dividing size is an AveragePool; otherwise two MatMuls with
 * constant averaging matrices (exact for any sizes).
 */
export class AdaptiveAvgPool2d extends Module {
  readonly outputSize: [number, number];

  constructor(outputSize: Pair) {
    super();
    this.outputSize = pair(outputSize);
  }

  forward(ctx: ForwardContext, x: Value): Value {
    const g: Graph = ctx.g;
    const [oh, ow] = this.outputSize;
    const [, , h, w] = x.shape;
    if (typeof h !== "number" || typeof w !== "number") g.fail(`AdaptiveAvgPool2d needs static spatial sizes, got [${x.shape.join(", ")}]`);
    if (oh === 1 && ow === 1) return ops.globalAveragePool(g, x);
    if (h % oh === 0 && w % ow === 0) {
      const k: [number, number] = [h / oh, w / ow];
      return ops.avgPool2d(g, x, { kernel: k, stride: k, padding: [0, 0], ceilMode: false, countIncludePad: true });
    }
    const rows = g.constant({ dtype: "float32", shape: [oh, h], data: adaptiveMatrix(h, oh) }, "adaptive_rows");
    const cols = g.constant({ dtype: "float32", shape: [w, ow], data: transpose(adaptiveMatrix(w, ow), ow, w) }, "adaptive_cols");
    return ops.matmul(g, rows, ops.matmul(g, x, cols));
  }
}

/** [out, in] matrix whose row i averages input bins [⌊i·in/out⌋, ⌈(i+1)·in/out⌉). */
function adaptiveMatrix(size: number, out: number): Float32Array {
  const m = new Float32Array(out * size);
  for (let i = 0; i < out; i++) {
    const start = Math.floor((i * size) / out);
    const end = Math.ceil(((i + 1) * size) / out);
    for (let j = start; j < end; j++) m[i * size + j] = 1 / (end - start);
  }
  return m;
}

function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = m[r * cols + c];
  return t;
}

/** Children named "0", "1", … applied in order, as torch.nn.Sequential. */
export class Sequential extends Module {
  constructor(...layers: Module[]) {
    super();
    layers.forEach((m, i) => this.addModule(String(i), m));
  }

  get length(): number {
    return this.children().length;
  }

  at(index: number): Module {
    const m = this.child(String(index));
    if (!m) throw new RangeError(`Sequential has no layer ${index}`);
    return m;
  }

  forward(ctx: ForwardContext, x: Value): Value {
    let y = x;
    for (const [, m] of this.children()) y = ctx.call(m, y);
    return y;
  }
}
