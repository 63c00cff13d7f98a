/**
 * Access to Debian's Python and PyTorch for ground-truth tests. The interpreter is Debian's own
 * /usr/bin/python3 (a pyenv `python3` first on PATH has no torch). Where a requirement is missing
 * the test skips with the reason — unless CONVZOO_REQUIRE_TORCH=1 (set by .ci/run), where that is
 * a failure, so CI always runs them.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import type { TestContext } from "node:test";

export const PYTHON = process.env.CONVZOO_PYTHON ?? "/usr/bin/python3";

const probes = new Map<string, string | null>();

/** null when `code` runs under PYTHON, else the reason it does not. */
export function probePython(code: string): string | null {
  let reason = probes.get(code);
  if (reason === undefined) {
    const r = spawnSync(PYTHON, ["-c", code], { encoding: "utf8", timeout: 120_000 });
    if (r.error) reason = `${PYTHON}: ${r.error.message}`;
    else if (r.status !== 0) reason = `${PYTHON} -c "${code}" failed: ${(r.stderr.trim().split("\n").pop() ?? "").trim()}`;
    else reason = null;
    probes.set(code, reason);
  }
  return reason;
}

const REQUIREMENTS = {
  python: { label: "Python", code: "import json, struct" },
  torch: { label: "PyTorch", code: "import torch" },
  torchvision: { label: "PyTorch/torchvision", code: "import torch, torchvision" },
  onnx: { label: "the onnx package", code: "import onnx" },
  h5py: { label: "PyTorch and h5py", code: "import torch, h5py" },
} as const;

export type Requirement = keyof typeof REQUIREMENTS;

/** True when the requirement is met; otherwise skips `t` (or fails it under CONVZOO_REQUIRE_TORCH=1). */
export function requirePython(t: TestContext, what: Requirement): boolean {
  const { label, code } = REQUIREMENTS[what];
  const reason = probePython(code);
  if (reason === null) return true;
  if (process.env.CONVZOO_REQUIRE_TORCH === "1") assert.fail(`${label} not available but CONVZOO_REQUIRE_TORCH=1: ${reason}`);
  t.skip(`${label} not available: ${reason}`);
  return false;
}

/** True when the requirement is met (for suite-level set-up that must not fail by itself). */
export function hasPython(what: Requirement): boolean {
  return probePython(REQUIREMENTS[what].code) === null;
}

/** Runs Python under PYTHON and returns its stdout; fails the test with stderr otherwise. */
export function runPython(args: string[], input?: string): string {
  const r = spawnSync(PYTHON, args, { encoding: "utf8", input, timeout: 600_000, maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  assert.equal(r.status, 0, `${PYTHON} ${args.join(" ")} failed:\n${r.stderr}`);
  return r.stdout;
}
