/**
 * A dense host tensor: the currency between weights files, models and ONNX Runtime.
 * Browser-safe (no Node imports).
 */
export type DType = "float32" | "float16" | "float64" | "int64" | "int32" | "int8" | "uint8" | "bool";

export type TypedArrayFor<D extends DType> = D extends "float32"
  ? Float32Array
  : D extends "float64"
    ? Float64Array
    : D extends "int64"
      ? BigInt64Array
      : D extends "int32"
        ? Int32Array
        : D extends "int8"
          ? Int8Array
          : D extends "float16"
            ? Uint16Array
            : Uint8Array;

export type TensorData = Float32Array | Float64Array | BigInt64Array | Int32Array | Int8Array | Uint16Array | Uint8Array;

export interface Tensor<D extends DType = DType> {
  readonly dtype: D;
  readonly shape: readonly number[];
  readonly data: TypedArrayFor<D>;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function tensor<D extends DType>(dtype: D, shape: readonly number[], data: TypedArrayFor<D>): Tensor<D> {
  if (data.length !== numel(shape)) {
    throw new RangeError(`tensor of shape [${shape.join(", ")}] needs ${numel(shape)} elements, got ${data.length}`);
  }
  return { dtype, shape: [...shape], data };
}

export function float32(shape: readonly number[], data?: Float32Array): Tensor<"float32"> {
  return tensor("float32", shape, data ?? new Float32Array(numel(shape)));
}

export function formatShape(shape: readonly (number | string)[]): string {
  return `[${shape.join(", ")}]`;
}

/** Bytes per element of each dtype, as stored in safetensors / ONNX raw_data. */
export const DTYPE_BYTES: Record<DType, number> = {
  float32: 4,
  float16: 2,
  float64: 8,
  int64: 8,
  int32: 4,
  int8: 1,
  uint8: 1,
  bool: 1,
};

/** A view of raw little-endian bytes as a typed array of `dtype` (copies when unaligned). */
export function typedArrayFromBytes(dtype: DType, bytes: Uint8Array): TensorData {
  const size = DTYPE_BYTES[dtype];
  // new Uint8Array(x) always copies (a Node Buffer's slice() would not).
  const aligned = bytes.byteOffset % size === 0 ? bytes : new Uint8Array(bytes);
  const { buffer, byteOffset, byteLength } = aligned;
  const n = byteLength / size;
  switch (dtype) {
    case "float32":
      return new Float32Array(buffer, byteOffset, n);
    case "float64":
      return new Float64Array(buffer, byteOffset, n);
    case "float16":
      return new Uint16Array(buffer, byteOffset, n);
    case "int64":
      return new BigInt64Array(buffer, byteOffset, n);
    case "int32":
      return new Int32Array(buffer, byteOffset, n);
    case "int8":
      return new Int8Array(buffer, byteOffset, n);
    case "uint8":
    case "bool":
      return new Uint8Array(buffer, byteOffset, n);
  }
}

/** Converts any floating tensor to float32 (float16 and float64 checkpoints load into float32 models). */
export function toFloat32(t: Tensor): Tensor<"float32"> {
  if (t.dtype === "float32") return t as Tensor<"float32">;
  const out = new Float32Array(numel(t.shape));
  if (t.dtype === "float16") {
    const src = t.data as Uint16Array;
    for (let i = 0; i < out.length; i++) out[i] = halfToFloat(src[i]);
  } else if (t.dtype === "int64") {
    const src = t.data as BigInt64Array;
    for (let i = 0; i < out.length; i++) out[i] = Number(src[i]);
  } else {
    const src = t.data as Exclude<TensorData, BigInt64Array>;
    for (let i = 0; i < out.length; i++) out[i] = src[i];
  }
  return { dtype: "float32", shape: t.shape, data: out };
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}
