/**
 * PyTorch .pth reading. Hand-built archives need nothing; the real checkpoints are written at test
 * time by make_pth_fixtures.py under Debian's /usr/bin/python3 with PyTorch (skipped when absent
 * unless CONVZOO_REQUIRE_TORCH=1).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, test, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { zipSync } from "fflate";
import { readPth } from "../../src/weights/pth.js";
import { toFloat32, type Tensor } from "../../src/tensor.js";
import { assertWeightsError, orderedDict, P, pickle, requirePython, runPython, tensorRecord } from "./helpers.js";

const here = dirname(fileURLToPath(import.meta.url));

// --- hand-built archives (no Python) -------------------------------------------------------------

function f32bytes(values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

/** `{"w": <3x2 view (stride [1, 3], offset 1) of a 7-float storage>, "step": 5}` under root `weird_root`. */
function handArchive(storage: Uint8Array | null): Uint8Array {
  const pkl = pickle(
    P.proto(2),
    orderedDict(),
    P.mark(),
    P.str("w"),
    tensorRecord({ cls: "FloatStorage", key: "0", numel: 7, offset: 1, size: [3, 2], stride: [1, 3] }),
    P.str("step"),
    P.int(5),
    P.setitems(),
    P.stop(),
  );
  const files: Record<string, Uint8Array> = { "weird_root/data.pkl": pkl, "weird_root/version": new TextEncoder().encode("3\n") };
  if (storage) files["weird_root/data/0"] = storage;
  return zipSync(files, { level: 0 });
}

test("reads a hand-built archive: any root folder name, strided view, non-tensors skipped", () => {
  const sd = readPth(handArchive(f32bytes([0, 1, 2, 3, 4, 5, 6])), "hand.pth");
  assert.deepEqual([...sd.keys()], ["w"]);
  // element (i, j) = storage[1 + i + 3j]
  assert.deepEqual(sd.get("w"), { dtype: "float32", shape: [3, 2], data: Float32Array.from([1, 4, 2, 5, 3, 6]) });
});

test("hand-built archives with a missing or short storage record are refused", () => {
  assertWeightsError(
    () => readPth(handArchive(null), "hand.pth"),
    /^hand\.pth: corrupt checkpoint: tensor "w" needs storage record weird_root\/data\/0, which is missing/,
  );
  assertWeightsError(
    () => readPth(handArchive(f32bytes([0, 1, 2])), "hand.pth"),
    /^hand\.pth: corrupt checkpoint: tensor "w" \(weird_root\/data\/0\) is 12 bytes, its pickle says 7 float32 elements \(28 bytes\)$/,
  );
});

test("a view reaching past its storage is refused", () => {
  const pkl = pickle(
    P.proto(2),
    P.emptyDict(),
    P.str("w"),
    tensorRecord({ cls: "FloatStorage", key: "0", numel: 4, offset: 2, size: [2, 2], stride: [2, 1] }),
    P.setitem(),
    P.stop(),
  );
  const zip = zipSync({ "archive/data.pkl": pkl, "archive/data/0": f32bytes([0, 1, 2, 3]) }, { level: 0 });
  assertWeightsError(
    () => readPth(zip, "far.pth"),
    /^far\.pth: corrupt checkpoint: tensor "w" .* of shape \[2, 2\], stride \[2, 1\] and offset 2 reaches element 5, the storage holds 4$/,
  );
});

test("files that are not zip archives are named and explained", () => {
  assertWeightsError(
    () => readPth(new TextEncoder().encode("hello, not weights"), "notes.pth"),
    /^notes\.pth: not a PyTorch checkpoint: expected a zip archive \(starting with "PK"\), found bytes 68 65 6c 6c$/,
  );
  assertWeightsError(() => readPth(new Uint8Array(0), "empty.pth"), /^empty\.pth: not a PyTorch checkpoint: .*found an empty file$/);
  assertWeightsError(
    () => readPth(pickle(P.proto(2), P.none(), P.stop()), "bare.pkl"),
    /^bare\.pkl: not a PyTorch checkpoint: expected a zip archive, found a bare Python pickle$/,
  );
  assertWeightsError(
    () => readPth(zipSync({ "archive/data.pkl": pickle(P.proto(2), P.emptyList(), P.stop()) }), "list.pth"),
    /^list\.pth: expected a state dict \(a dict of parameter names to tensors\) at the top level, found a list of 0$/,
  );
});

// --- real checkpoints written by PyTorch ---------------------------------------------------------

interface Expected {
  dtype: string;
  shape: number[];
  values: (number | boolean)[];
}

let fixtureDir: string | undefined;
after(() => {
  if (fixtureDir) rmSync(fixtureDir, { recursive: true, force: true });
});

/** Writes the fixtures once (a second or two of PyTorch start-up); null when the test was skipped. */
function fixtures(t: TestContext): { dir: string; expected: Record<string, Record<string, Expected>> } | null {
  if (!requirePython(t, "torch")) return null;
  if (fixtureDir === undefined) {
    const dir = mkdtempSync(join(tmpdir(), "convzoo-pth-"));
    runPython([join(here, "make_pth_fixtures.py"), dir]);
    fixtureDir = dir;
  }
  return { dir: fixtureDir, expected: JSON.parse(readFileSync(join(fixtureDir, "expected.json"), "utf8")) };
}

/** torch dtype name → what readPth returns. */
const RESULT_DTYPE: Record<string, string> = {
  float32: "float32",
  float16: "float16",
  float64: "float64",
  int64: "int64",
  int32: "int32",
  int16: "int32",
  int8: "int8",
  uint8: "uint8",
  bool: "bool",
  bfloat16: "float32",
};

function values(t: Tensor): number[] {
  if (t.dtype === "float16") return Array.from(toFloat32(t).data);
  return Array.from(t.data as ArrayLike<number | bigint>, Number);
}

function assertMatches(sd: Map<string, Tensor>, expected: Record<string, Expected>, file: string): void {
  assert.deepEqual([...sd.keys()], Object.keys(expected), `${file}: keys and their order`);
  for (const [name, e] of Object.entries(expected)) {
    const got = sd.get(name)!;
    assert.equal(got.dtype, RESULT_DTYPE[e.dtype], `${file} ${name}: dtype`);
    assert.deepEqual(got.shape, e.shape, `${file} ${name}: shape`);
    // Python's floats are exact doubles of the stored values, so equality is exact.
    const want = e.values.map((v) => (typeof v === "boolean" ? Number(v) : got.dtype === "float32" ? Math.fround(v) : v));
    assert.deepEqual(values(got), want, `${file} ${name}: values`);
  }
}

function load(dir: string, name: string): Map<string, Tensor> {
  return readPth(readFileSync(join(dir, name)), name);
}

test("float32/float16/float64/int64 and every other storage type, exactly", (t) => {
  const fx = fixtures(t);
  if (!fx) return;
  const sd = load(fx.dir, "dtypes.pth");
  assertMatches(sd, fx.expected["dtypes.pth"], "dtypes.pth");
  assert.ok(sd.get("i64")!.data instanceof BigInt64Array);
  assert.equal((sd.get("i64")!.data as BigInt64Array)[2], 2n ** 40n);
  assert.ok(sd.get("f16")!.data instanceof Uint16Array, "float16 stays float16 (raw bits)");
});

test("non-contiguous views (transposed, sliced with a storage offset, stepped, expanded, permuted)", (t) => {
  const fx = fixtures(t);
  if (!fx) return;
  const sd = load(fx.dir, "views.pth");
  assertMatches(sd, fx.expected["views.pth"], "views.pth");
  assert.deepEqual(values(sd.get("slice")!), [6, 7, 10, 11]);
  // Tensors that share one storage must not alias each other's memory.
  (sd.get("base")!.data as Float32Array)[8] = -1;
  assert.equal((sd.get("row")!.data as Float32Array)[0], 8);
});

test("the state_dict of a Conv2d+BatchNorm2d+Linear Sequential, with num_batches_tracked", (t) => {
  const fx = fixtures(t);
  if (!fx) return;
  const sd = load(fx.dir, "sequential.pth");
  assert.deepEqual(
    [...sd.keys()],
    ["0.weight", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked", "5.weight", "5.bias"],
  );
  assert.deepEqual(sd.get("1.num_batches_tracked"), { dtype: "int64", shape: [], data: BigInt64Array.from([1n]) });
  assert.deepEqual(sd.get("0.weight")!.shape, [4, 3, 3, 3]);
  assertMatches(sd, fx.expected["sequential.pth"], "sequential.pth");
});

test("a state dict wrapped in {'state_dict': ...} or {'model_state_dict': ...} (with optimizer state alongside)", (t) => {
  const fx = fixtures(t);
  if (!fx) return;
  assertMatches(load(fx.dir, "wrapped.pth"), fx.expected["wrapped.pth"], "wrapped.pth");
  assertMatches(load(fx.dir, "model_state_dict.pth"), fx.expected["model_state_dict.pth"], "model_state_dict.pth");
});

test("module.-prefixed keys (DataParallel) are kept as they are", (t) => {
  const fx = fixtures(t);
  if (!fx) return;
  const sd = load(fx.dir, "prefixed.pth");
  assert.ok([...sd.keys()].every((k) => k.startsWith("module.")));
  assertMatches(sd, fx.expected["prefixed.pth"], "prefixed.pth");
});

test("pickles that reference os.system, builtins.eval or a whole nn.Module are refused by name", (t) => {
  const fx = fixtures(t);
  if (!fx) return;
  assertWeightsError(
    () => load(fx.dir, "evil_os.pth"),
    /^evil_os\.pth: refusing to load: it calls os\.system; only tensors and ordered dicts are allowed$/,
  );
  assertWeightsError(
    () => load(fx.dir, "evil_eval.pth"),
    /^evil_eval\.pth: refusing to load: it calls builtins\.eval; only tensors and ordered dicts are allowed$/,
  );
  assertWeightsError(
    () => load(fx.dir, "whole_model.pth"),
    /^whole_model\.pth: refusing to load: it calls torch\.nn\.modules\.container\.Sequential; .*save and load model\.state_dict\(\) instead/i,
  );
});

test("a truncated checkpoint (cut in half) names the file and says truncated or corrupt", (t) => {
  const fx = fixtures(t);
  if (!fx) return;
  const bytes = readFileSync(join(fx.dir, "sequential.pth"));
  assertWeightsError(() => readPth(bytes.subarray(0, bytes.length >> 1), "half.pth"), /^half\.pth: truncated or corrupt zip archive/);
});

test("legacy format, missing data.pkl, missing storage record and TorchScript archives are clear errors", (t) => {
  const fx = fixtures(t);
  if (!fx) return;
  assertWeightsError(
    () => load(fx.dir, "legacy.pth"),
    /^legacy\.pth: this is the legacy \(pre-1\.6\) PyTorch format, which is not supported; re-save it with PyTorch ≥ 1\.6/,
  );
  assertWeightsError(
    () => load(fx.dir, "missing_pkl.pth"),
    /^missing_pkl\.pth: not a PyTorch checkpoint: the zip archive has no <root>\/data\.pkl \(it holds sequential\/data\/0/,
  );
  assertWeightsError(
    () => load(fx.dir, "missing_storage.pth"),
    /^missing_storage\.pth: corrupt checkpoint: tensor "0\.weight" needs storage record sequential\/data\/0, which is missing from the archive$/,
  );
  assertWeightsError(() => load(fx.dir, "scripted.pt"), /^scripted\.pt: this is a TorchScript archive \(torch\.jit\.save\)/);
});
