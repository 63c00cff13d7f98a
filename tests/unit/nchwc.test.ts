/**
 * graph/nchwc.ts: the Conv → ONNX Runtime NCHWc rewrite gives the same results as the plain Conv
 * (dense, depthwise, strided, 5x5, with and without bias), leaves alone what it must (1x1 kernels,
 * channels off the block, dilation), and a block size of 1 changes nothing. The training-graph
 * results against torch run through it too (tests/train/epoch.test.ts), since Trainer lowers.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import * as ort from "onnxruntime-node";
import { flippedTransposedWeight, type ConvGeometry } from "../../src/autodiff/formulations.js";
import { Graph, prune } from "../../src/graph/ir.js";
import { lowerConvsToNchwc, NCHWC_DOMAIN } from "../../src/graph/nchwc.js";
import * as ops from "../../src/graph/ops.js";
import { toOnnx } from "../../src/onnx/serialize.js";
import { Random } from "../../src/random.js";
import { nchwcBlockSize } from "../../src/runtime/nchwc_block.js";

interface ConvCase {
  label: string;
  cin: number;
  cout: number;
  size: number;
  kernel: number;
  stride: number;
  groups: number;
  dilation?: number;
  bias?: boolean;
  lowered: boolean;
}

const CASES: ConvCase[] = [
  { label: "dense 3x3", cin: 32, cout: 16, size: 9, kernel: 3, stride: 1, groups: 1, lowered: true },
  { label: "dense 3x3 stride 2 with bias", cin: 16, cout: 32, size: 10, kernel: 3, stride: 2, groups: 1, bias: true, lowered: true },
  { label: "RGB stem 7x7 stride 2 (NCHW input)", cin: 3, cout: 16, size: 16, kernel: 7, stride: 2, groups: 1, lowered: true },
  { label: "depthwise 3x3", cin: 32, cout: 32, size: 7, kernel: 3, stride: 1, groups: 32, lowered: true },
  { label: "depthwise 5x5 stride 2", cin: 16, cout: 16, size: 11, kernel: 5, stride: 2, groups: 16, lowered: true },
  { label: "1x1", cin: 32, cout: 32, size: 5, kernel: 1, stride: 1, groups: 1, lowered: false },
  { label: "channels off the block", cin: 24, cout: 16, size: 6, kernel: 3, stride: 1, groups: 1, lowered: false },
  { label: "dilated", cin: 16, cout: 16, size: 9, kernel: 3, stride: 1, groups: 1, dilation: 2, lowered: true },
  {
    label: "depthwise dilated, kernel near the input size",
    cin: 16,
    cout: 16,
    size: 12,
    kernel: 5,
    stride: 1,
    groups: 16,
    dilation: 2,
    lowered: true,
  },
  { label: "grouped (not depthwise)", cin: 32, cout: 32, size: 6, kernel: 3, stride: 1, groups: 2, lowered: false },
];

function build(c: ConvCase): Graph {
  const g = new Graph();
  const x = g.addInput("x", "float32", [2, c.cin, c.size, c.size]);
  const w = g.addInput("w", "float32", [c.cout, c.cin / c.groups, c.kernel, c.kernel]);
  const b = c.bias ? g.addInput("b", "float32", [c.cout]) : null;
  const d = c.dilation ?? 1;
  const y = ops.conv2d(g, x, w, b, {
    stride: [c.stride, c.stride],
    padding: [((c.kernel - 1) * d) >> 1, ((c.kernel - 1) * d) >> 1],
    dilation: [d, d],
    groups: c.groups,
  });
  // A consumer after the conv: the rewrite must keep the output value its consumers read.
  g.markOutput(ops.relu(g, y), "y");
  return g;
}

async function run(g: Graph, feeds: Record<string, ort.Tensor>): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(toOnnx(g), { intraOpNumThreads: 2, graphOptimizationLevel: "all" });
  const out = await session.run(feeds);
  await session.release();
  return out.y.data as Float32Array;
}

/** The lowered conv's output equals the plain one's within float32 reordering (1e-5 of the scale). */
function assertSameAsPlain(plain: Float32Array, lowered: Float32Array, label: string): void {
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < plain.length; i++) {
    worst = Math.max(worst, Math.abs(plain[i] - lowered[i]));
    scale = Math.max(scale, Math.abs(plain[i]));
  }
  assert.ok(scale > 0, `${label}: the conv produced only zeros`);
  assert.ok(worst <= 1e-5 * scale, `${label}: lowered differs from plain by ${worst} (scale ${scale})`);
}

test("NCHWc lowering: same results as the plain Conv; what it does not support is left alone", async (t) => {
  const block = await nchwcBlockSize();
  t.diagnostic(`NCHWc block size on this machine: ${block}`);
  if (block <= 1) {
    t.skip("this CPU has no NCHWc kernels (the rewrite is a no-op here)");
    return;
  }
  const rng = new Random(5);
  const tensor = (shape: number[]) =>
    new ort.Tensor(
      "float32",
      Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()),
      shape,
    );
  for (const c of CASES) {
    const feeds: Record<string, ort.Tensor> = {
      x: tensor([2, c.cin, c.size, c.size]),
      w: tensor([c.cout, c.cin / c.groups, c.kernel, c.kernel]),
    };
    if (c.bias) feeds.b = tensor([c.cout]);
    const plain = await run(build(c), feeds);
    const g = build(c);
    // Channel counts here are multiples of 16; on an 8-block CPU the "off the block" case (24) would lower.
    const expected = c.lowered || (block === 8 && c.label === "channels off the block") ? 1 : 0;
    assert.equal(lowerConvsToNchwc(g, block), expected, `${c.label}: convs lowered`);
    assert.equal(
      g.nodes.some((n) => n.domain === NCHWC_DOMAIN),
      expected > 0,
      c.label,
    );
    const lowered = await run(g, feeds);
    assertSameAsPlain(plain, lowered, `${c.label}`);
  }
});

test("NCHWc lowering: a transposed weight (an input gradient's Wᵀ, kernel-flipped or not) is blocked straight from its source", async (t) => {
  const block = await nchwcBlockSize();
  if (block <= 1) {
    t.skip("this CPU has no NCHWc kernels");
    return;
  }
  // Cin ≠ Cout, so a mix-up of the two channel axes cannot pass; "flipped" is the input
  // gradient's weight exactly as the Conv rule builds it (formulations.ts).
  const geo: ConvGeometry = {
    n: 2,
    cin: 16,
    h: 6,
    w: 6,
    cout: 32,
    group: 1,
    kernel: [3, 3],
    strides: [1, 1],
    dilations: [1, 1],
    pads: [1, 1, 1, 1],
    oh: 6,
    ow: 6,
  };
  for (const variant of ["transposed", "flipped"] as const) {
    const build = () => {
      const g = new Graph();
      const x = g.addInput("x", "float32", [2, 32, 6, 6]);
      const source = g.addInput("w", "float32", [32, 16, 3, 3]);
      const w = variant === "flipped" ? flippedTransposedWeight(g, source, geo) : ops.transpose(g, source, [1, 0, 2, 3]);
      g.markOutput(ops.relu(g, ops.conv2d(g, x, w, null, { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 })), "y");
      return g;
    };
    const rng = new Random(11);
    const tensor = (shape: number[]) =>
      new ort.Tensor(
        "float32",
        Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()),
        shape,
      );
    const feeds = { x: tensor([2, 32, 6, 6]), w: tensor([32, 16, 3, 3]) };
    const plain = await run(build(), feeds);
    const g = build();
    assert.equal(lowerConvsToNchwc(g, block), 1);
    prune(g);
    const channelSwaps = g.nodes.filter(
      (n) => n.op === "Transpose" && n.attrs.perm?.type === "ints" && n.attrs.perm.value.join() === "1,0,2,3",
    );
    assert.equal(channelSwaps.length, 0, `${variant}: the Transpose of the source was not folded into the weight reorder`);
    if (variant === "flipped")
      assert.ok(
        g.nodes.every((n) => n.op !== "MatMul" || n.inputs[1]!.shape.length === 3),
        "flipped: the kernel flip was not moved behind the reorder",
      );
    const lowered = await run(g, feeds);
    assertSameAsPlain(plain, lowered, `${variant}`);
  }
});

test("NCHWc lowering with block size 1 (no NCHWc kernels) changes nothing", () => {
  const g = build(CASES[0]);
  const before = g.nodes.map((n) => n.op).join(",");
  assert.equal(lowerConvsToNchwc(g, 1), 0);
  assert.equal(g.nodes.map((n) => n.op).join(","), before);
});

test("NCHWc lowering: a value is reordered once, also through Reshapes that fold the batch into channels", async (t) => {
  const block = await nchwcBlockSize();
  if (block <= 1) {
    t.skip("this CPU has no NCHWc kernels");
    return;
  }
  // As in a depthwise layer's training graph: the forward conv reads x; the weight gradient
  // (depthwiseWeightGradFoldedBatch) reads x folded to [1, N·C, H, W] and d as [N·C, 1, H, W].
  const build = () => {
    const g = new Graph();
    const x = g.addInput("x", "float32", [2, 16, 6, 6]);
    const w = g.addInput("w", "float32", [16, 1, 3, 3]);
    const d = g.addInput("d", "float32", [2, 16, 6, 6]);
    const attrs = { strides: [1, 1] as [number, number], dilations: [1, 1] as [number, number] };
    g.markOutput(ops.conv2dWithPads(g, x, w, null, { ...attrs, pads: [1, 1, 1, 1], group: 16 }), "y");
    const folded = ops.conv2dWithPads(g, ops.reshape(g, x, [1, 32, 6, 6]), ops.reshape(g, d, [32, 1, 6, 6]), null, {
      ...attrs,
      pads: [1, 1, 1, 1],
      group: 32,
    });
    g.markOutput(folded, "z");
    return g;
  };
  const rng = new Random(9);
  const tensor = (shape: number[]) =>
    new ort.Tensor(
      "float32",
      Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()),
      shape,
    );
  const feeds = { x: tensor([2, 16, 6, 6]), w: tensor([16, 1, 3, 3]), d: tensor([2, 16, 6, 6]) };
  const runAll = async (g: Graph) => {
    const s = await ort.InferenceSession.create(toOnnx(g), { intraOpNumThreads: 2 });
    const out = await s.run(feeds);
    await s.release();
    return [out.y.data as Float32Array, out.z.data as Float32Array];
  };
  const plain = await runAll(build());
  const g = build();
  assert.equal(lowerConvsToNchwc(g, block), 2);
  // x once (shared by both convs), w once, d once.
  assert.equal(g.nodes.filter((n) => n.op === "ReorderInput").length, 3);
  const lowered = await runAll(g);
  for (let k = 0; k < 2; k++) {
    let worst = 0;
    for (let i = 0; i < plain[k].length; i++) worst = Math.max(worst, Math.abs(plain[k][i] - lowered[k][i]));
    assert.ok(worst < 1e-4, `output ${k}: lowered differs from plain by ${worst}`);
  }
});
