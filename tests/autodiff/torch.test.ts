/**
 * Whole chains against torch.autograd: the same weights, inputs and labels (raw float32 files)
 * through our graph + gradients() on ONNX Runtime and through PyTorch (torch_composite.py); every
 * gradient must agree to 1e-4 relative to its largest entry. BatchNorm is in training mode, once
 * as one training-mode BatchNormalization node (what BatchNorm2d emits, with its own gradient rule)
 * and once with its batch statistics written as explicit ops (ReduceMean, Sub, Mul, Add, Sqrt, Div).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import { gradients } from "../../src/autodiff/gradients.js";
import { Graph, type Value } from "../../src/graph/ir.js";
import * as ops from "../../src/graph/ops.js";
import { toOnnx } from "../../src/onnx/serialize.js";
import { Random } from "../../src/random.js";
import { requirePython, runPython } from "../helpers/python.js";
import { normal } from "./harness.js";

const SCRIPT = fileURLToPath(new URL("./torch_composite.py", import.meta.url));

type Params = Record<string, Value>;

type BatchNorm = (g: Graph, x: Value, weight: Value, bias: Value, eps?: number) => Value;

/** Training-mode BatchNorm as explicit ops: batch mean and biased variance over N, H, W. */
function batchNormExplicit(g: Graph, x: Value, weight: Value, bias: Value, eps = 1e-5): Value {
  const c = x.shape[1] as number;
  const mean = ops.reduceMean(g, x, [0, 2, 3], true);
  const xc = ops.sub(g, x, mean);
  const variance = ops.reduceMean(g, ops.mul(g, xc, xc), [0, 2, 3], true);
  const xhat = ops.div(g, xc, ops.sqrt(g, ops.add(g, variance, ops.scalarConstant(g, eps))));
  return ops.add(g, ops.mul(g, xhat, ops.reshape(g, weight, [1, c, 1, 1])), ops.reshape(g, bias, [1, c, 1, 1]));
}

/** Training-mode BatchNorm as one node, as BatchNorm2d emits it. */
function batchNormNode(g: Graph, x: Value, weight: Value, bias: Value, eps = 1e-5): Value {
  return ops.batchNormTraining(g, x, weight, bias, eps).y;
}

const conv = (g: Graph, x: Value, w: Value, b: Value | null, stride: number, pad: number, groups = 1) =>
  ops.conv2d(g, x, w, b, { stride: [stride, stride], padding: [pad, pad], dilation: [1, 1], groups });

/** Mean negative log-likelihood of log-probabilities [N, K] at constant labels (GatherElements). */
function nllLoss(g: Graph, logp: Value, labels: number[]): Value {
  const idx = g.constant({ dtype: "int64", shape: [labels.length, 1], data: BigInt64Array.from(labels, BigInt) }, "labels");
  return ops.neg(g, ops.reduceMean(g, ops.gatherElements(g, logp, idx, 1), [0, 1], false));
}

function head(g: Graph, y: Value, p: Params, labels: number[]): Value {
  const logits = ops.linear(g, ops.flatten(g, ops.globalAveragePool(g, y), 1), p["fc.weight"], p["fc.bias"]);
  return nllLoss(g, ops.logSoftmax(g, logits, 1), labels);
}

interface Chain {
  tensors: Record<string, number[]>;
  labels: number[];
  build: (g: Graph, p: Params, labels: number[], batchNormTrain: BatchNorm) => Value;
}

const CHAINS: Record<string, Chain> = {
  resnet_chain: {
    tensors: {
      x: [4, 3, 12, 12],
      "conv1.weight": [8, 3, 3, 3],
      "conv1.bias": [8],
      "bn1.weight": [8],
      "bn1.bias": [8],
      "conv2.weight": [16, 8, 3, 3],
      "down.weight": [16, 8, 1, 1],
      "fc.weight": [5, 16],
      "fc.bias": [5],
    },
    labels: [1, 4, 0, 2],
    build: (g, p, labels, batchNormTrain) => {
      let y = conv(g, p.x, p["conv1.weight"], p["conv1.bias"], 1, 1);
      y = ops.relu(g, batchNormTrain(g, y, p["bn1.weight"], p["bn1.bias"]));
      y = ops.maxPool2d(g, y, { kernel: [3, 3], stride: [2, 2], padding: [1, 1], ceilMode: false });
      const main = conv(g, y, p["conv2.weight"], null, 2, 1);
      const short = conv(g, y, p["down.weight"], null, 2, 0);
      return head(g, ops.relu(g, ops.add(g, main, short)), p, labels);
    },
  },
  mobilenet_chain: {
    tensors: {
      x: [2, 3, 16, 16],
      "stem.weight": [8, 3, 3, 3],
      "stem_bn.weight": [8],
      "stem_bn.bias": [8],
      "dw.weight": [8, 1, 3, 3],
      "dw_bn.weight": [8],
      "dw_bn.bias": [8],
      "se.fc1.weight": [4, 8, 1, 1],
      "se.fc1.bias": [4],
      "se.fc2.weight": [8, 4, 1, 1],
      "se.fc2.bias": [8],
      "project.weight": [8, 16, 1, 1],
      "project_bn.weight": [8],
      "project_bn.bias": [8],
      "dw2.weight": [8, 1, 3, 3],
      "dw2.bias": [8],
      "fc.weight": [3, 8],
      "fc.bias": [3],
    },
    labels: [2, 0],
    build: (g, p, labels, batchNormTrain) => {
      const y = ops.clip(g, batchNormTrain(g, conv(g, p.x, p["stem.weight"], null, 2, 1), p["stem_bn.weight"], p["stem_bn.bias"]), 0, 6);
      let z = ops.hardSwish(g, batchNormTrain(g, conv(g, y, p["dw.weight"], null, 1, 1, 8), p["dw_bn.weight"], p["dw_bn.bias"], 1e-3));
      let s = ops.globalAveragePool(g, z);
      s = ops.relu(g, conv(g, s, p["se.fc1.weight"], p["se.fc1.bias"], 1, 0));
      s = ops.hardSigmoid(g, conv(g, s, p["se.fc2.weight"], p["se.fc2.bias"], 1, 0));
      z = ops.mul(g, z, s);
      z = ops.concat(
        g,
        [z, ops.avgPool2d(g, z, { kernel: [3, 3], stride: [1, 1], padding: [1, 1], ceilMode: false, countIncludePad: true })],
        1,
      );
      z = ops.add(g, batchNormTrain(g, conv(g, z, p["project.weight"], null, 1, 0), p["project_bn.weight"], p["project_bn.bias"]), y);
      z = ops.sigmoid(g, conv(g, z, p["dw2.weight"], p["dw2.bias"], 2, 1, 8));
      return head(g, z, p, labels);
    },
  },
};

async function compareWithTorch(t: TestContext, name: string, batchNorm: BatchNorm): Promise<void> {
  if (!requirePython(t, "torch")) return;
  const chain = CHAINS[name];
  const dir = mkdtempSync(join(tmpdir(), "convzoo-autodiff-"));
  try {
    const rng = new Random(11);
    const data: Record<string, Float32Array> = {};
    for (const [k, shape] of Object.entries(chain.tensors)) {
      const n = shape.reduce((a, b) => a * b, 1);
      const fanIn = shape.length > 1 ? shape.slice(1).reduce((a, b) => a * b, 1) : 1;
      data[k] =
        k === "x"
          ? normal(rng, n)
          : k.includes("bn") && k.endsWith("weight")
            ? Float32Array.from(normal(rng, n, 0.2), (v) => 1 + v)
            : normal(rng, n, 1 / Math.sqrt(fanIn));
      writeFileSync(join(dir, `${k}.f32`), data[k]);
    }
    writeFileSync(join(dir, "manifest.json"), JSON.stringify({ case: name, labels: chain.labels, tensors: chain.tensors }));
    runPython([SCRIPT, dir]);

    const g = new Graph(name);
    const p: Params = {};
    for (const [k, shape] of Object.entries(chain.tensors)) p[k] = g.addInput(k, "float32", shape);
    const loss = chain.build(g, p, chain.labels, batchNorm);
    g.markOutput(loss, "loss");
    const grads = gradients(g, loss, Object.values(p));
    for (const k of Object.keys(p)) g.markOutput(grads.get(k)!, `grad_${k}`);
    const session = await ort.InferenceSession.create(toOnnx(g), { intraOpNumThreads: 1, graphOptimizationLevel: "all" });
    const out = await session.run(
      Object.fromEntries(Object.entries(data).map(([k, d]) => [k, new ort.Tensor("float32", d, chain.tensors[k])])),
    );
    await session.release();

    const torchLoss = (JSON.parse(readFileSync(join(dir, "loss.json"), "utf8")) as { loss: number }).loss;
    const ourLoss = (out.loss.data as Float32Array)[0];
    assert.ok(Math.abs(ourLoss - torchLoss) <= 1e-5 * Math.max(1, Math.abs(torchLoss)), `loss ${ourLoss} vs torch ${torchLoss}`);
    const expectedGrads = Object.fromEntries(
      Object.keys(p).map((k) => {
        const b = readFileSync(join(dir, `grad_${k}.f32`));
        return [k, new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4)];
      }),
    );
    // A gradient that is zero in exact arithmetic (a conv bias before a train-mode BatchNorm) is
    // rounding noise on both sides: allow 1e-6 of the largest gradient on top of the 1e-4 relative.
    const globalMax = Math.max(...Object.values(expectedGrads).map((e) => e.reduce((m, v) => Math.max(m, Math.abs(v)), 0)));
    let worst = 0;
    for (const k of Object.keys(p)) {
      const expected = expectedGrads[k];
      const got = out[`grad_${k}`].data as Float32Array;
      assert.equal(got.length, expected.length, `grad ${k} size`);
      let scale = 0;
      let diff = 0;
      for (let i = 0; i < expected.length; i++) {
        scale = Math.max(scale, Math.abs(expected[i]));
        diff = Math.max(diff, Math.abs(expected[i] - got[i]));
      }
      worst = Math.max(worst, diff / Math.max(scale, 1e-2 * globalMax));
      assert.ok(
        diff <= 1e-4 * scale + 1e-6 * globalMax,
        `grad ${k}: max |Δ| ${diff.toExponential(2)} > 1e-4 × max |grad| ${scale.toExponential(2)} (+ 1e-6 × ${globalMax.toExponential(2)})`,
      );
    }
    t.diagnostic(`loss ${ourLoss.toFixed(6)} (torch ${torchLoss.toFixed(6)}), worst relative gradient error ${worst.toExponential(2)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const [form, bn] of [
  ["BatchNormalization node", batchNormNode],
  ["explicit-op BatchNorm", batchNormExplicit],
] as const) {
  test(`ResNet-like chain (conv, train-mode BN, relu, maxpool, strided conv + 1x1 shortcut, gap, linear, NLL), ${form} = torch.autograd`, (t) =>
    compareWithTorch(t, "resnet_chain", bn));
  test(`MobileNet-like chain (relu6, depthwise, hardswish, SE with hardsigmoid, concat, avgpool, residual, sigmoid), ${form} = torch.autograd`, (t) =>
    compareWithTorch(t, "mobilenet_chain", bn));
}
