/**
 * Checks a run makes before it trains anything, so that bad data or an unusable --save costs seconds,
 * not an epoch: data that cannot train a classifier, and a checkpoint path that cannot be written.
 */
import { open, stat, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import { InputFileError, OptionError } from "../errors.js";
import { shownList } from "../text.js";
import { removeOrphanTemps, tempPathFor } from "../weights/temp_files.js";
import { siblingPath } from "./files.js";

/**
 * One class trains a 1-output model that reports 100% (softmax over one logit is 1), and a single
 * training image trains nothing (the only batch is left out: BatchNorm needs two values per channel).
 */
export function checkTrainableData(source: string, classes: readonly string[], trainImages: number): void {
  if (classes.length < 2) {
    throw new OptionError(
      `${source}: ${classes.length} class (${shownList(classes)}): a classifier needs at least 2 classes to tell apart ` +
        "(one sub-folder, or CSV label, per class)",
    );
  }
  if (trainImages < 2) {
    throw new OptionError(
      `${source}: ${trainImages} training image${trainImages === 1 ? "" : "s"} (after the validation split): training needs at least 2`,
    );
  }
}

/**
 * `--save F` must be writable before the first epoch: F is not a folder, its folder exists, and a
 * file can be created there (a read-only mount fails here, not after an epoch). Temp files that
 * killed runs left beside F, its resume file and its report are removed on the way.
 */
export async function checkSaveWritable(save: string): Promise<string[]> {
  const dir = dirname(save);
  const info = await stat(save).catch(() => null);
  if (info?.isDirectory()) throw new InputFileError(`${save}: is a folder; --save expects a file path (e.g. ${save}/model.safetensors)`);
  const dirInfo = await stat(dir).catch(() => null);
  if (!dirInfo?.isDirectory()) throw new InputFileError(`${save}: folder ${dir} does not exist`);
  // Creating a file is the one test a read-only mount, permissions and ACLs all answer the same way.
  const probe = tempPathFor(save);
  try {
    await (await open(probe, "wx")).close();
    await unlink(probe);
  } catch (e) {
    throw new InputFileError(`${save}: cannot write in ${dir} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const removed: string[] = [];
  for (const path of [save, siblingPath(save, ".resume.safetensors"), siblingPath(save, ".report.html")])
    removed.push(...(await removeOrphanTemps(path)));
  return removed;
}
