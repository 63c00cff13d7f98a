/**
 * Encoded images (BYTES input) → one normalised batch [N, 3, R, R] with the model's own eval
 * transform (data/image.ts decodes as torchvision does, data/preprocess.ts resamples as Pillow).
 * The pixel count is read from the image header before anything is decoded, so an image bomb
 * (a small file declaring a huge canvas) is refused without allocating its pixels.
 */
import sharp from "sharp";
import { decodeImageBytes } from "../data/image.js";
import { evalTransformRGB } from "../data/preprocess.js";
import type { Preprocessing } from "../models/preprocessing.js";
import { HttpError } from "./protocol.js";

/** The parallel decodes per request: sharp works on libuv's pool (4 threads by default). */
const CONCURRENCY = 4;

export async function decodeImages(images: readonly Uint8Array[], p: Preprocessing, maxPixels: number): Promise<Float32Array> {
  const size = 3 * p.cropSize * p.cropSize;
  const out = new Float32Array(images.length * size);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < images.length) {
      const i = next++;
      const name = `image ${i}`;
      await checkPixels(images[i], name, maxPixels);
      let rgb: Awaited<ReturnType<typeof decodeImageBytes>>;
      try {
        rgb = await decodeImageBytes(images[i], name);
      } catch (e) {
        throw new HttpError(400, (e as Error).message);
      }
      evalTransformRGB(rgb.data, rgb.width, rgb.height, p, out, i * size);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, images.length) }, worker));
  return out;
}

async function checkPixels(bytes: Uint8Array, name: string, maxPixels: number): Promise<void> {
  let width: number | undefined;
  let height: number | undefined;
  try {
    const meta = await sharp(bytes, { limitInputPixels: false }).metadata();
    width = meta.width;
    height = meta.height;
  } catch (e) {
    const reason = (e as Error).message.split("\n")[0];
    throw new HttpError(400, `${name}: not an image (${reason})`);
  }
  if (!width || !height) throw new HttpError(400, `${name}: not an image (no dimensions in its header)`);
  if (width * height > maxPixels) {
    throw new HttpError(413, `${name}: ${width}x${height} = ${width * height} pixels exceeds the limit of ${maxPixels} (--max-pixels)`);
  }
}
