/**
 * fp16: IEEE 754 binary16 conversion (round to nearest, ties to even; overflow to ±∞; subnormals
 * kept — what numpy's float16 cast does) and the graph pass that stores every float weight as fp16
 * and computes in fp16, with float32 input and output (a Cast at each end), as ONNX Runtime's
 * float16 converter (onnxconverter_common.float16, keep_io_types=True) writes it. Browser-safe.
 */
import { attr, type Graph, type Node, type Value } from "../graph/ir.js";
import { ONNX_DTYPE } from "../graph/ops.js";
import type { Tensor } from "../tensor.js";
import { captureNodes } from "./graph_edit.js";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The binary16 bit pattern nearest to `x` (as float32 first). */
export function float16Bits(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0); // ±∞, NaN
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half: m × 2^-24 with m = 1.mantissa × 2^(exponent − 127 + 24).
    if (e < -10) return sign;
    const full = mantissa | 0x800000;
    const shift = 14 - e;
    const kept = full >>> shift;
    const rest = full & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    return sign | (rest > half || (rest === half && kept & 1) ? kept + 1 : kept);
  }
  const h = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // A carry out of the mantissa correctly moves to the next exponent (and from the largest finite to ∞).
  return sign | (rest > 0x1000 || (rest === 0x1000 && h & 1) ? h + 1 : h);
}

/** The value of a binary16 bit pattern. */
export function float16Value(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

export function toFloat16(t: Tensor): Tensor<"float16"> {
  const out = new Uint16Array(t.data.length);
  for (let i = 0; i < out.length; i++) out[i] = float16Bits(Number(t.data[i]));
  return { dtype: "float16", shape: t.shape, data: out };
}

/**
 * Rewrites `g` to fp16: float32 initializers and values become float16; each float32 graph input
 * is cast to fp16 on entry and each output cast back to float32, so callers keep feeding and
 * reading float32. Ops without an fp16 kernel on a backend are wrapped in Casts by ONNX Runtime itself.
 */
export function convertToFloat16(g: Graph): void {
  const replaced = new Map<string, Value>();
  for (const [name, init] of g.initializers) {
    if (init.tensor.dtype !== "float32") continue;
    const value: Value = { ...init.value, dtype: "float16" };
    g.initializers.set(name, { value, tensor: toFloat16(init.tensor) });
    replaced.set(name, value);
  }
  const head: Node[] = [];
  for (const input of g.inputs) {
    if (input.dtype !== "float32") continue;
    const { result, nodes } = captureNodes(g, "", () =>
      g.addNode("Cast", [input], [{ dtype: "float16", shape: input.shape }], { to: attr.int(ONNX_DTYPE.float16) }),
    );
    replaced.set(input.name, result[0]);
    head.push(...nodes);
  }
  const outputs = new Set(g.outputs.filter((v) => v.dtype === "float32").map((v) => v.name));
  const nodes: Node[] = [...head];
  for (const n of g.nodes) {
    const tail: Node[] = [];
    const outs = n.outputs.map((o) => {
      if (o.dtype !== "float32") return o;
      if (!outputs.has(o.name)) return { ...o, dtype: "float16" } as Value;
      // The graph output keeps its name and float32 type; the node writes an fp16 value cast to it.
      const inner: Value = { ...o, name: `${o.name}_float16`, dtype: "float16" };
      const cast: Node = {
        op: "Cast",
        name: `${o.name}/Cast`,
        inputs: [inner],
        outputs: [o],
        attrs: { to: attr.int(ONNX_DTYPE.float32) },
        scope: "",
      };
      tail.push(cast);
      return inner;
    });
    for (const [i, o] of n.outputs.entries()) if (outs[i] !== o) replaced.set(o.name, outs[i]);
    nodes.push({ ...n, inputs: n.inputs.map((v) => (v ? (replaced.get(v.name) ?? v) : v)), outputs: outs }, ...tail);
  }
  g.nodes.splice(0, g.nodes.length, ...nodes);
}
