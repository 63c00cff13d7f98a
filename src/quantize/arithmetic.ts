/**
 * The quantization arithmetic, as the ONNX operators define it (onnx/docs/Operators.md, opset 13+):
 *
 * - QuantizeLinear: y = saturate(round(x / y_scale) + y_zero_point), rounding to nearest with ties
 *   to even, saturating to the target type's range ([0, 255] for uint8, [-128, 127] for int8).
 * - DequantizeLinear: x = (y - x_zero_point) * x_scale.
 *
 * Activations are uint8 with an asymmetric range [lo, hi] stretched to include 0 so that zero is
 * exactly representable (ONNX Runtime's quantizer, quant_utils.compute_scale_zp); weights are int8
 * symmetric (zero point 0) over [-127, 127], one scale per output channel or per tensor, as ONNX
 * Runtime's QDQ quantizer and TFLite's int8 spec do. Browser-safe.
 */

export interface AffineParams {
  scale: number;
  zeroPoint: number;
}

export const UINT8_RANGE = { min: 0, max: 255 } as const;
export const INT8_RANGE = { min: -128, max: 127 } as const;
/** Symmetric int8 weights use ±127 (TFLite's int8 spec; ONNX Runtime's symmetric weights): -128 stays unused. */
export const INT8_SYMMETRIC_MAX = 127;
/** Bias of a quantized Conv/Gemm is int32 with scale = input scale × weight scale, zero point 0 (ONNX Runtime, TFLite). */
export const INT32_RANGE = { min: -2147483648, max: 2147483647 } as const;

/** Rounds to the nearest integer, ties to even (IEEE roundTiesToEven, what QuantizeLinear specifies). */
export function roundHalfToEven(x: number): number {
  const r = Math.round(x);
  // Math.round rounds ties up (towards +∞): step back where that made an odd number from an exact tie.
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** QuantizeLinear on one value. The scale is float32 in a model, so x / scale is computed against Math.fround(scale). */
export function quantizeValue(x: number, scale: number, zeroPoint: number, range: { min: number; max: number }): number {
  const q = roundHalfToEven(Math.fround(x / Math.fround(scale))) + zeroPoint;
  return Math.min(range.max, Math.max(range.min, q));
}

export function dequantizeValue(q: number, scale: number, zeroPoint: number): number {
  return Math.fround((q - zeroPoint) * Math.fround(scale));
}

/**
 * Scale and zero point of an asymmetric uint8 activation over [lo, hi]: the range is first widened
 * to include 0 (so ReLU outputs get zero point 0 and padding by zeros is exact), then
 * scale = (hi - lo) / 255 and zero point = round(-lo / scale), clamped to [0, 255]. A constant
 * tensor (hi = lo = 0) gets scale 1 so nothing divides by zero.
 */
export function activationParams(lo: number, hi: number): AffineParams {
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || lo > hi)
    throw new RangeError(`activation range [${lo}, ${hi}] is not a finite interval`);
  const min = Math.min(lo, 0);
  const max = Math.max(hi, 0);
  if (max === min) return { scale: 1, zeroPoint: 0 };
  const scale = Math.fround((max - min) / (UINT8_RANGE.max - UINT8_RANGE.min));
  const zeroPoint = Math.min(UINT8_RANGE.max, Math.max(UINT8_RANGE.min, roundHalfToEven(UINT8_RANGE.min - min / scale)));
  return { scale, zeroPoint };
}

/** Symmetric int8 scale for values within [-absMax, absMax]: absMax / 127 (1 for an all-zero tensor). */
export function symmetricWeightScale(absMax: number): number {
  return absMax > 0 ? Math.fround(absMax / INT8_SYMMETRIC_MAX) : 1;
}

export interface QuantizedWeight {
  data: Int8Array;
  /** One scale per output channel (axis 0), or a single one per tensor. */
  scales: Float32Array;
}

/**
 * Symmetric int8 quantization of a weight tensor laid out [C_out, ...] (Conv's [M, C/g, kH, kW],
 * Gemm's transposed B [N, K]): one scale per output channel (`perChannel`), else one for the tensor.
 */
export function quantizeWeight(data: Float32Array, outChannels: number, perChannel: boolean): QuantizedWeight {
  const per = data.length / outChannels;
  const groups = perChannel ? outChannels : 1;
  const span = perChannel ? per : data.length;
  const scales = new Float32Array(groups);
  const q = new Int8Array(data.length);
  for (let c = 0; c < groups; c++) {
    let absMax = 0;
    for (let i = c * span; i < (c + 1) * span; i++) absMax = Math.max(absMax, Math.abs(data[i]));
    const s = symmetricWeightScale(absMax);
    scales[c] = s;
    for (let i = c * span; i < (c + 1) * span; i++) q[i] = quantizeValue(data[i], s, 0, INT8_RANGE);
  }
  return { data: q, scales };
}

/** A Conv/Gemm bias as int32 with scale inputScale × weightScale[c] and zero point 0 (ONNX Runtime's quantizer). */
export function quantizeBias(
  bias: Float32Array,
  inputScale: number,
  weightScales: Float32Array,
): { data: Int32Array; scales: Float32Array } {
  const scales = new Float32Array(bias.length);
  const data = new Int32Array(bias.length);
  for (let c = 0; c < bias.length; c++) {
    const s = Math.fround(inputScale * weightScales[weightScales.length === 1 ? 0 : c]);
    scales[c] = s;
    data[c] = quantizeValue(bias[c], s, 0, INT32_RANGE);
  }
  return { data, scales };
}
