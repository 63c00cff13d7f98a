/**
 * The browser path: quantized models (static int8, fp16) run on onnxruntime-web's
 * wasm backend — the runtime a page brings — and give what onnxruntime-node gives.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import * as ort from "onnxruntime-node";
import * as ortWeb from "onnxruntime-web";
import "../../src/models/index.js";
import { initializeWeights } from "../../src/models/bind.js";
import { createModel } from "../../src/models/registry.js";
import { quantizeModel, type QuantizeMode } from "../../src/quantize/quantize.js";
import { Random } from "../../src/random.js";

const R = 32;

// Weight-only int8 is left out: its ops (DequantizeLinear on weights, float Conv) are a subset of static int8's.
test("int8 and fp16 models: onnxruntime-web (wasm) equals onnxruntime-node", async () => {
  ortWeb.env.wasm.numThreads = 1;
  const model = initializeWeights(createModel("mobilenet_v3_small", { numClasses: 10 }), 2);
  const rng = new Random(4);
  const x = Float32Array.from({ length: 4 * 3 * R * R }, () => rng.normal());
  const calibration = [{ dtype: "float32" as const, shape: [4, 3, R, R], data: x }];
  for (const mode of ["static", "fp16"] as QuantizeMode[]) {
    const { onnx } = await quantizeModel(model, { mode, resolution: R, calibration });
    const node = await ort.InferenceSession.create(onnx);
    const web = await ortWeb.InferenceSession.create(onnx, { executionProviders: ["wasm"] });
    const a = (await node.run({ input: new ort.Tensor("float32", x, [4, 3, R, R]) })).probabilities.data as Float32Array;
    const b = (await web.run({ input: new ortWeb.Tensor("float32", x, [4, 3, R, R]) })).probabilities.data as Float32Array;
    await node.release();
    await web.release();
    const diff = Math.max(...a.map((v, i) => Math.abs(v - b[i])));
    assert.ok(diff < 1e-4, `${mode}: max |Δp| ${diff}`);
  }
});
