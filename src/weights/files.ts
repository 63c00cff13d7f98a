/**
 * Weights files on disk (Node): format detection, reading, and atomic writes (a temp file in the
 * same folder, then rename, so a crash or Ctrl-C never leaves a half-written checkpoint).
 */
import { open, readFile, rename, stat, unlink, writeFile } from "node:fs/promises";
import { InputFileError, WeightsError } from "../errors.js";
import type { Tensor } from "../tensor.js";
import { decodeMetadata, encodeMetadata, type CheckpointMetadata } from "./checkpoint.js";
import { readPth } from "./pth.js";
import { readSafetensors, writeSafetensors } from "./safetensors.js";
import { removeOrphanTemps, tempPathFor } from "./temp_files.js";

export type WeightsFormat = "pth" | "safetensors";

export interface WeightsFile {
  path: string;
  format: WeightsFormat;
  tensors: Map<string, Tensor>;
  /** convzoo metadata when the file is one of our checkpoints. */
  metadata: CheckpointMetadata | null;
}

/** Reads a file with a clear message for the usual failures (missing, a folder, unreadable). */
export async function readInputFile(path: string): Promise<Uint8Array> {
  let info;
  try {
    info = await stat(path);
  } catch {
    throw new InputFileError(`${path}: no such file`);
  }
  if (info.isDirectory()) throw new InputFileError(`${path}: is a directory, expected a file`);
  try {
    // A plain Uint8Array view (no copy): Buffer's slice() shares memory where Uint8Array's copies.
    const b = await readFile(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (e) {
    throw new InputFileError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/**
 * safetensors: a little-endian u64 header length that fits the file, then "{". Otherwise zip magic
 * (PyTorch ≥ 1.6) or pickle protocol 2 magic (legacy torch.save) means a .pth. The safetensors test
 * comes first: a header length whose low byte is 0x80 would otherwise look like a pickle.
 */
function detectFormat(bytes: Uint8Array, path: string): WeightsFormat {
  if (bytes.length >= 9 && bytes[8] === 0x7b /* "{" */) {
    const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
    if (headerLength <= BigInt(bytes.length - 8)) return "safetensors";
  }
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b) return "pth";
  if (bytes.length >= 2 && bytes[0] === 0x80) return "pth";
  throw new WeightsError(`${path}: not a weights file: expected a PyTorch .pth (zip) or a safetensors file`);
}

export async function readWeightsFile(path: string): Promise<WeightsFile> {
  const bytes = await readInputFile(path);
  const format = detectFormat(bytes, path);
  if (format === "pth") return { path, format, tensors: readPth(bytes, path), metadata: null };
  const file = readSafetensors(bytes, path);
  return { path, format, tensors: file.tensors, metadata: decodeMetadata(file.metadata, path) };
}

/**
 * Writes `bytes` to `path` atomically: temp file in the same folder, fsync, rename. Orphaned temp
 * files of earlier writes of `path` (their process was killed) are removed first (temp_files.ts).
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  await removeOrphanTemps(path);
  const temp = tempPathFor(path);
  try {
    await writeFile(temp, bytes);
    const handle = await open(temp, "r+");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (e) {
    await unlink(temp).catch(() => undefined);
    throw new InputFileError(`${path}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

export async function saveCheckpoint(path: string, tensors: Map<string, Tensor>, metadata: CheckpointMetadata): Promise<void> {
  await writeFileAtomic(path, writeSafetensors(tensors, encodeMetadata(metadata)));
}
