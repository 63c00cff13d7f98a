/**
 * The readers under fuzz, their valid seed inputs and the input generators (fast-check arbitraries), shared
 * by the CI-sized property tests (readers.test.ts) and the long runs (bench/fuzz.ts).
 * The oracle for every reader: it returns, or throws a ConvzooError (never a TypeError, RangeError, a hang or
 * a crash), and what it returns holds at most a small multiple of the input's own size.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { zipSync } from "fflate";
import { parseCsv } from "../../src/data/csv.js";
import { ConvzooError } from "../../src/errors.js";
import { Graph } from "../../src/graph/ir.js";
import * as ops from "../../src/graph/ops.js";
import "../../src/models/index.js";
import { createModel } from "../../src/models/registry.js";
import { initializeWeights } from "../../src/models/bind.js";
import { IMAGENET_EVAL } from "../../src/models/preprocessing.js";
import { fromOnnx, toOnnx } from "../../src/onnx/serialize.js";
import { readResumeFile, saveResumeFile } from "../../src/run/files.js";
import type { RunSettings } from "../../src/run/settings.js";
import type { Tensor } from "../../src/tensor.js";
import { decodeMetadata, encodeMetadata } from "../../src/weights/checkpoint.js";
import { readPth } from "../../src/weights/pth.js";
import { readSafetensors, writeSafetensors } from "../../src/weights/safetensors.js";
import { orderedDict, P, pickle, tensorRecord, type Op } from "../weights/helpers.js";

export interface FuzzTarget {
  name: string;
  /** Reads one input; returns the bytes of what it produced (tensors), for the allocation bound. */
  read(input: Uint8Array): number | Promise<number>;
  inputs: fc.Arbitrary<Uint8Array>;
}

/** What a reader may return per input byte (plus a fixed slack): pth allows 4× (widening, shared copies). */
export const OUTPUT_BYTES_PER_INPUT_BYTE = 4;
export const OUTPUT_SLACK_BYTES = 1 << 20;

/** The oracle: undefined when the outcome is acceptable, else what went wrong. */
export function judge(input: Uint8Array, outcome: { bytes: number } | { error: unknown }): string | undefined {
  if ("error" in outcome) {
    const e = outcome.error;
    if (e instanceof ConvzooError) return undefined;
    return e instanceof Error ? `${e.name}: ${e.message}` : `threw ${String(e)}`;
  }
  const limit = OUTPUT_BYTES_PER_INPUT_BYTE * input.length + OUTPUT_SLACK_BYTES;
  return outcome.bytes > limit ? `returned ${outcome.bytes} bytes of tensors from a ${input.length}-byte input` : undefined;
}

const enc = new TextEncoder();
const tensorBytes = (tensors: Iterable<Tensor>): number => {
  let n = 0;
  for (const t of tensors) n += t.data.byteLength;
  return n;
};

// --- mutations of valid seeds ---------------------------------------------------------------------

/** Values that sit on the edges of length and count fields. */
const INTERESTING_U32 = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

type Edit =
  | { kind: "flip"; at: number; bit: number }
  | { kind: "set"; at: number; value: number }
  | { kind: "u32"; at: number; value: number }
  | { kind: "insert"; at: number; bytes: Uint8Array }
  | { kind: "delete"; at: number; length: number }
  | { kind: "truncate"; at: number };

/** A position as a fraction of the input's length, unbiased (fast-check's bias towards 0 would edit the first byte most). */
const where = fc.noBias(fc.integer({ min: 0, max: 2 ** 30 - 1 })).map((v) => v / 2 ** 30);
const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: where, bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant("set" as const), at: where, value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("u32" as const), at: where, value: fc.constantFrom(...INTERESTING_U32) }),
  fc.record({ kind: fc.constant("insert" as const), at: where, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ kind: fc.constant("delete" as const), at: where, length: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ kind: fc.constant("truncate" as const), at: where }),
);

export function applyEdits(seed: Uint8Array, edits: readonly Edit[]): Uint8Array {
  // A copy: a Node Buffer's slice() would be a view, and the edits would change the seed itself.
  let b = new Uint8Array(seed);
  for (const e of edits) {
    const at = Math.floor(e.at * Math.max(1, b.length));
    switch (e.kind) {
      case "flip":
        if (b.length) b[at] ^= 1 << e.bit;
        break;
      case "set":
        if (b.length) b[at] = e.value;
        break;
      case "u32":
        if (at + 4 <= b.length) new DataView(b.buffer, b.byteOffset).setUint32(at, e.value, true);
        break;
      case "insert": {
        const out = new Uint8Array(b.length + e.bytes.length);
        out.set(b.subarray(0, at));
        out.set(e.bytes, at);
        out.set(b.subarray(at), at + e.bytes.length);
        b = out;
        break;
      }
      case "delete": {
        const tail = b.subarray(Math.min(b.length, at + e.length));
        const out = new Uint8Array(at + tail.length);
        out.set(b.subarray(0, at));
        out.set(tail, at);
        b = out;
        break;
      }
      case "truncate":
        b = new Uint8Array(b.subarray(0, at));
        break;
    }
  }
  return b;
}

/** Mostly one or two edits (more break the structure before the interesting checks), up to 8. */
const edits: fc.Arbitrary<Edit[]> = fc.oneof(
  { weight: 4, arbitrary: fc.array(edit, { minLength: 1, maxLength: 1 }) },
  { weight: 2, arbitrary: fc.array(edit, { minLength: 2, maxLength: 2 }) },
  { weight: 2, arbitrary: fc.array(edit, { minLength: 3, maxLength: 8 }) },
);

/** A seed with 1–8 edits; now and then random bytes instead, to reach the first checks too. */
export function mutated(seeds: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    {
      weight: 8,
      arbitrary: fc.tuple(fc.constantFrom(...seeds), edits).map(([s, e]) => applyEdits(s, e)),
    },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 256 }) },
  );
}

// --- PyTorch .pth ---------------------------------------------------------------------------------

const f32 = (values: number[]) => new Uint8Array(Float32Array.from(values).buffer);

function pthSeed(level: 0 | 6): Uint8Array {
  const pkl = pickle(
    P.proto(2),
    orderedDict(),
    P.mark(),
    P.str("conv.weight"),
    tensorRecord({ cls: "FloatStorage", key: "0", numel: 12, offset: 0, size: [2, 3, 2], stride: [6, 2, 1] }),
    P.str("conv.view"),
    tensorRecord({ cls: "FloatStorage", key: "0", numel: 12, offset: 1, size: [3, 2], stride: [1, 3] }),
    P.str("bn.num_batches_tracked"),
    tensorRecord({ cls: "LongStorage", key: "1", numel: 1, offset: 0, size: [], stride: [] }),
    P.str("half"),
    tensorRecord({ cls: "BFloat16Storage", key: "2", numel: 4, offset: 0, size: [4], stride: [1] }),
    P.setitems(),
    P.stop(),
  );
  return zipSync(
    {
      "archive/data.pkl": pkl,
      "archive/byteorder": enc.encode("little"),
      "archive/data/0": f32(Array.from({ length: 12 }, (_, i) => i / 7)),
      "archive/data/1": new Uint8Array(new BigInt64Array([7n]).buffer),
      "archive/data/2": new Uint8Array(8).fill(0x3f),
      "archive/version": enc.encode("3\n"),
    },
    { level },
  );
}

/** A pickle of random opcodes (arguments included) inside an otherwise valid archive. */
const pickleOp: fc.Arbitrary<Op> = fc.oneof(
  fc.constantFrom(
    P.mark(),
    P.none(),
    P.emptyDict(),
    P.emptyList(),
    P.emptyTuple(),
    P.tuple(),
    P.tuple1(),
    P.tuple2(),
    P.tuple3(),
    P.setitem(),
    P.setitems(),
    P.append(),
    P.appends(),
    P.reduce(),
    P.build(),
    P.newobj(),
    P.binpersid(),
    P.memoize(),
    P.stackGlobal(),
    orderedDict(),
    [0x30],
    [0x31],
    [0x32],
  ),
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).map((v) => P.int(v)),
  fc.bigInt({ min: -(2n ** 100n), max: 2n ** 100n }).map((v) => P.long(v)),
  fc.string({ maxLength: 12 }).map((s) => P.str(s)),
  fc.integer({ min: 0, max: 8 }).map((i) => P.put(i)),
  fc.integer({ min: 0, max: 8 }).map((i) => P.get(i)),
  fc.constantFrom(
    P.global("torch._utils", "_rebuild_tensor_v2"),
    P.global("torch", "FloatStorage"),
    P.global("collections", "OrderedDict"),
    P.global("os", "system"),
    P.global("torch", "float32"),
  ),
  fc.constantFrom(...INTERESTING_U32).map((v) => P.int(v | 0)),
);

/** An int as torch writes it: BININT while it fits, LONG1 beyond (P.int would wrap it to 32 bits). */
const pyInt = (v: number): Op => (v < 2 ** 31 ? P.int(v) : P.long(BigInt(v)));

/** Tensor records over a 64-float storage: mostly honest, with hostile sizes, strides and offsets mixed in. */
const tensorOp: fc.Arbitrary<Op> = fc
  .record({
    numel: fc.oneof({ weight: 4, arbitrary: fc.constant(64) }, fc.nat(128)),
    offset: fc.oneof({ weight: 6, arbitrary: fc.nat(64) }, fc.constantFrom(2 ** 31, 2 ** 53 - 1)),
    size: fc.array(fc.oneof({ weight: 4, arbitrary: fc.nat(8) }, fc.constantFrom(0, 1 << 16, 2 ** 31, 2 ** 40)), { maxLength: 4 }),
    stride: fc.array(fc.oneof({ weight: 4, arbitrary: fc.nat(8) }, fc.constantFrom(0, 0, 2 ** 31)), { maxLength: 4 }),
    sameRank: fc.oneof({ weight: 6, arbitrary: fc.constant(true) }, fc.constant(false)),
  })
  .map((r) => {
    const stride = r.sameRank ? r.size.map((_, i) => r.stride[i] ?? 0) : r.stride;
    const tuple = (xs: number[]): Op => [...P.mark(), ...xs.flatMap(pyInt), ...P.tuple()];
    const storage = [...P.mark(), ...P.str("storage"), ...P.global("torch", "FloatStorage"), ...P.str("0"), ...P.str("cpu")];
    return [
      ...P.global("torch._utils", "_rebuild_tensor_v2"),
      ...P.mark(),
      ...storage,
      ...pyInt(r.numel),
      ...P.tuple(),
      ...P.binpersid(),
      ...pyInt(r.offset),
      ...tuple(r.size),
      ...tuple(stride),
      ...P.bool(false),
      ...orderedDict(),
      ...P.tuple(),
      ...P.reduce(),
    ];
  });

/** A state dict of 1–4 entries, each a tensor record or a run of random opcodes, inside a valid archive. */
const pthStructured: fc.Arbitrary<Uint8Array> = fc
  .array(
    fc.tuple(
      fc.string({ maxLength: 6 }),
      fc.oneof({ weight: 3, arbitrary: tensorOp.map((op) => [op]) }, fc.array(pickleOp, { maxLength: 12 })),
    ),
    {
      minLength: 1,
      maxLength: 4,
    },
  )
  .map((entries) => {
    const pkl = pickle(
      P.proto(2),
      orderedDict(),
      P.mark(),
      ...entries.flatMap(([k, value]) => [P.str(k), ...value]),
      P.setitems(),
      P.stop(),
    );
    return zipSync({ "archive/data.pkl": pkl, "archive/data/0": f32(Array.from({ length: 64 }, (_, i) => i)) }, { level: 0 });
  });

export const pthTarget: FuzzTarget = {
  name: "pth (zip + pickle)",
  read: (input) => tensorBytes(readPth(input, "fuzz.pth").values()),
  inputs: fc.oneof({ weight: 3, arbitrary: mutated([pthSeed(0), pthSeed(6)]) }, { weight: 2, arbitrary: pthStructured }),
};

// --- safetensors ----------------------------------------------------------------------------------

function safetensorsSeed(): Uint8Array {
  return writeSafetensors(
    [
      ["fc.weight", { dtype: "float32", shape: [3, 4], data: Float32Array.from({ length: 12 }, (_, i) => i) }],
      ["fc.bias", { dtype: "float32", shape: [3], data: Float32Array.from([1, 2, 3]) }],
      ["bn.num_batches_tracked", { dtype: "int64", shape: [], data: BigInt64Array.from([5n]) }],
    ] as [string, Tensor][],
    encodeMetadata({ arch: "resnet18", options: { numClasses: 3 }, classes: ["a", "b", "c"] }),
  );
}

/** A header of random tensor entries (dtype, shape, offsets near the real data's) over random data. */
const safetensorsStructured: fc.Arbitrary<Uint8Array> = fc
  .tuple(
    fc.dictionary(
      fc.string({ maxLength: 8 }),
      fc.record({
        dtype: fc.constantFrom("F32", "F16", "BF16", "I64", "U16", "I16", "BOOL", "F8_E4M3", "X"),
        shape: fc.array(fc.oneof(fc.nat(8), fc.constantFrom(0, 2 ** 31, 2 ** 53 - 1, -1, 1.5)), { maxLength: 4 }),
        data_offsets: fc.tuple(fc.nat(64), fc.nat(64)),
      }),
      { maxKeys: 4 },
    ),
    fc.uint8Array({ maxLength: 64 }),
  )
  .map(([header, data]) => {
    const h = enc.encode(JSON.stringify(header));
    const out = new Uint8Array(8 + h.length + data.length);
    new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
    out.set(h, 8);
    out.set(data, 8 + h.length);
    return out;
  });

export const safetensorsTarget: FuzzTarget = {
  name: "safetensors",
  read: (input) => {
    const file = readSafetensors(input, "fuzz.safetensors");
    decodeMetadata(file.metadata, "fuzz.safetensors");
    return tensorBytes(file.tensors.values());
  },
  inputs: fc.oneof({ weight: 3, arbitrary: mutated([safetensorsSeed()]) }, { weight: 2, arbitrary: safetensorsStructured }),
};

// --- ONNX -----------------------------------------------------------------------------------------

export function onnxSeed(): Uint8Array {
  const g = new Graph();
  const x = g.addInput("x", "float32", ["N", 4]);
  const w = g.addInitializer("w", { dtype: "float32", shape: [4, 3], data: Float32Array.from({ length: 12 }, (_, i) => i) });
  const b = g.addInitializer("b", { dtype: "float32", shape: [3], data: Float32Array.from([1, 2, 3]) });
  g.markOutput(ops.add(g, ops.matmul(g, x, w), b), "y");
  return new Uint8Array(toOnnx(g, { metadata: { arch: "tiny", classes: '["a","b","c"]' } }));
}

export const onnxTarget: FuzzTarget = {
  name: "ONNX",
  read: (input) => tensorBytes(fromOnnx(input, "fuzz.onnx").initializers.values()),
  inputs: mutated([onnxSeed()]),
};

// --- CSV ------------------------------------------------------------------------------------------

const csvText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: fc.constantFrom(...'ab,"\r\n \t.jpg\u{feff}é'), maxLength: 80 }),
  fc.string({ maxLength: 80, unit: "binary" }),
);

export const csvTarget: FuzzTarget = {
  name: "CSV",
  read: (input) => {
    parseCsv(new TextDecoder().decode(input), "fuzz.csv");
    return 0;
  },
  inputs: csvText.map((s) => enc.encode(s)),
};

// --- checkpoint metadata --------------------------------------------------------------------------

const VALID_METADATA = {
  arch: "resnet18",
  options: { numClasses: 3 },
  classes: ["a", "b", "c"],
  preprocessing: IMAGENET_EVAL,
  resolution: 224,
};

/** The valid metadata with one field replaced by any JSON value, or any JSON at all. */
const metadataJson: fc.Arbitrary<string> = fc.oneof(
  fc
    .tuple(
      fc.constantFrom("arch", "options", "classes", "preprocessing", "resolution", "options.numClasses", "preprocessing.mean"),
      fc.jsonValue(),
    )
    .map(([path, value]) => {
      const m = structuredClone(VALID_METADATA) as Record<string, unknown>;
      const [a, b] = path.split(".");
      if (b === undefined) m[a] = value;
      else (m[a] as Record<string, unknown>)[b] = value;
      return JSON.stringify(m);
    }),
  fc.json(),
  fc.string(),
);

export const metadataTarget: FuzzTarget = {
  name: "checkpoint metadata",
  read: (input) => {
    decodeMetadata({ convzoo: new TextDecoder().decode(input) }, "fuzz.safetensors");
    return 0;
  },
  inputs: metadataJson.map((s) => enc.encode(s)),
};

// --- resume files ---------------------------------------------------------------------------------

/** A valid resume file of a small model (mobilenet_v3_small α 0.25, 2 classes), as convzoo train writes one. */
export async function resumeSeed(dir: string): Promise<Uint8Array> {
  const model = initializeWeights(createModel("mobilenet_v3_small", { numClasses: 2, widthMult: 0.25 }), 1);
  const settings = { arch: "mobilenet_v3_small", strategy: "head", epochs: 3, lr: 0.01, batchSize: 8, resolution: 64 };
  const path = join(dir, "seed.resume.safetensors");
  await saveResumeFile(
    path,
    model,
    { classes: ["a", "b"], preprocessing: IMAGENET_EVAL, settings: settings as unknown as RunSettings },
    {
      epoch: 1,
      stepInEpoch: 2,
      dataRandom: [1, 2, 3, 4],
      trainer: { steps: 7, random: [5, 6, 7, 8], slots: new Map([["fc.momentum", new Float32Array(4)]]) },
      history: [],
      bestEpoch: 0,
      bestValAccuracy: 0.5,
      partial: { lossSum: 1, correct: 2, seen: 3, seconds: 4 },
    },
  );
  return new Uint8Array(readFileSync(path));
}

/** Edits confined to the JSON header of the seed (where a resume file's fields live), or anywhere. */
function resumeInputs(seed: Uint8Array): fc.Arbitrary<Uint8Array> {
  const headerEnd = 8 + Number(new DataView(seed.buffer, seed.byteOffset).getBigUint64(0, true));
  const header = new TextDecoder().decode(seed.subarray(8, headerEnd));
  const fieldEdit = fc
    .tuple(fc.constantFrom(...[...header.matchAll(/\\"(\w+)\\":/g)].map((m) => m[1])), fc.jsonValue())
    .map(([key, value]) => {
      // Replace the value of one field of the convzoo metadata (JSON inside JSON) by any JSON value.
      const outer = JSON.parse(header) as { __metadata__: Record<string, string> };
      const meta = JSON.parse(outer.__metadata__.convzoo) as Record<string, unknown>;
      const replace = (o: unknown): void => {
        if (typeof o !== "object" || o === null) return;
        for (const k of Object.keys(o)) {
          if (k === key) (o as Record<string, unknown>)[k] = value;
          else replace((o as Record<string, unknown>)[k]);
        }
      };
      replace(meta);
      outer.__metadata__.convzoo = JSON.stringify(meta);
      let h = enc.encode(JSON.stringify(outer));
      const padded = Math.ceil(h.length / 8) * 8;
      const p = new Uint8Array(padded).fill(0x20);
      p.set(h);
      h = p;
      const out = new Uint8Array(8 + h.length + (seed.length - headerEnd));
      new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
      out.set(h, 8);
      out.set(seed.subarray(headerEnd), 8 + h.length);
      return out;
    });
  const headerOnly = fc.array(edit, { minLength: 1, maxLength: 4 }).map((edits) =>
    applyEdits(
      seed,
      edits.map((e) => ({ ...e, at: (e.at * headerEnd) / seed.length })),
    ),
  );
  return fc.oneof({ weight: 3, arbitrary: fieldEdit }, { weight: 2, arbitrary: headerOnly }, { weight: 1, arbitrary: mutated([seed]) });
}

export function resumeTarget(seed: Uint8Array, dir: string): FuzzTarget {
  const path = join(dir, "fuzz.resume.safetensors");
  return {
    name: "resume file",
    read: async (input) => {
      writeFileSync(path, input);
      const run = await readResumeFile(path);
      return tensorBytes([...run.model.net.namedParameters()].filter(([, p]) => p.isMaterialized).map(([, p]) => p.tensor));
    },
    inputs: resumeInputs(seed),
  };
}
