/**
 * BatchNorm folding: Conv followed by an inference-mode BatchNormalization becomes one Conv with
 * W' = W · γ/√(σ² + ε) per output channel and b' = (b − μ) · γ/√(σ² + ε) + β (Jacob et al. 2018,
 * "Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only Inference",
 * §3.2; ONNX Runtime's ConvBNFusion does the same at session creation). Quantization must see the
 * folded weights: quantizing W and leaving the scale γ/√(σ² + ε) to a float op would put the
 * per-channel rescale outside the int8 kernel. Computed in float64, stored float32. Browser-safe.
 */
import { floatAttr, type Graph, type Node } from "../graph/ir.js";
import type { Tensor } from "../tensor.js";
import { consumersOf } from "./graph_edit.js";

/** Folds every Conv → BatchNormalization pair whose Conv output feeds only that BatchNorm. Returns how many. */
export function foldBatchNorm(g: Graph): number {
  const consumers = consumersOf(g);
  const producer = new Map(g.nodes.map((n) => [n.outputs[0]?.name, n] as const));
  const replaced = new Map<Node, Node>();
  const removed = new Set<Node>();
  for (const bn of g.nodes) {
    if (bn.op !== "BatchNormalization" || bn.outputs.length !== 1) continue;
    const x = bn.inputs[0];
    const conv = x ? producer.get(x.name) : undefined;
    if (!conv || conv.op !== "Conv" || consumers.get(x!.name)?.length !== 1) continue;
    const [wName, bName] = [conv.inputs[1]?.name, conv.inputs[2]?.name];
    const params = bn.inputs.slice(1).map((v) => (v ? g.initializers.get(v.name)?.tensor : undefined));
    const w = wName ? g.initializers.get(wName)?.tensor : undefined;
    const b = bName ? g.initializers.get(bName)?.tensor : undefined;
    if (!w || params.some((p) => !p) || (bName && !b)) continue;
    const [gamma, beta, mean, variance] = params as Tensor[];
    const eps = floatAttr(bn, "epsilon", 1e-5);
    const cout = w.shape[0];
    const per = w.data.length / cout;
    const wf = new Float32Array(w.data.length);
    const bf = new Float32Array(cout);
    for (let c = 0; c < cout; c++) {
      const k = Number(gamma.data[c]) / Math.sqrt(Number(variance.data[c]) + eps);
      for (let i = c * per; i < (c + 1) * per; i++) wf[i] = Number(w.data[i]) * k;
      bf[c] = ((b ? Number(b.data[c]) : 0) - Number(mean.data[c])) * k + Number(beta.data[c]);
    }
    // The weight keeps its name (a torchvision key); the model's own tensors are not touched.
    const wEntry = g.initializers.get(wName!)!;
    g.initializers.set(wName!, { value: wEntry.value, tensor: { dtype: "float32", shape: w.shape, data: wf } });
    const biasValue = g.withAbsoluteScope(conv.scope, () => g.constant({ dtype: "float32", shape: [cout], data: bf }, "folded_bias"));
    replaced.set(conv, { ...conv, inputs: [conv.inputs[0], conv.inputs[1], biasValue], outputs: bn.outputs });
    removed.add(bn);
  }
  const nodes = g.nodes.filter((n) => !removed.has(n)).map((n) => replaced.get(n) ?? n);
  g.nodes.splice(0, g.nodes.length, ...nodes);
  // The BatchNorm parameters and the replaced biases are no longer read.
  const read = new Set(g.nodes.flatMap((n) => n.inputs.flatMap((v) => (v ? [v.name] : []))));
  for (const name of [...g.initializers.keys()]) if (!read.has(name)) g.initializers.delete(name);
  return removed.size;
}
