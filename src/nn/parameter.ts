/**
 * Parameters and buffers: a shape, an initialiser and (once materialised or loaded) the data.
 * Data is allocated lazily so `summary resnet152` never touches 240 MB of weights.
 */
import type { Random } from "../random.js";
import type { Tensor } from "../tensor.js";
import { numel } from "../tensor.js";

/** How a tensor is initialised; families override the defaults as torchvision's constructors do. */
export type Init =
  | { readonly kind: "zeros" }
  | { readonly kind: "ones" }
  | { readonly kind: "normal"; readonly std: number }
  | { readonly kind: "uniform"; readonly bound: number };

export const init = {
  zeros: { kind: "zeros" } as Init,
  ones: { kind: "ones" } as Init,
  normal: (std: number): Init => ({ kind: "normal", std }),
  uniform: (bound: number): Init => ({ kind: "uniform", bound }),
  /** torch.nn.init.kaiming_normal_(mode="fan_out", nonlinearity="relu"): std = √(2 / fan_out). */
  kaimingNormalFanOut: (shape: readonly number[]): Init => ({ kind: "normal", std: Math.sqrt(2 / fanOut(shape)) }),
  /** PyTorch's default Conv/Linear init, kaiming_uniform_(a=√5): bound = 1/√fan_in. */
  torchDefault: (shape: readonly number[]): Init => ({ kind: "uniform", bound: 1 / Math.sqrt(fanIn(shape)) }),
};

/** fan_in / fan_out as torch.nn.init computes them: dim 1 / dim 0 times the receptive field. */
export function fanIn(shape: readonly number[]): number {
  return shape[1] * numel(shape.slice(2));
}

export function fanOut(shape: readonly number[]): number {
  return shape[0] * numel(shape.slice(2));
}

/** "parameter" is trainable and counted in `params`; "buffer" is state (BN running statistics). */
export type ParameterKind = "parameter" | "buffer";

export class Parameter {
  private value: Float32Array | BigInt64Array | undefined;

  constructor(
    readonly kind: ParameterKind,
    readonly shape: readonly number[],
    public init: Init,
    readonly dtype: "float32" | "int64" = "float32",
  ) {}

  get numel(): number {
    return numel(this.shape);
  }

  get isMaterialized(): boolean {
    return this.value !== undefined;
  }

  /** The data, initialising it from `rng` first if it has none yet. */
  materialize(rng: Random): Tensor {
    if (!this.value) this.value = this.dtype === "int64" ? new BigInt64Array(this.numel) : fill(this.init, this.numel, rng);
    return { dtype: this.dtype, shape: this.shape, data: this.value } as Tensor;
  }

  /** The current data; throws if the parameter was never materialised or loaded. */
  get tensor(): Tensor {
    if (!this.value) throw new Error("parameter has no data yet: call materialize() or load weights first");
    return { dtype: this.dtype, shape: this.shape, data: this.value } as Tensor;
  }

  /** Replaces the data (the caller has checked the shape). */
  assign(data: Float32Array | BigInt64Array): void {
    if (data.length !== this.numel) throw new RangeError(`expected ${this.numel} elements, got ${data.length}`);
    this.value = data;
  }

  /** Forgets the data so the next materialize() re-initialises (a re-initialised classifier). */
  reset(): void {
    this.value = undefined;
  }
}

function fill(how: Init, n: number, rng: Random): Float32Array {
  const out = new Float32Array(n);
  switch (how.kind) {
    case "zeros":
      break;
    case "ones":
      out.fill(1);
      break;
    case "normal":
      for (let i = 0; i < n; i++) out[i] = rng.normal() * how.std;
      break;
    case "uniform":
      for (let i = 0; i < n; i++) out[i] = (rng.uniform() * 2 - 1) * how.bound;
      break;
  }
  return out;
}
