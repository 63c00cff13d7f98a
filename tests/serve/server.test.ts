/**
 * `convzoo serve`'s server on loopback, in process: every endpoint, every bad request, 200 concurrent
 * requests against the in-process Predictor, metrics, limits (body, image bomb), the bearer token,
 * the JSON log, an ONNX file as a second model, and a graceful shutdown with requests in flight.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import sharp from "sharp";
import { exportOnnx } from "../../src/inference/export.js";
import type { Predictor } from "../../src/inference/predictor.js";
import { IMAGENET_EVAL } from "../../src/models/preprocessing.js";
import { InferenceClient } from "../../src/serve/client.js";
import { modelSource, onnxFileSource, predictorSource } from "../../src/serve/model_source.js";
import { bytesElements } from "../../src/serve/protocol.js";
import { InferenceServer, type ServerOptions } from "../../src/serve/server.js";
import {
  binaryInfer,
  blackPng,
  CLASSES,
  encodedImage,
  http,
  jsonBody,
  predictor,
  randomBatch,
  relativeError,
  RESOLUTION,
  tinyModel,
} from "./helpers.js";

const R = RESOLUTION;
const IMAGE_SIZE = 3 * R * R;
const MAX_BATCH = 8;
let dir: string;
let server: InferenceServer;
let reference: Predictor;
const logLines: string[] = [];

function options(extra: Partial<ServerOptions> = {}): ServerOptions {
  return {
    host: "127.0.0.1",
    port: 0,
    batching: { maxBatchSize: MAX_BATCH, maxQueueDelayMs: 2, dynamic: true, queueTimeoutMs: 30_000 },
    maxBodyBytes: 4 * 1024 * 1024,
    maxPixels: 4_000_000,
    requestTimeoutMs: 30_000,
    ...extra,
  };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "convzoo-serve-"));
  const model = tinyModel();
  reference = await predictor(model, "probabilities");
  const onnxPath = join(dir, "tiny.onnx");
  writeFileSync(onnxPath, exportOnnx(model, { resolution: R, output: "logits", classes: CLASSES, preprocessing: IMAGENET_EVAL }));
  const sources = [
    await modelSource("tiny", model, { resolution: R, classes: CLASSES, preprocessing: IMAGENET_EVAL, threads: 1 }),
    // Two instances: the 200-request test below runs half its requests through two sessions at once.
    await onnxFileSource("tiny_onnx", onnxPath, { threads: 1, instances: 2 }),
  ];
  server = await InferenceServer.start(sources, options({ log: (line) => logLines.push(line) }));
});

after(async () => {
  await server.close();
  await reference.release();
  rmSync(dir, { recursive: true, force: true });
});

const url = (path: string) => `${server.url}${path}`;
const getJson = async (path: string) => {
  const r = await http(url(path), "GET");
  return { status: r.status, json: JSON.parse(r.body.toString()) };
};
const infer = (model: string, body: Buffer, headers: Record<string, string> = {}) =>
  http(url(`/v2/models/${model}/infer`), "POST", body, headers);

async function expectError(p: Promise<{ status: number; body: Buffer }>, status: number, pattern: RegExp): Promise<void> {
  const r = await p;
  assert.equal(r.status, status, r.body.toString());
  const { error } = JSON.parse(r.body.toString());
  assert.match(error, pattern);
}

async function referenceProbabilities(data: Float32Array, n: number): Promise<Float32Array> {
  return (await reference.predict({ dtype: "float32", shape: [n, 3, R, R], data })).data;
}

test("server metadata, health and model endpoints", async () => {
  assert.deepEqual((await getJson("/v2")).json, { name: "convzoo", version: "0", extensions: ["classification", "binary_tensor_data"] });
  assert.deepEqual(await getJson("/v2/health/live"), { status: 200, json: { live: true } });
  assert.deepEqual(await getJson("/v2/health/ready"), { status: 200, json: { ready: true } });
  assert.deepEqual(await getJson("/v2/models/tiny/ready"), { status: 200, json: { name: "tiny", ready: true } });
  const meta = await getJson("/v2/models/tiny");
  assert.equal(meta.status, 200);
  assert.equal(meta.json.platform, "convzoo");
  assert.deepEqual(meta.json.inputs, [
    { name: "input", datatype: "FP32", shape: [-1, 3, R, R] },
    { name: "image", datatype: "BYTES", shape: [-1] },
  ]);
  assert.deepEqual(meta.json.outputs, [
    { name: "probabilities", datatype: "FP32", shape: [-1, 5] },
    { name: "logits", datatype: "FP32", shape: [-1, 5] },
  ]);
  assert.deepEqual(meta.json.parameters.preprocessing.mean, IMAGENET_EVAL.mean);
  assert.equal(meta.json.parameters.max_batch_size, MAX_BATCH);
  assert.deepEqual((await getJson("/v2/models/tiny/versions/1")).json.name, "tiny");
  const onnxMeta = await getJson("/v2/models/tiny_onnx");
  assert.equal(onnxMeta.json.platform, "onnxruntime_onnx");
  assert.equal(onnxMeta.json.parameters.arch, "resnet18");
  assert.equal(onnxMeta.json.parameters.instance_count, 2);
  assert.equal(meta.json.parameters.instance_count, 1);
  await expectError(http(url("/v2/models/nope"), "GET"), 404, /unknown model "nope" \(serving: tiny, tiny_onnx\)/);
  await expectError(http(url("/v2/models/nope/ready"), "GET"), 404, /unknown model/);
  await expectError(http(url("/v2/models/tiny/versions/2"), "GET"), 404, /no version 2/);
  await expectError(http(url("/v2/nothing"), "GET"), 404, /no such endpoint/);
  await expectError(http(url("/v2/models/tiny/infer"), "GET"), 405, /only POST/);
  await expectError(http(url("/v2/models/tiny"), "POST", jsonBody({})), 405, /only GET/);
});

test("FP32 tensors in JSON and in binary give the in-process Predictor's probabilities (and logits)", async () => {
  const data = randomBatch(3, 11);
  const expected = await referenceProbabilities(data, 3);
  const asJson = await infer(
    "tiny",
    jsonBody({ id: "a1", inputs: [{ name: "input", datatype: "FP32", shape: [3, 3, R, R], data: Array.from(data) }] }),
  );
  assert.equal(asJson.status, 200);
  const body = JSON.parse(asJson.body.toString());
  assert.equal(body.id, "a1");
  assert.deepEqual(
    body.outputs.map((o: { name: string; shape: number[] }) => [o.name, o.shape]),
    [
      ["probabilities", [3, 5]],
      ["logits", [3, 5]],
    ],
  );
  assert.ok(relativeError(body.outputs[0].data, expected) < 1e-5, "JSON probabilities differ from the Predictor's");
  // The three images are told apart (each row is its own, not a copy of another's).
  assert.notDeepEqual(body.outputs[0].data.slice(0, 5), body.outputs[0].data.slice(5, 10));
  for (const model of ["tiny", "tiny_onnx"]) {
    const { body: b, headers } = binaryInfer(
      [{ name: "input", datatype: "FP32", shape: [3, 3, R, R], bytes: Buffer.from(data.buffer) }],
      [{ name: "probabilities", parameters: { binary_data: true } }],
    );
    const r = await infer(model, b, headers);
    assert.equal(r.status, 200, r.body.toString());
    const headerLength = Number(r.headers["inference-header-content-length"]);
    const out = r.body.subarray(headerLength);
    const probs = new Float32Array(out.buffer.slice(out.byteOffset, out.byteOffset + out.length));
    assert.ok(relativeError(probs, expected) < 1e-5, `${model}: binary probabilities differ from the Predictor's`);
  }
});

test("encoded images (PNG, JPEG, WebP) as BYTES, with the classification extension, match Predictor.classifyFiles", async () => {
  const images = await Promise.all([encodedImage(1, "png"), encodedImage(2, "jpeg", 120, 64), encodedImage(3, "webp", 64, 100)]);
  const files = images.map((b, i) => {
    const f = join(dir, `img${i}`);
    writeFileSync(f, b);
    return f;
  });
  const expected = await reference.classifyFiles(files, 3);
  const client = new InferenceClient(server.url);
  const got = await client.classifyImages("tiny", images, 3);
  assert.equal(got.length, 3);
  got.forEach((rows, i) => {
    assert.deepEqual(
      rows.map((c) => [c.label, c.index]),
      expected[i].top.map((p) => [p.label, p.index]),
    );
    rows.forEach((c, k) =>
      assert.ok(Math.abs(c.score - expected[i].top[k].probability) <= 1e-6, `${c.score} vs ${expected[i].top[k].probability}`),
    );
  });
  // JSON BYTES are base64 strings; the response is "<value>:<index>:<label>".
  const r = await infer(
    "tiny",
    jsonBody({
      inputs: [{ name: "image", datatype: "BYTES", shape: [1], data: [images[0].toString("base64")] }],
      outputs: [{ name: "logits", parameters: { classification: 2 } }],
    }),
  );
  const out = JSON.parse(r.body.toString()).outputs[0];
  assert.equal(out.datatype, "BYTES");
  assert.deepEqual(out.shape, [1, 2]);
  assert.match(out.data[0], /^-?\d+\.\d{6}:\d:(cat|dog|fox|owl|a:b)$/);
});

test("bad requests: 400 for malformed, wrong shape or datatype, not an image; 413 too large; 404 unknown model", async () => {
  await expectError(infer("tiny", Buffer.from("{not json")), 400, /not valid JSON/);
  await expectError(
    infer("tiny", jsonBody({ inputs: [{ name: "input", datatype: "FP32", shape: [1, 3, 32, 32], data: new Array(3 * 32 * 32).fill(0) }] })),
    400,
    /must have shape \[N, 3, 64, 64\] for model tiny, got \[1,3,32,32\]/,
  );
  await expectError(
    infer("tiny", jsonBody({ inputs: [{ name: "input", datatype: "INT64", shape: [1], data: [1] }] })),
    400,
    /datatype "INT64" is not supported/,
  );
  await expectError(
    infer("tiny", jsonBody({ inputs: [{ name: "input", datatype: "BYTES", shape: [1], data: ["AAAA"] }] })),
    400,
    /input input must be FP32/,
  );
  await expectError(
    infer("tiny", jsonBody({ inputs: [{ name: "pixels", datatype: "FP32", shape: [1], data: [1] }] })),
    400,
    /unknown input "pixels"/,
  );
  const text = bytesElements([Buffer.from("this is not an image")]);
  const notImage = binaryInfer([{ name: "image", datatype: "BYTES", shape: [1], bytes: text }]);
  await expectError(infer("tiny", notImage.body, notImage.headers), 400, /image 0: not an image/);
  const tooMany = randomBatch(MAX_BATCH + 1, 5);
  const big = binaryInfer([{ name: "input", datatype: "FP32", shape: [MAX_BATCH + 1, 3, R, R], bytes: Buffer.from(tooMany.buffer) }]);
  await expectError(infer("tiny", big.body, big.headers), 400, /batch of 9 exceeds model tiny's max_batch_size 8/);
  await expectError(
    infer(
      "tiny",
      jsonBody({
        inputs: [{ name: "input", datatype: "FP32", shape: [1, 3, R, R], data: new Array(IMAGE_SIZE).fill(0) }],
        outputs: [{ name: "softmax" }],
      }),
    ),
    400,
    /unknown output "softmax"/,
  );
  await expectError(infer("tiny", Buffer.alloc(5 * 1024 * 1024, 32)), 413, /exceeds the limit of 4194304 bytes/);
  await expectError(infer("nope", jsonBody({})), 404, /unknown model "nope"/);
});

test("an image bomb is refused from its header without the server's memory growing", async () => {
  const bomb = blackPng(8000, 8000); // 64 M pixels = 192 MB decoded, over the 4 M pixel limit
  assert.ok(bomb.length < 1024 * 1024, `the bomb is ${bomb.length} bytes`);
  const fits = blackPng(1000, 800);
  const rssBefore = process.memoryUsage().rss;
  const req = binaryInfer([{ name: "image", datatype: "BYTES", shape: [1], bytes: bytesElements([bomb]) }]);
  for (let i = 0; i < 3; i++)
    await expectError(infer("tiny", req.body, req.headers), 413, /8000x8000 = 64000000 pixels exceeds the limit of 4000000/);
  const grown = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
  assert.ok(grown < 64, `RSS grew by ${grown.toFixed(0)} MB while refusing the bomb`);
  // It is a real bomb: decoded, it takes 192 MB.
  const decoded = await sharp(bomb).raw().toBuffer();
  assert.equal(decoded.length, 8000 * 8000 * 3);
  // The same kind of file within the limit is decoded and classified.
  const ok = binaryInfer([{ name: "image", datatype: "BYTES", shape: [1], bytes: bytesElements([fits]) }]);
  assert.equal((await infer("tiny", ok.body, ok.headers)).status, 200);
});

test("200 concurrent requests of mixed batch sizes: all answered, each with its own rows", async () => {
  const sizes = Array.from({ length: 200 }, (_, i) => 1 + ((i * 5) % 4));
  const batches = sizes.map((n, i) => randomBatch(n, 100 + i));
  const before = await metricValues();
  const responses = await Promise.all(
    batches.map((data, i) => {
      const { body, headers } = binaryInfer(
        [{ name: "input", datatype: "FP32", shape: [sizes[i], 3, R, R], bytes: Buffer.from(data.buffer) }],
        [{ name: "probabilities", parameters: { binary_data: true } }],
      );
      return infer(i % 2 ? "tiny" : "tiny_onnx", body, headers);
    }),
  );
  for (let i = 0; i < responses.length; i++) {
    const r = responses[i];
    assert.equal(r.status, 200, r.body.toString());
    const start = Number(r.headers["inference-header-content-length"]);
    const bytes = r.body.subarray(start);
    const got = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
    const expected = await referenceProbabilities(batches[i], sizes[i]);
    assert.ok(relativeError(got, expected) < 1e-5, `request ${i} (${sizes[i]} rows) got rows that are not its own`);
  }
  const after = await metricValues();
  const rows = sizes.reduce((a, b) => a + b, 0);
  const delta = (key: string) => (after.get(key) ?? 0) - (before.get(key) ?? 0);
  const count = delta('nv_inference_count{model="tiny",version="1"}') + delta('nv_inference_count{model="tiny_onnx",version="1"}');
  const execs =
    delta('nv_inference_exec_count{model="tiny",version="1"}') + delta('nv_inference_exec_count{model="tiny_onnx",version="1"}');
  assert.equal(count, rows);
  assert.ok(execs < 200, `200 requests ran in ${execs} executions: no batching`);
  assert.equal(delta('nv_inference_request_success{model="tiny",version="1"}'), 100);
});

async function metricValues(): Promise<Map<string, number>> {
  const r = await http(url("/metrics"), "GET");
  assert.equal(r.status, 200);
  assert.match(String(r.headers["content-type"]), /^text\/plain/);
  const values = new Map<string, number>();
  for (const line of r.body.toString().split("\n")) {
    const m = /^(\S+) (\S+)$/.exec(line);
    if (m && !line.startsWith("#")) values.set(m[1], Number(m[2]));
  }
  return values;
}

test("metrics counters move as requests are made", async () => {
  const before = await metricValues();
  const data = randomBatch(2, 9);
  const ok = binaryInfer([{ name: "input", datatype: "FP32", shape: [2, 3, R, R], bytes: Buffer.from(data.buffer) }]);
  assert.equal((await infer("tiny", ok.body, ok.headers)).status, 200);
  assert.equal((await infer("tiny", Buffer.from("{"))).status, 400);
  const after = await metricValues();
  const d = (k: string) => (after.get(k) ?? 0) - (before.get(k) ?? 0);
  assert.equal(d('nv_inference_request_success{model="tiny",version="1"}'), 1);
  assert.equal(d('nv_inference_request_failure{model="tiny",version="1",reason="REJECTED"}'), 1);
  assert.equal(d('nv_inference_count{model="tiny",version="1"}'), 2);
  assert.equal(d('nv_inference_exec_count{model="tiny",version="1"}'), 1);
  assert.ok(d('nv_inference_compute_infer_duration_us{model="tiny",version="1"}') > 0);
  assert.ok(
    d('nv_inference_request_duration_us{model="tiny",version="1"}') >=
      d('nv_inference_compute_infer_duration_us{model="tiny",version="1"}'),
  );
  assert.equal(d('convzoo_batch_size_count{model="tiny",version="1"}'), 1);
  assert.equal(d('convzoo_http_responses{code="400"}'), 1);
  assert.ok((after.get("process_resident_memory_bytes") ?? 0) > 0);
});

test("one JSON log line per request", () => {
  const lines = logLines.map((l) => JSON.parse(l));
  assert.ok(lines.length > 200);
  const infers = lines.filter((l) => l.path === "/v2/models/tiny/infer" && l.status === 200);
  assert.ok(infers.every((l) => typeof l.ms === "number" && l.rows >= 1 && l.batch >= l.rows && l.method === "POST"));
  assert.ok(lines.some((l) => l.status === 413 && /exceeds the limit/.test(l.error)));
});

test("a request whose body does not arrive in time is cut off (408), and the server keeps serving", async () => {
  const model = tinyModel();
  const s = await InferenceServer.start([predictorSource("tiny", await predictor(model, "logits"))], options({ requestTimeoutMs: 500 }));
  try {
    const { connect } = await import("node:net");
    const { port } = new URL(s.url);
    const socket = connect(Number(port), "127.0.0.1");
    let reply = "";
    socket.on("data", (d) => (reply += d.toString()));
    const closed = new Promise((r) => socket.on("close", r));
    // Headers promise 1000 bytes; 10 arrive, then nothing.
    socket.write('POST /v2/models/tiny/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"inputs":');
    const t0 = performance.now();
    await closed;
    const waited = performance.now() - t0;
    assert.match(reply, /^HTTP\/1\.1 408 /);
    assert.ok(waited >= 400 && waited < 10_000, `cut off after ${waited.toFixed(0)} ms`);
    assert.equal((await http(`${s.url}/v2/health/ready`, "GET")).status, 200);
  } finally {
    await s.close();
  }
});

test("a bearer token guards everything but the health probes", async () => {
  const model = tinyModel();
  const guarded = await InferenceServer.start([predictorSource("tiny", await predictor(model, "logits"))], options({ apiKey: "s3cret" }));
  try {
    const u = (p: string) => `${guarded.url}${p}`;
    assert.equal((await http(u("/v2/health/ready"), "GET")).status, 200);
    const denied = await http(u("/v2/models/tiny"), "GET");
    assert.equal(denied.status, 401);
    assert.equal(denied.headers["www-authenticate"], "Bearer");
    assert.equal((await http(u("/v2/models/tiny"), "GET", undefined, { Authorization: "Bearer wrong" })).status, 401);
    assert.equal((await http(u("/metrics"), "GET")).status, 401);
    const client = new InferenceClient(guarded.url, { apiKey: "s3cret" });
    const probs = await client.inferTensor("tiny", randomBatch(1, 4), [1, 3, R, R]);
    assert.equal(probs.length, 5);
    await assert.rejects(new InferenceClient(guarded.url).metadata("tiny"), /401 missing or wrong bearer token/);
  } finally {
    await guarded.close();
  }
});

test("graceful shutdown: requests in flight finish, new ones get 503, then the port closes", async () => {
  const model = tinyModel();
  const real = predictorSource("tiny", await predictor(model, "logits"));
  // A slow model (100 ms per batch), so that all 12 requests are in flight when the shutdown starts.
  const slow = {
    ...real,
    run: async (batch: Parameters<typeof real.run>[0]) => (await new Promise((r) => setTimeout(r, 100)), real.run(batch)),
  };
  const s = await InferenceServer.start([slow], options());
  const u = `${s.url}/v2/models/tiny/infer`;
  const inflight = Array.from({ length: 12 }, (_, i) => {
    const { body, headers } = binaryInfer([
      { name: "input", datatype: "FP32", shape: [8, 3, R, R], bytes: Buffer.from(randomBatch(8, 300 + i).buffer) },
    ]);
    return http(u, "POST", body, headers);
  });
  // Once all 12 have arrived, stop while they are being received, queued or run.
  for (let i = 0; i < 1000 && s.inFlight < 12; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(s.inFlight, 12);
  const closing = s.close();
  assert.equal(s.ready, false);
  const late = await http(`${s.url}/v2/health/ready`, "GET");
  assert.equal(late.status, 503);
  const lateInfer = await http(u, "POST", jsonBody({ inputs: [] }));
  assert.equal(lateInfer.status, 503);
  assert.match(JSON.parse(lateInfer.body.toString()).error, /shutting down/);
  const statuses = (await Promise.all(inflight)).map((r) => r.status);
  await closing;
  assert.deepEqual(statuses, new Array(12).fill(200));
  await assert.rejects(http(`${s.url}/v2/health/live`, "GET"), /ECONNREFUSED/);
});
