/** safetensors: round trips, the byte layout checked from Python, and every kind of bad input. */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { readSafetensors, writeSafetensors } from "../../src/weights/safetensors.js";
import { float32, toFloat32, type Tensor } from "../../src/tensor.js";
import { readWeightsFile } from "../../src/weights/files.js";
import { assertWeightsError, requirePython, runPython } from "./helpers.js";

const SRC = "model.safetensors";

/** One tensor of every dtype we write, plus a scalar and an empty tensor. */
function sampleTensors(): [string, Tensor][] {
  return [
    ["conv.weight", { dtype: "float32", shape: [2, 3], data: Float32Array.from([1.5, -2, 0.25, 3e-8, -0, 1e30]) }],
    ["half", { dtype: "float16", shape: [3], data: Uint16Array.from([0x3c00, 0xc000, 0x3555]) }], // 1, -2, 0.333
    ["double", { dtype: "float64", shape: [2], data: Float64Array.from([Math.PI, -1e-300]) }],
    ["bn.num_batches_tracked", { dtype: "int64", shape: [], data: BigInt64Array.from([123456789012n]) }],
    ["i32", { dtype: "int32", shape: [2], data: Int32Array.from([-(2 ** 31), 2 ** 31 - 1]) }],
    ["i8", { dtype: "int8", shape: [2], data: Int8Array.from([-128, 127]) }],
    ["u8", { dtype: "uint8", shape: [1, 2], data: Uint8Array.from([0, 255]) }],
    ["mask", { dtype: "bool", shape: [3], data: Uint8Array.from([1, 0, 1]) }],
    ["empty", { dtype: "float32", shape: [0, 4], data: new Float32Array(0) }],
  ];
}

/** A safetensors file from a raw header string and data bytes (for malformed inputs). */
function rawFile(header: string, data: Uint8Array | number[] = [], headerLength?: number): Uint8Array {
  const h = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength ?? h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

function headerOf(bytes: Uint8Array): { length: number; json: string } {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { length, json: new TextDecoder().decode(bytes.subarray(8, 8 + length)) };
}

test("round-trips every dtype, shapes, order and metadata", () => {
  const tensors = sampleTensors();
  const metadata = { format: "pt", "convzoo.arch": "resnet18", note: "ünïcode ✓" };
  const bytes = writeSafetensors(tensors, metadata);
  const file = readSafetensors(bytes, SRC);
  assert.deepEqual(file.metadata, metadata);
  assert.deepEqual(
    [...file.tensors.keys()],
    tensors.map(([k]) => k),
  );
  for (const [name, t] of tensors) {
    const got = file.tensors.get(name);
    assert.ok(got, name);
    assert.equal(got.dtype, t.dtype, name);
    assert.deepEqual(got.shape, t.shape, name);
    assert.equal(got.data.constructor, t.data.constructor, name);
    assert.deepEqual(Array.from(got.data as ArrayLike<number | bigint>), Array.from(t.data as ArrayLike<number | bigint>), name);
  }
  assert.deepEqual(Array.from(toFloat32(file.tensors.get("half")!).data), [1, -2, 0.333251953125]);
});

test("writes the standard layout: u64 LE header length, __metadata__ first, header padded to 8 bytes with spaces", () => {
  const bytes = writeSafetensors([["a", { dtype: "float32", shape: [1], data: Float32Array.from([1]) }]], { k: "v" });
  const { length, json } = headerOf(bytes);
  assert.equal((8 + length) % 8, 0);
  assert.equal(bytes.length, 8 + length + 4);
  assert.match(json, /^\{"__metadata__":\{"k":"v"\},"a":\{"dtype":"F32","shape":\[1\],"data_offsets":\[0,4\]\}\} *$/);
  // Without metadata there is no __metadata__ entry, and the reader returns {}.
  const plain = writeSafetensors([["a", { dtype: "float32", shape: [1], data: Float32Array.from([1]) }]]);
  assert.doesNotMatch(headerOf(plain).json, /__metadata__/);
  assert.deepEqual(readSafetensors(plain, SRC).metadata, {});
});

test("keeps the given order even for integer-like names, and reads tensors in byte order", () => {
  const names = ["10", "b", "2", "a"];
  const bytes = writeSafetensors(names.map((n, i) => [n, { dtype: "int32", shape: [1], data: Int32Array.from([i]) }]));
  const file = readSafetensors(bytes, SRC);
  assert.deepEqual([...file.tensors.keys()], names);
  assert.deepEqual(
    names.map((n) => (file.tensors.get(n)!.data as Int32Array)[0]),
    [0, 1, 2, 3],
  );
});

test("reads from unaligned input and writes tensors that are views into bigger buffers", () => {
  const backing = Float32Array.from([9, 9, 1, 2, 3, 9]);
  const view: Tensor = { dtype: "float32", shape: [3], data: backing.subarray(2, 5) };
  const odd: Tensor = { dtype: "float16", shape: [1], data: Uint16Array.from([0x3c00]) }; // shifts later tensors by 2 bytes
  const bytes = writeSafetensors([
    ["odd", odd],
    ["view", view],
  ]);
  const shifted = new Uint8Array(bytes.length + 1);
  shifted.set(bytes, 1);
  const file = readSafetensors(shifted.subarray(1), SRC);
  assert.deepEqual(Array.from(file.tensors.get("view")!.data as Float32Array), [1, 2, 3]);
});

test("widens BF16, I16 and U16 on read", () => {
  const data = new Uint8Array(12);
  const dv = new DataView(data.buffer);
  dv.setUint16(0, 0x3fc0, true); // bf16 1.5
  dv.setUint16(2, 0xc010, true); // bf16 -2.25
  dv.setInt16(4, -300, true);
  dv.setInt16(6, 301, true);
  dv.setUint16(8, 65535, true);
  dv.setUint16(10, 1, true);
  const header = JSON.stringify({
    b: { dtype: "BF16", shape: [2], data_offsets: [0, 4] },
    s: { dtype: "I16", shape: [2], data_offsets: [4, 8] },
    u: { dtype: "U16", shape: [2], data_offsets: [8, 12] },
  });
  const file = readSafetensors(rawFile(header, data), SRC);
  assert.deepEqual(file.tensors.get("b"), { dtype: "float32", shape: [2], data: Float32Array.from([1.5, -2.25]) });
  assert.deepEqual(file.tensors.get("s"), { dtype: "int32", shape: [2], data: Int32Array.from([-300, 301]) });
  assert.deepEqual(file.tensors.get("u"), { dtype: "int32", shape: [2], data: Int32Array.from([65535, 1]) });
});

test("rejects bad files with the file name, what was expected and what was found", () => {
  const good = writeSafetensors(sampleTensors(), { a: "b" });
  const big = writeSafetensors([["w", { dtype: "float32", shape: [1000], data: new Float32Array(1000) }]]);
  const entry = (o: object) => JSON.stringify(o);
  const cases: [string, () => unknown, RegExp][] = [
    [
      "too short for the length",
      () => readSafetensors(Uint8Array.from([1, 2, 3]), SRC),
      /^model\.safetensors: truncated: .*8-byte header length, file has 3 bytes$/,
    ],
    [
      "cut in half",
      () => readSafetensors(big.subarray(0, big.length >> 1), SRC),
      /^model\.safetensors: truncated: header says 4000 bytes of tensor data, file has 19\d\d$/,
    ],
    [
      "header cut",
      () => readSafetensors(good.subarray(0, 20), SRC),
      /^model\.safetensors: truncated: header says it is \d+ bytes long, file has only 12 bytes after the length$/,
    ],
    [
      "absurd header length",
      () => readSafetensors(rawFile("{}", [], 2 ** 40), SRC),
      /^model\.safetensors: not a safetensors file or corrupt: header length is 1099511627776 bytes/,
    ],
    [
      "not JSON",
      () => readSafetensors(rawFile('{"a": [1, 2'), SRC),
      /^model\.safetensors: corrupt header: expected 11 bytes of UTF-8 JSON, it does not parse/,
    ],
    [
      "not an object",
      () => readSafetensors(rawFile("[1]"), SRC),
      /^model\.safetensors: not a safetensors file or corrupt: header should be a JSON object starting with "\{", found byte 0x5b$/,
    ],
    [
      "offsets out of range",
      () => readSafetensors(rawFile(entry({ w: { dtype: "F32", shape: [4], data_offsets: [0, 16] } }), new Uint8Array(8)), SRC),
      /^model\.safetensors: truncated: header says 16 bytes of tensor data, file has 8$/,
    ],
    [
      "overlapping tensors",
      () =>
        readSafetensors(
          rawFile(
            entry({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, b: { dtype: "F32", shape: [2], data_offsets: [4, 12] } }),
            new Uint8Array(12),
          ),
          SRC,
        ),
      /^model\.safetensors: corrupt header: tensor "b" data_offsets \[4, 12\] overlap tensor "a", which ends at 8$/,
    ],
    [
      "a hole",
      () => readSafetensors(rawFile(entry({ a: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }), new Uint8Array(8)), SRC),
      /^model\.safetensors: corrupt header: tensor "a" begins at byte 4 but the previous tensor ends at 0/,
    ],
    [
      "size not shape × dtype",
      () => readSafetensors(rawFile(entry({ a: { dtype: "F32", shape: [2, 2], data_offsets: [0, 12] } }), new Uint8Array(12)), SRC),
      /^model\.safetensors: tensor "a" of shape \[2, 2\] and dtype F32 needs 16 bytes, its data_offsets \[0, 12\] hold 12$/,
    ],
    [
      "unknown dtype",
      () => readSafetensors(rawFile(entry({ a: { dtype: "F8_E4M3", shape: [2], data_offsets: [0, 2] } }), new Uint8Array(2)), SRC),
      /^model\.safetensors: tensor "a" has dtype F8_E4M3; expected one of F32, F16, F64, I64, I32, I8, U8, BOOL, BF16/,
    ],
    [
      "trailing bytes",
      () => readSafetensors(rawFile(entry({ a: { dtype: "U8", shape: [2], data_offsets: [0, 2] } }), new Uint8Array(5)), SRC),
      /^model\.safetensors: corrupt: header accounts for 2 bytes of tensor data, file has 5$/,
    ],
    [
      "bad shape",
      () => readSafetensors(rawFile(entry({ a: { dtype: "U8", shape: [-1], data_offsets: [0, 0] } })), SRC),
      /^model\.safetensors: corrupt header: tensor "a" shape should be a list of non-negative integers, found \[-1\]$/,
    ],
    [
      "bad offsets",
      () => readSafetensors(rawFile(entry({ a: { dtype: "U8", shape: [1], data_offsets: [1] } })), SRC),
      /^model\.safetensors: corrupt header: tensor "a" data_offsets should be \[begin, end\], found \[1\]$/,
    ],
    [
      "non-string metadata",
      () => readSafetensors(rawFile(entry({ __metadata__: { epoch: 3 } })), SRC),
      /^model\.safetensors: corrupt header: __metadata__\["epoch"\] should be a string, found 3$/,
    ],
  ];
  for (const [what, fn, pattern] of cases) {
    assert.doesNotThrow(() => {
      assertWeightsError(fn, pattern);
    }, what);
  }
});

test("refuses to write inconsistent tensors", () => {
  assertWeightsError(
    () => writeSafetensors([["w", { dtype: "float32", shape: [2, 2], data: new Float32Array(3) }]]),
    /^safetensors: cannot write tensor "w": shape \[2, 2\] needs 4 elements, data has 3$/,
  );
  const t: Tensor = { dtype: "float32", shape: [1], data: new Float32Array(1) };
  assertWeightsError(
    () =>
      writeSafetensors([
        ["w", t],
        ["w", t],
      ]),
    /tensor "w" twice/,
  );
  assertWeightsError(() => writeSafetensors([["__metadata__", t]]), /reserved/);
});

/**
 * Python reads our bytes with nothing but json and struct (Debian's python3 has no `safetensors`
 * package), following the format spec, and checks the layout the Python library also checks.
 */
const PY_READER = String.raw`
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
assert (8 + n) % 8 == 0, "header not padded to 8 bytes"
text = raw[8:8 + n].decode("utf-8")
assert text.rstrip(" ") == text.rstrip(), "padding is not spaces"
header = json.loads(text)
data = raw[8 + n:]
fmt = {"F32": "f", "F16": "e", "F64": "d", "I64": "q", "I32": "i", "I8": "b", "U8": "B", "BOOL": "?"}
out, end = {}, 0
for name, info in sorted(((k, v) for k, v in header.items() if k != "__metadata__"), key=lambda kv: kv[1]["data_offsets"]):
    b, e = info["data_offsets"]
    assert b == end, f"{name}: hole or overlap"
    end = e
    count = 1
    for d in info["shape"]:
        count *= d
    values = struct.unpack("<%d%s" % (count, fmt[info["dtype"]]), data[b:e])
    out[name] = {"dtype": info["dtype"], "shape": info["shape"], "values": [int(v) if isinstance(v, bool) else v for v in values]}
assert end == len(data), "buffer not fully covered"
print(json.dumps({"metadata": header.get("__metadata__", {}), "tensors": out, "order": list(header)}))
`;

test("Python reads our safetensors bytes by the spec (json + struct)", (t) => {
  if (!requirePython(t, "python")) return;
  const dir = mkdtempSync(join(tmpdir(), "convzoo-st-"));
  try {
    const tensors = sampleTensors();
    const path = join(dir, "ours.safetensors");
    writeFileSync(path, writeSafetensors(tensors, { format: "pt", arch: "mobilenet_v2" }));
    const result = JSON.parse(runPython(["-c", PY_READER, path])) as {
      metadata: Record<string, string>;
      tensors: Record<string, { dtype: string; shape: number[]; values: number[] }>;
      order: string[];
    };
    assert.deepEqual(result.metadata, { format: "pt", arch: "mobilenet_v2" });
    assert.deepEqual(result.order, ["__metadata__", ...tensors.map(([k]) => k)]);
    const names: Record<string, string> = {
      float32: "F32",
      float16: "F16",
      float64: "F64",
      int64: "I64",
      int32: "I32",
      int8: "I8",
      uint8: "U8",
      bool: "BOOL",
    };
    for (const [name, tensor] of tensors) {
      const py = result.tensors[name];
      assert.equal(py.dtype, names[tensor.dtype], name);
      assert.deepEqual(py.shape, tensor.shape, name);
      const ours =
        tensor.dtype === "float16" ? Array.from(toFloat32(tensor).data) : Array.from(tensor.data as ArrayLike<number | bigint>, Number);
      // float32 values come back as doubles; compare after rounding to float32 where relevant.
      const theirs = tensor.dtype === "float32" ? py.values.map(Math.fround) : py.values;
      assert.deepEqual(theirs, ours, name);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Python writes a file the way the `safetensors` library lays it out (dtype-alignment order, then name). */
const PY_WRITER = String.raw`
import json, struct, sys
tensors = {
    "fc.weight": ("F32", [2, 2], struct.pack("<4f", 1.0, -2.5, 0.125, 3.0)),
    "fc.bias": ("F32", [2], struct.pack("<2f", 0.5, -0.5)),
    "bn.num_batches_tracked": ("I64", [], struct.pack("<q", 42)),
    "half": ("F16", [2], struct.pack("<2e", 1.0, -0.5)),
    # bfloat16 = the upper two bytes of a float32
    "bf": ("BF16", [2], b"".join(struct.pack("<f", v)[2:] for v in (1.5, -3.0))),
}
align = {"I64": 8, "F64": 8, "F32": 4, "I32": 4, "F16": 2, "BF16": 2}
order = sorted(tensors, key=lambda k: (-align[tensors[k][0]], k))
header, data = {"__metadata__": {"format": "pt"}}, b""
for k in order:
    dtype, shape, raw = tensors[k]
    header[k] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
    data += raw
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * ((8 - len(h) % 8) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + data)
`;

test("reads a file laid out by Python the way the safetensors library writes it", (t) => {
  if (!requirePython(t, "python")) return;
  const dir = mkdtempSync(join(tmpdir(), "convzoo-st-"));
  try {
    const path = join(dir, "theirs.safetensors");
    runPython(["-c", PY_WRITER, path]);
    const file = readSafetensors(readFileSync(path), "theirs.safetensors");
    assert.deepEqual(file.metadata, { format: "pt" });
    assert.deepEqual([...file.tensors.keys()], ["bn.num_batches_tracked", "fc.bias", "fc.weight", "bf", "half"]);
    assert.deepEqual(Array.from(file.tensors.get("fc.weight")!.data as Float32Array), [1, -2.5, 0.125, 3]);
    assert.deepEqual(file.tensors.get("bn.num_batches_tracked"), { dtype: "int64", shape: [], data: BigInt64Array.from([42n]) });
    assert.deepEqual(Array.from(toFloat32(file.tensors.get("half")!).data), [1, -0.5]);
    assert.deepEqual(file.tensors.get("bf"), { dtype: "float32", shape: [2], data: Float32Array.from([1.5, -3]) });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("readWeightsFile: a safetensors file whose header length starts with byte 0x80 is not taken for a pickle", async () => {
  const dir = mkdtempSync(join(tmpdir(), "convzoo-st80-"));
  try {
    // Pad the metadata until the little-endian header length's low byte is 0x80 (pickle's PROTO).
    let bytes = writeSafetensors([["w", float32([2], Float32Array.from([1, 2]))]], { note: "" });
    for (let pad = 1; bytes[0] !== 0x80; pad++)
      bytes = writeSafetensors([["w", float32([2], Float32Array.from([1, 2]))]], { note: "x".repeat(pad) });
    const path = join(dir, "w.safetensors");
    writeFileSync(path, bytes);
    const file = await readWeightsFile(path);
    assert.equal(file.format, "safetensors");
    assert.deepEqual([...(file.tensors.get("w")!.data as Float32Array)], [1, 2]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
