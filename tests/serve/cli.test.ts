/**
 * The commands: `convzoo serve` as a process (ready line, classify --server equal to local classify,
 * SIGTERM with requests in flight → all answered, exit 0), its errors, and `convzoo export --triton`
 * whose config.pbtxt Debian's protoc parses against Triton's ModelConfig schema (the part convzoo writes, tests/fixtures/triton/).
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import { IMAGENET_EVAL } from "../../src/models/preprocessing.js";
import { stateDict } from "../../src/weights/load.js";
import { saveCheckpoint } from "../../src/weights/files.js";
import { CLI, convzoo } from "../helpers/cli.js";
import { binaryInfer, CLASSES, encodedImage, http, predictor, randomBatch, relativeError, RESOLUTION, tinyModel } from "./helpers.js";

const PROTO_DIR = fileURLToPath(new URL("../fixtures/triton/", import.meta.url));
const R = RESOLUTION;
const EXAMPLE = fileURLToPath(new URL("../../examples/serve_client.ts", import.meta.url));
let dir: string;
let weights: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "convzoo-serve-cli-"));
  weights = join(dir, "tiny.safetensors");
  const model = tinyModel();
  const preprocessing = { ...IMAGENET_EVAL, resizeSize: 73, cropSize: R };
  await saveCheckpoint(weights, stateDict(model), {
    arch: "resnet18",
    options: model.options,
    classes: CLASSES,
    resolution: R,
    preprocessing,
  });
});

after(() => rmSync(dir, { recursive: true, force: true }));

/** Starts `convzoo serve`; resolves with its URL once it reports ready. */
function startServer(
  args: string[],
): Promise<{ url: string; child: ReturnType<typeof spawn>; stderr: () => string; stdout: () => string }> {
  const child = spawn(process.execPath, [CLI, "serve", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not become ready:\n${err}`)), 60_000);
    child.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
      const m = /^ready: (http:\/\/\S+) /m.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1], child, stderr: () => err, stdout: () => out });
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code} before ready:\n${err}`));
    });
  });
}

test("convzoo serve: ready only when warm, classify --server equals local classify, SIGTERM drains and exits 0", async () => {
  const { url, child, stderr, stdout } = await startServer([
    "--weights",
    weights,
    "--name",
    "tiny",
    "--port",
    "0",
    "--max-batch-size",
    "4",
    "--log-json",
  ]);
  assert.match(stderr(), /listening on http:\/\/127\.0\.0\.1:\d+; warming up tiny\n/);
  const ready = await http(`${url}/v2/models/tiny/ready`, "GET");
  assert.equal(ready.status, 200);

  const images = await Promise.all([encodedImage(7, "jpeg"), encodedImage(8, "png")]);
  const files = images.map((b, i) => {
    const f = join(dir, `cli${i}.img`);
    writeFileSync(f, b);
    return f;
  });
  // The server is another process: spawnSync may block this one.
  const remote = convzoo("classify", ...files, "--server", url, "--model", "tiny", "--topk", "3", "--json");
  assert.equal(remote.status, 0, remote.stderr);
  const local = convzoo("classify", ...files, "--weights", weights, "--topk", "3", "--json");
  assert.equal(local.status, 0, local.stderr);
  const [r, l] = [JSON.parse(remote.stdout), JSON.parse(local.stdout)];
  assert.deepEqual(
    r.map((x: { file: string; top: { label: string }[] }) => [x.file, x.top.map((p) => p.label)]),
    l.map((x: { file: string; top: { label: string }[] }) => [x.file, x.top.map((p) => p.label)]),
  );
  r.forEach((x: { top: { probability: number }[] }, i: number) =>
    x.top.forEach((p, k) => assert.ok(Math.abs(p.probability - l[i].top[k].probability) <= 1e-6)),
  );
  // The README's client snippet (FP32 tensors + the classification extension) gives the same top 3.
  const example = spawnSync(process.execPath, ["--import", "tsx", EXAMPLE, url, "tiny", weights, ...files], { encoding: "utf8" });
  assert.equal(example.status, 0, example.stderr);
  const printed = example.stdout.trim().split("\n");
  l.forEach((x: { file: string; top: { label: string; probability: number }[] }, i: number) =>
    assert.equal(printed[i], `${x.file}: ${x.top.map((p) => `${p.label} ${p.probability.toFixed(4)}`).join(", ")}`),
  );
  const unknown = convzoo("classify", files[0], "--server", url, "--model", "nope");
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /^convzoo: error: http:\/\/127\.0\.0\.1:\d+: 404 unknown model "nope" \(serving: tiny\)\n$/);

  // Requests in flight, then SIGTERM: each is answered, and the process exits 0.
  const inflight = Array.from({ length: 40 }, (_, i) => {
    const { body, headers } = binaryInfer([
      { name: "input", datatype: "FP32", shape: [4, 3, R, R], bytes: Buffer.from(randomBatch(4, 50 + i).buffer) },
    ]);
    return http(`${url}/v2/models/tiny/infer`, "POST", body, headers);
  });
  // Wait (bounded) until the server holds several of them (its gauge counts the scrape too).
  let held = 0;
  for (let i = 0; i < 500 && held < 6; i++) {
    const text = (await http(`${url}/metrics`, "GET")).body.toString();
    held = Number(/^convzoo_requests_in_flight (\d+)$/m.exec(text)?.[1] ?? 0);
  }
  assert.ok(held >= 6, `only ${held} requests in flight`);
  const exited = new Promise<number | null>((res) => child.on("exit", (code) => res(code)));
  child.kill("SIGTERM");
  const statuses = (await Promise.allSettled(inflight)).map((p) => (p.status === "fulfilled" ? p.value.status : p.reason.code));
  assert.equal(await exited, 0);
  // Requests that reached the server before SIGTERM get 200, later ones 503 or a refused connection; none is cut off.
  assert.ok(
    statuses.every((s) => s === 200 || s === 503 || s === "ECONNREFUSED"),
    String(statuses),
  );
  assert.ok(statuses.filter((s) => s === 200).length >= held - 1, String(statuses));
  assert.match(stderr(), /SIGTERM: draining/);
  // One line per request: classify --server's, the example's, and each answered one.
  const logs = stdout()
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line));
  assert.equal(
    logs.filter((x) => x.path === "/v2/models/tiny/infer" && x.status === 200).length,
    2 + statuses.filter((s) => s === 200).length,
  );
});

test("convzoo serve: bad flags and files are one-line errors", () => {
  const none = convzoo("serve");
  assert.equal(none.status, 1);
  assert.equal(none.stderr, "convzoo: error: nothing to serve: give --weights F|NAME or --model name=weights\n");
  const badSpec = convzoo("serve", "--model", "oops");
  assert.equal(badSpec.stderr, "convzoo: error: --model oops: expected name=weights (a file, a registry name or an .onnx file)\n");
  const missing = convzoo("serve", "--model", `m=${join(dir, "missing.onnx")}`);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /^convzoo: error: .*missing\.onnx: no such file\n$/);
  const notOnnx = join(dir, "text.onnx");
  writeFileSync(notOnnx, "hello");
  assert.match(convzoo("serve", "--model", `m=${notOnnx}`).stderr, /^convzoo: error: .*text\.onnx: not an ONNX model/);
  const port = convzoo("serve", "--weights", weights, "--port", "70000");
  assert.equal(
    port.stderr,
    "convzoo: error: option '--port <P>' argument '70000' is invalid. --port must be an integer in [0, 65535], got 70000\n",
  );
  const key = convzoo("serve", "--weights", weights, "--api-key-file", join(dir, "nokey"));
  assert.match(key.stderr, /^convzoo: error: --api-key-file .*nokey: cannot be read \(ENOENT\)\n$/);
});

function protoc(args: string[], input: string) {
  return spawnSync("protoc", [`--proto_path=${PROTO_DIR}`, ...args, "model_config_subset.proto"], { input, encoding: "utf8" });
}

const hasProtoc = spawnSync("protoc", ["--version"]).status === 0;
const protocSkip =
  hasProtoc || process.env.CONVZOO_REQUIRE_TORCH === "1"
    ? false
    : "Debian's protoc is missing (apt-get install protobuf-compiler; CI installs it)";

test("export --triton writes a Triton model repository whose config.pbtxt Triton's ModelConfig schema accepts", {
  skip: protocSkip,
}, async () => {
  const repo = join(dir, "repo");
  const r = convzoo(
    "export",
    "--weights",
    weights,
    "--triton",
    repo,
    "--name",
    "tiny",
    "--max-batch-size",
    "16",
    "--max-queue-delay-ms",
    "1.5",
    "--instance-kind",
    "cpu",
    "--instances",
    "2",
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /wrote .*repo\/tiny \(Triton model/);
  const config = readFileSync(join(repo, "tiny", "config.pbtxt"), "utf8");
  assert.deepEqual(readFileSync(join(repo, "tiny", "labels.txt"), "utf8").split("\n"), [...CLASSES, ""]);

  // protoc parses the text against Triton's schema (unknown fields or enum values fail), then prints it back.
  const encoded = spawnSync("protoc", [`--proto_path=${PROTO_DIR}`, "--encode=inference.ModelConfig", "model_config_subset.proto"], {
    input: config,
  });
  assert.equal(encoded.status, 0, encoded.stderr?.toString());
  const decoded = spawnSync("protoc", [`--proto_path=${PROTO_DIR}`, "--decode=inference.ModelConfig", "model_config_subset.proto"], {
    input: encoded.stdout,
  });
  assert.equal(decoded.status, 0);
  const text = decoded.stdout.toString();
  for (const line of [
    'name: "tiny"',
    'platform: "onnxruntime_onnx"',
    "max_batch_size: 16",
    'name: "input"',
    "data_type: TYPE_FP32",
    "format: FORMAT_NCHW",
    "dims: 3",
    `dims: ${R}`,
    'name: "probabilities"',
    "dims: 5",
    'label_filename: "labels.txt"',
    "max_queue_delay_microseconds: 1500",
    "count: 2",
    "kind: KIND_CPU",
  ])
    assert.ok(text.includes(line), `${line} missing from protoc's reading:\n${text}`);
  // The check can fail: a misspelt field or enum value is rejected by the same parse.
  assert.notEqual(protoc(["--encode=inference.ModelConfig"], config.replace("max_batch_size", "max_batchsize")).status, 0);
  assert.notEqual(protoc(["--encode=inference.ModelConfig"], config.replace("KIND_CPU", "KIND_TPU")).status, 0);

  // The model Triton would load takes a variable batch and gives the Predictor's probabilities.
  const session = await ort.InferenceSession.create(join(repo, "tiny", "1", "model.onnx"));
  const reference = await predictor(tinyModel(), "probabilities");
  for (const n of [1, 3]) {
    const data = randomBatch(n, 70 + n);
    const out = await session.run({ input: new ort.Tensor("float32", data, [n, 3, R, R]) });
    const expected = await reference.predict({ dtype: "float32", shape: [n, 3, R, R], data });
    assert.ok(relativeError(out.probabilities.data as Float32Array, expected.data) < 1e-5);
  }
  await reference.release();
  await session.release();

  // Written again, the folder is replaced whole; a folder that is not a Triton model is left alone.
  assert.equal(convzoo("export", "--weights", weights, "--triton", repo, "--name", "tiny", "--logits").status, 0);
  assert.match(readFileSync(join(repo, "tiny", "config.pbtxt"), "utf8"), /name: "logits"/);
  writeFileSync(join(repo, "plain"), "x");
  const clash = convzoo("export", "--weights", weights, "--triton", repo, "--name", "plain");
  assert.equal(clash.status, 1);
  assert.match(clash.stderr, /plain exists and is not a Triton model folder/);
  assert.equal(readFileSync(join(repo, "plain"), "utf8"), "x");
  const features = convzoo("export", "--weights", weights, "--triton", repo, "--features");
  assert.equal(features.stderr, "convzoo: error: --triton serves a classifier: output probabilities or --logits, not --features\n");
  assert.equal(convzoo("export", "--weights", weights).stderr, "convzoo: error: export needs --out model.onnx, --triton DIR, or both\n");
  assert.ok(!existsSync(join(repo, "resnet18")));
});
