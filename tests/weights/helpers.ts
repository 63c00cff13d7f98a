/**
 * Test helpers for the weights formats: a tiny pickle writer (so unpickler tests need no Python)
 * and the PyTorch gate (Debian's /usr/bin/python3 with python3-torch; skip when absent unless
 * CONVZOO_REQUIRE_TORCH=1).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import type { TestContext } from "node:test";
import { WeightsError } from "../../src/errors.js";

// --- pickle writer (opcodes as in CPython's Lib/pickletools.py) ---------------------------------

export type Op = number[];

const enc = new TextEncoder();

function u32(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}

export const P = {
  proto: (v: number): Op => [0x80, v],
  stop: (): Op => [0x2e],
  mark: (): Op => [0x28],
  none: (): Op => [0x4e],
  bool: (v: boolean): Op => [v ? 0x88 : 0x89],
  /** BININT1 / BININT2 / BININT depending on the value. */
  int: (v: number): Op => {
    if (v >= 0 && v < 256) return [0x4b, v];
    if (v >= 0 && v < 65536) return [0x4d, v & 0xff, v >> 8];
    return [0x4a, ...u32(v >>> 0)];
  },
  /** LONG1 of a bigint, little-endian two's complement. */
  long: (v: bigint): Op => {
    const bytes: number[] = [];
    let x = v;
    for (;;) {
      bytes.push(Number(x & 0xffn));
      x >>= 8n;
      const sign = bytes[bytes.length - 1] & 0x80;
      if ((x === 0n && !sign) || (x === -1n && sign)) break;
    }
    return [0x8a, bytes.length, ...bytes];
  },
  float: (v: number): Op => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, false);
    return [0x47, ...b];
  },
  str: (s: string): Op => {
    const b = enc.encode(s);
    return [0x58, ...u32(b.length), ...b];
  },
  shortStr: (s: string): Op => {
    const b = enc.encode(s);
    return [0x8c, b.length, ...b];
  },
  bytes: (b: number[]): Op => [0x43, b.length, ...b],
  global: (module: string, name: string): Op => [0x63, ...enc.encode(`${module}\n${name}\n`)],
  stackGlobal: (): Op => [0x93],
  emptyDict: (): Op => [0x7d],
  emptyList: (): Op => [0x5d],
  emptyTuple: (): Op => [0x29],
  tuple: (): Op => [0x74],
  tuple1: (): Op => [0x85],
  tuple2: (): Op => [0x86],
  tuple3: (): Op => [0x87],
  setitem: (): Op => [0x73],
  setitems: (): Op => [0x75],
  append: (): Op => [0x61],
  appends: (): Op => [0x65],
  put: (i: number): Op => [0x71, i],
  get: (i: number): Op => [0x68, i],
  memoize: (): Op => [0x94],
  reduce: (): Op => [0x52],
  build: (): Op => [0x62],
  newobj: (): Op => [0x81],
  binpersid: (): Op => [0x51],
};

export function pickle(...ops: Op[]): Uint8Array {
  return Uint8Array.from(ops.flat());
}

/** `OrderedDict()` as torch writes it: GLOBAL, EMPTY_TUPLE, REDUCE. */
export function orderedDict(): Op {
  return [...P.global("collections", "OrderedDict"), ...P.emptyTuple(), ...P.reduce()];
}

/** `_rebuild_tensor_v2(('storage', <cls>, key, 'cpu', numel), offset, size, stride, False, OrderedDict())`. */
export function tensorRecord(o: { cls: string; key: string; numel: number; offset: number; size: number[]; stride: number[] }): Op {
  const ints = (xs: number[]): Op => [...P.mark(), ...xs.flatMap(P.int), ...P.tuple()];
  return [
    ...P.global("torch._utils", "_rebuild_tensor_v2"),
    ...P.mark(),
    ...P.mark(),
    ...P.str("storage"),
    ...P.global("torch", o.cls),
    ...P.str(o.key),
    ...P.str("cpu"),
    ...P.int(o.numel),
    ...P.tuple(),
    ...P.binpersid(),
    ...P.int(o.offset),
    ...ints(o.size),
    ...ints(o.stride),
    ...P.bool(false),
    ...orderedDict(),
    ...P.tuple(),
    ...P.reduce(),
  ];
}

// --- Python / PyTorch gate ------------------------------------------------------------------------

/** Debian's interpreter, which has python3-torch; a pyenv `python3` on PATH usually does not. */
export const PYTHON = "/usr/bin/python3";

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

/**
 * True when PyTorch (or plain Python, with `what: "python"`) is usable. Otherwise skips the test
 * with the reason, or fails it when CONVZOO_REQUIRE_TORCH=1 (CI installs PyTorch and makes a
 * skip an error).
 */
export function requirePython(t: TestContext, what: "torch" | "python"): boolean {
  const reason = probePython(what === "torch" ? "import torch" : "import json, struct");
  if (reason === null) return true;
  const label = what === "torch" ? "PyTorch" : "Python";
  if (process.env.CONVZOO_REQUIRE_TORCH === "1") {
    assert.fail(`${label} not available but CONVZOO_REQUIRE_TORCH=1: ${reason}`);
  }
  t.skip(`${label} not available: ${reason}`);
  return false;
}

/** Runs a Python script under PYTHON and returns its stdout; fails the test with stderr otherwise. */
export function runPython(args: string[], input?: string): string {
  const r = spawnSync(PYTHON, args, { encoding: "utf8", input, timeout: 300_000, maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  assert.equal(r.status, 0, `${PYTHON} ${args.join(" ")} failed:\n${r.stderr}`);
  return r.stdout;
}

/** Asserts `fn` throws a WeightsError whose message matches every pattern. */
export function assertWeightsError(fn: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof WeightsError, `expected a WeightsError, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}
