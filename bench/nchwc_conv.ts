/**
 * Plain Conv against its NCHWc lowering (src/graph/nchwc.ts), op by op (run by hand): for
 * representative convs of resnet18, mobilenet_v2 and efficientnet at batch 16, 2 threads, the same
 * one-Conv graph (weights as graph inputs, as in a training graph) as ONNX Runtime runs it, and
 * after lowerConvsToNchwc (reorders of x, W and y included). Interleaved rounds, medians. The
 * output is consumed by a one-element Slice, so its allocation is not timed (as in a training
 * graph, where ORT's arena reuses memory).
 *
 *   node --import tsx bench/nchwc_conv.ts [--rounds 15]
 */
import { performance } from "node:perf_hooks";
import * as ort from "onnxruntime-node";
import { median } from "../src/tools/bench.js";
import { Graph } from "../src/graph/ir.js";
import { lowerConvsToNchwc } from "../src/graph/nchwc.js";
import * as ops from "../src/graph/ops.js";
import { toOnnx } from "../src/onnx/serialize.js";
import { Random } from "../src/random.js";
import { nchwcBlockSize } from "../src/runtime/nchwc_block.js";
import { ortSessionOptions } from "../src/runtime/session.js";

const args = process.argv.slice(2);
const rounds = args.includes("--rounds") ? Number(args[args.indexOf("--rounds") + 1]) : 15;
const N = 16;

interface Case {
  name: string;
  cin: number;
  cout: number;
  size: number;
  kernel: number;
  stride: number;
  groups: number;
}
const dw = (c: number, size: number, kernel = 3, stride = 1): Case => ({
  name: `dw ${kernel}x${kernel}${stride > 1 ? " s2" : ""} ${c} @${size}`,
  cin: c,
  cout: c,
  size,
  kernel,
  stride,
  groups: c,
});
const dense = (cin: number, cout: number, size: number, kernel = 3, stride = 1): Case => ({
  name: `${kernel}x${kernel}${stride > 1 ? " s2" : ""} ${cin}→${cout} @${size}`,
  cin,
  cout,
  size,
  kernel,
  stride,
  groups: 1,
});
const CASES: Case[] = [
  dense(3, 64, 224, 7, 2),
  dense(3, 32, 224, 3, 2),
  dense(64, 64, 56),
  dense(128, 128, 28),
  dense(256, 256, 14),
  dense(512, 512, 7),
  dense(64, 128, 56, 3, 2),
  dw(32, 112),
  dw(96, 112, 3, 2),
  dw(144, 56),
  dw(144, 56, 3, 2),
  dw(192, 28),
  dw(576, 14),
  dw(960, 7),
  dw(240, 28, 5),
  dw(672, 14, 5),
  dense(96, 576, 14, 1),
  dense(320, 1280, 7, 1),
  dense(144, 32, 56, 1),
];

function build(c: Case, lower: number): Graph {
  const g = new Graph();
  const x = g.addInput("x", "float32", [N, c.cin, c.size, c.size]);
  const w = g.addInput("w", "float32", [c.cout, c.cin / c.groups, c.kernel, c.kernel]);
  const y = ops.conv2d(g, x, w, null, {
    stride: [c.stride, c.stride],
    padding: [c.kernel >> 1, c.kernel >> 1],
    dilation: [1, 1],
    groups: c.groups,
  });
  g.markOutput(ops.slice(g, y, [0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 2, 3]), "t");
  // 1x1 convs are not lowered by the pass; force them through for the comparison.
  if (lower > 1) lowerConvsToNchwc(g, lower, { includePointwise: true });
  return g;
}

const block = await nchwcBlockSize();
if (block <= 1) throw new Error("this CPU has no NCHWc kernels");
const rng = new Random(3);
const tensor = (shape: number[]) =>
  new ort.Tensor(
    "float32",
    Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()),
    shape,
  );
console.log(`NCHWc block ${block}, batch ${N}, 2 threads, ${rounds} rounds (ms, medians)\n`);
console.log(`${"conv".padEnd(22)} ${"NCHW".padStart(8)} ${"NCHWc".padStart(8)}  NCHW/NCHWc`);
for (const c of CASES) {
  const feeds = { x: tensor([N, c.cin, c.size, c.size]), w: tensor([c.cout, c.cin / c.groups, c.kernel, c.kernel]) };
  const sessions = [
    await ort.InferenceSession.create(toOnnx(build(c, 1)), ortSessionOptions({ threads: 2 })),
    await ort.InferenceSession.create(toOnnx(build(c, block)), ortSessionOptions({ threads: 2 })),
  ];
  const times: number[][] = [[], []];
  for (const s of sessions) await s.run(feeds);
  for (let r = 0; r < rounds; r++) {
    for (const k of r % 2 ? [1, 0] : [0, 1]) {
      const t0 = performance.now();
      await sessions[k].run(feeds);
      times[k].push(performance.now() - t0);
    }
  }
  const [a, b] = times.map(median);
  console.log(`${c.name.padEnd(22)} ${a.toFixed(2).padStart(8)} ${b.toFixed(2).padStart(8)}  ${(a / b).toFixed(2)}x`);
  for (const s of sessions) await s.release();
}
