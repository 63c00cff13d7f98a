/**
 * safetensors read/write on bytes. Browser-safe. Format (huggingface/safetensors README, "Format"): an 8-byte
 * little-endian header size N, N bytes of JSON (name → dtype, shape, data_offsets; `__metadata__`; may be
 * space-padded), then the buffer, which the tensors must cover exactly (the reference `Metadata::validate`
 * checks). Details: docs/weight-formats.md#safetensors
 */
import { previewValue, WeightsError } from "../errors.js";
import { DTYPE_BYTES, numel, typedArrayFromBytes, type DType, type Tensor } from "../tensor.js";

export interface SafetensorsFile {
  /** In the order of their bytes in the file. Tensors may share memory with the input bytes. */
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

/** safetensors dtype name → our DType. BF16, I16 and U16 are widened on read (no DType of their own). */
const READ_DTYPES: Record<string, { dtype: DType; bytes: number; widen?: "bf16" | "i16" | "u16" }> = {
  F32: { dtype: "float32", bytes: 4 },
  F16: { dtype: "float16", bytes: 2 },
  F64: { dtype: "float64", bytes: 8 },
  I64: { dtype: "int64", bytes: 8 },
  I32: { dtype: "int32", bytes: 4 },
  I8: { dtype: "int8", bytes: 1 },
  U8: { dtype: "uint8", bytes: 1 },
  BOOL: { dtype: "bool", bytes: 1 },
  BF16: { dtype: "float32", bytes: 2, widen: "bf16" },
  I16: { dtype: "int32", bytes: 2, widen: "i16" },
  U16: { dtype: "int32", bytes: 2, widen: "u16" },
};

const WRITE_DTYPES: Record<DType, string> = {
  float32: "F32",
  float16: "F16",
  float64: "F64",
  int64: "I64",
  int32: "I32",
  int8: "I8",
  uint8: "U8",
  bool: "BOOL",
};

/** The Rust implementation refuses headers above 100 MB; so do we (it also bounds JSON.parse). */
const MAX_HEADER_BYTES = 100_000_000;

export function readSafetensors(bytes: Uint8Array, source: string): SafetensorsFile {
  const fail: (what: string) => never = (what) => {
    throw new WeightsError(`${source}: ${what}`);
  };
  if (bytes.length < 8) fail(`truncated: a safetensors file starts with an 8-byte header length, file has ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength64 = view.getBigUint64(0, true);
  if (headerLength64 > BigInt(MAX_HEADER_BYTES)) {
    fail(`not a safetensors file or corrupt: header length is ${headerLength64} bytes, more than the ${MAX_HEADER_BYTES} allowed`);
  }
  const headerLength = Number(headerLength64);
  if (8 + headerLength > bytes.length) {
    fail(`truncated: header says it is ${headerLength} bytes long, file has only ${bytes.length - 8} bytes after the length`);
  }
  const headerBytes = bytes.subarray(8, 8 + headerLength);
  if (headerBytes[0] !== 0x7b /* { */) {
    fail(
      `not a safetensors file or corrupt: header should be a JSON object starting with "{", found byte ` +
        `0x${(headerBytes[0] ?? 0).toString(16)}`,
    );
  }

  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(headerBytes));
  } catch (e) {
    fail(`corrupt header: expected ${headerLength} bytes of UTF-8 JSON, it does not parse (${(e as Error).message})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    fail(`corrupt header: expected a JSON object, found ${Array.isArray(header) ? "an array" : typeof header}`);
  }

  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: string; shape: number[]; begin: number; end: number }[] = [];

  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (typeof raw !== "object" || raw === null || Array.isArray(raw))
        fail(`corrupt header: __metadata__ should be an object of strings`);
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== "string") fail(`corrupt header: __metadata__["${k}"] should be a string, found ${previewValue(v)}`);
        metadata[k] = v;
      }
      continue;
    }
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    if (typeof info !== "object" || info === null) fail(`corrupt header: tensor "${name}" should be an object, found ${previewValue(raw)}`);
    const { dtype, shape, data_offsets: offsets } = info;
    if (typeof dtype !== "string") fail(`corrupt header: tensor "${name}" has no dtype string`);
    if (!Array.isArray(shape) || !shape.every(isCount)) {
      fail(`corrupt header: tensor "${name}" shape should be a list of non-negative integers, found ${previewValue(shape)}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
      fail(`corrupt header: tensor "${name}" data_offsets should be [begin, end], found ${previewValue(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin) fail(`corrupt header: tensor "${name}" data_offsets [${begin}, ${end}] end before they begin`);
    entries.push({ name, dtype, shape: shape as number[], begin, end });
  }

  // Tensors must tile the byte buffer exactly: sorted by offset, each begins where the last ended.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expectedBegin = 0;
  let previous = "";
  for (const e of entries) {
    if (e.begin < expectedBegin) {
      fail(
        `corrupt header: tensor "${e.name}" data_offsets [${e.begin}, ${e.end}] overlap tensor "${previous}", ` +
          `which ends at ${expectedBegin}`,
      );
    }
    if (e.begin > expectedBegin) {
      fail(
        `corrupt header: tensor "${e.name}" begins at byte ${e.begin} but the previous tensor ends at ` +
          `${expectedBegin} (a hole in the data)`,
      );
    }
    expectedBegin = e.end;
    previous = e.name;
  }
  if (expectedBegin > dataLength) {
    fail(`truncated: header says ${expectedBegin} bytes of tensor data, file has ${dataLength}`);
  }
  if (expectedBegin < dataLength) {
    fail(`corrupt: header accounts for ${expectedBegin} bytes of tensor data, file has ${dataLength}`);
  }

  const tensors = new Map<string, Tensor>();
  for (const e of entries) {
    const kind = READ_DTYPES[e.dtype];
    if (kind === undefined) {
      fail(`tensor "${e.name}" has dtype ${e.dtype}; expected one of ${Object.keys(READ_DTYPES).join(", ")}`);
    }
    const count = numel(e.shape);
    if (e.end - e.begin !== count * kind.bytes) {
      fail(
        `tensor "${e.name}" of shape [${e.shape.join(", ")}] and dtype ${e.dtype} needs ${count * kind.bytes} bytes, ` +
          `its data_offsets [${e.begin}, ${e.end}] hold ${e.end - e.begin}`,
      );
    }
    const raw = bytes.subarray(dataStart + e.begin, dataStart + e.end);
    tensors.set(e.name, { dtype: kind.dtype, shape: e.shape, data: decode(raw, kind.dtype, kind.widen) } as Tensor);
  }
  return { tensors, metadata };
}

export function writeSafetensors(tensors: Iterable<[string, Tensor]>, metadata?: Record<string, string>): Uint8Array {
  const fail: (what: string) => never = (what) => {
    throw new WeightsError(`safetensors: cannot write ${what}`);
  };
  // The header is written by hand so keys keep the given order (a JS object would move "0", "1" … first).
  const parts: string[] = [];
  if (metadata !== undefined && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") fail(`metadata "${k}": values must be strings, found ${typeof v}`);
    }
    parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  }
  const chunks: Uint8Array[] = [];
  const seen = new Set<string>();
  let offset = 0;
  for (const [name, t] of tensors) {
    if (name === "__metadata__") fail(`a tensor named "__metadata__" (the name is reserved)`);
    if (seen.has(name)) fail(`tensor "${name}" twice`);
    seen.add(name);
    const dtype = WRITE_DTYPES[t.dtype];
    if (dtype === undefined) fail(`tensor "${name}": unsupported dtype ${String(t.dtype)}`);
    if (!t.shape.every((d) => isCount(d))) fail(`tensor "${name}": shape [${t.shape.join(", ")}] is not a list of non-negative integers`);
    if (t.data.length !== numel(t.shape)) {
      fail(`tensor "${name}": shape [${t.shape.join(", ")}] needs ${numel(t.shape)} elements, data has ${t.data.length}`);
    }
    const chunk = new Uint8Array(t.data.buffer, t.data.byteOffset, numel(t.shape) * DTYPE_BYTES[t.dtype]);
    const end = offset + chunk.length;
    parts.push(`${JSON.stringify(name)}:${JSON.stringify({ dtype, shape: t.shape, data_offsets: [offset, end] })}`);
    chunks.push(chunk);
    offset = end;
  }

  let header = new TextEncoder().encode(`{${parts.join(",")}}`);
  // Pad with spaces so the byte buffer starts 8-byte aligned (what the Python library writes).
  const padded = Math.ceil(header.length / 8) * 8;
  if (padded !== header.length) {
    const h = new Uint8Array(padded).fill(0x20);
    h.set(header);
    header = h;
  }

  const out = new Uint8Array(8 + header.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  let at = 8 + header.length;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function decode(raw: Uint8Array, dtype: DType, widen: "bf16" | "i16" | "u16" | undefined): Tensor["data"] {
  if (widen === undefined) return typedArrayFromBytes(dtype, raw);
  const n = raw.length / 2;
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  if (widen === "bf16") {
    // bfloat16 is the top half of a float32.
    const bits = new Uint32Array(n);
    for (let i = 0; i < n; i++) bits[i] = view.getUint16(2 * i, true) << 16;
    return new Float32Array(bits.buffer);
  }
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = widen === "i16" ? view.getInt16(2 * i, true) : view.getUint16(2 * i, true);
  return out;
}
