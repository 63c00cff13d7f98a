/**
 * PyTorch checkpoints (`torch.save`, PyTorch ≥ 1.6 zip format) read from bytes. Browser-safe.
 * A zip of stored entries under one root folder: `data.pkl` (tensors as `_rebuild_tensor_v2` over persistent-id
 * storages), `data/<key>` (each storage's bytes), `version`, `byteorder` (torch/serialization.py `_save`).
 * The pickle is decoded by our restricted unpickler (./pickle.ts): nothing in it is executed.
 * Layout: docs/weight-formats.md#pytorch-checkpoints
 */
import { WeightsError } from "../errors.js";
import { DTYPE_BYTES, type DType, type Tensor, type TensorData } from "../tensor.js";
import {
  describe,
  isTensorRef,
  STORAGE_DTYPE_BYTES,
  unpickle,
  type PickleValue,
  type StorageDType,
  type TorchTensorRef,
} from "./pickle.js";
import { ZipArchive, type Crc32 } from "./zip.js";

/** Where training scripts commonly nest the state dict inside a bigger checkpoint dict. */
const WRAPPER_KEYS = ["state_dict", "model_state_dict", "model"];

/** The first bytes of a legacy (pre-1.6) torch.save file: PROTO 2, LONG1 of torch's magic number. */
const LEGACY_MAGIC = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/**
 * Reads the tensors of a PyTorch state dict. Keys keep their names (a `module.` prefix is left to
 * the caller); values that are not tensors (`_metadata`, epoch counters, …) are skipped. If the
 * top level is a dict whose `state_dict`, `model_state_dict` or `model` entry is a dict of tensors,
 * that inner dict is returned. Floating tensors keep their dtype, except bfloat16 which becomes
 * float32; int16 becomes int32. `options.crc32` replaces the portable CRC-32 used to check every entry read
 * (files.ts passes Node's native zlib.crc32).
 */
export function readPth(bytes: Uint8Array, source: string, options: { crc32?: Crc32 } = {}): Map<string, Tensor> {
  const fail: (what: string) => never = (what) => {
    throw new WeightsError(`${source}: ${what}`);
  };
  const zip = openZip(bytes, source, options.crc32);
  const names = [...zip.entries.keys()];

  const pickles = names.filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pickles.length === 0) {
    const found = names.length === 0 ? "it is empty" : `it holds ${names.slice(0, 3).join(", ")}${names.length > 3 ? ", …" : ""}`;
    fail(`not a PyTorch checkpoint: the zip archive has no <root>/data.pkl (${found})`);
  }
  if (pickles.length > 1) fail(`ambiguous PyTorch checkpoint: expected one <root>/data.pkl, found ${pickles.join(", ")}`);
  const root = pickles[0].slice(0, -"/data.pkl".length);
  if (names.some((n) => n.startsWith(`${root}/code/`)) || zip.entries.has(`${root}/constants.pkl`)) {
    fail(`this is a TorchScript archive (torch.jit.save); expected a state dict saved with torch.save(model.state_dict(), path)`);
  }
  const byteorder = zip.entries.has(`${root}/byteorder`) ? zip.read(`${root}/byteorder`) : undefined;
  if (byteorder !== undefined && new TextDecoder().decode(byteorder).trim() !== "little") {
    fail(
      `tensors are stored big-endian (byteorder "${new TextDecoder().decode(byteorder).trim()}"); only ` +
        `little-endian checkpoints are supported`,
    );
  }

  const top = unpickle(zip.read(pickles[0]), source);
  const stateDict = pickStateDict(top);
  if (stateDict === null) {
    fail(`expected a state dict (a dict of parameter names to tensors) at the top level, found ${describe(top)}`);
  }

  // Storages shared by several tensors (views, tied weights) are copied so no two tensors alias.
  const uses = new Map<string, number>();
  for (const v of stateDict.values()) if (isTensorRef(v)) uses.set(v.storage.key, (uses.get(v.storage.key) ?? 0) + 1);

  // Only the records the state dict uses are read (and each once): an unused entry costs nothing.
  const records = new Map<string, Uint8Array>();
  const budget = { left: MAX_TENSOR_BYTES_PER_FILE_BYTE * bytes.length + TENSOR_SLACK_BYTES, file: bytes.length };
  const out = new Map<string, Tensor>();
  for (const [key, value] of stateDict) {
    if (typeof key !== "string" || !isTensorRef(value)) continue;
    const recordName = `${root}/data/${value.storage.key}`;
    if (!zip.entries.has(recordName)) {
      fail(`corrupt checkpoint: tensor "${key}" needs storage record ${recordName}, which is missing from the archive`);
    }
    let record = records.get(recordName);
    if (record === undefined) records.set(recordName, (record = zip.read(recordName)));
    const shared = (uses.get(value.storage.key) ?? 0) > 1;
    out.set(key, materialize(value, record, shared, `tensor "${key}" (${recordName})`, budget, fail));
  }
  if (out.size === 0) fail(`expected a state dict with tensors, found a dict of ${stateDict.size} entries and none of them is a tensor`);
  return out;
}

/**
 * The tensors of one file may take at most this many bytes per byte of the file (plus a little): a dense
 * state dict takes ~1 (2 for bfloat16 or int16, widened), shared storages are copied once per tensor. Views
 * with zero strides or one storage repeated under many keys are how a small file would otherwise claim GBs.
 */
const MAX_TENSOR_BYTES_PER_FILE_BYTE = 4;
const TENSOR_SLACK_BYTES = 1 << 20;

function openZip(bytes: Uint8Array, source: string, crc32: Crc32 | undefined): ZipArchive {
  const fail: (what: string) => never = (what) => {
    throw new WeightsError(`${source}: ${what}`);
  };
  const startsWith = (magic: number[]): boolean => magic.every((b, i) => bytes[i] === b);
  if (!startsWith([0x50, 0x4b, 0x03, 0x04]) && !startsWith([0x50, 0x4b, 0x05, 0x06])) {
    if (startsWith(LEGACY_MAGIC)) {
      fail(
        "this is the legacy (pre-1.6) PyTorch format, which is not supported; " +
          "re-save it with PyTorch ≥ 1.6: torch.save(torch.load(old_path), new_path)",
      );
    }
    if (bytes[0] === 0x80) fail("not a PyTorch checkpoint: expected a zip archive, found a bare Python pickle");
    const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, "0")).join(" ");
    fail(
      `not a PyTorch checkpoint: expected a zip archive (starting with "PK"), found ` +
        `${bytes.length === 0 ? "an empty file" : `bytes ${head}`}`,
    );
  }
  return new ZipArchive(bytes, source, crc32);
}

/** The state dict inside `top`: itself, or the dict of tensors under a wrapper key. */
function pickStateDict(top: PickleValue): Map<PickleValue, PickleValue> | null {
  if (!(top instanceof Map)) return null;
  for (const key of WRAPPER_KEYS) {
    const inner = top.get(key);
    if (inner instanceof Map && [...inner.values()].some(isTensorRef)) return inner;
  }
  return top;
}

/** What each storage element type becomes in a Tensor. */
const RESULT_DTYPE: Record<StorageDType, DType> = {
  float32: "float32",
  float16: "float16",
  bfloat16: "float32",
  float64: "float64",
  int64: "int64",
  int32: "int32",
  int16: "int32",
  int8: "int8",
  uint8: "uint8",
  bool: "bool",
};

type RawArray = Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint16Array | Uint8Array;

/** Copies the strided window `ref` out of its storage bytes into a dense row-major tensor. */
function materialize(
  ref: TorchTensorRef,
  record: Uint8Array,
  shared: boolean,
  what: string,
  budget: { left: number; file: number },
  fail: (m: string) => never,
): Tensor {
  const { storage, dtype, storageOffset, size, stride } = ref;
  const storageBytes = storage.numel * STORAGE_DTYPE_BYTES[storage.dtype];
  if (record.length !== storageBytes) {
    fail(
      `corrupt checkpoint: ${what} is ${record.length} bytes, its pickle says ${storage.numel} ` +
        `${storage.dtype} elements (${storageBytes} bytes)`,
    );
  }
  const elementBytes = STORAGE_DTYPE_BYTES[dtype];
  const available = Math.floor(record.length / elementBytes);
  let count = 1;
  let last = storageOffset; // the highest element index the window touches
  for (let d = 0; d < size.length; d++) {
    count *= size[d];
    last += (size[d] - 1) * stride[d];
  }
  if (count > 0 && last >= available) {
    fail(
      `corrupt checkpoint: ${what} of shape [${size.join(", ")}], stride [${stride.join(", ")}] and offset ${storageOffset} ` +
        `reaches element ${last}, the storage holds ${available}`,
    );
  }

  // A view needs no new memory; a copy (strided, shared or widened) is paid from the file's budget.
  const copies = !isContiguous(size, stride) || shared || dtype === "bfloat16" || dtype === "int16";
  const cost = copies ? count * DTYPE_BYTES[RESULT_DTYPE[dtype]] : 0;
  if (cost > budget.left) {
    fail(
      `corrupt or crafted checkpoint: ${what} of shape [${size.join(", ")}] and stride [${stride.join(", ")}] would take ` +
        `${cost} bytes; the tensors of this ${budget.file}-byte file may take at most ${MAX_TENSOR_BYTES_PER_FILE_BYTE}× its size`,
    );
  }
  budget.left -= cost;

  const src = rawArray(dtype, record);
  let data: RawArray;
  if (isContiguous(size, stride)) {
    const window = src.subarray(storageOffset, storageOffset + count);
    data = shared ? window.slice() : window;
  } else {
    data = gather(src, storageOffset, size, stride, count);
  }
  return { dtype: RESULT_DTYPE[dtype], shape: [...size], data: widen(dtype, data) } as Tensor;
}

function rawArray(dtype: StorageDType, bytes: Uint8Array): RawArray {
  const n = Math.floor(bytes.length / STORAGE_DTYPE_BYTES[dtype]);
  // Stored records are views into the file: torch aligns them to 64 bytes, other zip writers may not, so a
  // misaligned one is copied (new Uint8Array(x) always copies; a Node Buffer's slice() would not).
  const b = bytes.byteOffset % STORAGE_DTYPE_BYTES[dtype] === 0 ? bytes : new Uint8Array(bytes);
  switch (dtype) {
    case "float32":
      return new Float32Array(b.buffer, b.byteOffset, n);
    case "float64":
      return new Float64Array(b.buffer, b.byteOffset, n);
    case "int64":
      return new BigInt64Array(b.buffer, b.byteOffset, n);
    case "int32":
      return new Int32Array(b.buffer, b.byteOffset, n);
    case "int16":
      return new Int16Array(b.buffer, b.byteOffset, n);
    case "int8":
      return new Int8Array(b.buffer, b.byteOffset, n);
    case "float16":
    case "bfloat16":
      return new Uint16Array(b.buffer, b.byteOffset, n);
    case "uint8":
    case "bool":
      return new Uint8Array(b.buffer, b.byteOffset, n);
  }
}

/** Row-major contiguity; dimensions of size 1 may carry any stride (torch does not normalize them). */
function isContiguous(size: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let d = size.length - 1; d >= 0; d--) {
    if (size[d] === 0) return true;
    if (size[d] !== 1 && stride[d] !== expected) return false;
    expected *= size[d];
  }
  return true;
}

/** Dense copy of a strided view: walks the output in row-major order with an odometer of indices. */
function gather(src: RawArray, offset: number, size: readonly number[], stride: readonly number[], count: number): RawArray {
  const out = new (src.constructor as new (n: number) => RawArray)(count);
  const s = src as unknown as { [i: number]: number | bigint };
  const o = out as unknown as { [i: number]: number | bigint };
  const rank = size.length;
  const index = new Array<number>(rank).fill(0);
  let at = offset;
  for (let i = 0; i < count; i++) {
    o[i] = s[at];
    for (let d = rank - 1; d >= 0; d--) {
      index[d]++;
      at += stride[d];
      if (index[d] < size[d]) break;
      at -= stride[d] * size[d];
      index[d] = 0;
    }
  }
  return out;
}

/** bfloat16 → float32 (it is the top half of one) and int16 → int32; other types pass through. */
function widen(dtype: StorageDType, data: RawArray): TensorData {
  if (dtype === "bfloat16") {
    const bits = new Uint32Array(data.length);
    for (let i = 0; i < data.length; i++) bits[i] = (data as Uint16Array)[i] << 16;
    return new Float32Array(bits.buffer);
  }
  if (dtype === "int16") return Int32Array.from(data as Int16Array);
  return data as TensorData;
}
