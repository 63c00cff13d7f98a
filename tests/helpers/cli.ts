/** Runs the built `convzoo` command (dist/, built by `npm test`) and captures its output. */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export const CLI = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));

export interface CliResult {
  status: number | null;
  /** The signal that ended the process (SIGSEGV …), or null. */
  signal?: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function convzoo(...args: string[]): CliResult {
  return convzooWithEnv({}, ...args);
}

/** The command with extra environment variables (a temporary cache, offline mode …). */
export function convzooWithEnv(env: NodeJS.ProcessEnv, ...args: string[]): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", maxBuffer: 256 << 20, env: { ...process.env, ...env } });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}
