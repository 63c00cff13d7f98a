/**
 * The graph passes: BatchNorm folding against ONNX Runtime's own BatchNormalization (no graph
 * optimisation), the Q/DQ placement rules on resnet18, mobilenet_v3_small and efficientnet_b0, that
 * ONNX Runtime's optimiser really turns the result into int8 kernels (QLinearConv, QGemm,
 * QLinearAdd … read back from `optimizedModelFilePath`), that onnx.checker accepts the models, and
 * the weight-only and fp16 variants.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import * as ort from "onnxruntime-node";
import { Graph, type Node } from "../../src/graph/ir.js";
import * as ops from "../../src/graph/ops.js";
import "../../src/models/index.js";
import { initializeWeights } from "../../src/models/bind.js";
import { inferenceGraph } from "../../src/models/inference_graph.js";
import type { Model } from "../../src/models/model.js";
import { createModel } from "../../src/models/registry.js";
import { BatchNorm2d } from "../../src/nn/layers.js";
import { fromOnnx, toOnnx } from "../../src/onnx/serialize.js";
import { calibrate } from "../../src/quantize/calibrate.js";
import { foldBatchNorm } from "../../src/quantize/fold_batchnorm.js";
import { consumersOf, producersOf } from "../../src/quantize/graph_edit.js";
import { insertStaticQdq, planQuantization } from "../../src/quantize/qdq.js";
import { quantizeModel } from "../../src/quantize/quantize.js";
import { Random } from "../../src/random.js";
import type { Tensor } from "../../src/tensor.js";
import { requirePython, runPython } from "../helpers/python.js";

const R = 32;
const dir = mkdtempSync(join(tmpdir(), "convzoo-qdq-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Seeded weights with BatchNorm statistics drawn away from the identity, so folding has something to fold. */
function makeModel(arch: string): Model {
  const m = initializeWeights(createModel(arch, { numClasses: 10 }), 3);
  const rng = new Random(5);
  const params = new Map(m.net.namedParameters());
  const draw = (key: string, f: () => number) =>
    params.get(key)!.assign(Float32Array.from({ length: params.get(key)!.tensor.data.length }, f));
  for (const [path, mod] of m.net.namedModules()) {
    if (!(mod instanceof BatchNorm2d)) continue;
    draw(`${path}.weight`, () => 0.5 + rng.uniform());
    draw(`${path}.bias`, () => 0.2 * rng.normal());
    draw(`${path}.running_mean`, () => 0.1 * rng.normal());
    draw(`${path}.running_var`, () => 0.5 + rng.uniform());
  }
  return m;
}

function batch(n: number, seed: number): Tensor<"float32"> {
  const rng = new Random(seed);
  return { dtype: "float32", shape: [n, 3, R, R], data: Float32Array.from({ length: n * 3 * R * R }, () => rng.normal()) };
}

async function run(onnx: Uint8Array, x: Tensor<"float32">, options: ort.InferenceSession.SessionOptions = {}): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(onnx, { intraOpNumThreads: 2, ...options });
  const out = await s.run({ input: new ort.Tensor("float32", x.data, [...x.shape]) });
  await s.release();
  return out[s.outputNames[0]].data as Float32Array;
}

/** Op types of the graph ONNX Runtime actually runs (its optimised model, written by optimizedModelFilePath). */
async function optimizedOps(onnx: Uint8Array, name: string): Promise<Map<string, number>> {
  const path = join(dir, `${name}.optimized.onnx`);
  // "extended": the QDQ fusions, without the NCHWc layout pass (hardware-specific) that "all" adds on top.
  const s = await ort.InferenceSession.create(onnx, { graphOptimizationLevel: "extended", optimizedModelFilePath: path });
  await s.release();
  const { readFileSync } = await import("node:fs");
  const counts = new Map<string, number>();
  for (const op of fromOnnx(new Uint8Array(readFileSync(path))).opTypes) counts.set(op, (counts.get(op) ?? 0) + 1);
  return counts;
}

const models = new Map<string, Model>();
function model(arch: string): Model {
  if (!models.has(arch)) models.set(arch, makeModel(arch));
  return models.get(arch)!;
}

const count = (g: Graph, op: string) => g.nodes.filter((n) => n.op === op).length;

test("foldBatchNorm: every Conv → BatchNormalization pair folded, outputs equal to the unfolded graph run without optimisation", async () => {
  for (const arch of ["resnet18", "mobilenet_v3_small"]) {
    const m = model(arch);
    const reference = inferenceGraph(m, { resolution: R, output: "logits" });
    const folded = inferenceGraph(m, { resolution: R, output: "logits" });
    const n = foldBatchNorm(folded);
    assert.equal(n, count(reference, "BatchNormalization"), `${arch}: all BatchNorms follow a Conv`);
    assert.equal(count(folded, "BatchNormalization"), 0);
    assert.equal(count(folded, "Conv"), count(reference, "Conv"));
    const x = batch(2, 1);
    const a = await run(toOnnx(reference), x, { graphOptimizationLevel: "disabled" });
    const b = await run(toOnnx(folded), x, { graphOptimizationLevel: "disabled" });
    const scale = Math.max(...a.map(Math.abs));
    const diff = Math.max(...a.map((v, i) => Math.abs(v - b[i])));
    assert.ok(diff <= 1e-4 * scale, `${arch}: max |Δlogit| ${diff} vs scale ${scale}`);
    // The model's own tensors are untouched.
    assert.ok(inferenceGraph(m, { resolution: R }).nodes.some((node) => node.op === "BatchNormalization"));
  }
});

const made = new Map<string, ReturnType<typeof quantize>>();

/** A statically quantized graph (minmax over two random batches) with the plan it was made from (made once per case). */
function quantizedGraph(arch: string, perChannel = true) {
  const key = `${arch} ${perChannel}`;
  if (!made.has(key)) made.set(key, quantize(arch, perChannel));
  return made.get(key)!;
}

async function quantize(arch: string, perChannel: boolean) {
  const g = inferenceGraph(model(arch), { resolution: R, output: "probabilities" });
  foldBatchNorm(g);
  const convs = g.nodes.filter((n) => n.op === "Conv").map((n) => n.name);
  const plan = planQuantization(g);
  const ranges = await calibrate(g, plan, [batch(4, 2), batch(4, 3)], { method: "minmax" });
  insertStaticQdq(g, plan, ranges, { perChannel });
  return { g, plan, convs };
}

function assertQdqLayout(g: Graph, arch: string): void {
  const producers = producersOf(g);
  const consumers = consumersOf(g);
  const from = (n: Node, i: number) => (n.inputs[i] ? producers.get(n.inputs[i]!.name) : undefined);
  for (const n of g.nodes.filter((node) => node.op === "Conv" || node.op === "Gemm")) {
    const where = `${arch} ${n.name}`;
    const x = from(n, 0);
    assert.equal(x?.op, "DequantizeLinear", `${where}: input from a DequantizeLinear`);
    assert.equal(from(x!, 0)?.op, "QuantizeLinear", `${where}: … of a QuantizeLinear`);
    const w = from(n, 1)!;
    assert.equal(w.op, "DequantizeLinear", `${where}: weight dequantized`);
    assert.equal(g.initializers.get(w.inputs[0]!.name)?.tensor.dtype, "int8", `${where}: int8 weight`);
    assert.equal(
      g.initializers.get(w.inputs[2]!.name)?.tensor.data.every((z) => Number(z) === 0),
      true,
      `${where}: symmetric`,
    );
    if (n.inputs[2]) assert.equal(g.initializers.get(from(n, 2)!.inputs[0]!.name)?.tensor.dtype, "int32", `${where}: int32 bias`);
    const readers = consumers.get(n.outputs[0].name) ?? [];
    if (n.op === "Conv") {
      // Quantized after a fused Relu/Clip, else right after the Conv (HardSwish, Sigmoid, Add, … read the DQ).
      const fused = readers.length === 1 && (readers[0].op === "Relu" || readers[0].op === "Clip");
      const next = fused ? (consumers.get(readers[0].outputs[0].name) ?? []) : readers;
      assert.ok(next.length === 1 && next[0].op === "QuantizeLinear", `${where}: output quantized (${next.map((r) => r.op)})`);
    } else if (readers.some((r) => r.op === "Softmax"))
      assert.ok(
        readers.every((r) => r.op !== "QuantizeLinear"),
        `${where}: the logits stay float`,
      );
    else
      assert.ok(
        readers.some((r) => r.op === "QuantizeLinear"),
        `${where}: a hidden Gemm's output is quantized`,
      );
  }
  assert.equal(g.outputs[0].dtype, "float32");
}

test("static QDQ: inputs, int8 weights, int32 biases and outputs of every Conv/Gemm; ONNX Runtime runs QLinearConv", async (t) => {
  const expected: Record<string, Record<string, number>> = {
    resnet18: { QLinearConv: 20, QGemm: 1, QLinearAdd: 8, QLinearGlobalAveragePool: 1 },
    mobilenet_v3_small: { QLinearConv: 52, QGemm: 2, QLinearAdd: 6, QLinearMul: 9, QLinearGlobalAveragePool: 10 },
    efficientnet_b0: { QLinearConv: 81, QGemm: 1, QLinearAdd: 9, QLinearSigmoid: 65 },
  };
  const checker = requirePython(t, "onnx");
  for (const [arch, ops] of Object.entries(expected)) {
    const { g, convs } = await quantizedGraph(arch);
    assertQdqLayout(g, arch);
    const onnx = toOnnx(g);
    const optimized = await optimizedOps(onnx, arch);
    for (const [op, n] of Object.entries(ops)) assert.equal(optimized.get(op) ?? 0, n, `${arch}: ${op} in ONNX Runtime's optimised graph`);
    assert.equal(ops.QLinearConv, convs.length, `${arch}: every Conv runs int8`);
    assert.equal((optimized.get("Conv") ?? 0) + (optimized.get("FusedConv") ?? 0), 0, `${arch}: no float Conv left`);
    if (checker) {
      const path = join(dir, `${arch}.int8.onnx`);
      writeFileSync(path, onnx);
      runPython(["-c", `import onnx; onnx.checker.check_model(onnx.load(${JSON.stringify(path)}))`]);
    }
  }
});

test("static QDQ: ReLU fused into the Q after it (zero point 0), MaxPool and Flatten share their input's parameters", async () => {
  const { g, plan } = await quantizedGraph("resnet18");
  const producers = producersOf(g);
  const consumers = consumersOf(g);
  for (const relu of g.nodes.filter((n) => n.op === "Relu")) {
    assert.notEqual(producers.get(relu.inputs[0]!.name)?.op, "DequantizeLinear", `${relu.name}: no Q/DQ between Conv/Add and ReLU`);
    const q = (consumers.get(relu.outputs[0].name) ?? []).find((n) => n.op === "QuantizeLinear")!;
    assert.equal(Number(g.initializers.get(q.inputs[2]!.name)!.tensor.data[0]), 0, `${relu.name}: zero point 0`);
  }
  const pool = g.nodes.find((n) => n.op === "MaxPool")!;
  const qIn = producers.get(producers.get(pool.inputs[0]!.name)!.inputs[0]!.name)!;
  const qOut = consumers.get(pool.outputs[0].name)!.find((n) => n.op === "QuantizeLinear")!;
  assert.equal(qOut.inputs[1]!.name, qIn.inputs[1]!.name, "MaxPool: the same scale as its input");
  assert.equal(plan.shared.size, 2, "MaxPool and Flatten");
});

test("static QDQ: per-tensor weights have one scale; the int8 model stays close to float32 on its calibration data", async () => {
  const { g } = await quantizedGraph("resnet18", false);
  for (const n of g.nodes.filter((node) => node.op === "DequantizeLinear" && node.inputs[0]!.dtype === "int8"))
    assert.deepEqual(g.initializers.get(n.inputs[1]!.name)!.tensor.shape, []);
  const m = model("resnet18");
  const float = inferenceGraph(m, { resolution: R, output: "probabilities" });
  const x = batch(4, 2);
  const a = await run(toOnnx(float), x);
  const { g: perChannel } = await quantizedGraph("resnet18");
  const b = await run(toOnnx(perChannel), x);
  const diff = Math.max(...a.map((v, i) => Math.abs(v - b[i])));
  // Random weights: probabilities near 0.1 each; int8 moves them by a few hundredths at most.
  assert.ok(diff < 0.05, `max |Δp| ${diff}`);
  assert.ok(diff > 0, "the int8 model is not the float one");
});

test("dynamic (weight-only) and fp16: int8 weights behind DequantizeLinear / fp16 everywhere, float32 in and out", async () => {
  const m = model("mobilenet_v3_small");
  const x = batch(2, 9);
  const reference = await run(toOnnx(inferenceGraph(m, { resolution: R })), x);
  const dyn = await quantizeModel(m, { mode: "dynamic", resolution: R });
  const decoded = fromOnnx(dyn.onnx);
  assert.equal(decoded.opTypes.filter((op) => op === "QuantizeLinear").length, 0);
  assert.equal(decoded.opTypes.filter((op) => op === "DequantizeLinear").length, dyn.record.weights);
  assert.equal(dyn.record.weights, 54); // 52 Conv + 2 Gemm
  assert.ok(
    [...decoded.initializers.values()].filter((t) => t.dtype === "float32").every((t) => t.shape.length <= 1),
    "only scales and biases stay float",
  );
  const folded = await run(dyn.onnx, x, { extra: { session: { disable_quant_qdq: "1" } } });
  assert.ok(Math.max(...reference.map((v, i) => Math.abs(v - folded[i]))) < 0.02);
  assert.ok((await optimizedOps(dyn.onnx, "dynamic")).get("DequantizeLinear")! > 0, "without the option ORT keeps the DQ nodes");

  const half = await quantizeModel(m, { mode: "fp16", resolution: R });
  const h = fromOnnx(half.onnx);
  assert.ok(
    [...h.initializers.values()].every((t) => t.dtype !== "float32"),
    "no float32 initializer left",
  );
  assert.equal(h.opTypes[0], "Cast");
  assert.equal(h.opTypes.at(-1), "Cast");
  const out = await run(half.onnx, x);
  const diff = Math.max(...reference.map((v, i) => Math.abs(v - out[i])));
  assert.ok(diff < 1e-2 && diff > 0, `fp16 max |Δp| ${diff}`);
  assert.equal(JSON.parse(fromOnnx(half.onnx).metadata.quantization).mode, "fp16");
});

test("planQuantization: a chain of pass-through ops (MaxPool → MaxPool, as in GoogLeNet) shares the first input's parameters", () => {
  const g = new Graph("chain");
  const x = g.addInput("input", "float32", ["N", 3, 16, 16]);
  const w = (name: string, cout: number, cin: number) =>
    g.addInitializer(name, { dtype: "float32", shape: [cout, cin, 3, 3], data: new Float32Array(cout * cin * 9).fill(0.01) });
  const convAttrs = {
    stride: [1, 1] as [number, number],
    padding: [1, 1] as [number, number],
    dilation: [1, 1] as [number, number],
    groups: 1,
  };
  const pool = {
    kernel: [2, 2] as [number, number],
    stride: [1, 1] as [number, number],
    padding: [0, 0] as [number, number],
    ceilMode: false,
  };
  const r = ops.relu(g, ops.conv2d(g, x, w("a.weight", 4, 3), null, convAttrs));
  const p2 = ops.maxPool2d(g, ops.maxPool2d(g, r, pool), pool);
  g.markOutput(ops.conv2d(g, p2, w("b.weight", 4, 4), null, convAttrs), "out");
  const plan = planQuantization(g);
  const pools = g.nodes.filter((n) => n.op === "MaxPool").map((n) => n.outputs[0].name);
  assert.deepEqual(
    pools.map((name) => plan.shared.get(name)),
    [r.name, r.name],
  );
  assert.ok(plan.activations.includes(r.name) && !plan.activations.includes(g.nodes[0].outputs[0].name), "quantized after the ReLU");
});
