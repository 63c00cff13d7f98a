/**
 * Names of the temp files an atomic write goes through (files.ts), chosen so that the next write of
 * the same file recognises the orphans a killed process left (a SIGKILL mid-save left 37–89 MB temp
 * files no one removed): `.<name>.<pid>-<random>.convzoo-tmp` beside the target. An orphan is one
 * whose process is gone; a temp file of a live process (another convzoo saving the same file right
 * now) is left alone, as is anything not named this way.
 */
import { randomBytes } from "node:crypto";
import { readdir, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

const SUFFIX = ".convzoo-tmp";

export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}-${randomBytes(4).toString("hex")}${SUFFIX}`);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Removes the temp files of `path` whose writing process has ended; returns their paths. */
export async function removeOrphanTemps(path: string): Promise<string[]> {
  const prefix = `.${basename(path)}.`;
  let names: string[];
  try {
    names = await readdir(dirname(path));
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith(SUFFIX)) continue;
    const match = /^(\d+)-[0-9a-f]{8}$/.exec(name.slice(prefix.length, -SUFFIX.length));
    if (!match || processAlive(Number(match[1]))) continue;
    const orphan = join(dirname(path), name);
    await unlink(orphan).then(
      () => removed.push(orphan),
      () => undefined,
    );
  }
  return removed;
}
