/**
 * A training set and, when there is one, a separate validation set (Node). Sources: an image folder
 * (one sub-folder per class, torchvision's ImageFolder), a `path,label` CSV list (csv.ts), or a
 * folder in the common `DIR/train/<class>/…` + `DIR/val/<class>/…` layout, found when given DIR.
 * Validation classes are mapped onto the training classes by name: the training set defines the
 * classes and their indices; a validation class unknown to training is an error, a training class
 * with no validation images is allowed (and listed).
 */
import { asImageFolder } from "./zip_folder.js";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { InputFileError } from "../errors.js";
import { readCsvList } from "./csv.js";
import { readImageFolder, type ImageFolder, type Sample } from "./folder.js";
import { shown } from "../text.js";

/** Names of the validation folder in a `DIR/train` + `DIR/<val>` layout, in the order tried. */
export const VAL_FOLDER_NAMES: readonly string[] = ["val", "valid", "validation"];

export interface DatasetOptions {
  /** A class-per-sub-folder folder, a `path,label` CSV file, or a folder holding train/ and val/. */
  path: string;
  /** Validation data, a folder or a CSV file; default: found by the train/val layout, else none. */
  val?: string;
}

export interface Dataset {
  /** The training classes, sorted as ImageFolder sorts them; a sample's label indexes this. */
  classes: string[];
  train: Sample[];
  /** null when there is no separate validation set (the caller may split one off `train`). */
  val: Sample[] | null;
  /** Non-image files skipped (training set's, then validation set's), as paths under their source. */
  skipped: string[];
  /** Entries that cannot be followed (dangling links, link loops), one message each: skipped. */
  unreadable: string[];
  /** The folder or CSV file the training samples came from. */
  trainSource: string;
  /** The folder or CSV file the validation samples came from, or null. */
  valSource: string | null;
  /** True when valSource was found by the train/val layout rather than given. */
  valDetected: boolean;
  /** Training classes with no validation sample. */
  missingInVal: string[];
  /**
   * One line saying where the data comes from, e.g.
   * "image folder data/train: 3 classes, 120 images; validation: image folder data/val, 30 images".
   */
  description: string;
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

async function hasSubfolder(path: string): Promise<boolean> {
  try {
    for (const d of await readdir(path, { withFileTypes: true })) {
      if (!d.name.startsWith(".") && (d.isDirectory() || (d.isSymbolicLink() && (await isDirectory(join(path, d.name)))))) return true;
    }
  } catch {
    // unreadable: not a layout we recognise
  }
  return false;
}

/**
 * `DIR/train` and `DIR/val` (or valid/validation), each holding class sub-folders: the layout of
 * many published datasets. A `train` folder with images but no sub-folders is a class, not a split.
 */
export async function detectTrainValLayout(dir: string): Promise<{ train: string; val: string } | null> {
  const train = join(dir, "train");
  if (!(await hasSubfolder(train))) return null;
  for (const name of VAL_FOLDER_NAMES) {
    const val = join(dir, name);
    if (await hasSubfolder(val)) return { train, val };
  }
  return null;
}

/** A folder (read as an ImageFolder) or a file (read as a CSV list). */
export async function readLabelledImages(
  path: string,
): Promise<{ data: ImageFolder; kind: "image folder" | "CSV list"; skipped: string[] }> {
  let isDir: boolean;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch {
    throw new InputFileError(
      `${path}: no such folder or file (expected an image folder with one sub-folder per class, or a path,label CSV list)`,
    );
  }
  if (isDir) {
    const data = await readImageFolder(path);
    return { data, kind: "image folder", skipped: data.skipped.map((p) => join(path, p)) };
  }
  const data = await readCsvList(path);
  return { data, kind: "CSV list", skipped: data.skipped.map((p) => join(data.root, p)) };
}

/**
 * Relabels validation samples onto the training classes by name. A validation class the training
 * set does not have is an error naming `source`; training classes absent from validation are returned.
 */
export function mapClassesByName(val: ImageFolder, classes: readonly string[], source: string): { samples: Sample[]; missing: string[] } {
  const index = new Map(classes.map((c, i) => [c, i]));
  const unknown = val.classes.filter((c) => !index.has(c));
  if (unknown.length) {
    const list = (xs: readonly string[]) =>
      xs.length > 10
        ? `${xs
            .slice(0, 10)
            .map((c) => `"${shown(c, 40)}"`)
            .join(", ")}, … (${xs.length})`
        : xs.map((c) => `"${shown(c, 40)}"`).join(", ");
    throw new InputFileError(
      `${source}: validation class${unknown.length > 1 ? "es" : ""} ${list(unknown)} ` +
        `${unknown.length > 1 ? "are" : "is"} not among the training classes (${list(classes)})`,
    );
  }
  const samples = val.samples.map((s) => ({ path: s.path, label: index.get(val.classes[s.label])! }));
  const present = new Set(val.classes);
  return { samples, missing: classes.filter((c) => !present.has(c)) };
}

/** Reads the training set and the validation set (given, or found by the train/val layout). */
export async function readDataset(o: DatasetOptions): Promise<Dataset> {
  // A zip (the studio's project, or any zipped folder) is unpacked once and read as that folder.
  const root = await asImageFolder(o.path);
  let trainPath = root;
  let valPath = o.val === undefined ? null : await asImageFolder(o.val);
  let valDetected = false;
  if (await isDirectory(root)) {
    const layout = await detectTrainValLayout(root);
    if (layout) {
      trainPath = layout.train;
      if (valPath === null) {
        valPath = layout.val;
        valDetected = true;
      }
    }
  }
  const train = await readLabelledImages(trainPath);
  const classes = train.data.classes;
  const n = (k: number, one: string, many = `${one}s`) => `${k} ${k === 1 ? one : many}`;
  const zipped = root !== o.path ? `zip ${o.path}, unpacked to ` : "";
  const counts = `${n(classes.length, "class", "classes")}, ${n(train.data.samples.length, "image")}`;
  let description = `${zipped}${train.kind} ${trainPath}: ${counts}`;
  let val: Sample[] | null = null;
  let missingInVal: string[] = [];
  const skipped = [...train.skipped];
  const unreadable = [...train.data.unreadable];
  if (valPath !== null) {
    const v = await readLabelledImages(valPath);
    const mapped = mapClassesByName(v.data, classes, valPath);
    val = mapped.samples;
    missingInVal = mapped.missing;
    skipped.push(...v.skipped);
    unreadable.push(...v.data.unreadable);
    description += `; validation${valDetected ? " (found beside it)" : ""}: ${v.kind} ${valPath}, ${n(val.length, "image")}`;
    if (missingInVal.length) description += ` (no images of ${missingInVal.map((c) => `"${shown(c, 40)}"`).join(", ")})`;
  }
  return {
    classes,
    train: train.data.samples,
    val,
    skipped,
    unreadable,
    trainSource: trainPath,
    // A zip is recorded by its own path (its unpacked folder lasts as long as this process).
    valSource: o.val !== undefined ? o.val : root !== o.path && valDetected ? null : valPath,
    valDetected,
    missingInVal,
    description,
  };
}
