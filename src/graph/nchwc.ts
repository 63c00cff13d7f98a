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
 * Which convs (bench/nchwc_conv.ts; table in bench/README.md): kernels larger than 1x1, dense or
 * depthwise, with channels a multiple of B (dense 3x3 1.2–1.5x faster with the reorders included,
 * depthwise 3x3 1.7–5x at stride 1). 1x1 convs are left alone: NCHW runs them as one GEMM, and
 * with the reorders NCHWc lost or tied. Dilated convs are lowered too (the depthwise weight
 * gradient runs dy as a dilated kernel), and stems over fewer channels than a block, which MLAS
 * reads in NCHW (resnet18's 7x7 s2 stem 1.57x).
 */
import { attr, intAttr, intsAttr, stringAttr, type Graph, type Node, type Value } from "./ir.js";
import * as ops from "./ops.js";

export const NCHWC_DOMAIN = "com.microsoft.nchwc";

function staticDims(v: Value): number[] | null {
  return v.shape.every((d) => typeof d === "number") ? (v.shape as number[]) : null;
}

export interface LowerOptions {
  /** Also 1x1 convs (off by default: see the module comment); for bench/nchwc_conv.ts. */
  includePointwise?: boolean;
}

type Kind = "dense" | "depthwise" | "nchwInput";

/**
 * How the Conv node runs as NCHWc with block `b`: "dense", "depthwise", or "nchwInput" (a dense
 * conv with fewer input channels than a block, such as a stem over RGB: MLAS reads its input in
 * NCHW as it is); null when it cannot.
 */
function nchwcKind(node: Node, b: number, o: LowerOptions): Kind | null {
  if (node.op !== "Conv" || node.domain) return null;
  const [x, w] = node.inputs;
  if (!x || !w) return null;
  const xs = staticDims(x);
  const ws = staticDims(w);
  if (!xs || !ws || xs.length !== 4 || ws.length !== 4) return null;
  if (stringAttr(node, "auto_pad", "NOTSET") !== "NOTSET") return null;
  const [, cin] = xs;
  const [cout, cinPerGroup, kh, kw] = ws;
  if (kh === 1 && kw === 1 && !o.includePointwise) return null;
  const group = intAttr(node, "group", 1);
  if (group === 1 && cin % b === 0 && cout % b === 0) return "dense";
  if (group === 1 && cin < b && cout % b === 0) return "nchwInput";
  if (group === cin && cout === cin && cinPerGroup === 1 && cin % b === 0) return "depthwise";
  return null;
}

/**
 * [O, I, kH, kW] as O/B blocks of (I, kH, kW, B_out) ("OIHWBo"): the filter order of a conv with
 * NCHW input, and the first step of the dense order.
 */
function outputBlocksLast(g: Graph, w: Value, b: number): Value {
  const [o, i, kh, kw] = w.shape as number[];
  // B_out to the end: [O/B, B_out, I·k] → [O/B, I·k, B_out].
  const t = ops.transpose(g, ops.reshape(g, w, [o / b, b, i * kh * kw]), [0, 2, 1]);
  return ops.reshape(g, t, [o, i, kh, kw]);
}

/**
 * A dense weight in MLAS's NCHWc filter order: [O, I, kH, kW] as O/B × I/B blocks of
 * (kH, kW, B_in, B_out) ("OIHWBiBo"); same shape, reordered memory. Each step is a transpose that
 * moves one axis, which ONNX Runtime does fast; as one 6-D Transpose a 512x512x3x3 weight took
 * 11.0 ms, as two such steps 4.4 ms.
 */
function denseWeight(g: Graph, w: Value, b: number): Value {
  const [o, i, kh, kw] = w.shape as number[];
  const k = kh * kw;
  const outLast = outputBlocksLast(g, w, b);
  // B_in after the kernel taps: [O/B · I/B, B_in, k, B_out] → [O/B · I/B, k, B_in, B_out].
  const inLast = ops.transpose(g, ops.reshape(g, outLast, [(o / b) * (i / b), b, k, b]), [0, 2, 1, 3]);
  return ops.reshape(g, inLast, [o, i, kh, kw]);
}

/**
 * denseWeight of Xᵀ (= Transpose(X, [1, 0, 2, 3]), the input-gradient conv's weight) straight from
 * X [I, O, kH, kW], in two moves with long contiguous runs: O/B to the front ([I, O/B, B·k] →
 * [O/B, I, B·k], runs of B·kH·kW), then the taps before the channel pair ([O/B · I/B, B_in·B_out,
 * k] → [.., k, B_in·B_out]). Transposing first and blocking after took three moves, one of them
 * with runs of only kH·kW (512x512x3x3, interleaved: 16.5 vs 33.3 ms). When X is itself a kernel
 * flip of W (a MatMul of [O·I, k] with the anti-identity J, formulations.ts) the flip moves to the
 * end, where J·(the second move) is one MatMul with a transposed operand, which ORT fuses
 * (12.3 → 7.3 ms with the flip).
 */
function transposedDenseWeight(g: Graph, x: Value, b: number, flip: Value | null): Value {
  const [i, o, kh, kw] = x.shape as number[];
  const k = kh * kw;
  const outBlocksFirst = ops.transpose(g, ops.reshape(g, x, [i, o / b, b * k]), [1, 0, 2]);
  const tapsFirst = ops.transpose(g, ops.reshape(g, outBlocksFirst, [(o / b) * (i / b), b * b, k]), [0, 2, 1]);
  return ops.reshape(g, flip ? ops.matmul(g, flip, tapsFirst) : tapsFirst, [o, i, kh, kw]);
}

/** Whether `v` is a constant k x k anti-identity (ones where row + column = k − 1). */
function isAntiIdentity(g: Graph, v: Value, k: number): boolean {
  const t = g.initializers.get(v.name)?.tensor;
  if (!t || t.dtype !== "float32" || t.shape.length !== 2 || t.shape[0] !== k || t.shape[1] !== k) return false;
  const d = t.data as Float32Array;
  return d.every((value, at) => value === (Math.floor(at / k) + (at % k) === k - 1 ? 1 : 0));
}

/**
 * NCHWc copies of values, each made once by ReorderInput where first needed. The blocked memory
 * of [N, C, H, W] (C a multiple of B) is also that of [1, N·C, H, W] and, in the depthwise filter
 * order ("OIHWBo": C/B blocks of (kH, kW, B)), of a depthwise weight [N·C, 1, H, W]; so a Reshape
 * between those shapes is looked through, and the copy shared. That is how the depthwise weight
 * gradient (formulations.ts, depthwiseWeightGradFoldedBatch: x and dy folded into channels) reuses
 * the forward conv's copy of x and the input gradient's copy of dy.
 */
class Reorders {
  private readonly made = new Map<string, Value>();
  private readonly producers = new Map<string, Node>();

  constructor(
    private readonly g: Graph,
    private readonly b: number,
    nodes: readonly Node[],
  ) {
    for (const n of nodes) for (const o of n.outputs) this.producers.set(o.name, n);
  }

  /** The [N, C, H, W] value (C a multiple of B) that `v` is a channel-regrouping Reshape of, or `v`. */
  private source(v: Value): Value {
    const p = this.producers.get(v.name);
    const u = p && p.op === "Reshape" && !p.domain ? p.inputs[0] : null;
    const us = u ? staticDims(u) : null;
    const vs = staticDims(v);
    if (!u || !us || !vs || us.length !== 4 || vs.length !== 4 || us[1] % this.b !== 0) return v;
    const sameMaps = us[2] === vs[2] && us[3] === vs[3] && us[0] * us[1] === vs[0] * vs[1];
    return sameMaps && (vs[0] === 1 || vs[1] === 1) ? u : v;
  }

  private reorder(v: Value): Value {
    let r = this.made.get(v.name);
    if (!r) {
      r = this.g.addNode("ReorderInput", [v], [{ dtype: v.dtype, shape: v.shape }], {}, NCHWC_DOMAIN)[0];
      this.made.set(v.name, r);
    }
    return r;
  }

  /** An activation [N, C, H, W] in NCHWc. */
  activation(x: Value): Value {
    const src = this.source(x);
    return src === x ? this.reorder(x) : ops.reshape(this.g, this.reorder(src), x.shape as number[]);
  }

  private producer(v: Value, op: string): Node | null {
    const p = this.producers.get(v.name);
    return p && p.op === op && !p.domain ? p : null;
  }

  /** The W that `x` [O, I, kH, kW] is the kernel flip of (Reshape · MatMul with J · Reshape), and J. */
  private flipOf(x: Value): { source: Value; flip: Value } | null {
    const back = this.producer(x, "Reshape");
    const mm = back && this.producer(back.inputs[0]!, "MatMul");
    const front = mm && this.producer(mm.inputs[0]!, "Reshape");
    const [o, i, kh, kw] = x.shape as number[];
    const source = front?.inputs[0];
    if (!mm || !source || mm.inputs[0]!.shape.join() !== `${o * i},${kh * kw}` || source.shape.join() !== x.shape.join()) return null;
    return isAntiIdentity(this.g, mm.inputs[1]!, kh * kw) ? { source, flip: mm.inputs[1]! } : null;
  }

  /** A dense weight in the OIHWBiBo order; a transposed one (an input gradient's) from its source. */
  denseWeight(w: Value): Value {
    const t = this.producer(w, "Transpose");
    if (!t || intsAttr(t, "perm", []).join() !== "1,0,2,3") return denseWeight(this.g, w, this.b);
    const x = t.inputs[0]!;
    const flipped = this.flipOf(x);
    return flipped ? transposedDenseWeight(this.g, flipped.source, this.b, flipped.flip) : transposedDenseWeight(this.g, x, this.b, null);
  }

  /** A depthwise weight [C, 1, kH, kW] in the depthwise filter order (= [1, C, kH, kW] in NCHWc). */
  depthwiseWeight(w: Value): Value {
    const src = this.source(w);
    const [c, , kh, kw] = w.shape as number[];
    const blocked = src !== w ? this.reorder(src) : this.reorder(ops.reshape(this.g, w, [1, c, kh, kw]));
    return ops.reshape(this.g, blocked, [c, 1, kh, kw]);
  }
}

/**
 * Rewrites every eligible Conv of `graph` in place (same output values, so consumers are
 * untouched) for channel block `blockSize`; returns how many it rewrote. A block size of 1 means
 * the CPU has no NCHWc kernels: nothing changes.
 */
export function lowerConvsToNchwc(graph: Graph, blockSize: number, options: LowerOptions = {}): number {
  if (blockSize <= 1) return 0;
  const original = graph.nodes.splice(0, graph.nodes.length);
  const reorders = new Reorders(graph, blockSize, original);
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
      const xr = kind === "nchwInput" ? x : reorders.activation(x);
      const wr =
        kind === "dense"
          ? reorders.denseWeight(w)
          : kind === "depthwise"
            ? reorders.depthwiseWeight(w)
            : outputBlocksLast(graph, w, blockSize);
      const conv = graph.addNode(
        "Conv",
        bias ? [xr, wr, bias] : [xr, wr],
        [{ dtype: y.dtype, shape: y.shape }],
        { ...node.attrs },
        NCHWC_DOMAIN,
      )[0];
      // The last node produces the original output value itself.
      graph.nodes.push({
        op: "ReorderOutput",
        domain: NCHWC_DOMAIN,
        name: `${node.name}/ReorderOutput`,
        inputs: [conv],
        outputs: [y],
        attrs: { channels: attr.int(y.shape[1] as number) },
        scope: node.scope,
      });
    });
    lowered++;
  }
  return lowered;
}
