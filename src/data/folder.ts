/**
 * Labelled image folders, read the way torchvision's ImageFolder reads them: one sub-folder per
 * class, classes in sorted order (their index is the label), images found recursively under each
 * class folder and listed in sorted order (os.walk sorted by directory, then file names sorted), so
 * a model trained here and one trained by torchvision on the same folder see the same sample order.
 */
import { readdir, realpath, stat } from "node:fs/promises";
import { join, relative } from "node:path";
import { InputFileError, OptionError } from "../errors.js";
import { Random } from "../random.js";
import { shown } from "../text.js";

/** torchvision's IMG_EXTENSIONS (matched case-insensitively). */
export const IMAGE_EXTENSIONS: readonly string[] = [".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"];

export interface Sample {
  path: string;
  label: number;
}

export interface ImageFolder {
  root: string;
  classes: string[];
  samples: Sample[];
  /** Files under the class folders that are not images by extension (skipped). */
  skipped: string[];
  /**
   * Entries that cannot be followed, one message each naming the path (dangling symbolic links,
   * link loops): skipped, for the caller to warn about.
   */
  unreadable: string[];
}

/** Whether a file name has one of IMAGE_EXTENSIONS (the test ImageFolder and CSV lists share). */
export function isImageName(name: string): boolean {
  const lower = name.toLowerCase();
  return IMAGE_EXTENSIONS.some((e) => lower.endsWith(e));
}

/** Python's sort order for str (code points); JS's default sort compares UTF-16 units. */
export function byCodePoint(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i].codePointAt(0)! - y[i].codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/**
 * Where a symbolic link leads: a folder, a file, or nowhere (a dangling link, a loop of links), with
 * the warning that names it.
 */
async function followLink(path: string): Promise<{ isDir: boolean } | { problem: string }> {
  try {
    return { isDir: (await stat(path)).isDirectory() };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return { problem: `${path}: dangling symbolic link (its target does not exist), skipped` };
    if (code === "ELOOP") return { problem: `${path}: symbolic link loop, skipped` };
    return { problem: `${path}: cannot follow the symbolic link (${code ?? (e as Error).message}), skipped` };
  }
}

async function entries(dir: string, unreadable: string[]): Promise<{ name: string; isDir: boolean }[]> {
  let list;
  try {
    list = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new InputFileError(`${dir}: no such folder`);
    if (code === "ENOTDIR") throw new InputFileError(`${dir}: not a folder (expected a folder with one sub-folder per class)`);
    throw new InputFileError(`${dir}: cannot be read (${(e as Error).message})`);
  }
  const out: { name: string; isDir: boolean }[] = [];
  for (const d of list) {
    if (d.name.startsWith(".")) continue;
    // Follow symbolic links, as torchvision does (os.walk(followlinks=True)); one that leads nowhere is skipped.
    if (d.isSymbolicLink()) {
      const target = await followLink(join(dir, d.name));
      if ("problem" in target) unreadable.push(target.problem);
      else out.push({ name: d.name, isDir: target.isDir });
    } else out.push({ name: d.name, isDir: d.isDirectory() });
  }
  return out.sort((a, b) => byCodePoint(a.name, b.name));
}

/**
 * Files under `dir`, recursively, in torchvision's order: `sorted(os.walk(dir))` orders directories
 * by their path string (so "a/x" comes after "a-b"), and the files of each are sorted by name.
 */
async function walk(dir: string, files: string[], other: string[], unreadable: string[]): Promise<void> {
  const dirs: { path: string; names: string[] }[] = [];
  // Real paths of the folders being visited: a link back to one of them is a loop (os.walk would
  // descend until the path is too long), skipped with a warning.
  const visit = async (d: string, ancestors: readonly string[]): Promise<void> => {
    const real = await realpath(d);
    if (ancestors.includes(real)) {
      unreadable.push(`${d}: symbolic link back to ${real} (a loop), skipped`);
      return;
    }
    const list = await entries(d, unreadable);
    dirs.push({ path: d, names: list.filter((e) => !e.isDir).map((e) => e.name) });
    for (const e of list) if (e.isDir) await visit(join(d, e.name), [...ancestors, real]);
  };
  await visit(dir, []);
  dirs.sort((a, b) => byCodePoint(a.path, b.path));
  for (const d of dirs) for (const name of d.names) (isImageName(name) ? files : other).push(join(d.path, name));
}

/**
 * Reads a class-per-sub-folder dataset. An empty folder, a class with no images, or a folder with
 * no class folders is an error naming it, before any training starts.
 */
export async function readImageFolder(root: string): Promise<ImageFolder> {
  const unreadable: string[] = [];
  const top = await entries(root, unreadable);
  const classes = top.filter((e) => e.isDir).map((e) => e.name);
  if (classes.length === 0)
    throw new InputFileError(`${root}: no class folders (expected one sub-folder per class, e.g. ${join(root, "cat")}/*.jpg)`);
  const samples: Sample[] = [];
  const skipped: string[] = [];
  const empty: string[] = [];
  for (const [label, name] of classes.entries()) {
    const files: string[] = [];
    await walk(join(root, name), files, skipped, unreadable);
    if (files.length === 0) empty.push(name);
    for (const path of files) samples.push({ path, label });
  }
  if (empty.length) {
    throw new InputFileError(
      `${root}: class folder${empty.length > 1 ? "s" : ""} ${empty.map((c) => `"${shown(c, 40)}"`).join(", ")} ` +
        `ha${empty.length > 1 ? "ve" : "s"} no images (${IMAGE_EXTENSIONS.join(" ")})`,
    );
  }
  return { root, classes, samples, skipped: skipped.map((p) => relative(root, p)), unreadable };
}

/**
 * A stratified split: from each class, round(fraction · n) images (at least one when fraction > 0
 * and the class has two or more) go to validation, chosen by a seeded shuffle; order within each
 * part stays the folder order.
 */
export function stratifiedSplit(samples: readonly Sample[], fraction: number, seed: number): { train: Sample[]; val: Sample[] } {
  if (!(fraction >= 0 && fraction < 1)) throw new OptionError(`validation split must be in [0, 1), got ${fraction}`);
  if (fraction === 0) return { train: [...samples], val: [] };
  const rng = new Random(seed);
  const byClass = new Map<number, number[]>();
  samples.forEach((s, i) => {
    const list = byClass.get(s.label);
    if (list) list.push(i);
    else byClass.set(s.label, [i]);
  });
  const inVal = new Set<number>();
  for (const indices of byClass.values()) {
    const n = indices.length < 2 ? 0 : Math.min(indices.length - 1, Math.max(1, Math.round(fraction * indices.length)));
    for (const i of rng.shuffle([...indices]).slice(0, n)) inVal.add(i);
  }
  return { train: samples.filter((_, i) => !inVal.has(i)), val: samples.filter((_, i) => inVal.has(i)) };
}
