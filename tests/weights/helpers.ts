/**
 * Test helpers for the weights formats: a tiny pickle writer (so unpickler tests need no Python)
 * and the PyTorch gate (Debian's /usr/bin/python3 with python3-torch; skip when absent unless
 * CONVZOO_REQUIRE_TORCH=1).
 */
import assert from "node:assert/strict";
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

export { PYTHON, requirePython, runPython } from "../helpers/python.js";

/** Asserts `fn` throws a WeightsError whose message matches every pattern. */
export function assertWeightsError(fn: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof WeightsError, `expected a WeightsError, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}
