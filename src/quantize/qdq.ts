/**
 * The QDQ rewrite: QuantizeLinear → DequantizeLinear pairs on activations and int8 weights behind
 * DequantizeLinear, in the layout ONNX Runtime's graph optimiser turns into int8 kernels
 * (onnxruntime/core/optimizer/qdq_transformer/selectors_actions: DQ → Conv → Q becomes QLinearConv,
 * DQ → Gemm becomes QGemm, DQ → Add/Mul → Q QLinearAdd/QLinearMul, DQ → GlobalAveragePool → Q
 * QLinearGlobalAveragePool, DQ → Sigmoid → Q QLinearSigmoid; Relu/Clip before a Q whose range they
 * do not cut are dropped; MaxPool/Flatten between equal Q/DQ run on the int8 values). This is the
 * placement of ONNX Runtime's own quantize_static(quant_format=QDQ): the inputs and the output of
 * each quantized op; an activation (Relu, Clip) right after a Conv/Gemm/Add is quantized after the
 * activation, not before it, so the two fuse. Browser-safe.
 */
import { attr, intAttr, type Attr, type Graph, type Node, type Value } from "../graph/ir.js";
import { OptionError } from "../errors.js";
import type { Tensor } from "../tensor.js";
import { activationParams, quantizeBias, quantizeWeight } from "./arithmetic.js";
import { captureNodes, consumersOf, producersOf } from "./graph_edit.js";

/** Ops whose activations are quantized (the ones ONNX Runtime has int8 kernels or QDQ fusions for). */
export const QUANTIZABLE_OPS: readonly string[] = [
  "Conv",
  "Gemm",
  "Add",
  "Mul",
  "GlobalAveragePool",
  "AveragePool",
  "MaxPool",
  "Concat",
  "Sigmoid",
];
/** Ops with a weight (input 1) and bias (input 2) quantized to int8 / int32. */
const WEIGHTED_OPS = new Set(["Conv", "Gemm"]);
/** Activations fused into the Q that follows them (ReluQuantFusion, ClipQuantFusion). */
const FUSED_ACTIVATIONS = new Set(["Relu", "Clip"]);
/** Ops that only move values: their output shares the input's scale and zero point (ONNX Runtime drops their Q/DQ). */
export const PASS_THROUGH_OPS = new Set(["MaxPool", "Flatten", "Reshape"]);

export type Range = readonly [lo: number, hi: number];

export interface QuantizationPlan {
  /** Activation values to quantize, in graph order (graph inputs first). */
  activations: string[];
  /** The quantized nodes (names). */
  nodes: Set<string>;
  /** Pass-through outputs whose range is their input's (output value name → input value name). */
  shared: Map<string, string>;
}

export interface PlanOptions {
  /** Op types left in float32 (e.g. ["Sigmoid"]); default none. */
  fp32Ops?: readonly string[];
  /** Node names (or their scope prefixes, e.g. "features.0") left in float32. */
  fp32Nodes?: readonly string[];
  /** Leave depthwise (grouped) convolutions in float32: int8's known weak spot, measured in bench/quantize.ts. */
  fp32Depthwise?: boolean;
}

/** Which activations get Q/DQ: the float inputs of each quantized node and its output (after a fused Relu/Clip). */
export function planQuantization(g: Graph, options: PlanOptions = {}): QuantizationPlan {
  const consumers = consumersOf(g);
  const producers = producersOf(g);
  const graphOutputs = new Set(g.outputs.map((v) => v.name));
  const skipOps = new Set(options.fp32Ops ?? []);
  for (const op of skipOps)
    if (!QUANTIZABLE_OPS.includes(op)) throw new OptionError(`${op} is not a quantized op (${QUANTIZABLE_OPS.join(", ")})`);
  const skipScopes = options.fp32Nodes ?? [];
  const inScope = (n: Node) => skipScopes.some((s) => n.scope === s || n.scope.startsWith(`${s}.`) || n.name === s);
  const chosen = new Set<string>();
  const nodes = new Set<string>();
  const isActivation = (v: Value | null): v is Value => !!v && v.dtype === "float32" && !g.initializers.has(v.name);
  for (const n of g.nodes) {
    if (!QUANTIZABLE_OPS.includes(n.op) || skipOps.has(n.op) || inScope(n)) continue;
    if (options.fp32Depthwise && n.op === "Conv" && intAttr(n, "group", 1) > 1) continue;
    nodes.add(n.name);
    const inputs = WEIGHTED_OPS.has(n.op) ? [n.inputs[0]] : n.inputs;
    for (const v of inputs) if (isActivation(v)) chosen.add(v.name);
    let out = n.outputs[0];
    const readers = consumers.get(out.name) ?? [];
    if (readers.length === 1 && FUSED_ACTIVATIONS.has(readers[0].op) && (readers[0].op !== "Clip" || clipsAtZero(g, readers[0])))
      out = readers[0].outputs[0];
    // The logits stay float: a model's output is read as float32, and the final rounding would only cost accuracy.
    if (!graphOutputs.has(out.name) && !(n.op === "Gemm" && leadsToOutput(out.name, consumers, graphOutputs))) chosen.add(out.name);
  }
  // Pass-through ops between quantized tensors share their input's parameters.
  const shared = new Map<string, string>();
  for (const n of g.nodes) {
    const [x, y] = [n.inputs[0], n.outputs[0]];
    // Nodes come in topological order, so a chain (MaxPool → MaxPool) resolves to its first input.
    if (PASS_THROUGH_OPS.has(n.op) && x && chosen.has(x.name) && chosen.has(y.name)) shared.set(y.name, shared.get(x.name) ?? x.name);
  }
  const order = [...g.inputs.map((v) => v.name), ...g.nodes.flatMap((n) => n.outputs.map((o) => o.name))];
  const activations = order.filter((name) => chosen.has(name) && (producers.has(name) || g.inputs.some((v) => v.name === name)));
  return { activations, nodes, shared };
}

/** Whether a Clip's lower bound is 0 (ReLU6), so a uint8 Q with zero point 0 does its clipping. */
function clipsAtZero(g: Graph, clip: Node): boolean {
  const lo = clip.inputs[1] ? g.initializers.get(clip.inputs[1].name)?.tensor : undefined;
  return !!lo && Number(lo.data[0]) === 0;
}

/** Whether a value reaches a graph output through ops that do not change it much (Softmax, Identity). */
function leadsToOutput(name: string, consumers: Map<string, Node[]>, outputs: Set<string>): boolean {
  if (outputs.has(name)) return true;
  const readers = consumers.get(name) ?? [];
  return (
    readers.length > 0 &&
    readers.every((r) => ["Softmax", "Identity"].includes(r.op) && leadsToOutput(r.outputs[0].name, consumers, outputs))
  );
}

export interface StaticQdqOptions {
  /** One weight scale per output channel (default), else one per tensor. */
  perChannel: boolean;
}

/**
 * Inserts the plan's Q/DQ pairs with the calibrated ranges, and replaces the weights (and biases)
 * of the quantized Conv/Gemm nodes by int8 (int32) initializers behind DequantizeLinear. Mutates `g`.
 */
export function insertStaticQdq(g: Graph, plan: QuantizationPlan, ranges: ReadonlyMap<string, Range>, options: StaticQdqOptions): void {
  const params = new Map<string, { scale: Value; zeroPoint: Value; scaleValue: number }>();
  const dequantized = new Map<string, Value>();
  const after = new Map<string, Node[]>(); // producer node name (or "" for graph inputs) → Q/DQ nodes to place after it
  const producers = producersOf(g);
  const parameterOf = (name: string) => {
    const source = plan.shared.get(name) ?? name;
    const range = ranges.get(source);
    if (!range) throw new Error(`no calibrated range for ${source}`);
    const existing = params.get(source);
    if (existing) return existing;
    const { scale, zeroPoint } = activationParams(range[0], range[1]);
    const made = g.withAbsoluteScope("", () => ({
      scale: g.constant(scalar("float32", Float32Array.of(scale)), `${source}_scale`),
      zeroPoint: g.constant(scalar("uint8", Uint8Array.of(zeroPoint)), `${source}_zero_point`),
      scaleValue: scale,
    }));
    params.set(source, made);
    return made;
  };
  for (const name of plan.activations) {
    const producer = producers.get(name);
    const value = producer ? producer.outputs.find((o) => o.name === name)! : g.inputs.find((v) => v.name === name)!;
    const p = parameterOf(name);
    const { result, nodes } = captureNodes(g, producer?.scope ?? "", () => {
      const [q] = g.addNode("QuantizeLinear", [value, p.scale, p.zeroPoint], [{ dtype: "uint8", shape: value.shape }]);
      return g.addNode("DequantizeLinear", [q, p.scale, p.zeroPoint], [{ dtype: "float32", shape: value.shape }])[0];
    });
    dequantized.set(name, result);
    const key = producer?.name ?? "";
    after.set(key, [...(after.get(key) ?? []), ...nodes]);
  }
  const nodes: Node[] = [...(after.get("") ?? [])];
  for (const n of g.nodes) {
    let node: Node = { ...n, inputs: n.inputs.map((v) => (v ? (dequantized.get(v.name) ?? v) : v)) };
    if (plan.nodes.has(n.name) && WEIGHTED_OPS.has(n.op)) {
      const { node: rewritten, nodes: weightNodes } = quantizeWeights(
        g,
        node,
        params.get(plan.shared.get(n.inputs[0]!.name) ?? n.inputs[0]!.name)?.scaleValue,
        options,
      );
      node = rewritten;
      nodes.push(...weightNodes);
    }
    nodes.push(node, ...(after.get(n.name) ?? []));
  }
  g.nodes.splice(0, g.nodes.length, ...nodes);
  dropUnread(g);
}

function scalar<D extends "float32" | "uint8" | "int8">(dtype: D, data: Tensor<D>["data"]): Tensor<D> {
  return { dtype, shape: [], data } as Tensor<D>;
}

/**
 * The Conv/Gemm weight as int8 behind a DequantizeLinear (per channel: axis 0, one scale per output
 * channel), and the bias as int32 with scale input scale × weight scale, so ONNX Runtime's fused
 * kernel adds it in the accumulator. Without an input scale (input left float) the bias stays float.
 */
function quantizeWeights(g: Graph, node: Node, inputScale: number | undefined, options: StaticQdqOptions): { node: Node; nodes: Node[] } {
  const wValue = node.inputs[1]!;
  const w = g.initializers.get(wValue.name)?.tensor;
  if (!w || w.dtype !== "float32") return { node, nodes: [] };
  if (node.op === "Gemm" && !(node.attrs.transB?.type === "int" && node.attrs.transB.value === 1)) return { node, nodes: [] };
  const cout = w.shape[0];
  const q = quantizeWeight(w.data as Float32Array, cout, options.perChannel);
  const bValue = node.inputs[2];
  const b = bValue ? g.initializers.get(bValue.name)?.tensor : undefined;
  const { result, nodes } = captureNodes(g, node.scope, () => {
    const channelShape = options.perChannel ? [cout] : [];
    const axisAttrs: Record<string, Attr> = options.perChannel ? { axis: attr.int(0) } : {};
    const qw = g.constant({ dtype: "int8", shape: w.shape, data: q.data }, "weight_quantized");
    const ws = g.constant({ dtype: "float32", shape: channelShape, data: q.scales }, "weight_scale");
    const wz = g.constant({ dtype: "int8", shape: channelShape, data: new Int8Array(q.scales.length) }, "weight_zero_point");
    const weight = g.addNode("DequantizeLinear", [qw, ws, wz], [{ dtype: "float32", shape: w.shape }], axisAttrs)[0];
    let bias: Value | null = bValue ?? null;
    if (b && inputScale !== undefined) {
      const qb = quantizeBias(b.data as Float32Array, inputScale, q.scales);
      const bq = g.constant({ dtype: "int32", shape: [cout], data: qb.data }, "bias_quantized");
      const bs = g.constant({ dtype: "float32", shape: [cout], data: qb.scales }, "bias_scale");
      const bz = g.constant({ dtype: "int32", shape: [cout], data: new Int32Array(cout) }, "bias_zero_point");
      bias = g.addNode("DequantizeLinear", [bq, bs, bz], [{ dtype: "float32", shape: [cout] }], { axis: attr.int(0) })[0];
    }
    return { weight, bias };
  });
  const inputs = [node.inputs[0], result.weight, ...(node.inputs.length > 2 ? [result.bias] : [])];
  return { node: { ...node, inputs }, nodes };
}

/** Removes initializers no node reads any more (the float weights that were quantized). */
export function dropUnread(g: Graph): void {
  const read = new Set(g.nodes.flatMap((n) => n.inputs.flatMap((v) => (v ? [v.name] : []))));
  for (const name of [...g.initializers.keys()]) if (!read.has(name)) g.initializers.delete(name);
}

/**
 * Weight-only ("dynamic") int8: every Conv/Gemm weight stored int8 (symmetric, per channel) behind a
 * DequantizeLinear, activations left float. A quarter of the file size; the compute stays float32.
 */
export function insertWeightOnlyQdq(g: Graph, options: StaticQdqOptions): number {
  const nodes: Node[] = [];
  let count = 0;
  for (const n of g.nodes) {
    if (WEIGHTED_OPS.has(n.op)) {
      const { node, nodes: weightNodes } = quantizeWeights(g, n, undefined, options);
      if (weightNodes.length) count++;
      nodes.push(...weightNodes, node);
    } else nodes.push(n);
  }
  g.nodes.splice(0, g.nodes.length, ...nodes);
  dropUnread(g);
  return count;
}
