/**
 * What the EMA of the weights costs per optimizer step on resnet18 (all trained parameters and BatchNorm
 * statistics, 11.7 M floats), two ways: host-side (TrainingState's loop over the Float32Arrays the step
 * returned) and in-graph (the same update as ONNX Mul/Add nodes with the EMA as inputs and outputs, run by
 * ONNX Runtime on 2 threads: what adding it to the training graph would add). Medians of 15 runs.
 * usage: npx tsx bench/ema_cost.ts
 */
import { performance } from "node:perf_hooks";
import { Graph } from "../src/graph/ir.js";
import * as ops from "../src/graph/ops.js";
import "../src/models/index.js";
import { createModel } from "../src/models/registry.js";
import { toOnnx } from "../src/onnx/serialize.js";
import { Session } from "../src/runtime/session.js";
import { numel, type Tensor } from "../src/tensor.js";
import { trainingGraph } from "../src/train/training_graph.js";

const spec = trainingGraph(createModel("resnet18", { numClasses: 10 }), { batchSize: 16, resolution: 112 });
const entries = spec.state.filter((s) => s.kind !== "slot");
const values = entries.map((s) => Float32Array.from({ length: numel(s.shape) }, () => Math.random()));
const ema = values.map((v) => v.slice());
const total = values.reduce((n, v) => n + v.length, 0);
const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1];

const d = Math.fround(0.9998);
const w = Math.fround(1 - 0.9998);
const host: number[] = [];
for (let r = 0; r < 15; r++) {
  const t0 = performance.now();
  for (let k = 0; k < ema.length; k++) {
    const e = ema[k];
    const v = values[k];
    for (let i = 0; i < e.length; i++) e[i] = Math.fround(d * e[i]) + Math.fround(w * v[i]);
  }
  host.push(performance.now() - t0);
}

const g = new Graph("ema");
const dc = ops.scalarConstant(g, 0.9998);
const wc = ops.scalarConstant(g, 1 - 0.9998);
entries.forEach((s, k) => {
  const e = g.addInput(`e${k}`, "float32", s.shape);
  const v = g.addInput(`v${k}`, "float32", s.shape);
  g.markOutput(ops.add(g, ops.mul(g, e, dc), ops.mul(g, v, wc)), `e${k}.new`);
});
const session = await Session.create(toOnnx(g), { threads: 2 });
const feeds: Record<string, Tensor<"float32">> = {};
entries.forEach((s, k) => {
  feeds[`e${k}`] = { dtype: "float32", shape: s.shape, data: ema[k] };
  feeds[`v${k}`] = { dtype: "float32", shape: s.shape, data: values[k] };
});
const graph: number[] = [];
for (let r = 0; r < 15; r++) {
  const t0 = performance.now();
  await session.run(feeds);
  graph.push(performance.now() - t0);
}
await session.release();
console.log(`resnet18: ${entries.length} tensors, ${(total / 1e6).toFixed(1)} M floats`);
console.log(`host-side EMA: median ${median(host).toFixed(1)} ms per step`);
console.log(`in-graph EMA (ONNX Runtime, 2 threads, separate session): median ${median(graph).toFixed(1)} ms per step`);

// For scale: a whole training step of resnet18 b16 @112 (SGD momentum), without and with the host-side EMA.
import { Trainer } from "../src/train/trainer.js";
import { initializeWeights } from "../src/models/bind.js";
import { targetDistribution } from "../src/train/training_graph.js";
for (const withEma of [false, true]) {
  const model = initializeWeights(createModel("resnet18", { numClasses: 10 }), 1);
  const trainer = await Trainer.create(model, {
    batchSize: 16,
    resolution: 112,
    threads: 2,
    optimizer: { kind: "sgd", momentum: 0.9 },
    ema: withEma ? { decay: 0.9998 } : undefined,
  });
  const x = Float32Array.from({ length: 16 * 3 * 112 * 112 }, () => Math.random());
  const y = targetDistribution(
    Array.from({ length: 16 }, (_, i) => i % 10),
    10,
  );
  const times: number[] = [];
  for (let r = 0; r < 8; r++) {
    const t0 = performance.now();
    await trainer.step(x, y, 0.01);
    if (r > 0) times.push(performance.now() - t0);
  }
  await trainer.release();
  console.log(`resnet18 b16 @112 step ${withEma ? "with" : "without"} EMA: median ${median(times).toFixed(0)} ms`);
}
