/**
 * ONNX Runtime's CPU broadcaster against a scalar (run by hand): a tensor times a rank-0 scalar
 * versus times the same scalar given the tensor's rank ([1, 1, 1, 1]), for the shapes a training
 * step multiplies by its learning rate and constants: 1×1 conv weights [O, I, 1, 1], activations
 * at 1×1, 2-D weights. graph/ops.ts aligns single-element operands because of what this prints.
 *
 *   node --import tsx bench/broadcast_scalar.ts [--repeats 5]
 */
import * as ort from "onnxruntime-node";
import { Graph, type Value } from "../src/graph/ir.js";
import { toOnnx } from "../src/onnx/serialize.js";
import { ortSessionOptions } from "../src/runtime/session.js";
import { median } from "../src/tools/bench.js";

const args = process.argv.slice(2);
const repeats = Number(args.includes("--repeats") ? args[args.indexOf("--repeats") + 1] : "5");
const CHAIN = 20;
const RUNS = 30;

/** A chain of CHAIN Muls of `shape` by 0.9 held as a constant of `scalarShape`; the written nodes as given (no ops.ts alignment). */
async function microsecondsPerMul(shape: number[], scalarShape: number[]): Promise<number> {
  const g = new Graph("broadcast");
  let y: Value = g.addInput("x", "float32", shape);
  const s = g.constant({ dtype: "float32", shape: scalarShape, data: Float32Array.from([0.9]) });
  for (let i = 0; i < CHAIN; i++) y = g.addNode("Mul", [y, s], [{ dtype: "float32", shape }])[0];
  g.markOutput(y, "y");
  const session = await ort.InferenceSession.create(toOnnx(g), ortSessionOptions({ threads: 2 }));
  const feeds = { x: new ort.Tensor("float32", new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(1), shape) };
  for (let i = 0; i < 3; i++) await session.run(feeds);
  const times: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    for (let i = 0; i < RUNS; i++) await session.run(feeds);
    times.push(((performance.now() - t0) / RUNS / CHAIN) * 1000);
  }
  await session.release();
  return median(times);
}

const SHAPES: [string, number[]][] = [
  ["1×1 conv weight", [576, 144, 1, 1]],
  ["activations at 1×1", [16, 576, 1, 1]],
  ["3×3 depthwise weight", [576, 1, 3, 3]],
  ["activations at 4×4", [16, 96, 4, 4]],
  ["linear weight", [1024, 576]],
];
console.log("| tensor | shape | × rank-0 scalar µs | × [1,…,1] scalar µs | ratio |");
console.log("| --- | --- | ---: | ---: | ---: |");
for (const [what, shape] of SHAPES) {
  const rank0 = await microsecondsPerMul(shape, []);
  const aligned = await microsecondsPerMul(
    shape,
    shape.map(() => 1),
  );
  console.log(`| ${what} | [${shape.join(", ")}] | ${rank0.toFixed(1)} | ${aligned.toFixed(1)} | ${(rank0 / aligned).toFixed(1)}x |`);
}
