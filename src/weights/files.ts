/**
 * Weights files on disk (Node): format detection, reading, and atomic writes (a temp file in the
 * same folder, then rename, so a crash or Ctrl-C never leaves a half-written checkpoint).
 */
import { constants, type Stats } from "node:fs";
import { type FileHandle, open, rename, unlink, writeFile } from "node:fs/promises";
import { crc32 } from "node:zlib";
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

/**
 * Reads a regular file, with a clear message for the usual failures (missing, a folder, unreadable) and
 * for anything that is not a regular file: a FIFO would block forever, /dev/zero or /dev/urandom never end.
 * The file is opened non-blocking (so opening a FIFO returns at once) and checked on its descriptor, so a
 * path swapped between check and read is checked too; then exactly the size fstat reported is read.
 * `expected` names what the file should be, in messages ("a file", "an image").
 */
export async function readInputFile(path: string, expected = "a file"): Promise<Uint8Array> {
  const failed = (e: unknown): InputFileError => {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return new InputFileError(`${path}: no such file`);
    if (code === "EISDIR") return new InputFileError(`${path}: is a directory, not ${expected}`);
    if (code === "EACCES" || code === "EPERM") return new InputFileError(`${path}: permission denied`);
    if (code === "ELOOP") return new InputFileError(`${path}: too many levels of symbolic links (a symlink loop)`);
    return new InputFileError(`${path}: cannot read (${code ?? (e as Error).message})`);
  };
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw failed(e);
  }
  try {
    const info = await handle.stat();
    if (info.isDirectory()) throw new InputFileError(`${path}: is a directory, not ${expected}`);
    if (!info.isFile()) throw new InputFileError(`${path}: is ${fileKind(info)}, not a regular file; expected ${expected}`);
    // A plain Uint8Array (Buffer.allocUnsafe's pool would share memory between small files).
    const bytes = new Uint8Array(info.size);
    let at = 0;
    while (at < bytes.length) {
      const { bytesRead } = await handle.read(bytes, at, bytes.length - at, at);
      if (bytesRead === 0) break;
      at += bytesRead;
    }
    return at === bytes.length ? bytes : bytes.subarray(0, at);
  } catch (e) {
    throw e instanceof InputFileError ? e : failed(e);
  } finally {
    await handle.close();
  }
}

/** What a non-regular file is, for messages. */
export function fileKind(info: Stats): string {
  if (info.isFIFO()) return "a FIFO (named pipe)";
  if (info.isCharacterDevice()) return "a character device";
  if (info.isBlockDevice()) return "a block device";
  if (info.isSocket()) return "a socket";
  if (info.isDirectory()) return "a directory";
  return "not a regular file";
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
  // Node's zlib.crc32 checks the archive's entries ~5x faster than the portable one (100 MB: 85 vs 476 ms).
  if (format === "pth") return { path, format, tensors: readPth(bytes, path, { crc32 }), metadata: null };
  const file = readSafetensors(bytes, path);
  const metadata = decodeMetadata(file.metadata, path);
  // A model is built from the metadata's class count before any tensor is checked against it: bound it by
  // what the file holds (a classifier for N classes has at least N values), or 2 KB of JSON could ask for GBs.
  let values = 0;
  for (const t of file.tensors.values()) values += t.data.length;
  if (metadata && metadata.options.numClasses > values) {
    throw new WeightsError(
      `${path}: metadata declares ${metadata.options.numClasses} classes, but the file's tensors hold only ${values} values ` +
        `(a classifier for N classes has at least N)`,
    );
  }
  return { path, format, tensors: file.tensors, metadata };
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
