/**
 * Access to Debian's PyTorch for ground-truth tests. The interpreter is Debian's own
 * /usr/bin/python3 (a pyenv Python first on PATH has no torch). Where torch is absent the tests
 * skip with a message — unless CONVZOO_REQUIRE_TORCH=1 (set by .ci/run), where that is a failure.
 */
import { execFileSync, spawnSync } from "node:child_process";
import type { TestContext } from "node:test";

export const PYTHON = process.env.CONVZOO_PYTHON ?? "/usr/bin/python3";

let cached: string | null | undefined;

/** null when torch and torchvision import; otherwise why not. */
export function torchUnavailableReason(): string | null {
  if (cached !== undefined) return cached;
  const r = spawnSync(PYTHON, ["-c", "import torch, torchvision"], { encoding: "utf8" });
  cached = r.status === 0 ? null : `PyTorch/torchvision not importable by ${PYTHON}: ${(r.stderr || String(r.error)).trim().split("\n").pop()}`;
  return cached;
}

/** Returns false (after skipping `t`) when torch is missing and not required. */
export function needTorch(t: TestContext): boolean {
  const reason = torchUnavailableReason();
  if (reason === null) return true;
  if (process.env.CONVZOO_REQUIRE_TORCH === "1") throw new Error(`${reason} (CONVZOO_REQUIRE_TORCH=1: this must not be skipped)`);
  t.skip(reason);
  return false;
}

/** Runs a Python script with Debian's interpreter, failing loudly with its stderr. */
export function runPython(script: string, args: string[]): string {
  return execFileSync(PYTHON, [script, ...args], { encoding: "utf8", maxBuffer: 64 << 20, stdio: ["ignore", "pipe", "pipe"] });
}
