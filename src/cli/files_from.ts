/**
 * `--files-from FILE`: image paths read from a list instead of the command line (which has a length
 * limit of its own, ARG_MAX), one per line like `tar --files-from`, or NUL-separated like `xargs -0`
 * when the list holds a NUL (`find … -print0 > list`). `-` reads standard input. Blank lines are
 * skipped; paths are taken as written (relative ones from the current folder, as tar does).
 */
import { text } from "node:stream/consumers";
import { InputFileError } from "../errors.js";
import { readInputFile } from "../weights/files.js";

export async function readFileList(list: string): Promise<string[]> {
  const content = list === "-" ? await text(process.stdin) : new TextDecoder().decode(await readInputFile(list));
  const separator = content.includes("\0") ? "\0" : /\r?\n/;
  const paths = content.split(separator).filter((p) => p.length > 0);
  const name = list === "-" ? "standard input" : list;
  if (paths.length === 0) throw new InputFileError(`${name}: no paths in the list (expected one image path per line)`);
  return paths;
}
