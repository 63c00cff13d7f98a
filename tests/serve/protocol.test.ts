/** The Open Inference Protocol's request parsing and response encoding, without a server. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseClassification } from "../../src/serve/client.js";
import { bytesElements, classificationStrings, encodeInferResponse, HttpError, parseInferRequest } from "../../src/serve/protocol.js";

const json = (o: unknown) => Buffer.from(JSON.stringify(o));

function rejects(body: Buffer, headerLength: number | undefined, pattern: RegExp): void {
  assert.throws(
    () => parseInferRequest(body, headerLength),
    (e: unknown) => e instanceof HttpError && e.status === 400 && pattern.test(e.message),
  );
}

test("JSON FP32 input, nested or flat data, outputs with classification", () => {
  const r = parseInferRequest(
    json({
      id: "42",
      inputs: [{ name: "input", datatype: "FP32", shape: [1, 3, 1, 2], data: [[[[1, 2]], [[3, 4]], [[5, 6.5]]]] }],
      outputs: [
        { name: "probabilities", parameters: { classification: 3 } },
        { name: "logits", parameters: { binary_data: true } },
      ],
    }),
    undefined,
  );
  assert.equal(r.id, "42");
  assert.equal(r.inputs[0].datatype, "FP32");
  assert.deepEqual(Array.from(r.inputs[0].data as Float32Array), [1, 2, 3, 4, 5, 6.5]);
  assert.deepEqual(r.outputs, [
    { name: "probabilities", classification: 3, binary: false },
    { name: "logits", classification: undefined, binary: true },
  ]);
});

test("binary-data extension: FP32 and BYTES tensors after the JSON header, in input order", () => {
  const floats = new Float32Array([0.5, -1.25, 3]);
  const images = [new Uint8Array([1, 2, 3]), new Uint8Array([]), new Uint8Array([9])];
  const fp = Buffer.from(floats.buffer);
  const by = bytesElements(images);
  const header = json({
    inputs: [
      { name: "input", datatype: "FP32", shape: [3], parameters: { binary_data_size: fp.length } },
      { name: "image", datatype: "BYTES", shape: [3], parameters: { binary_data_size: by.length } },
    ],
    parameters: { binary_data_output: true },
  });
  // An odd offset: the FP32 bytes are not 4-byte aligned in the body.
  const r = parseInferRequest(Buffer.concat([header, fp, by]), header.length);
  assert.deepEqual(Array.from(r.inputs[0].data as Float32Array), [0.5, -1.25, 3]);
  assert.deepEqual(
    (r.inputs[1].data as Uint8Array[]).map((b) => Array.from(b)),
    images.map((b) => Array.from(b)),
  );
  assert.deepEqual(r.outputs, []);
});

test("malformed requests are 400s naming what is wrong", () => {
  rejects(Buffer.from("{nope"), undefined, /not valid JSON/);
  rejects(json([1, 2]), undefined, /JSON object/);
  rejects(json({ inputs: [] }), undefined, /non-empty list/);
  rejects(json({ inputs: [{ name: "input", datatype: "INT8", shape: [1], data: [1] }] }), undefined, /datatype "INT8" is not supported/);
  rejects(json({ inputs: [{ name: "input", datatype: "FP32", shape: [2, 2], data: [1, 2, 3] }] }), undefined, /needs 4 elements, got 3/);
  rejects(json({ inputs: [{ name: "input", datatype: "FP32", shape: [-1], data: [] }] }), undefined, /non-negative integers/);
  rejects(json({ inputs: [{ name: "input", datatype: "FP32", shape: [2], data: [1, "x"] }] }), undefined, /must be numbers/);
  const header = json({ inputs: [{ name: "input", datatype: "FP32", shape: [2], parameters: { binary_data_size: 8 } }] });
  rejects(Buffer.concat([header, Buffer.alloc(4)]), header.length, /runs past/);
  rejects(Buffer.concat([header, Buffer.alloc(12)]), header.length, /belong to no input/);
  rejects(header, header.length + 5, /Inference-Header-Content-Length/);
  const bytesHeader = json({ inputs: [{ name: "image", datatype: "BYTES", shape: [1], parameters: { binary_data_size: 6 } }] });
  rejects(Buffer.concat([bytesHeader, Buffer.from([10, 0, 0, 0, 1, 2])]), bytesHeader.length, /declares 10 bytes/);
  rejects(
    json({
      inputs: [{ name: "input", datatype: "FP32", shape: [1], data: [1] }],
      outputs: [{ name: "p", parameters: { classification: 0 } }],
    }),
    undefined,
    /positive integer/,
  );
});

test("classification strings: highest values first, '<value>:<index>:<label>', labels may hold colons", () => {
  const values = new Float32Array([0.1, 0.7, 0.2, /* row 2 */ 5, -1, 5]);
  const s = classificationStrings(values, 2, 3, 2, ["cat", "dog", "a:b"]);
  assert.deepEqual(s, ["0.700000:1:dog", "0.200000:2:a:b", "5.000000:0:cat", "5.000000:2:a:b"]);
  assert.deepEqual(parseClassification(s[1]), { score: 0.2, index: 2, label: "a:b" });
  // K larger than the class count gives every class.
  assert.equal(classificationStrings(values, 1, 3, 10, ["a", "b", "c"]).length, 3);
});

test("responses: JSON alone, or the JSON header then binary outputs with its length", () => {
  const data = new Float32Array([1, 2]);
  const plain = encodeInferResponse("m", "7", [{ name: "logits", datatype: "FP32", shape: [1, 2], data, binary: false }]);
  assert.equal(plain.headerLength, undefined);
  assert.deepEqual(JSON.parse(plain.body.toString()), {
    model_name: "m",
    model_version: "1",
    id: "7",
    outputs: [{ name: "logits", datatype: "FP32", shape: [1, 2], data: [1, 2] }],
  });
  const bin = encodeInferResponse("m", undefined, [
    { name: "logits", datatype: "FP32", shape: [1, 2], data, binary: true },
    { name: "probabilities", datatype: "BYTES", shape: [1, 1], data: ["0.5:1:x"], binary: true },
  ]);
  const header = JSON.parse(bin.body.subarray(0, bin.headerLength).toString());
  assert.deepEqual(
    header.outputs.map((o: { parameters: { binary_data_size: number } }) => o.parameters.binary_data_size),
    [8, 4 + 7],
  );
  const tail = bin.body.subarray(bin.headerLength);
  assert.deepEqual(Array.from(new Float32Array(tail.buffer.slice(tail.byteOffset, tail.byteOffset + 8))), [1, 2]);
  assert.equal(tail.readUInt32LE(8), 7);
  assert.equal(tail.subarray(12).toString(), "0.5:1:x");
});
