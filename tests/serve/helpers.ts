/** A small served model and its in-process reference, images and raw HTTP for the serve tests. */
import { request } from "node:http";
import { deflateSync } from "node:zlib";
import sharp from "sharp";
import { initializeWeights } from "../../src/models/bind.js";
import "../../src/models/index.js";
import { IMAGENET_EVAL } from "../../src/models/preprocessing.js";
import { createModel } from "../../src/models/registry.js";
import { Predictor } from "../../src/inference/predictor.js";
import type { Model } from "../../src/models/model.js";
import { Random } from "../../src/random.js";

export const CLASSES = ["cat", "dog", "fox", "owl", "a:b"];
export const RESOLUTION = 64;

/** resnet18 with 5 classes at 64x64, seeded: small enough for CI, with logits that differ by input. */
export function tinyModel(): Model {
  return initializeWeights(createModel("resnet18", { numClasses: CLASSES.length }), 3);
}

export function predictor(model: Model, output: "logits" | "probabilities"): Promise<Predictor> {
  return Predictor.create(model, { resolution: RESOLUTION, classes: CLASSES, preprocessing: IMAGENET_EVAL, threads: 1, output });
}

/** N normalised random images [N, 3, R, R]. */
export function randomBatch(n: number, seed: number): Float32Array {
  const rng = new Random(seed);
  const data = new Float32Array(n * 3 * RESOLUTION * RESOLUTION);
  for (let i = 0; i < data.length; i++) data[i] = rng.normal();
  return data;
}

/** A noisy RGB photo-like image encoded as PNG, JPEG or WebP. */
export async function encodedImage(seed: number, format: "png" | "jpeg" | "webp", width = 90, height = 70): Promise<Buffer> {
  const rng = new Random(seed);
  const raw = Buffer.alloc(width * height * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = Math.floor(rng.uniform() * 256);
  const image = sharp(raw, { raw: { width, height, channels: 3 } });
  return (format === "png" ? image.png() : format === "jpeg" ? image.jpeg() : image.webp()).toBuffer();
}

/**
 * A valid, fully decodable PNG of width x height black RGB pixels: a few hundred KB on disk, width x
 * height x 3 bytes once decoded (an image bomb when large).
 */
export function blackPng(width: number, height: number): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (b: Buffer) => {
    let c = 0xffffffff;
    for (const x of b) c = crcTable[(c ^ x) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, sum]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  // Each row: filter byte 0 then zeros; all rows identical, so deflate squeezes them to almost nothing.
  const rows = Buffer.alloc(height * (1 + width * 3));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(rows, { level: 9 })),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One HTTP request with node:http (a fresh connection), which reads a reply sent before the body was taken. */
export function http(url: string, method: string, body?: Buffer, headers: Record<string, string> = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method, headers: { ...headers, ...(body ? { "Content-Length": String(body.length) } : {}) }, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

export const jsonBody = (o: unknown) => Buffer.from(JSON.stringify(o));

export function binaryInfer(
  inputs: { name: string; datatype: string; shape: number[]; bytes: Buffer }[],
  outputs?: unknown[],
): { body: Buffer; headers: Record<string, string> } {
  const header = jsonBody({
    inputs: inputs.map((i) => ({ name: i.name, datatype: i.datatype, shape: i.shape, parameters: { binary_data_size: i.bytes.length } })),
    ...(outputs ? { outputs } : {}),
  });
  return {
    body: Buffer.concat([header, ...inputs.map((i) => i.bytes)]),
    headers: { "Inference-Header-Content-Length": String(header.length), "Content-Type": "application/octet-stream" },
  };
}

/** Largest |a - b| over |b|'s largest value. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  if (a.length !== b.length) return Infinity;
  return diff / scale;
}
