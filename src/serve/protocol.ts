/**
 * The Open Inference Protocol (KServe v2) over HTTP/REST, as Triton and KServe implement it:
 * request and response bodies of `POST /v2/models/{m}/infer`, with Triton's binary-data and
 * classification extensions. Sources:
 *   https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/ (the REST API)
 *   Triton's docs/protocol/extension_binary_data.md (Inference-Header-Content-Length, binary_data_size,
 *   BYTES elements as a 4-byte little-endian length then the bytes) and extension_classification.md
 *   ("classification": K → BYTES [N, K] strings "<value>:<index>[:<label>]", highest values first).
 */
import { ConvzooError } from "../errors.js";

/** An error answered with an HTTP status and the protocol's body `{"error": message}`. */
export class HttpError extends ConvzooError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export const badRequest = (message: string) => new HttpError(400, message);

export type Datatype = "FP32" | "BYTES";

/** One input tensor of a request, its data decoded. */
export type RequestInput =
  | { name: string; datatype: "FP32"; shape: number[]; data: Float32Array }
  | { name: string; datatype: "BYTES"; shape: number[]; data: Uint8Array[] };

export interface RequestedOutput {
  name: string;
  /** Triton's classification extension: the top K as "<value>:<index>:<label>" strings. */
  classification?: number;
  binary: boolean;
}

export interface InferRequest {
  id?: string;
  inputs: RequestInput[];
  /** Empty: every output of the model. */
  outputs: RequestedOutput[];
}

export interface ResponseOutput {
  name: string;
  datatype: Datatype;
  shape: number[];
  data: Float32Array | string[];
  binary: boolean;
}

const SUPPORTED = "FP32 (a normalised batch [N, 3, H, W]) or BYTES (encoded images)";

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Parses an infer request body. `headerLength` is the Inference-Header-Content-Length header: the
 * body is then that many bytes of JSON followed by the binary tensor data, in input order.
 */
export function parseInferRequest(body: Buffer, headerLength: number | undefined): InferRequest {
  const jsonEnd = headerLength ?? body.length;
  if (!Number.isInteger(jsonEnd) || jsonEnd < 0 || jsonEnd > body.length) {
    throw badRequest(`Inference-Header-Content-Length ${headerLength} is not within the body's ${body.length} bytes`);
  }
  let header: unknown;
  try {
    header = JSON.parse(body.subarray(0, jsonEnd).toString("utf8"));
  } catch (e) {
    throw badRequest(`request body is not valid JSON: ${(e as Error).message}`);
  }
  if (!isObject(header)) throw badRequest('request body must be a JSON object with an "inputs" list');
  const binary = body.subarray(jsonEnd);
  let offset = 0;
  const takeBinary = (name: string, size: number): Buffer => {
    if (offset + size > binary.length) {
      throw badRequest(`input ${name}: binary_data_size ${size} runs past the ${binary.length - offset} binary bytes left in the body`);
    }
    const out = binary.subarray(offset, offset + size);
    offset += size;
    return out;
  };
  if (!Array.isArray(header.inputs) || header.inputs.length === 0) throw badRequest('"inputs" must be a non-empty list');
  const inputs = header.inputs.map((raw, i) => parseInput(raw, i, takeBinary));
  if (offset !== binary.length) throw badRequest(`${binary.length - offset} binary bytes after the JSON header belong to no input`);
  const requestBinary = isObject(header.parameters) && header.parameters.binary_data_output === true;
  const outputs = header.outputs === undefined ? [] : header.outputs;
  if (!Array.isArray(outputs)) throw badRequest('"outputs" must be a list');
  return {
    id: typeof header.id === "string" ? header.id : undefined,
    inputs,
    outputs: outputs.map((o, i) => parseOutput(o, i, requestBinary)),
  };
}

function parseInput(raw: unknown, index: number, takeBinary: (name: string, size: number) => Buffer): RequestInput {
  if (!isObject(raw)) throw badRequest(`inputs[${index}] must be an object with name, datatype, shape and data`);
  const name = raw.name;
  if (typeof name !== "string" || name === "") throw badRequest(`inputs[${index}]: "name" must be a non-empty string`);
  const datatype = raw.datatype;
  if (datatype !== "FP32" && datatype !== "BYTES") {
    throw badRequest(`input ${name}: datatype ${JSON.stringify(datatype)} is not supported, expected ${SUPPORTED}`);
  }
  const shape = raw.shape;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw badRequest(`input ${name}: "shape" must be a list of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  const count = shape.reduce((a: number, b: number) => a * b, 1);
  const binarySize = isObject(raw.parameters) ? raw.parameters.binary_data_size : undefined;
  if (binarySize !== undefined) {
    if (!Number.isInteger(binarySize) || (binarySize as number) < 0) throw badRequest(`input ${name}: bad binary_data_size`);
    const bytes = takeBinary(name, binarySize as number);
    if (datatype === "FP32") {
      if (bytes.length !== count * 4) {
        throw badRequest(`input ${name}: shape ${JSON.stringify(shape)} needs ${count * 4} FP32 bytes, got ${bytes.length}`);
      }
      // Copy: the body buffer need not be 4-byte aligned (and is little-endian, as x86/ARM).
      const data = new Float32Array(count);
      new Uint8Array(data.buffer).set(bytes);
      return { name, datatype, shape, data };
    }
    return { name, datatype, shape, data: splitBytesElements(name, bytes, count) };
  }
  const flat = flatten(raw.data, name);
  if (flat.length !== count) throw badRequest(`input ${name}: shape ${JSON.stringify(shape)} needs ${count} elements, got ${flat.length}`);
  if (datatype === "FP32") {
    const data = new Float32Array(count);
    for (let i = 0; i < count; i++) {
      const v = flat[i];
      if (typeof v !== "number") throw badRequest(`input ${name}: FP32 data must be numbers, found ${JSON.stringify(v)} at ${i}`);
      data[i] = v;
    }
    return { name, datatype, shape, data };
  }
  // JSON has no bytes: BYTES elements that carry images are base64 strings (KServe's image examples do the same).
  const data = flat.map((v, i) => {
    if (typeof v !== "string") throw badRequest(`input ${name}: BYTES data must be base64 strings, found ${JSON.stringify(v)} at ${i}`);
    return new Uint8Array(Buffer.from(v, "base64"));
  });
  return { name, datatype, shape, data };
}

function flatten(data: unknown, name: string): unknown[] {
  if (!Array.isArray(data)) throw badRequest(`input ${name}: "data" must be a list (or use the binary-data extension)`);
  // Row-major, nested or flat (Triton accepts both).
  return data.flat(Infinity);
}

/** Triton's binary BYTES: each element is a 4-byte little-endian length followed by that many bytes. */
function splitBytesElements(name: string, bytes: Buffer, count: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (at + 4 > bytes.length) throw badRequest(`input ${name}: BYTES element ${out.length} has a truncated length prefix`);
    const n = bytes.readUInt32LE(at);
    at += 4;
    if (at + n > bytes.length)
      throw badRequest(`input ${name}: BYTES element ${out.length} declares ${n} bytes, ${bytes.length - at} left`);
    out.push(new Uint8Array(bytes.buffer, bytes.byteOffset + at, n));
    at += n;
  }
  if (out.length !== count) throw badRequest(`input ${name}: shape needs ${count} BYTES elements, got ${out.length}`);
  return out;
}

function parseOutput(raw: unknown, index: number, requestBinary: boolean): RequestedOutput {
  if (!isObject(raw) || typeof raw.name !== "string") throw badRequest(`outputs[${index}] must be an object with a "name"`);
  const p = isObject(raw.parameters) ? raw.parameters : {};
  const k = p.classification;
  if (k !== undefined && (!Number.isInteger(k) || (k as number) < 1)) {
    throw badRequest(`output ${raw.name}: "classification" must be a positive integer, got ${JSON.stringify(k)}`);
  }
  const binary = typeof p.binary_data === "boolean" ? p.binary_data : requestBinary;
  return { name: raw.name, classification: k as number | undefined, binary };
}

/** Triton's classification strings for one output: per row, the top K "<value>:<index>:<label>". */
export function classificationStrings(values: Float32Array, rows: number, width: number, k: number, labels: readonly string[]): string[] {
  const out: string[] = [];
  const count = Math.min(k, width);
  const idx = Array.from({ length: width }, (_, j) => j);
  for (let r = 0; r < rows; r++) {
    const v = (j: number) => values[r * width + j];
    // Stable sort: equal values keep index order.
    const order = [...idx].sort((a, b) => v(b) - v(a));
    // std::to_string(float) in Triton: six decimals.
    for (let i = 0; i < count; i++) out.push(`${v(order[i]).toFixed(6)}:${order[i]}:${labels[order[i]]}`);
  }
  return out;
}

/**
 * The response body: JSON alone, or (any output asked in binary) the JSON header followed by the
 * binary outputs, with the header's length to send as Inference-Header-Content-Length.
 */
export function encodeInferResponse(
  model: string,
  id: string | undefined,
  outputs: ResponseOutput[],
): { body: Buffer; headerLength?: number } {
  const chunks: Buffer[] = [];
  const json = outputs.map((o) => {
    const base = { name: o.name, datatype: o.datatype, shape: o.shape };
    if (!o.binary) return { ...base, data: Array.from(o.data as ArrayLike<number | string>) };
    const bytes = o.datatype === "FP32" ? float32Bytes(o.data as Float32Array) : bytesElements(o.data as string[]);
    chunks.push(bytes);
    return { ...base, parameters: { binary_data_size: bytes.length } };
  });
  const header = Buffer.from(JSON.stringify({ model_name: model, model_version: "1", ...(id ? { id } : {}), outputs: json }));
  if (chunks.length === 0) return { body: header };
  return { body: Buffer.concat([header, ...chunks]), headerLength: header.length };
}

function float32Bytes(data: Float32Array): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

export function bytesElements(items: readonly (string | Uint8Array)[]): Buffer {
  const parts: Buffer[] = [];
  for (const item of items) {
    const bytes = typeof item === "string" ? Buffer.from(item, "utf8") : Buffer.from(item.buffer, item.byteOffset, item.byteLength);
    const length = Buffer.alloc(4);
    length.writeUInt32LE(bytes.length);
    parts.push(length, bytes);
  }
  return Buffer.concat(parts);
}
