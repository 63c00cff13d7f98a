/**
 * Lowers a graph's spatial convolutions to ONNX Runtime's blocked-channel ("NCHWc") CPU kernels.
 *
 * ONNX Runtime rewrites Conv into its com.microsoft.nchwc kernels by itself, but only when the
 * weights are constants; in a training graph they are inputs, so every Conv ran on the slower
 * NCHW path (im2col + GEMM, and a loop over groups for depthwise convs). This pass does the
 * rewrite in the graph, with the weight reorder as graph ops:
 *
 *   x ─ ReorderInput ─┐
 *   W ─ Reshape ─ Transpose ─ Reshape ─ nchwc.Conv ─ ReorderOutput ─ y
 *
 * The channel block B is the CPU's (MLAS: 16 with AVX-512, 8 with AVX2; runtime/nchwc_block.ts
 * asks ONNX Runtime), so the lowered graph is for the machine that builds it, and only for
 * onnxruntime-node (onnxruntime-web's wasm build has no NCHWc kernels).
 *
 * Which convs (bench/nchwc_conv.ts, batch 16, 2 threads, reorders included, NCHW/NCHWc time):
 * kernels larger than 1x1, dense or depthwise, with channels a multiple of B: 3x3 dense 1.2–1.5x
 * (64→64 @56 52.2 vs 39.0 ms), depthwise 3x3 1.7–5x at stride 1 (144 @56 28.0 vs 16.1; 960 @7
 * 8.0 vs 1.6), a tie to 1.2x at stride 2, depthwise 5x5 3–4x. 1x1 convs are left alone: NCHW
 * runs them as one GEMM, and with the reorders NCHWc lost (96→576 @14 3.9 vs 7.8) or tied.
 * Dilated convs are lowered too (the depthwise weight gradient runs dy as a dilated kernel).
 */
import { attr, type Graph, type Node, type Value } from "./graph.js";
import * as ops from "./ops.js";

export const NCHWC_DOMAIN = "com.microsoft.nchwc";

function intAttr(node: Node, name: string, fallback: number): number {
  const a = node.attrs[name];
  return a && a.type === "int" ? a.value : fallback;
}

function staticDims(v: Value): number[] | null {
  return v.shape.every((d) => typeof d === "number") ? (v.shape as number[]) : null;
}

export interface LowerOptions {
  /** Also 1x1 convs (off by default: see the module comment); for bench/nchwc_conv.ts. */
  includePointwise?: boolean;
}

/** "dense" or "depthwise" when the Conv node can run as NCHWc with block `b`, else null. */
function nchwcKind(node: Node, b: number, o: LowerOptions): "dense" | "depthwise" | null {
  if (node.op !== "Conv" || node.domain) return null;
  const [x, w] = node.inputs;
  if (!x || !w) return null;
  const xs = staticDims(x);
  const ws = staticDims(w);
  if (!xs || !ws || xs.length !== 4 || ws.length !== 4) return null;
  const autoPad = node.attrs.auto_pad;
  if (autoPad && autoPad.type === "string" && autoPad.value !== "NOTSET") return null;
  const [, cin] = xs;
  const [cout, cinPerGroup, kh, kw] = ws;
  if (kh === 1 && kw === 1 && !o.includePointwise) return null;
  const group = intAttr(node, "group", 1);
  if (group === 1 && cin % b === 0 && cout % b === 0) return "dense";
  if (group === cin && cout === cin && cinPerGroup === 1 && cin % b === 0) return "depthwise";
  return null;
}

/**
 * The weight in MLAS's NCHWc filter order: dense [O, I, kH, kW] as O/B × I/B blocks of
 * (kH, kW, B_in, B_out) ("OIHWBiBo"); depthwise [C, 1, kH, kW] as C/B blocks of (kH, kW, B)
 * ("OIHWBo"). Same shape, reordered memory. Each step is a transpose that moves one axis, which
 * ONNX Runtime does fast; the dense order as one 6-D Transpose took 11.0 ms for a 512x512x3x3
 * weight, as two such steps 4.4 ms (bench/nchwc_conv.ts).
 */
function reorderedWeight(g: Graph, w: Value, kind: "dense" | "depthwise", b: number): Value {
  const [o, i, kh, kw] = w.shape as number[];
  const k = kh * kw;
  // B_out to the end: [O/B, B_out, I·k] → [O/B, I·k, B_out].
  const outLast = ops.transpose(g, ops.reshape(g, w, [o / b, b, i * k]), [0, 2, 1]);
  if (kind === "depthwise") return ops.reshape(g, outLast, [o, i, kh, kw]);
  // B_in after the kernel taps: [O/B · I/B, B_in, k, B_out] → [O/B · I/B, k, B_in, B_out].
  const inLast = ops.transpose(g, ops.reshape(g, outLast, [(o / b) * (i / b), b, k, b]), [0, 2, 1, 3]);
  return ops.reshape(g, inLast, [o, i, kh, kw]);
}

/**
 * Rewrites every eligible Conv of `graph` in place (same output values, so consumers are
 * untouched) for channel block `blockSize`; returns how many it rewrote. A block size of 1 means
 * the CPU has no NCHWc kernels: nothing changes.
 */
export function lowerConvsToNchwc(graph: Graph, blockSize: number, options: LowerOptions = {}): number {
  if (blockSize <= 1) return 0;
  const original = graph.nodes.splice(0, graph.nodes.length);
  let lowered = 0;
  for (const node of original) {
    const kind = nchwcKind(node, blockSize, options);
    if (!kind) {
      graph.nodes.push(node);
      continue;
    }
    graph.withAbsoluteScope(node.scope, () => {
      const [x, w, bias] = node.inputs as [Value, Value, Value | null | undefined];
      const y = node.outputs[0];
      const xr = graph.addNode("ReorderInput", [x], [{ dtype: x.dtype, shape: x.shape }], {}, NCHWC_DOMAIN)[0];
      const wr = reorderedWeight(graph, w, kind, blockSize);
      const conv = graph.addNode("Conv", bias ? [xr, wr, bias] : [xr, wr], [{ dtype: y.dtype, shape: y.shape }], { ...node.attrs }, NCHWC_DOMAIN)[0];
      // The last node produces the original output value itself.
      graph.nodes.push({ op: "ReorderOutput", domain: NCHWC_DOMAIN, name: `${node.name}/ReorderOutput`, inputs: [conv], outputs: [y], attrs: { channels: attr.int(y.shape[1] as number) }, scope: node.scope });
    });
    lowered++;
  }
  return lowered;
}
