/**
 * Tiny files that claim huge allocations, damaged archives and non-finite weights (issue 15, points 2-4):
 * each is refused with one message naming the file and what was expected, fast, without the allocation.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { zipSync } from "fflate";
import { InputFileError, WeightsError } from "../../src/errors.js";
import { loadModel } from "../../src/inference/load.js";
import "../../src/models/index.js";
import { initializeWeights } from "../../src/models/bind.js";
import { createModel } from "../../src/models/registry.js";
import { fromOnnx } from "../../src/onnx/serialize.js";
import type { Tensor } from "../../src/tensor.js";
import { readWeightsFile, saveCheckpoint } from "../../src/weights/files.js";
import { nonFiniteTensors } from "../../src/weights/finite.js";
import { readKerasH5 } from "../../src/weights/keras.js";
import { stateDict } from "../../src/weights/load.js";
import { readPth } from "../../src/weights/pth.js";
import { readSafetensors, writeSafetensors } from "../../src/weights/safetensors.js";
import { decodeMetadata } from "../../src/weights/checkpoint.js";
import { crc32 } from "../../src/weights/zip.js";
import { assertWeightsError, orderedDict, P, pickle, tensorRecord, type Op } from "./helpers.js";

const dir = mkdtempSync(join(tmpdir(), "convzoo-hostile-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const f32 = (values: number[]) => new Uint8Array(Float32Array.from(values).buffer);

/** `{"w": tensorRecord(...)}` over a 4-float storage. */
function viewArchive(size: number[], stride: number[], extra: Record<string, Uint8Array> = {}): Uint8Array {
  const pkl = pickle(
    P.proto(2),
    orderedDict(),
    P.str("w"),
    tensorRecord({ cls: "FloatStorage", key: "0", numel: 4, offset: 0, size, stride }),
    P.setitem(),
    P.stop(),
  );
  return zipSync({ "a/data.pkl": pkl, "a/data/0": f32([1, 2, 3, 4]), ...extra }, { level: 0 });
}

/** Runs `fn` and returns how much the resident set grew meanwhile (MB), to show nothing big was allocated. */
function rssGrowthMB(fn: () => void): number {
  const before = process.memoryUsage().rss;
  fn();
  return (process.memoryUsage().rss - before) / 2 ** 20;
}

test("a zero-stride view of 64k x 64k elements over a 4-float storage is refused without allocating it", () => {
  const zip = viewArchive([65536, 65536], [0, 0]);
  const grew = rssGrowthMB(() =>
    assertWeightsError(
      () => readPth(zip, "zero.pth"),
      /^zero\.pth: corrupt or crafted checkpoint: tensor "w" \(a\/data\/0\) of shape \[65536, 65536\] and stride \[0, 0\] would take 17179869184 bytes; the tensors of this \d+-byte file may take at most 4× its size$/,
    ),
  );
  assert.ok(grew < 64, `RSS grew ${grew.toFixed(0)} MB`);
  // A small expanded view (torch's expand) still loads: 8 elements from a 4-element storage.
  assert.deepEqual(readPth(viewArchive([2, 4], [0, 1]), "expand.pth").get("w")?.data, Float32Array.from([1, 2, 3, 4, 1, 2, 3, 4]));
});

test("one storage repeated under many keys (memo references) cannot multiply past the file's budget", () => {
  // 300 keys naming the same 256 KB tensor (BINGET of the memoised record): 75 MB from a 262 KB file.
  const numel = 65536;
  const ops = [P.proto(2), orderedDict(), P.mark(), P.str("k0")];
  ops.push(tensorRecord({ cls: "FloatStorage", key: "0", numel, offset: 0, size: [numel], stride: [1] }), P.put(1));
  for (let i = 1; i < 300; i++) ops.push(P.str(`k${i}`), P.get(1));
  ops.push(P.setitems(), P.stop());
  const zip = zipSync({ "a/data.pkl": pickle(...ops), "a/data/0": new Uint8Array(numel * 4) }, { level: 0 });
  assertWeightsError(
    () => readPth(zip, "many.pth"),
    /^many\.pth: corrupt or crafted checkpoint: tensor "k\d+" .* would take 262144 bytes; the tensors of this \d+-byte file may take at most 4× its size$/,
  );
});

test("a deflate bomb record: unused it costs nothing, used it is refused; a declared size deflate cannot reach is refused", () => {
  const zeros = new Uint8Array(16 << 20); // 16 MB of zeros deflate to ~16 KB
  const bomb = zipSync({ bomb: [zeros, { level: 9 }] });
  assert.ok(bomb.length < 64 << 10, `the bomb is ${bomb.length} bytes`);
  // Unused: the archive loads, and the 16 MB are never inflated.
  const unused = zipSync(
    { "a/data.pkl": viewArchiveEntries().pkl, "a/data/0": f32([1, 2, 3, 4]), "a/bomb": [zeros, { level: 9 }] },
    { level: 0 },
  );
  const grew = rssGrowthMB(() => assert.deepEqual([...readPth(unused, "unused.pth").keys()], ["w"]));
  assert.ok(grew < 12, `RSS grew ${grew.toFixed(0)} MB`);
  // Used as the tensor's storage: refused before inflating.
  const numel = zeros.length / 4;
  const pkl = pickle(
    P.proto(2),
    orderedDict(),
    P.str("w"),
    tensorRecord({ cls: "FloatStorage", key: "0", numel, offset: 0, size: [numel], stride: [1] }),
    P.setitem(),
    P.stop(),
  );
  const used = zipSync({ "a/data.pkl": [pkl, { level: 0 }], "a/data/0": [zeros, { level: 9 }] });
  assertWeightsError(
    () => readPth(used, "used.pth"),
    /^used\.pth: zip entry "a\/data\/0" would inflate to 16777216 bytes, bringing the archive's inflated total past 100× its \d+ bytes \(a zip bomb\?\)$/,
  );
  // A central directory declaring 4 GB for a few hundred compressed bytes.
  const small = zipSync({ "a/data.pkl": [pkl, { level: 0 }], "a/data/0": [new Uint8Array(1024), { level: 9 }] });
  const central = findCentralEntry(small, "a/data/0");
  new DataView(small.buffer).setUint32(central + 24, 0xfffffff0, true);
  assertWeightsError(
    () => readPth(small, "declared.pth"),
    /^declared\.pth: zip entry "a\/data\/0" declares 4294967280 bytes inflated from \d+: more than deflate can produce \(a zip bomb\?\)$/,
  );
});

function viewArchiveEntries(): { pkl: Uint8Array } {
  return {
    pkl: pickle(
      P.proto(2),
      orderedDict(),
      P.str("w"),
      tensorRecord({ cls: "FloatStorage", key: "0", numel: 4, offset: 0, size: [4], stride: [1] }),
      P.setitem(),
      P.stop(),
    ),
  };
}

/** Offset of the central-directory record of `name`. */
function findCentralEntry(zip: Uint8Array, name: string): number {
  const view = new DataView(zip.buffer, zip.byteOffset);
  const wanted = new TextEncoder().encode(name);
  for (let at = 0; at + 46 < zip.length; at++) {
    if (view.getUint32(at, true) !== 0x02014b50) continue;
    const length = view.getUint16(at + 28, true);
    if (length === wanted.length && wanted.every((b, i) => zip[at + 46 + i] === b)) return at;
  }
  throw new Error(`no central entry ${name}`);
}

test("a stored record whose bytes changed fails its CRC-32 (torch would load it silently)", async () => {
  const zip = viewArchive([4], [1]);
  assert.deepEqual(readPth(zip, "ok.pth").get("w")?.data, Float32Array.from([1, 2, 3, 4]));
  // Flip one bit of the first float (1.0f = 00 00 80 3f) inside the stored record.
  const at = zip.findIndex((_, i) => zip[i] === 0x00 && zip[i + 1] === 0x00 && zip[i + 2] === 0x80 && zip[i + 3] === 0x3f);
  zip[at + 2] ^= 0x01;
  assertWeightsError(
    () => readPth(zip, "flipped.pth"),
    /^flipped\.pth: corrupt checkpoint: zip entry "a\/data\/0" fails its CRC-32 check \(stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\); the file is damaged$/,
  );
  // The same through readWeightsFile (Node's native zlib.crc32).
  const path = join(dir, "flipped.pth");
  writeFileSync(path, zip);
  await assert.rejects(
    readWeightsFile(path),
    (e: unknown) =>
      e instanceof WeightsError && e.message.startsWith(`${path}: corrupt checkpoint: zip entry "a/data/0" fails its CRC-32 check`),
  );
});

test("crc32 agrees with zlib (values from Python's zlib.crc32) and with the bytewise definition", () => {
  const enc = new TextEncoder();
  assert.equal(crc32(enc.encode("")), 0);
  assert.equal(crc32(enc.encode("123456789")), 0xcbf43926); // the CRC-32 check value (ISO 3309 / ITU-T V.42)
  assert.equal(crc32(enc.encode("The quick brown fox jumps over the lazy dog")), 0x414fa339);
  const big = Uint8Array.from({ length: 1003 }, (_, i) => (i * 31) & 0xff);
  // Slicing-by-8 and the byte loop must agree on every split of a long input.
  const bytewise = (b: Uint8Array) => {
    let c = 0xffffffff;
    for (const x of b) {
      c ^= x;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    }
    return (c ^ 0xffffffff) >>> 0;
  };
  assert.equal(crc32(big), bytewise(big));
});

test("a pickle integer of a million bytes (LONG4, quadratic to decode) is refused at once", () => {
  const n = 1 << 20;
  const long4 = new Uint8Array(5 + n);
  long4[0] = 0x8b;
  new DataView(long4.buffer).setInt32(1, n, true);
  const pkl = Uint8Array.from([...pickle(P.proto(2)), ...long4, 0x2e]);
  const zip = zipSync({ "a/data.pkl": pkl }, { level: 0 });
  const start = performance.now();
  assertWeightsError(
    () => readPth(zip, "long.pth"),
    /^long\.pth: unsupported pickle: LONG4 at byte 2 is a 1048576-byte integer \(at most 256\)$/,
  );
  assert.ok(performance.now() - start < 1000);
});

async function checkpoint(
  name: string,
  tensors: Map<string, Tensor>,
  numClasses: number,
  extra: Record<string, unknown> = {},
): Promise<string> {
  const path = join(dir, name);
  await saveCheckpoint(path, tensors, { arch: "resnet18", options: { numClasses }, ...extra });
  return path;
}

test("checkpoint metadata declaring millions of classes is refused before a model is built", async () => {
  const tiny = new Map<string, Tensor>([["fc.bias", { dtype: "float32", shape: [3], data: new Float32Array(3) }]]);
  const path = await checkpoint("millions.safetensors", tiny, 5_000_000);
  await assert.rejects(
    readWeightsFile(path),
    (e: unknown) =>
      e instanceof WeightsError &&
      e.message ===
        `${path}: metadata declares 5000000 classes, but the file's tensors hold only 3 values (a classifier for N classes has at least N)`,
  );
  // A whole resnet18 (11 M values) declaring 1 M classes: its classifier says 4 (would re-initialise fc at 1 M × 512).
  const model = initializeWeights(createModel("resnet18", { numClasses: 4 }), 1);
  const liar = await checkpoint("liar.safetensors", stateDict(model), 1_000_000);
  const before = process.memoryUsage().rss;
  await assert.rejects(
    loadModel({ weights: liar }),
    (e: unknown) =>
      e instanceof WeightsError &&
      e.message === `${liar}: metadata declares 1000000 classes, but its classifier fc.weight has 4 outputs (shape [4, 512])`,
  );
  assert.ok(process.memoryUsage().rss - before < 512 << 20);
});

test("weights holding NaN or Inf are refused at load naming the tensors; allowNonFinite loads them", async () => {
  const model = initializeWeights(createModel("resnet18", { numClasses: 4 }), 1);
  const sd = stateDict(model);
  const fcw = sd.get("fc.weight")!.data as Float32Array;
  fcw[0] = NaN;
  fcw[5] = Infinity;
  (sd.get("layer1.0.bn1.running_var")!.data as Float32Array)[2] = -Infinity;
  const path = await checkpoint("nan.safetensors", sd, 4);
  await assert.rejects(
    loadModel({ weights: path }),
    (e: unknown) =>
      e instanceof WeightsError &&
      e.message ===
        `${path}: 2 tensors hold NaN or infinite values: layer1.0.bn1.running_var (1 of 64), fc.weight (2 of 2048); ` +
          "a diverged or damaged checkpoint would predict NaN (--allow-non-finite loads them anyway)",
  );
  const loaded = await loadModel({ weights: path, allowNonFinite: true });
  assert.ok(Number.isNaN((new Map(loaded.model.net.namedParameters()).get("fc.weight")!.tensor.data as Float32Array)[0]));
  // float16 NaN/Inf are found on their bits; finite values (largest half, subnormals) are not.
  const half = Uint16Array.from([0x7bff, 0x0001, 0x7c00, 0xfe00, 0x3c00]);
  assert.deepEqual(nonFiniteTensors(new Map([["h", { dtype: "float16", shape: [5], data: half } as Tensor]])), [
    { key: "h", count: 2, numel: 5 },
  ]);
});

test("a weights file that is a FIFO or a character device is refused without opening a read that never ends", async () => {
  const fifo = join(dir, "weights.pth");
  execFileSync("mkfifo", [fifo]);
  const start = performance.now();
  await assert.rejects(
    readWeightsFile(fifo),
    (e: unknown) => e instanceof InputFileError && e.message === `${fifo}: is a FIFO (named pipe), not a regular file; expected a file`,
  );
  await assert.rejects(
    readWeightsFile("/dev/zero"),
    (e: unknown) => e instanceof InputFileError && e.message === "/dev/zero: is a character device, not a regular file; expected a file",
  );
  const h5 = join(dir, "keras.h5");
  execFileSync("mkfifo", [h5]);
  await assert.rejects(
    readKerasH5(h5),
    (e: unknown) =>
      e instanceof InputFileError && e.message === `${h5}: is a FIFO (named pipe), not a regular file; expected a Keras .h5 file`,
  );
  assert.ok(performance.now() - start < 2000);
});

test("ONNX bytes that are not a model are WeightsErrors naming the source", () => {
  assert.throws(
    () => fromOnnx(Uint8Array.from([0x3a, 0x10, 0x01]) /* graph: 16 bytes announced, 1 given */, "bad.onnx"),
    (e: unknown) => e instanceof WeightsError && /^bad\.onnx: not an ONNX model or truncated \(/.test(e.message),
  );
  assert.throws(
    () => fromOnnx(new Uint8Array(0), "empty.onnx"),
    (e: unknown) => e instanceof WeightsError && e.message === "empty.onnx: not an ONNX model: it has no graph",
  );
});

test("a safetensors header of 1000 tensors of shape [2^40, 0] holds nothing and allocates nothing", () => {
  const entries: [string, Tensor][] = Array.from({ length: 1000 }, (_, i) => [
    `t${i}`,
    { dtype: "float32", shape: [2 ** 40, 0], data: new Float32Array(0) } as Tensor,
  ]);
  const bytes = writeSafetensors(entries);
  writeFileSync(join(dir, "empty-shapes.safetensors"), bytes);
  return readWeightsFile(join(dir, "empty-shapes.safetensors")).then((f) => assert.equal(f.tensors.size, 1000));
});

test("stored records at any alignment read the same, from a Uint8Array or a Node Buffer", () => {
  const pkl = viewArchiveEntries().pkl;
  for (let pad = 0; pad < 4; pad++) {
    // An empty entry with a name of `pad` more bytes shifts the storage record's offset by `pad`.
    const files = { "a/data.pkl": pkl, [`a/${"x".repeat(pad + 1)}`]: new Uint8Array(0), "a/data/0": f32([1, 2, 3, 4]) };
    const zip = zipSync(files, { level: 0 });
    for (const bytes of [zip, Buffer.from(zip)])
      assert.deepEqual(readPth(bytes, "aligned.pth").get("w")?.data, Float32Array.from([1, 2, 3, 4]));
  }
});

test("tensor rebuilds nested through a list that contains itself, or 10,000 deep, are refused (no stack overflow)", () => {
  const rebuild = P.global("torch._tensor", "_rebuild_from_type_v2");
  const tensorType = P.global("torch", "Tensor");
  // args = L where L = [rebuild, Tensor, L, None]: each call would rebuild from L again, forever.
  const cyclic = pickle(
    P.proto(2),
    P.emptyDict(),
    P.str("w"),
    rebuild,
    P.emptyList(),
    P.put(0),
    P.mark(),
    rebuild,
    tensorType,
    P.get(0),
    P.none(),
    P.appends(),
    P.reduce(),
    P.setitem(),
    P.stop(),
  );
  assertWeightsError(
    () => readPth(zipSync({ "a/data.pkl": cyclic }, { level: 0 }), "cyclic.pth"),
    /^cyclic\.pth: corrupt pickle: torch\._tensor\._rebuild_from_type_v2 at byte \d+ called with a list of 4 instead of an argument tuple$/,
  );
  // (rebuild, Tensor, (rebuild, Tensor, (… 10,000 levels …), None), None) as nested tuples.
  const deep: Op[] = [P.proto(2), P.emptyDict(), P.str("w"), rebuild];
  for (let i = 0; i < 10_000; i++) deep.push(P.mark(), rebuild, tensorType);
  deep.push(P.emptyTuple());
  for (let i = 0; i < 10_000; i++) deep.push(P.none(), P.tuple());
  deep.push(P.reduce(), P.setitem(), P.stop());
  assertWeightsError(
    () => readPth(zipSync({ "a/data.pkl": pickle(...deep) }, { level: 0 }), "deep.pth"),
    /^deep\.pth: corrupt pickle: REDUCE at byte \d+ nests tensor rebuilds more than 4 deep$/,
  );
});

test("values nested 200,000 deep in a safetensors header or in metadata are refused with a short preview (no stack overflow)", () => {
  const deep = `${"[".repeat(200_000)}${"]".repeat(200_000)}`;
  const file = (header: string) => {
    const h = new TextEncoder().encode(header);
    const b = new Uint8Array(8 + h.length);
    new DataView(b.buffer).setBigUint64(0, BigInt(h.length), true);
    b.set(h, 8);
    return b;
  };
  assertWeightsError(
    () => readSafetensors(file(`{"t":{"dtype":"F32","shape":${deep},"data_offsets":[0,0]}}`), "deep.safetensors"),
    /^deep\.safetensors: corrupt header: tensor "t" shape should be a list of non-negative integers, found \[\[\[…\]\]\]$/,
  );
  assertWeightsError(
    () => readSafetensors(file(`{"__metadata__":{"a":${deep}}}`), "deep.safetensors"),
    /^deep\.safetensors: corrupt header: __metadata__\["a"\] should be a string, found \[\[\[…\]\]\]$/,
  );
  assertWeightsError(
    () => decodeMetadata({ convzoo: `{"arch":"resnet18","options":{"numClasses":1},"preprocessing":${deep}}` }, "deep.safetensors"),
    /^deep\.safetensors: invalid preprocessing metadata: expected an object, got \[\[\[…\]\]\]$/,
  );
});
