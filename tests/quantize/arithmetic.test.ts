/**
 * The quantization arithmetic against the ONNX operator definitions: the spec's own test cases
 * (onnx/backend/test/case/node/quantizelinear.py, dynamicquantizelinear.py, ONNX 1.12) and ONNX
 * Runtime's QuantizeLinear / DequantizeLinear / DynamicQuantizeLinear kernels on fixed tensors with
 * ties, saturation and per-axis scales; fp16 conversion against numpy's float16.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import * as ort from "onnxruntime-node";
import { attr, Graph } from "../../src/graph/ir.js";
import { toOnnx } from "../../src/onnx/serialize.js";
import {
  activationParams,
  dequantizeValue,
  INT8_RANGE,
  quantizeBias,
  quantizeValue,
  quantizeWeight,
  roundHalfToEven,
  UINT8_RANGE,
} from "../../src/quantize/arithmetic.js";
import { float16Bits, float16Value } from "../../src/quantize/float16.js";
import type { DType, Tensor } from "../../src/tensor.js";
import { requirePython, runPython } from "../helpers/python.js";

/** Runs one ONNX node on ONNX Runtime: inputs as [name, tensor, isInitializer]. */
async function runNode(op: string, inputs: [string, Tensor, boolean][], outputs: [string, DType, number[]][], attrs = {}) {
  const g = new Graph("node");
  const values = inputs.map(([name, t, constant]) => (constant ? g.addInitializer(name, t) : g.addInput(name, t.dtype, t.shape)));
  const outs = g.addNode(
    op,
    values,
    outputs.map(([name, dtype, shape]) => ({ name, dtype, shape })),
    attrs,
  );
  for (const o of outs) g.markOutput(o);
  const session = await ort.InferenceSession.create(toOnnx(g));
  const feeds = Object.fromEntries(
    inputs.filter(([, , c]) => !c).map(([name, t]) => [name, new ort.Tensor(t.dtype as "float32", t.data as Float32Array, [...t.shape])]),
  );
  const result = await session.run(feeds);
  await session.release();
  return result;
}

const f32 = (shape: number[], values: number[]): Tensor<"float32"> => ({ dtype: "float32", shape, data: Float32Array.from(values) });

test("roundHalfToEven: ties go to the even neighbour (QuantizeLinear's rounding), others to the nearest", () => {
  const cases: [number, number][] = [
    [0.5, 0],
    [1.5, 2],
    [2.5, 2],
    [-0.5, -0],
    [-1.5, -2],
    [-2.5, -2],
    [2.4999, 2],
    [2.5001, 3],
    [-3.7, -4],
    [7, 7],
  ];
  for (const [x, want] of cases) assert.equal(roundHalfToEven(x) + 0, want + 0, `round(${x})`);
});

test("QuantizeLinear: the ONNX spec's test cases (uint8, and per axis)", () => {
  // test_quantizelinear: x / 2 + 128, 3/2 = 1.5 rounds to 2 (even), saturating at 0 and 255.
  const x = [0, 2, 3, 1000, -254, -1000];
  assert.deepEqual(
    x.map((v) => quantizeValue(v, 2, 128, UINT8_RANGE)),
    [128, 129, 130, 255, 1, 0],
  );
  // test_quantizelinear_axis: scales [2, 4, 5], zero points [84, 24, 196] along axis 1 (the spec's numpy
  // expression truncates after adding the zero point; every value here lands on an integer or x.5 with an even floor).
  const channels = [
    [-162, 10, -100, 232, -20, -50],
    [-76, 0, 0, 252, 32, -44],
    [245, -485, -960, -270, -375, -470],
  ];
  const scale = [2, 4, 5];
  const zero = [84, 24, 196];
  const want = [
    [3, 89, 34, 200, 74, 59],
    [5, 24, 24, 87, 32, 13],
    [245, 99, 4, 142, 121, 102],
  ];
  channels.forEach((row, c) =>
    assert.deepEqual(
      row.map((v) => quantizeValue(v, scale[c], zero[c], UINT8_RANGE)),
      want[c],
    ),
  );
});

test("activationParams: DynamicQuantizeLinear's scale and zero point (the spec's three cases)", () => {
  const cases: [number[], number, number][] = [
    [[0, 2, -3, -2.5, 1.34, 0.5], 0.0196078438, 153],
    [[-1.0, -2.1, -1.3, -2.5, -3.34, -4.0], 0.0156862754, 255], // range widened to include 0 at the top
    [[1, 2.1, 1.3, 2.5, 3.34, 4.0, 1.5, 2.6, 3.9, 4.0, 3.0, 2.345], 0.0156862754, 0], // … and at the bottom
  ];
  for (const [x, scale, zeroPoint] of cases) {
    const p = activationParams(Math.min(...x), Math.max(...x));
    assert.ok(Math.abs(p.scale - scale) < 1e-9, `scale ${p.scale} vs ${scale}`);
    assert.equal(p.zeroPoint, zeroPoint);
  }
  assert.deepEqual(activationParams(0, 0), { scale: 1, zeroPoint: 0 });
  assert.throws(() => activationParams(1, -1), /not a finite interval/);
});

test("QuantizeLinear / DequantizeLinear / DynamicQuantizeLinear: equal to ONNX Runtime's kernels on a fixed tensor", async () => {
  // Ties at every half step, values beyond both ends, and ordinary values.
  const values: number[] = [];
  for (let i = -300; i <= 300; i++) values.push(i * 0.25);
  values.push(1e6, -1e6, 0.1, -0.1, 3.3333, -7.77);
  const x = f32([values.length], values);
  for (const [dtype, range, zeroPoint] of [
    ["uint8", UINT8_RANGE, 37],
    ["int8", INT8_RANGE, -5],
  ] as const) {
    const scale = 0.5;
    const zp: Tensor =
      dtype === "uint8" ? { dtype, shape: [], data: Uint8Array.of(zeroPoint) } : { dtype, shape: [], data: Int8Array.of(zeroPoint) };
    const q = await runNode(
      "QuantizeLinear",
      [
        ["x", x, false],
        ["s", f32([], [scale]), true],
        ["z", zp, true],
      ],
      [["y", dtype, [values.length]]],
    );
    const ours = values.map((v) => quantizeValue(v, scale, zeroPoint, range));
    assert.deepEqual([...(q.y.data as Uint8Array | Int8Array)], ours, `QuantizeLinear ${dtype}`);
    const qt: Tensor = { dtype, shape: [values.length], data: q.y.data as Uint8Array } as Tensor;
    const d = await runNode(
      "DequantizeLinear",
      [
        ["q", qt, true],
        ["s", f32([], [scale]), true],
        ["z", zp, true],
      ],
      [["x", "float32", [values.length]]],
    );
    assert.deepEqual(
      [...(d.x.data as Float32Array)],
      ours.map((v) => dequantizeValue(v, scale, zeroPoint)),
      `DequantizeLinear ${dtype}`,
    );
  }
  // DynamicQuantizeLinear computes the scale and zero point from the tensor's own min and max.
  const mixed = f32([8], [-0.731, 2.05, 0.3, -0.2, 1.999, 0, 0.77, -0.5]);
  const r = await runNode(
    "DynamicQuantizeLinear",
    [["x", mixed, false]],
    [
      ["y", "uint8", [8]],
      ["y_scale", "float32", []],
      ["y_zero_point", "uint8", []],
    ],
  );
  const p = activationParams(-0.731, 2.05);
  assert.equal((r.y_scale.data as Float32Array)[0], p.scale);
  assert.equal((r.y_zero_point.data as Uint8Array)[0], p.zeroPoint);
  assert.deepEqual(
    [...(r.y.data as Uint8Array)],
    [...mixed.data].map((v) => quantizeValue(v, p.scale, p.zeroPoint, UINT8_RANGE)),
  );
});

test("quantizeWeight: symmetric int8 per output channel (and per tensor), within half a step of the float weights", async () => {
  // [3 output channels, 4]: channel 1 is all zeros (scale 1, all zeros), channel 2 has a tie at x/s = 0.5.
  const w = f32([3, 4], [1.27, -0.635, 0.01, -1.0, 0, 0, 0, 0, 0.127, -0.0005, 0.00049, 0.05]);
  const perChannel = quantizeWeight(w.data, 3, true);
  assert.deepEqual([...perChannel.scales], [Math.fround(1.27 / 127), 1, Math.fround(0.127 / 127)]);
  assert.deepEqual([...perChannel.data], [127, -64, 1, -100, 0, 0, 0, 0, 127, 0, 0, 50]);
  const perTensor = quantizeWeight(w.data, 3, false);
  assert.equal(perTensor.scales.length, 1);
  assert.deepEqual([...perTensor.data], [127, -64, 1, -100, 0, 0, 0, 0, 13, 0, 0, 5]);
  // DequantizeLinear with axis 0 on ONNX Runtime gives back the weights within half a step.
  const d = await runNode(
    "DequantizeLinear",
    [
      ["q", { dtype: "int8", shape: [3, 4], data: perChannel.data }, true],
      ["s", { dtype: "float32", shape: [3], data: perChannel.scales }, true],
      ["z", { dtype: "int8", shape: [3], data: new Int8Array(3) }, true],
    ],
    [["w", "float32", [3, 4]]],
    { axis: attr.int(0) },
  );
  const back = d.w.data as Float32Array;
  for (let i = 0; i < 12; i++) assert.ok(Math.abs(back[i] - w.data[i]) <= perChannel.scales[Math.floor(i / 4)] / 2 + 1e-9, `weight ${i}`);
  // The bias: int32 at input scale × weight scale, zero point 0.
  const bias = quantizeBias(Float32Array.of(0.5, -0.255, 1e-7), 0.02, perChannel.scales);
  assert.deepEqual(
    [...bias.scales],
    [Math.fround(0.02 * perChannel.scales[0]), Math.fround(0.02), Math.fround(0.02 * perChannel.scales[2])],
  );
  assert.deepEqual(
    [...bias.data],
    [roundHalfToEven(0.5 / bias.scales[0]), -13, 0].map((v) => v + 0),
  );
});

test("float16Bits: equal to numpy's float16 cast (ties to even, subnormals, overflow)", (t) => {
  if (!requirePython(t, "onnx")) return; // Debian's python3-onnx brings numpy
  const values = [
    0,
    1,
    -1,
    0.1,
    1 / 3,
    65504,
    65519,
    65520,
    1e6,
    -1e6,
    6.1e-5,
    5.96e-8,
    2.98e-8,
    2.99e-8,
    1e-9,
    1.00048828125,
    1.0009765625,
    1.00146484375,
    2049,
    2051,
    3.14159,
    -2.71828,
    1e-4,
    0.000061035156,
  ];
  const json = runPython(
    [
      "-c",
      "import json,sys,numpy as np; v=json.load(sys.stdin); print(json.dumps(np.array(v,dtype=np.float32).astype(np.float16).view(np.uint16).tolist()))",
    ],
    JSON.stringify(values),
  );
  const want = JSON.parse(json) as number[];
  assert.deepEqual(
    values.map((v) => float16Bits(v)),
    want,
  );
  assert.equal(float16Bits(-0), 0x8000); // JSON cannot carry -0 to numpy
  for (const h of want) if ((h & 0x7c00) !== 0x7c00) assert.equal(float16Bits(float16Value(h)), h, `round trip of ${h}`);
});
