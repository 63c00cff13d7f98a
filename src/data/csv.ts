/**
 * Labelled image lists as CSV: one `path,label` row per image (Node), in readImageFolder's shape (classes
 * in ImageFolder's sorted order, samples in row order, non-images in `skipped`). RFC 4180 fields, optional
 * `path`/`label` header (else path then label), paths relative to the CSV's folder. Format: docs/data.md#csv
 */
import { stat } from "node:fs/promises";
import { dirname, isAbsolute, join } from "node:path";
import { InputFileError } from "../errors.js";
import { fileKind, readInputFile } from "../weights/files.js";
import { byCodePoint, IMAGE_EXTENSIONS, isImageName, type ImageFolder, type Sample } from "./folder.js";

export interface CsvRecord {
  /** 1-based line on which the record starts. */
  line: number;
  fields: string[];
}

/** Problems listed in one error before "… and N more". */
const SHOWN = 5;

function problemsError(file: string, problems: string[]): InputFileError {
  const shown = problems.slice(0, SHOWN).join("; ");
  const more = problems.length > SHOWN ? `; … and ${problems.length - SHOWN} more` : "";
  return new InputFileError(`${file}: ${problems.length === 1 ? "" : `${problems.length} problems: `}${shown}${more}`);
}

/** Splits CSV text into records (RFC 4180); `file` names the source in errors. */
export function parseCsv(text: string, file: string): CsvRecord[] {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const records: CsvRecord[] = [];
  let line = 1;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const start = line;
    const fields: string[] = [];
    for (;;) {
      // One field.
      while (i < n && (text[i] === " " || text[i] === "\t")) i++;
      let value: string;
      if (text[i] === '"') {
        const quoteLine = line;
        i++;
        let v = "";
        for (;;) {
          if (i >= n) throw new InputFileError(`${file}: line ${quoteLine}: a quoted field is never closed (expected a closing ")`);
          const c = text[i];
          if (c === '"') {
            if (text[i + 1] === '"') {
              v += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (c === "\n") line++;
          v += c;
          i++;
        }
        while (i < n && (text[i] === " " || text[i] === "\t")) i++;
        if (i < n && text[i] !== "," && text[i] !== "\n" && text[i] !== "\r") {
          throw new InputFileError(
            `${file}: line ${line}: unexpected ${JSON.stringify(text[i])} after a closing quote (expected a comma or the end of the line)`,
          );
        }
        value = v;
      } else {
        let j = i;
        while (j < n && text[j] !== "," && text[j] !== "\n" && text[j] !== "\r") j++;
        value = text.slice(i, j).trim();
        i = j;
      }
      fields.push(value);
      if (i < n && text[i] === ",") {
        i++;
        continue;
      }
      break;
    }
    // End of the record.
    if (text[i] === "\r") i++;
    if (text[i] === "\n") i++;
    line++;
    if (!(fields.length === 1 && fields[0] === "")) records.push({ line: start, fields });
  }
  return records;
}

/** What a row's path is: a regular file, a folder, missing, or another kind (a FIFO, a device) to refuse. */
async function kindOf(path: string): Promise<"file" | "directory" | "missing" | { other: string }> {
  let info;
  try {
    info = await stat(path);
  } catch {
    return "missing";
  }
  if (info.isDirectory()) return "directory";
  return info.isFile() ? "file" : { other: fileKind(info) };
}

/** Stats in parallel, a bounded number at a time. */
async function mapLimited<T, R>(items: readonly T[], limit: number, f: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const k = next++;
      out[k] = await f(items[k]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * Reads a `path,label` CSV list into an ImageFolder. Every problem (a row without a label column,
 * an empty path or label, a file that does not exist, a class whose rows are all non-images) is
 * collected and reported in one error naming the CSV and the lines: the first few and the count.
 */
export async function readCsvList(csvPath: string): Promise<ImageFolder> {
  let text: string;
  try {
    // Regular files only (weights/files.ts): a FIFO or /dev/zero named as the list would hang or fill memory.
    text = new TextDecoder().decode(await readInputFile(csvPath, "a CSV list"));
  } catch (e) {
    if (e instanceof InputFileError && e.message === `${csvPath}: no such file`) {
      throw new InputFileError(`${csvPath}: no such file (expected a CSV list of path,label rows)`);
    }
    throw e;
  }
  const records = parseCsv(text, csvPath);
  const root = dirname(csvPath);
  let pathCol = 0;
  let labelCol = 1;
  let rows = records;
  let hasHeader = false;
  if (records.length) {
    const names = records[0].fields.map((f) => f.toLowerCase());
    if (names.includes("path") && names.includes("label")) {
      pathCol = names.indexOf("path");
      labelCol = names.indexOf("label");
      rows = records.slice(1);
      hasHeader = true;
    }
  }
  if (rows.length === 0) throw new InputFileError(`${csvPath}: no rows (expected one path,label row per image)`);

  const problems: string[] = [];
  const need = Math.max(pathCol, labelCol) + 1;
  const valid: { line: number; path: string; label: string }[] = [];
  for (const r of rows) {
    if (r.fields.length < need) {
      problems.push(
        `line ${r.line}: no ${r.fields.length <= pathCol ? "path" : "label"} column (expected ${need} ` +
          `columns${hasHeader ? " as the header names them" : ": path,label"}, found ${r.fields.length})`,
      );
    } else if (r.fields[pathCol] === "") problems.push(`line ${r.line}: empty path`);
    else if (r.fields[labelCol] === "") problems.push(`line ${r.line}: empty label for ${r.fields[pathCol]}`);
    else valid.push({ line: r.line, path: r.fields[pathCol], label: r.fields[labelCol] });
  }

  const classes = [...new Set(valid.map((r) => r.label))].sort(byCodePoint);
  const images = valid.filter((r) => isImageName(r.path));
  const skipped = valid.filter((r) => !isImageName(r.path)).map((r) => r.path);
  const resolved = images.map((r) => (isAbsolute(r.path) ? r.path : join(root, r.path)));
  const kinds = await mapLimited(resolved, 64, kindOf);
  images.forEach((r, k) => {
    if (kinds[k] === "missing") problems.push(`line ${r.line}: no such file ${resolved[k]}`);
    else if (kinds[k] === "directory") problems.push(`line ${r.line}: ${resolved[k]} is a folder, not an image`);
    else if (typeof kinds[k] === "object") problems.push(`line ${r.line}: ${resolved[k]} is ${kinds[k].other}, not an image file`);
  });
  const withImages = new Set(images.map((r) => r.label));
  const empty = classes.filter((c) => !withImages.has(c));
  if (empty.length)
    problems.push(
      `class${empty.length > 1 ? "es" : ""} ${empty.map((c) => `"${c}"`).join(", ")} ` +
        `ha${empty.length > 1 ? "ve" : "s"} no image rows (${IMAGE_EXTENSIONS.join(" ")})`,
    );
  if (problems.length) {
    const e = problemsError(csvPath, problems);
    // A header with other column names reads as a data row (a missing file, or a non-image): say so.
    const first = records[0];
    if (!hasHeader && (!isImageName(first.fields[0] ?? "") || problems[0].startsWith(`line ${first.line}:`))) {
      e.message += ` (line ${first.line} was read as data: a header row must name its columns path and label)`;
    }
    throw e;
  }
  const index = new Map(classes.map((c, i) => [c, i]));
  const samples: Sample[] = images.map((r, k) => ({ path: resolved[k], label: index.get(r.label)! }));
  return { root, classes, samples, skipped, unreadable: [] };
}
