/**
 * Every building block against torch: the same stack is built in torch (export_layers.py) and
 * here, the torch.save'd weights load strictly by key, and the outputs agree.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { IMAGENET_EVAL, inferenceGraph, loadStateDict, nn, readWeightsFile, Session, toOnnx, type Model } from "../../src/index.js";
import { requirePython, runPython } from "../helpers/python.js";

const EXPORTER = fileURLToPath(new URL("./export_layers.py", import.meta.url));

function buildStack(): nn.Module {
  return new nn.Sequential(
    new nn.Conv2dNormActivation(3, 16, 3, { stride: 2, activation: () => new nn.Hardswish() }),
    new nn.SqueezeExcitation(
      16,
      8,
      () => new nn.ReLU(),
      () => new nn.Hardsigmoid(),
    ),
    new nn.Conv2d(16, 24, 3, { padding: 2, dilation: 2, groups: 4, bias: true }),
    new nn.SiLU(),
    new nn.MaxPool2d(3, { stride: 2, ceilMode: true }),
    new nn.AvgPool2d(3, { stride: 2, padding: 1 }),
    new nn.BatchNorm2d(24, { eps: 1e-3, momentum: 0.01 }),
    new nn.ReLU6(),
    new nn.Sigmoid(),
    new nn.AdaptiveAvgPool2d([3, 2]),
    new nn.Flatten(),
    new nn.Dropout(0.3),
    new nn.Linear(24 * 3 * 2, 7),
  );
}

test("building blocks match torch.nn / torchvision.ops", async (t) => {
  if (!requirePython(t, "torchvision")) return;
  const dir = mkdtempSync(join(tmpdir(), "convzoo-layers-"));
  try {
    runPython([EXPORTER, dir]);
    const meta = JSON.parse(readFileSync(join(dir, "layers.json"), "utf8")) as { input: number[]; output: number[]; params: number };
    const net = buildStack();
    const model: Model = {
      arch: "layer-stack",
      options: { numClasses: 7 },
      net,
      classifier: "12",
      head: ["12"],
      stages: [],
      optional: [],
      details: {},
      defaultResolution: 37,
      minResolution: 37,
      preprocessing: IMAGENET_EVAL,
    };
    assert.equal(net.parameterCount(), meta.params);
    const file = await readWeightsFile(join(dir, "layers.pth"));
    const result = loadStateDict(model, file.tensors, "layers.pth");
    assert.equal(result.loaded, file.tensors.size, "every torch key loads");

    const session = await Session.create(toOnnx(inferenceGraph(model, { output: "logits" })));
    const x = readFileSync(join(dir, "layers.input.f32"));
    const out = await session.run({
      input: { dtype: "float32", shape: meta.input, data: new Float32Array(x.buffer, x.byteOffset, x.byteLength / 4) },
    });
    const y = readFileSync(join(dir, "layers.output.f32"));
    const expected = new Float32Array(y.buffer, y.byteOffset, y.byteLength / 4);
    assert.deepEqual(out.logits.shape, meta.output);
    let maxDiff = 0;
    for (let i = 0; i < expected.length; i++) maxDiff = Math.max(maxDiff, Math.abs(expected[i] - out.logits.data[i]));
    t.diagnostic(`max |Δ| ${maxDiff.toExponential(3)} over ${expected.length} outputs`);
    assert.ok(maxDiff < 1e-5, `max |Δ| ${maxDiff}`);
    await session.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
