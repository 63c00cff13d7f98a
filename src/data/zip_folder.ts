/**
 * A zip of labelled images taken as is (Node): the studio's project zip (`<class>/<file>`), or any zip
 * holding a class-per-folder tree or `train/` + `val/`. It is unpacked once into a private temp folder,
 * removed when the process exits, and then read like any folder. The archive is untrusted: entries are
 * read through weights/zip.ts (CRC-checked, inflation bounded), and an entry whose name would land
 * outside the folder (absolute, `..`, a backslash or drive letter: "zip slip") is refused by name.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { mkdir, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { crc32 } from "node:zlib";
import { InputFileError } from "../errors.js";
import { shown } from "../text.js";
import { readInputFile } from "../weights/files.js";
import { ZipArchive } from "../weights/zip.js";

export function isZipPath(path: string): boolean {
  return path.toLowerCase().endsWith(".zip");
}

/** The folder to read for `path`: a `.zip` file unpacked (see unpackImageZip), anything else as given. */
export async function asImageFolder(path: string): Promise<string> {
  if (!isZipPath(path)) return path;
  const isFile = await stat(path).then(
    (s) => !s.isDirectory(),
    () => true, // missing: unpackImageZip's reader names the file and the error
  );
  return isFile ? unpackImageZip(path) : path;
}

const unpacked: string[] = [];
let cleanupRegistered = false;

/** Unpacks `path` into a new temp folder and returns it (removed at exit). */
export async function unpackImageZip(path: string): Promise<string> {
  const archive = new ZipArchive(await readInputFile(path), path, crc32);
  // Every name is checked, ignored ones too (a `..` part must not pass as a hidden file).
  for (const name of archive.entries.keys()) checkEntryName(path, name);
  const names = [...archive.entries.keys()].filter((name) => !name.endsWith("/") && !ignored(name));
  if (!names.length) throw new InputFileError(`${path}: the zip holds no files (expected <class>/<image> entries)`);
  const root = mkdtempSync(join(tmpdir(), "convzoo-zip-"));
  unpacked.push(root);
  if (!cleanupRegistered) {
    cleanupRegistered = true;
    process.once("exit", () => {
      for (const dir of unpacked) rmSync(dir, { recursive: true, force: true });
    });
  }
  for (const name of names) {
    const target = join(root, ...name.split("/"));
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, archive.read(name));
  }
  return root;
}

/** macOS resource forks and hidden files that zip tools add: not images of any class. */
function ignored(name: string): boolean {
  return name.split("/").some((part) => part === "__MACOSX" || (part.startsWith(".") && part !== ".."));
}

function checkEntryName(path: string, name: string): void {
  const parts = name.split("/");
  const bad =
    name.startsWith("/") ||
    name.includes("\\") ||
    name.includes("\0") ||
    /^[a-zA-Z]:/.test(name) ||
    parts.some((part, i) => part === ".." || (part === "" && i < parts.length - 1));
  if (bad) throw new InputFileError(`${path}: entry ${shown(name, 80)} would land outside the folder: refused (nothing unpacked)`);
}
