/**
 * Gradient formulations, op by op, side by side with PyTorch's backward (run by hand, not in CI):
 *
 *   node --import tsx bench/grad_ops.ts                 # all cases (several minutes)
 *   node --import tsx bench/grad_ops.ts --quick         # smoke test: 1 round, numbers not meaningful
 *   node --import tsx bench/grad_ops.ts --case dw_144   # cases whose name contains the text
 *   node --import tsx bench/grad_ops.ts --json          # stdout: one JSON object; the table goes to stderr
 *
 * For representative layers of resnet18 and mobilenet_v2 at 224x224, batch 16, 2 threads, each
 * candidate formulation of src/autodiff/formulations.ts (conv input and weight gradients, the
 * max-pool gradient), the Relu backward variants, and training-mode BatchNorm (as explicit ops and
 * as one BatchNormalization node) run through gradients(), is built as a one-output ONNX graph over graph inputs (x, w, dy:
 * nothing constant-folds, as in a training graph where weights are inputs) and timed with
 * onnxruntime-node; PyTorch's backward of the same op (aten.convolution_backward with an output
 * mask, max_pool2d_with_indices_backward, threshold_backward, native_batch_norm + its backward)
 * is timed by one long-lived `/usr/bin/python3 bench/torch_grad_ops.py --serve` process. Machines
 * are shared and noisy, so contenders are interleaved in rounds (order rotated each round) and we
 * report medians over all runs. Every candidate's result is checked against the first one's.
 * rules.ts records the choice per case with the numbers.
 *
 * What is timed is the candidate inside a graph whose output is one element of its flattened result:
 * a big graph output is a fresh allocation per run (page faults cost more than the op on these
 * machines), while in a training graph the gradient stays internal and ORT's arena reuses memory.
 * PyTorch's timings include its allocations, as in its own training step.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import { median } from "../src/tools/bench.js";
import {
  convGeometry,
  convInputGradFlipped,
  convInputGradTranspose,
  convWeightGrad1x1Batched,
  convWeightGrad1x1Gemm,
  convWeightGradIm2colConv,
  convWeightGradShifted,
  depthwiseWeightGradFullWidth,
  depthwiseWeightGradGroupedConv,
  maxPoolGradIndicesScatter,
  type ConvGeometry,
} from "../src/autodiff/formulations.js";
import {
  convInputGrad1x1,
  convInputGradSubpixel,
  convWeightGradBatchAsChannels,
  convWeightGradIm2colBatched,
  convWeightGradIm2colGemm,
  convWeightGradRowsColumns,
  convWeightGradTapsBatched,
  convWeightGradTapsGemm,
  depthwiseWeightGradBatchedMatMul,
  depthwiseWeightGradRowsColumns,
  depthwiseWeightGradTaps,
} from "./candidates/conv_grad.js";
import { maxPoolGradPhases } from "./candidates/max_pool_grad.js";
import { gradients } from "../src/autodiff/gradients.js";
import { Graph, prune, type Value } from "../src/graph/ir.js";
import * as ops from "../src/graph/ops.js";
import { toOnnx } from "../src/onnx/serialize.js";
import { Random } from "../src/random.js";
import { ortSessionOptions } from "../src/runtime/session.js";

const THREADS = 2;
const PYTHON = "/usr/bin/python3"; // Debian's torch, not whatever python3 is first on PATH
const TORCH_SCRIPT = fileURLToPath(new URL("./torch_grad_ops.py", import.meta.url));

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const json = args.includes("--json");
const caseFilter = args.includes("--case") ? args[args.indexOf("--case") + 1] : "";
const ROUNDS = quick ? 1 : Number(process.env.ROUNDS ?? 5);
const RUNS = quick ? 1 : 2;
const log = (msg: string) => process.stderr.write(`${msg}\n`);

interface ConvCase {
  name: string;
  op: "conv";
  n: number;
  cin: number;
  cout: number;
  h: number;
  k: number;
  stride: number;
  pad: number;
  dil?: number;
  groups?: number;
}
interface PoolCase {
  name: string;
  op: "maxpool";
  n: number;
  c: number;
  h: number;
  k: number;
  stride: number;
  pad: number;
  ceil?: boolean;
}
/** A whole-formulation case: graph inputs by name and shape, candidates over them. */
interface CustomCase {
  name: string;
  op: "relu" | "bn";
  n: number;
  c: number;
  h: number;
}
type Case = ConvCase | PoolCase | CustomCase;

const N = 16;
const CASES: Case[] = [
  { name: "r18_stem_7x7s2_3to64_224", op: "conv", n: N, cin: 3, cout: 64, h: 224, k: 7, stride: 2, pad: 3 },
  { name: "r18_3x3_64to64_56", op: "conv", n: N, cin: 64, cout: 64, h: 56, k: 3, stride: 1, pad: 1 },
  { name: "r18_3x3s2_64to128_56", op: "conv", n: N, cin: 64, cout: 128, h: 56, k: 3, stride: 2, pad: 1 },
  { name: "r18_3x3s2_128to256_28", op: "conv", n: N, cin: 128, cout: 256, h: 28, k: 3, stride: 2, pad: 1 },
  { name: "r18_3x3s2_256to512_14", op: "conv", n: N, cin: 256, cout: 512, h: 14, k: 3, stride: 2, pad: 1 },
  { name: "r18_1x1s2_64to128_56", op: "conv", n: N, cin: 64, cout: 128, h: 56, k: 1, stride: 2, pad: 0 },
  { name: "r18_3x3_128to128_28", op: "conv", n: N, cin: 128, cout: 128, h: 28, k: 3, stride: 1, pad: 1 },
  { name: "r18_3x3_256to256_14", op: "conv", n: N, cin: 256, cout: 256, h: 14, k: 3, stride: 1, pad: 1 },
  { name: "r18_3x3_512to512_7", op: "conv", n: N, cin: 512, cout: 512, h: 7, k: 3, stride: 1, pad: 1 },
  { name: "mb2_stem_3x3s2_3to32_224", op: "conv", n: N, cin: 3, cout: 32, h: 224, k: 3, stride: 2, pad: 1 },
  { name: "mb2_1x1_24to144_56", op: "conv", n: N, cin: 24, cout: 144, h: 56, k: 1, stride: 1, pad: 0 },
  { name: "mb2_1x1_144to24_56", op: "conv", n: N, cin: 144, cout: 24, h: 56, k: 1, stride: 1, pad: 0 },
  { name: "mb2_1x1_320to1280_7", op: "conv", n: N, cin: 320, cout: 1280, h: 7, k: 1, stride: 1, pad: 0 },
  { name: "mb2_dw_32_112", op: "conv", n: N, cin: 32, cout: 32, h: 112, k: 3, stride: 1, pad: 1, groups: 32 },
  { name: "mb2_dw_144_56", op: "conv", n: N, cin: 144, cout: 144, h: 56, k: 3, stride: 1, pad: 1, groups: 144 },
  { name: "mb2_dw_144s2_56", op: "conv", n: N, cin: 144, cout: 144, h: 56, k: 3, stride: 2, pad: 1, groups: 144 },
  { name: "mb2_dw_192_28", op: "conv", n: N, cin: 192, cout: 192, h: 28, k: 3, stride: 1, pad: 1, groups: 192 },
  { name: "mb2_dw_576_14", op: "conv", n: N, cin: 576, cout: 576, h: 14, k: 3, stride: 1, pad: 1, groups: 576 },
  { name: "mb2_dw_960_7", op: "conv", n: N, cin: 960, cout: 960, h: 7, k: 3, stride: 1, pad: 1, groups: 960 },
  { name: "r18_maxpool_3x3s2_64_112", op: "maxpool", n: N, c: 64, h: 112, k: 3, stride: 2, pad: 1 },
  { name: "r18_relu_64_112", op: "relu", n: N, c: 64, h: 112 },
  { name: "r18_bn_train_64_112", op: "bn", n: N, c: 64, h: 112 },
  { name: "mb2_bn_train_144_56", op: "bn", n: N, c: 144, h: 56 },
];

type Build = (g: Graph, v: { x: Value; w: Value; dy: Value; y: Value }, geo: ConvGeometry) => Value;
interface Candidate {
  part: "dx" | "dw" | "forward";
  name: string;
  build: Build;
  applies?: (geo: ConvGeometry) => boolean;
}

const dense = (geo: ConvGeometry) => geo.group === 1;
const depthwise = (geo: ConvGeometry) => geo.group > 1 && geo.group === geo.cin && geo.group === geo.cout;
const oneByOne = (geo: ConvGeometry) => geo.kernel[0] === 1 && geo.kernel[1] === 1 && geo.pads.every((p) => p === 0);

const CONV_CANDIDATES: Candidate[] = [
  { part: "forward", name: "Conv (forward, for scale)", build: (_g, v) => v.y },
  { part: "dx", name: "ConvTranspose(dy, W)", build: (g, v, geo) => convInputGradTranspose(g, v.dy, v.w, geo) },
  { part: "dx", name: "Conv(upsampled dy, flipped Wᵀ)", build: (g, v, geo) => convInputGradFlipped(g, v.dy, v.w, geo) },
  { part: "dx", name: "1x1 Conv(dy, Wᵀ) [+ upsample]", build: (g, v, geo) => convInputGrad1x1(g, v.dy, v.w, geo), applies: oneByOne },
  {
    part: "dx",
    name: "sub-pixel phase Convs + DepthToSpace",
    build: (g, v, geo) => convInputGradSubpixel(g, v.dy, v.w, geo),
    applies: (geo) => geo.strides[0] > 1,
  },
  { part: "dw", name: "Conv batch-as-channels", build: (g, v, geo) => convWeightGradBatchAsChannels(g, v.x, v.dy, geo), applies: dense },
  {
    part: "dw",
    name: "im2col + Gemm",
    build: (g, v, geo) => convWeightGradIm2colGemm(g, v.x, v.dy, geo),
    applies: (geo) => dense(geo) && !oneByOne(geo),
  },
  {
    part: "dw",
    name: "im2col + batched MatMul",
    build: (g, v, geo) => convWeightGradIm2colBatched(g, v.x, v.dy, geo),
    applies: (geo) => dense(geo) && !oneByOne(geo),
  },
  {
    part: "dw",
    name: "im2col by one-hot Conv + batched MatMul",
    build: (g, v, geo) => convWeightGradIm2colConv(g, v.x, v.dy, geo),
    applies: (geo) => dense(geo) && !oneByOne(geo),
  },
  {
    part: "dw",
    name: "per-tap batched MatMul",
    build: (g, v, geo) => convWeightGradTapsBatched(g, v.x, v.dy, geo),
    applies: (geo) => dense(geo) && !oneByOne(geo),
  },
  {
    part: "dw",
    name: "row-shifted x · column-shifted dy",
    build: (g, v, geo) => convWeightGradRowsColumns(g, v.x, v.dy, geo),
    applies: (geo) => dense(geo) && !oneByOne(geo) && geo.strides[0] === 1 && geo.strides[1] === 1,
  },
  {
    part: "dw",
    name: "shifted copies, batched MatMul",
    build: (g, v, geo) => convWeightGradShifted(g, v.x, v.dy, geo, "batched"),
    applies: (geo) => dense(geo) && !oneByOne(geo),
  },
  {
    part: "dw",
    name: "shifted copies, Gemm on [C, N·HW]",
    build: (g, v, geo) => convWeightGradShifted(g, v.x, v.dy, geo, "gemm"),
    applies: (geo) => dense(geo) && !oneByOne(geo),
  },
  {
    part: "dw",
    name: "per-tap Gemm on [C, N·HW]",
    build: (g, v, geo) => convWeightGradTapsGemm(g, v.x, v.dy, geo),
    applies: (geo) => dense(geo) && !oneByOne(geo),
  },
  {
    part: "dw",
    name: "1x1 Gemm on [C, N·HW]",
    build: (g, v, geo) => convWeightGrad1x1Gemm(g, v.x, v.dy, geo),
    applies: (geo) => dense(geo) && oneByOne(geo),
  },
  {
    part: "dw",
    name: "1x1 batched MatMul + ReduceSum",
    build: (g, v, geo) => convWeightGrad1x1Batched(g, v.x, v.dy, geo),
    applies: (geo) => dense(geo) && oneByOne(geo),
  },
  {
    part: "dw",
    name: "dw grouped Conv (group=C)",
    build: (g, v, geo) => depthwiseWeightGradGroupedConv(g, v.x, v.dy, geo),
    applies: depthwise,
  },
  { part: "dw", name: "dw taps Mul+ReduceSum", build: (g, v, geo) => depthwiseWeightGradTaps(g, v.x, v.dy, geo), applies: depthwise },
  {
    part: "dw",
    name: "dw taps batched MatMul",
    build: (g, v, geo) => depthwiseWeightGradBatchedMatMul(g, v.x, v.dy, geo),
    applies: depthwise,
  },
  {
    part: "dw",
    name: "dw rows/columns batched MatMul",
    build: (g, v, geo) => depthwiseWeightGradRowsColumns(g, v.x, v.dy, geo),
    applies: (geo) => depthwise(geo) && geo.strides[0] === 1,
  },
  {
    part: "dw",
    name: "dw full-width-kernel Conv (GemmDirect)",
    build: (g, v, geo) => depthwiseWeightGradFullWidth(g, v.x, v.dy, geo),
    applies: depthwise,
  },
];

const POOL_CANDIDATES: { part: "dx" | "forward"; name: string; build: (g: Graph, x: Value, dy: Value, c: PoolCase) => Value }[] = [
  { part: "forward", name: "MaxPool (forward, for scale)", build: (g, x, _dy, c) => ops.maxPool2d(g, x, poolAttrs(c)) },
  { part: "dx", name: "MaxPool Indices + ScatterElements(add)", build: (g, x, dy, c) => maxPoolGradIndicesScatter(g, x, dy, poolAttrs(c)) },
  {
    part: "dx",
    name: "taps Equal(y), first max, phases + DepthToSpace",
    build: (g, x, dy, c) =>
      maxPoolGradPhases(g, x, ops.maxPool2d(g, x, poolAttrs(c)), dy, {
        kernel: [c.k, c.k],
        strides: [c.stride, c.stride],
        pads: [c.pad, c.pad, c.pad, c.pad],
      }),
  },
];

const BASELINE = "loss only (y = x): subtract";
type CustomBuild = (g: Graph, v: Record<string, Value>, c: CustomCase) => Value;
const CUSTOM: Record<
  CustomCase["op"],
  {
    inputs: (c: CustomCase) => Record<string, number[]>;
    candidates: { part: string; name: string; build: CustomBuild }[];
    torch: Record<string, string[]>;
  }
> = {
  // Relu backward from the output y (> 0 exactly where x > 0); dy·Cast is what rules.ts emits.
  relu: {
    inputs: (c) => ({ y: [c.n, c.c, c.h, c.h], dy: [c.n, c.c, c.h, c.h] }),
    candidates: [
      {
        part: "dx",
        name: "Mul(dy, Cast(Greater(y, 0)))",
        build: (g, v) => ops.mul(g, v.dy, ops.cast(g, ops.greater(g, v.y, ops.scalarConstant(g, 0)), "float32")),
      },
      {
        part: "dx",
        name: "Where(Greater(y, 0), dy, 0)",
        build: (g, v) => ops.where(g, ops.greater(g, v.y, ops.scalarConstant(g, 0)), v.dy, ops.scalarConstant(g, 0)),
      },
      { part: "dx", name: "Mul(dy, Sign(y))", build: (g, v) => ops.mul(g, v.dy, ops.sign(g, v.y)) },
    ],
    torch: { dx: ["dx"] },
  },
  // Training-mode BatchNorm forward as explicit ops + gradients() for x, weight, bias, driven by
  // L = Σ y·dy; "loss only" (y = x) is that driver's own cost (about three passes), to subtract.
  bn: {
    inputs: (c) => ({ x: [c.n, c.c, c.h, c.h], weight: [c.c], bias: [c.c], dy: [c.n, c.c, c.h, c.h] }),
    candidates: [
      { part: "forward+backward", name: "(x−mean)/√(var+ε)·γ + β", build: (g, v, c) => bnStep(g, v, () => bnNaive(g, v, c.c)) },
      {
        part: "forward+backward",
        name: "x·a + b, a = γ/√(var+ε), b = β − mean·a",
        build: (g, v, c) => bnStep(g, v, () => bnScaleShift(g, v, c.c)),
      },
      {
        part: "forward+backward",
        name: "BatchNormalization training node + its rule",
        build: (g, v) => bnStep(g, v, () => ops.batchNormTraining(g, v.x, v.weight, v.bias, 1e-5).y),
      },
      { part: "forward+backward", name: BASELINE, build: (g, v) => bnStep(g, v, () => v.x) },
    ],
    torch: { "forward+backward": ["forward", "dx+dw"] },
  },
};

function bnNaive(g: Graph, v: Record<string, Value>, c: number): Value {
  const mean = ops.reduceMean(g, v.x, [0, 2, 3], true);
  const xc = ops.sub(g, v.x, mean);
  const variance = ops.reduceMean(g, ops.mul(g, xc, xc), [0, 2, 3], true);
  const xhat = ops.div(g, xc, ops.sqrt(g, ops.add(g, variance, ops.scalarConstant(g, 1e-5))));
  return ops.add(g, ops.mul(g, xhat, ops.reshape(g, v.weight, [1, c, 1, 1])), ops.reshape(g, v.bias, [1, c, 1, 1]));
}

function bnScaleShift(g: Graph, v: Record<string, Value>, c: number): Value {
  const mean = ops.reduceMean(g, v.x, [0, 2, 3], true);
  const xc = ops.sub(g, v.x, mean);
  const variance = ops.reduceMean(g, ops.mul(g, xc, xc), [0, 2, 3], true);
  const a = ops.div(g, ops.reshape(g, v.weight, [1, c, 1, 1]), ops.sqrt(g, ops.add(g, variance, ops.scalarConstant(g, 1e-5))));
  return ops.add(g, ops.mul(g, v.x, a), ops.sub(g, ops.reshape(g, v.bias, [1, c, 1, 1]), ops.mul(g, mean, a)));
}

/** One output that depends on dx, dweight and dbias (dx plus the small ones folded in). */
function bnStep(g: Graph, v: Record<string, Value>, forward: () => Value): Value {
  const y = forward();
  const loss = ops.reduceSum(g, ops.mul(g, y, v.dy), [0, 1, 2, 3], false);
  const grads = gradients(g, loss, [v.x, v.weight, v.bias]);
  const small = [grads.get("weight"), grads.get("bias")]
    .filter((d): d is Value => d !== undefined)
    .map((d) => ops.reduceSum(g, d, [0], false));
  return small.length ? ops.add(g, grads.get("x")!, ops.sum(g, small)) : grads.get("x")!;
}

function poolAttrs(c: PoolCase): ops.Pool2dAttrs {
  return { kernel: [c.k, c.k], stride: [c.stride, c.stride], padding: [c.pad, c.pad], ceilMode: c.ceil ?? false };
}

interface Built {
  part: string;
  name: string;
  /** Timed: the result consumed by a one-element Slice. */
  session: ort.InferenceSession;
  /** Checked: the whole result as the output. */
  full: ort.InferenceSession;
  feeds: Record<string, ort.Tensor>;
  times: number[];
  check: string;
}

const rng = new Random(7);
function randomTensor(shape: readonly number[]): ort.Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = rng.normal();
  return new ort.Tensor("float32", data, [...shape]);
}

async function session(g: Graph, out: Value, tiny: boolean): Promise<ort.InferenceSession> {
  // One element of the flattened result: through the Reshape ORT's transpose optimizer cannot
  // push a candidate's final Transpose into the Slice (a Slice alone let it vanish).
  g.markOutput(tiny ? ops.slice(g, ops.reshape(g, out, [-1]), [0], [1], [0]) : out, "out");
  prune(g);
  return ort.InferenceSession.create(toOnnx(g), ortSessionOptions({ threads: THREADS }));
}

/** Both sessions of a candidate: `build` runs twice, on fresh graphs. */
async function sessions(
  build: (tiny: boolean) => { g: Graph; out: Value },
): Promise<{ session: ort.InferenceSession; full: ort.InferenceSession }> {
  const a = build(true);
  const b = build(false);
  return { session: await session(a.g, a.out, true), full: await session(b.g, b.out, false) };
}

async function buildConv(c: ConvCase): Promise<Built[]> {
  const groups = c.groups ?? 1;
  const xShape = [c.n, c.cin, c.h, c.h];
  const wShape = [c.cout, c.cin / groups, c.k, c.k];
  const make = () => {
    const g = new Graph();
    const x = g.addInput("x", "float32", xShape);
    const w = g.addInput("w", "float32", wShape);
    const d = c.dil ?? 1;
    const y = ops.conv2d(g, x, w, null, { stride: [c.stride, c.stride], padding: [c.pad, c.pad], dilation: [d, d], groups });
    const geo = convGeometry(g, g.nodes[g.nodes.length - 1]);
    const dy = g.addInput("dy", "float32", y.shape);
    return { g, v: { x, w, dy, y }, geo };
  };
  const probe = make();
  const x = randomTensor(xShape);
  const w = randomTensor(wShape);
  const dy = randomTensor(probe.v.y.shape as number[]);
  const out: Built[] = [];
  for (const cand of CONV_CANDIDATES) {
    if (cand.applies && !cand.applies(probe.geo)) continue;
    const s = await sessions(() => {
      const { g, v, geo } = make();
      return { g, out: cand.build(g, v, geo) };
    });
    const feeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries({ x, w, dy })) if (s.full.inputNames.includes(name)) feeds[name] = t;
    out.push({ part: cand.part, name: cand.name, ...s, feeds, times: [], check: "" });
  }
  return out;
}

async function buildPool(c: PoolCase): Promise<Built[]> {
  const xShape = [c.n, c.c, c.h, c.h];
  const probe = new Graph();
  const yShape = ops.maxPool2d(probe, probe.addInput("x", "float32", xShape), poolAttrs(c)).shape as number[];
  const x = randomTensor(xShape);
  const dy = randomTensor(yShape);
  const out: Built[] = [];
  for (const cand of POOL_CANDIDATES) {
    const s = await sessions(() => {
      const g = new Graph();
      const xv = g.addInput("x", "float32", xShape);
      const dyv = g.addInput("dy", "float32", yShape);
      return { g, out: cand.build(g, xv, dyv, c) };
    });
    const feeds: Record<string, ort.Tensor> = { x };
    if (s.full.inputNames.includes("dy")) feeds.dy = dy;
    out.push({ part: cand.part, name: cand.name, ...s, feeds, times: [], check: "" });
  }
  return out;
}

async function buildCustom(c: CustomCase): Promise<Built[]> {
  const spec = CUSTOM[c.op];
  const shapes = spec.inputs(c);
  const tensors = Object.fromEntries(Object.entries(shapes).map(([k, shape]) => [k, randomTensor(shape)]));
  if (c.op === "relu") {
    const y = tensors.y.data as Float32Array;
    for (let i = 0; i < y.length; i++) y[i] = Math.max(0, y[i]);
  }
  const out: Built[] = [];
  for (const cand of spec.candidates) {
    const s = await sessions(() => {
      const g = new Graph();
      const v = Object.fromEntries(Object.entries(shapes).map(([k, shape]) => [k, g.addInput(k, "float32", shape)]));
      return { g, out: cand.build(g, v, c) };
    });
    const feeds = Object.fromEntries(Object.entries(tensors).filter(([k]) => s.full.inputNames.includes(k)));
    out.push({ part: cand.part, name: cand.name, ...s, feeds, times: [], check: "" });
  }
  return out;
}

/** The long-lived PyTorch process (null when Debian's torch is not there). */
class Torch {
  private readonly lines: AsyncIterableIterator<string>;
  private constructor(
    private readonly proc: ChildProcessWithoutNullStreams,
    readonly version: string,
    lines: AsyncIterableIterator<string>,
  ) {
    this.lines = lines;
  }

  static async start(): Promise<Torch | null> {
    const proc = spawn(PYTHON, [TORCH_SCRIPT, "--serve", "--threads", String(THREADS)]);
    proc.stderr.on("data", (d: Buffer) => process.stderr.write(`[torch] ${d}`));
    const lines = createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
    const first = await Promise.race([lines.next(), new Promise<null>((r) => proc.on("exit", () => r(null)))]);
    if (!first || first.done) {
      log("PyTorch unavailable (/usr/bin/python3 with torch): PyTorch columns show n/a");
      return null;
    }
    return new Torch(proc, (JSON.parse(first.value) as { torch: string }).torch, lines);
  }

  async time(c: Case, part: string, runs: number): Promise<number[]> {
    this.proc.stdin.write(`${JSON.stringify({ case: c, part, runs, warmup: 1 })}\n`);
    const r = await this.lines.next();
    if (r.done) throw new Error("PyTorch process ended");
    return (JSON.parse(r.value) as { ms: number[] }).ms;
  }

  stop(): void {
    this.proc.stdin.end();
  }
}

function compare(a: ort.Tensor, b: ort.Tensor): string {
  const x = a.data as Float32Array;
  const y = b.data as Float32Array;
  if (x.length !== y.length) return `SIZE ${x.length} vs ${y.length}`;
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < x.length; i++) {
    scale = Math.max(scale, Math.abs(x[i]));
    diff = Math.max(diff, Math.abs(x[i] - y[i]));
  }
  const rel = diff / (scale || 1);
  return rel < 1e-4 ? "ok" : `MISMATCH ${rel.toExponential(1)}`;
}

interface Row {
  case: string;
  part: string;
  name: string;
  medianMs: number;
  torchMs: number | null;
  check: string;
}

async function runCase(c: Case, torch: Torch | null): Promise<Row[]> {
  const built = c.op === "conv" ? await buildConv(c) : c.op === "maxpool" ? await buildPool(c) : await buildCustom(c);
  // Correctness: each candidate against the first of its part.
  const firstOut = new Map<string, ort.Tensor>();
  for (const b of built) {
    const out = (await b.full.run(b.feeds)).out;
    const ref = firstOut.get(b.part);
    if (b.name === BASELINE) b.check = "n/a";
    else if (!ref) {
      firstOut.set(b.part, out);
      b.check = "ref";
    } else b.check = compare(ref, out);
  }
  const parts = [...new Set(built.map((b) => b.part))];
  // Which PyTorch parts make up one of ours (a custom case's forward+backward is two of torch's).
  const torchParts = (part: string) => (c.op === "relu" || c.op === "bn" ? CUSTOM[c.op].torch[part] : [part]);
  const torchTimes = new Map<string, number[]>(parts.flatMap((p) => torchParts(p)).map((p) => [p, []]));
  type Contender = { kind: "ort"; b: Built } | { kind: "torch"; part: string };
  const contenders: Contender[] = [
    ...built.map((b) => ({ kind: "ort" as const, b })),
    ...(torch ? [...torchTimes.keys()].map((part) => ({ kind: "torch" as const, part })) : []),
  ];
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < contenders.length; i++) {
      const who = contenders[(i + round) % contenders.length];
      if (who.kind === "torch") {
        torchTimes.get(who.part)!.push(...(await torch!.time(c, who.part, RUNS)));
      } else {
        await who.b.session.run(who.b.feeds); // warm-up
        for (let r = 0; r < RUNS; r++) {
          const t0 = performance.now();
          await who.b.session.run(who.b.feeds);
          who.b.times.push(performance.now() - t0);
        }
      }
    }
  }
  for (const b of built) {
    await b.session.release();
    await b.full.release();
  }
  return built.map((b) => {
    const ts = torchParts(b.part).map((p) => torchTimes.get(p) ?? []);
    const torchMs = ts.every((t) => t.length) ? ts.reduce((sum, t) => sum + median(t), 0) : null;
    return { case: c.name, part: b.part, name: b.name, medianMs: median(b.times), torchMs, check: b.check };
  });
}

function table(rows: Row[]): string {
  const head = ["case", "part", "formulation", "ORT ms", "PyTorch ms", "PyTorch/ORT", "check"];
  const cells = rows.map((r) => [
    r.case,
    r.part,
    r.name,
    r.medianMs.toFixed(1),
    r.torchMs === null ? "n/a" : r.torchMs.toFixed(1),
    r.torchMs === null ? "n/a" : `${(r.torchMs / r.medianMs).toFixed(2)}x`,
    r.check,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i].length)));
  const left = new Set([0, 1, 2, 6]);
  const line = (cs: string[]) => cs.map((c, i) => (left.has(i) ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...cells.map(line)].join("\n");
}

const torch = await Torch.start();
const rows: Row[] = [];
const started = performance.now();
for (const c of CASES) {
  if (caseFilter && !c.name.includes(caseFilter)) continue;
  const t0 = performance.now();
  const r = await runCase(c, torch);
  rows.push(...r);
  log(`${c.name}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  for (const row of r)
    log(
      `  ${row.part.padEnd(7)} ${row.name.padEnd(40)} ${row.medianMs.toFixed(1).padStart(8)} ms   torch ${row.torchMs?.toFixed(1) ?? "n/a"} ms   ${row.check}`,
    );
}
torch?.stop();
log(
  `\nPyTorch ${torch?.version ?? "n/a"}, ${THREADS} threads, batch ${N}, ${ROUNDS} rounds x ${RUNS} runs, ${((performance.now() - started) / 1000).toFixed(0)} s\n`,
);
log(table(rows));
if (json)
  process.stdout.write(
    `${JSON.stringify({ threads: THREADS, rounds: ROUNDS, runs: RUNS, torch: torch?.version ?? null, rows }, null, 1)}\n`,
  );
