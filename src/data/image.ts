/**
 * Image files -> RGB pixels -> eval tensors, for Node (sharp decodes; preprocess.ts resamples).
 * Decoding matches torchvision's `PIL.Image.open(path).convert("RGB")` plus EXIF orientation (byte for byte
 * against Pillow 9.4, tests/data/image.test.ts); known difference: fully transparent GIF pixels decode black.
 * Resizing is NOT done with sharp: its closest kernels are off by up to 6 (bilinear) / 27 (bicubic) uint8 steps
 * from torchvision, 120 when enlarging; the Pillow port in preprocess.ts is bit-identical at ~5-20 ms per photo.
 * Decoding rules and the measurements: docs/images.md#decoding, docs/images.md#resizing
 */
import sharp from "sharp";
import { InputFileError } from "../errors.js";
import { float32, type Tensor } from "../tensor.js";
import { evalTransformRGB } from "./preprocess.js";
import { readInputFile } from "../weights/files.js";
import { type Preprocessing } from "../models/preprocessing.js";

export interface RGBImage {
  /** HWC RGB, 3 bytes per pixel. */
  data: Uint8Array;
  width: number;
  height: number;
}

/**
 * Decoded pixels (width × height) an image may have before it is refused without being decoded: a 746 KB
 * PNG or a 123-byte SVG can declare 16000² (768 MB of RGB, more in libvips's intermediates). 100 M pixels
 * (~10000², 300 MB of RGB) passes every camera photo up to 100 MP; `--max-image-pixels` raises it.
 * sharp's own default (limitInputPixels, 0x3FFF² ≈ 268 M) lets 16000² through.
 */
export const DEFAULT_MAX_IMAGE_PIXELS = 100_000_000;

/**
 * The limit lives in the environment (CONVZOO_MAX_IMAGE_PIXELS) so the data worker threads, which get a
 * copy of process.env when they start, decode under the same limit as the main thread.
 */
const LIMIT_VARIABLE = "CONVZOO_MAX_IMAGE_PIXELS";

/** The decoded-pixel limit in force: CONVZOO_MAX_IMAGE_PIXELS when set to a positive integer, else the default. */
export function maxImagePixels(): number {
  const raw = process.env[LIMIT_VARIABLE];
  const n = raw === undefined ? NaN : Number(raw);
  return Number.isSafeInteger(n) && n > 0 ? n : DEFAULT_MAX_IMAGE_PIXELS;
}

/** Sets the decoded-pixel limit for this process and the worker threads it starts from now on. */
export function setMaxImagePixels(pixels: number): void {
  if (!(Number.isSafeInteger(pixels) && pixels > 0))
    throw new InputFileError(`the image pixel limit must be a positive integer, got ${pixels}`);
  process.env[LIMIT_VARIABLE] = String(pixels);
}

/** Reads and decodes an image file to 8-bit RGB; errors are InputFileErrors naming the path. */
export async function decodeImageRGB(path: string): Promise<RGBImage> {
  return decodeImageBytes(await readImageFile(path), path);
}

/** Decodes encoded image bytes (JPEG, PNG, WebP, GIF, TIFF, ...); `name` is used in error messages. */
export async function decodeImageBytes(bytes: Uint8Array, name: string): Promise<RGBImage> {
  if (bytes.length === 0) throw new InputFileError(`${name}: not an image (the file is empty)`);
  try {
    // ignoreIcc: PIL does no colour management, so neither do we. The default failOn ("warning")
    // makes truncated files fail instead of decoding with a grey bottom.
    const limit = maxImagePixels();
    const input = () => sharp(bytes, { ignoreIcc: true, limitInputPixels: limit }).autoOrient();
    // The header only (no pixels are decoded), read without sharp's limit so the message can give the size.
    const meta = await sharp(bytes, { limitInputPixels: false }).metadata();
    // The header's size, checked before anything is decoded (sharp checks it again while decoding).
    const pixels = (meta.width ?? 0) * (meta.height ?? 0);
    if (pixels > limit) {
      throw new InputFileError(
        `${name}: image too large: ${meta.width}×${meta.height} = ${pixels} pixels, more than the limit of ${limit} ` +
          `(raise it with --max-image-pixels N or CONVZOO_MAX_IMAGE_PIXELS=N)`,
      );
    }
    if (meta.space === "cmyk") {
      // Left to itself libvips converts CMYK through a colour profile; PIL uses a plain formula.
      const { data, info } = await input().pipelineColourspace("cmyk").toColourspace("cmyk").raw().toBuffer({ resolveWithObject: true });
      return { data: cmykToRGB(data, info.width * info.height), width: info.width, height: info.height };
    }
    const { data, info } = await input()
      .removeAlpha()
      .toColourspace("srgb") // also grey -> 3 channels and 16-bit -> 8-bit (high byte, as PIL)
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels instead of 3`);
    const rgb = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return { data: rgb, width: info.width, height: info.height };
  } catch (e) {
    throw e instanceof InputFileError ? e : decodeError(name, e);
  }
}

/**
 * torchvision's eval transform: Resize(resizeSize) on the shorter side, CenterCrop(cropSize),
 * ToTensor, Normalize. CHW float32 of length 3 * cropSize * cropSize.
 */
export async function loadImageForEval(path: string, p: Preprocessing): Promise<Float32Array> {
  const img = await decodeImageRGB(path);
  return evalTransformRGB(img.data, img.width, img.height, p);
}

/** Parallel decodes: sharp decodes on libuv's pool (4 threads by default), so more buys nothing. */
const BATCH_CONCURRENCY = 4;

/** Loads images into one [N, 3, crop, crop] float32 batch, in the order given. */
export async function loadImageBatch(paths: readonly string[], p: Preprocessing): Promise<Tensor<"float32">> {
  const size = 3 * p.cropSize * p.cropSize;
  const out = new Float32Array(paths.length * size);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < paths.length) {
      const i = next++;
      try {
        const img = await decodeImageRGB(paths[i]);
        evalTransformRGB(img.data, img.width, img.height, p, out, i * size);
      } catch (e) {
        failed = true; // stop the other workers picking up more files
        throw e;
      }
    }
  };
  const workers = Array.from({ length: Math.min(BATCH_CONCURRENCY, paths.length) }, worker);
  await Promise.all(workers);
  return float32([paths.length, 3, p.cropSize, p.cropSize], out);
}

/** Only regular files: a FIFO or /dev/zero named as an image would hang or fill memory (weights/files.ts). */
function readImageFile(path: string): Promise<Uint8Array> {
  return readInputFile(path, "an image");
}

function decodeError(name: string, e: unknown): InputFileError {
  // libvips messages can span lines; keep the CLI's one-line error.
  const reason = (e instanceof Error ? e.message : String(e)).split("\n").filter(Boolean).join("; ");
  const what = /unsupported image format/i.test(reason)
    ? "not an image"
    : /pixel limit/i.test(reason)
      ? `image too large for the limit of ${maxImagePixels()} pixels (raise it with --max-image-pixels N)`
      : "truncated or corrupt image";
  return new InputFileError(`${name}: ${what} (sharp could not decode it: ${reason})`);
}

/**
 * Pillow's `cmyk2rgb` (Convert.c): each of R, G, B = (255 - K) - C*(255 - K)/255, with Pillow's
 * rounded integer MULDIV255. libvips has already undone Adobe's inverted CMYK, as PIL's "CMYK;I" does.
 */
function cmykToRGB(cmyk: Uint8Array, pixels: number): Uint8Array {
  const rgb = new Uint8Array(pixels * 3);
  const mulDiv255 = (a: number, b: number): number => {
    const t = a * b + 128;
    return ((t >> 8) + t) >> 8;
  };
  for (let i = 0; i < pixels; i++) {
    const nk = 255 - cmyk[i * 4 + 3];
    for (let c = 0; c < 3; c++) rgb[i * 3 + c] = Math.max(0, nk - mulDiv255(cmyk[i * 4 + c], nk));
  }
  return rgb;
}
