/**
 * A restricted Python unpickler for the `data.pkl` inside PyTorch checkpoints. Browser-safe.
 * A pure data decoder of the opcodes `torch.save` emits (protocol 2, plus 3–5): nothing is imported or executed.
 * GLOBAL resolves only through the allow-list below; any other name (`builtins.exec`, `os.system`, a pickled
 * `nn.Module`) stops the load with a WeightsError naming it. References (CPython's pickletools.py and pickle.py,
 * torch's serialization.py and _utils.py): docs/weight-formats.md#restricted-unpickler
 */
import { WeightsError } from "../errors.js";

/** Element types a torch storage can hold (bfloat16 and int16 have no DType of their own). */
export type StorageDType = "float32" | "float16" | "bfloat16" | "float64" | "int64" | "int32" | "int16" | "int8" | "uint8" | "bool";

export const STORAGE_DTYPE_BYTES: Record<StorageDType, number> = {
  float32: 4,
  float16: 2,
  bfloat16: 2,
  float64: 8,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

/** An allowed global that was referenced but not (yet) called: a class or a function. */
export interface PickleGlobal {
  readonly kind: "global";
  /** Dotted name, e.g. `torch._utils._rebuild_tensor_v2`. */
  readonly name: string;
}

/** A `torch.float32`-style dtype object (appears as an argument of `_rebuild_tensor_v3`). */
export interface TorchDTypeRef {
  readonly kind: "dtype";
  readonly dtype: StorageDType;
}

/** A storage named by a persistent id: its bytes live in the zip at `<root>/data/<key>`. */
export interface TorchStorageRef {
  readonly kind: "storage";
  readonly dtype: StorageDType;
  readonly key: string;
  /** Where it was saved from (`cpu`, `cuda:0`); the bytes are the same either way. */
  readonly location: string;
  /** Number of `dtype` elements in the storage. */
  readonly numel: number;
}

/** A tensor as torch describes it: a strided window into a storage. Not yet materialized. */
export interface TorchTensorRef {
  readonly kind: "tensor";
  readonly storage: TorchStorageRef;
  /** Element type of the tensor (differs from the storage's only for untyped storages). */
  readonly dtype: StorageDType;
  /** Offset into the storage, in elements of `dtype`. */
  readonly storageOffset: number;
  readonly size: readonly number[];
  readonly stride: readonly number[];
}

export interface TorchDevice {
  readonly kind: "device";
  readonly type: string;
  readonly index: number | null;
}

/**
 * What an unpickled value can be. Python dicts (and OrderedDicts) become Maps, lists and tuples
 * become arrays (tuples frozen), ints become numbers (bigint when beyond 2^53), bytes Uint8Array.
 */
export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PickleValue[]
  | Map<PickleValue, PickleValue>
  | Set<PickleValue>
  | PickleGlobal
  | TorchDTypeRef
  | TorchStorageRef
  | TorchTensorRef
  | TorchDevice;

export function isTensorRef(v: unknown): v is TorchTensorRef {
  return typeof v === "object" && v !== null && (v as { kind?: unknown }).kind === "tensor";
}

// ---------------------------------------------------------------------------------------------
// The allow-list. Storage classes as `torch.save` names them (`torch.FloatStorage` …, or the
// untyped byte storage in torch ≥ 2); `torch.storage.TypedStorage` never appears in files.

const STORAGE_CLASSES: Record<string, StorageDType> = {
  "torch.FloatStorage": "float32",
  "torch.HalfStorage": "float16",
  "torch.BFloat16Storage": "bfloat16",
  "torch.DoubleStorage": "float64",
  "torch.LongStorage": "int64",
  "torch.IntStorage": "int32",
  "torch.ShortStorage": "int16",
  "torch.CharStorage": "int8",
  "torch.ByteStorage": "uint8",
  "torch.BoolStorage": "bool",
  "torch.UntypedStorage": "uint8",
  "torch.storage.UntypedStorage": "uint8",
  "torch.storage._UntypedStorage": "uint8",
};

const DTYPE_GLOBALS: Record<string, StorageDType> = {
  "torch.float32": "float32",
  "torch.float": "float32",
  "torch.float16": "float16",
  "torch.half": "float16",
  "torch.bfloat16": "bfloat16",
  "torch.float64": "float64",
  "torch.double": "float64",
  "torch.int64": "int64",
  "torch.long": "int64",
  "torch.int32": "int32",
  "torch.int": "int32",
  "torch.int16": "int16",
  "torch.short": "int16",
  "torch.int8": "int8",
  "torch.uint8": "uint8",
  "torch.bool": "bool",
};

/** Callables we "call" by building a value ourselves (see `reduce` below). */
const CALLABLES = new Set([
  "collections.OrderedDict",
  "torch._utils._rebuild_tensor",
  "torch._utils._rebuild_tensor_v2",
  "torch._utils._rebuild_tensor_v3",
  "torch._utils._rebuild_parameter",
  "torch._utils._rebuild_parameter_with_state",
  "torch._tensor._rebuild_from_type_v2",
  "torch.device",
]);

/** Types that only appear as arguments (of `_rebuild_from_type_v2`); never called. */
const MARKER_TYPES = new Set(["torch.Tensor", "torch._tensor.Tensor", "torch.nn.parameter.Parameter"]);

// ---------------------------------------------------------------------------------------------
// Opcodes (pickletools.py names). Protocol 0/1 text opcodes are decoded where they are plain data.

const OP = {
  MARK: 0x28, // (
  STOP: 0x2e, // .
  POP: 0x30, // 0
  POP_MARK: 0x31, // 1
  DUP: 0x32, // 2
  FLOAT: 0x46, // F
  INT: 0x49, // I
  BININT: 0x4a, // J
  BININT1: 0x4b, // K
  LONG: 0x4c, // L
  BININT2: 0x4d, // M
  NONE: 0x4e, // N
  PERSID: 0x50, // P
  BINPERSID: 0x51, // Q
  REDUCE: 0x52, // R
  BINSTRING: 0x54, // T
  SHORT_BINSTRING: 0x55, // U
  BINUNICODE: 0x58, // X
  APPEND: 0x61, // a
  BUILD: 0x62, // b
  GLOBAL: 0x63, // c
  DICT: 0x64, // d
  APPENDS: 0x65, // e
  GET: 0x67, // g
  BINGET: 0x68, // h
  LONG_BINGET: 0x6a, // j
  LIST: 0x6c, // l
  PUT: 0x70, // p
  BINPUT: 0x71, // q
  LONG_BINPUT: 0x72, // r
  SETITEM: 0x73, // s
  TUPLE: 0x74, // t
  SETITEMS: 0x75, // u
  EMPTY_DICT: 0x7d, // }
  EMPTY_LIST: 0x5d, // ]
  EMPTY_TUPLE: 0x29, // )
  BINFLOAT: 0x47, // G
  BINBYTES: 0x42, // B (protocol 3)
  SHORT_BINBYTES: 0x43, // C (protocol 3)
  PROTO: 0x80, // protocol 2
  NEWOBJ: 0x81,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  LONG1: 0x8a,
  LONG4: 0x8b,
  SHORT_BINUNICODE: 0x8c, // protocol 4
  BINUNICODE8: 0x8d,
  BINBYTES8: 0x8e,
  EMPTY_SET: 0x8f,
  ADDITEMS: 0x90,
  FROZENSET: 0x91,
  NEWOBJ_EX: 0x92,
  STACK_GLOBAL: 0x93,
  MEMOIZE: 0x94,
  FRAME: 0x95,
  BYTEARRAY8: 0x96, // protocol 5
} as const;

/** Longest integer accepted, in bytes (LONG1 allows 255): BigInt decoding of longer ones is quadratic. */
const MAX_LONG_BYTES = 256;

/** `_rebuild_from_type_v2` inside another, at most this deep (torch writes one level). */
const MAX_REBUILD_NESTING = 4;

const utf8 = new TextDecoder("utf-8", { fatal: true });
const latin1 = new TextDecoder("latin1");

/**
 * Decodes one pickle. `source` (the checkpoint's file name) starts every error message.
 * Persistent ids are decoded as torch storage records `('storage', <StorageClass>, key, location,
 * numel)`; anything else there is refused.
 */
export function unpickle(bytes: Uint8Array, source: string): PickleValue {
  return new Unpickler(bytes, source).load();
}

class Unpickler {
  private pos = 0;
  private readonly view: DataView;
  // MARK saves the current stack on the metastack and starts a fresh one (as pickle.py does).
  private stack: PickleValue[] = [];
  private readonly metastack: PickleValue[][] = [];
  private readonly memo = new Map<number, PickleValue>();

  constructor(
    private readonly bytes: Uint8Array,
    private readonly source: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private fail(what: string): never {
    throw new WeightsError(`${this.source}: ${what}`);
  }

  load(): PickleValue {
    for (;;) {
      if (this.pos >= this.bytes.length) {
        this.fail(`truncated pickle: it ends at byte ${this.bytes.length} without a STOP opcode`);
      }
      const at = this.pos;
      const op = this.bytes[this.pos++];
      if (op === OP.STOP) return this.pop(op, at);
      this.step(op, at);
    }
  }

  // --- primitive readers --------------------------------------------------------------------

  private need(n: number, op: number, at: number): void {
    if (!(n >= 0) || this.pos + n > this.bytes.length) {
      this.fail(
        `truncated or corrupt pickle: opcode 0x${op.toString(16)} at byte ${at} needs ${n} bytes, ` +
          `${this.bytes.length - this.pos} left`,
      );
    }
  }

  private u8(op: number, at: number): number {
    this.need(1, op, at);
    return this.bytes[this.pos++];
  }

  private u16(op: number, at: number): number {
    this.need(2, op, at);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }

  private u32(op: number, at: number): number {
    this.need(4, op, at);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  private i32(op: number, at: number): number {
    this.need(4, op, at);
    const v = this.view.getInt32(this.pos, true);
    this.pos += 4;
    return v;
  }

  private u64(op: number, at: number): number {
    this.need(8, op, at);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    if (v > BigInt(this.bytes.length)) this.need(Number.MAX_SAFE_INTEGER, op, at); // a length past the end
    return Number(v);
  }

  private take(n: number, op: number, at: number): Uint8Array {
    this.need(n, op, at);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** A newline-terminated line (protocol 0 arguments, GLOBAL's module and name). */
  private line(op: number, at: number): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0) this.fail(`truncated or corrupt pickle: opcode 0x${op.toString(16)} at byte ${at} has no end of line`);
    const s = latin1.decode(this.bytes.subarray(this.pos, end));
    this.pos = end + 1;
    return s;
  }

  private text(raw: Uint8Array, at: number): string {
    try {
      return utf8.decode(raw);
    } catch {
      this.fail(`corrupt pickle: string at byte ${at} is not valid UTF-8`);
    }
  }

  // --- stack helpers ------------------------------------------------------------------------

  private push(v: PickleValue): void {
    this.stack.push(v);
  }

  private pop(op: number, at: number): PickleValue {
    if (this.stack.length === 0) this.stackUnderflow(op, at);
    return this.stack.pop() as PickleValue;
  }

  private top(op: number, at: number): PickleValue {
    if (this.stack.length === 0) this.stackUnderflow(op, at);
    return this.stack[this.stack.length - 1];
  }

  /** Items pushed since the last MARK (pickle.py's `pop_mark`). */
  private popMark(op: number, at: number): PickleValue[] {
    const items = this.stack;
    const previous = this.metastack.pop();
    if (previous === undefined) this.fail(`corrupt pickle: opcode 0x${op.toString(16)} at byte ${at} has no MARK`);
    this.stack = previous;
    return items;
  }

  private stackUnderflow(op: number, at: number): never {
    this.fail(`corrupt pickle: opcode 0x${op.toString(16)} at byte ${at} found an empty stack`);
  }

  private memoGet(index: number, op: number, at: number): PickleValue {
    const v = this.memo.get(index);
    if (v === undefined) this.fail(`corrupt pickle: opcode 0x${op.toString(16)} at byte ${at} reads memo ${index}, which was never set`);
    return v;
  }

  private memoPut(index: number, op: number, at: number): void {
    this.memo.set(index, this.top(op, at));
  }

  private asMap(v: PickleValue, op: number, at: number): Map<PickleValue, PickleValue> {
    if (!(v instanceof Map)) this.fail(`corrupt pickle: opcode 0x${op.toString(16)} at byte ${at} expected a dict, found ${describe(v)}`);
    return v;
  }

  private asList(v: PickleValue, op: number, at: number): PickleValue[] {
    if (!Array.isArray(v) || Object.isFrozen(v)) {
      this.fail(`corrupt pickle: opcode 0x${op.toString(16)} at byte ${at} expected a list, found ${describe(v)}`);
    }
    return v;
  }

  private setItems(map: Map<PickleValue, PickleValue>, items: PickleValue[], op: number, at: number): void {
    if (items.length % 2 !== 0) this.fail(`corrupt pickle: opcode 0x${op.toString(16)} at byte ${at} has an odd number of key/value items`);
    for (let i = 0; i < items.length; i += 2) map.set(items[i], items[i + 1]);
  }

  // --- the interpreter ----------------------------------------------------------------------

  private step(op: number, at: number): void {
    switch (op) {
      case OP.PROTO: {
        const proto = this.u8(op, at);
        if (proto > 5) this.fail(`unsupported pickle protocol ${proto} (expected 2 to 5)`);
        return;
      }
      case OP.FRAME:
        this.u64(op, at); // framing is only a read-ahead hint (PEP 3154)
        return;
      case OP.MARK:
        this.metastack.push(this.stack);
        this.stack = [];
        return;
      case OP.POP:
        if (this.stack.length === 0) this.stackUnderflow(op, at);
        this.stack.pop();
        return;
      case OP.POP_MARK:
        this.popMark(op, at);
        return;
      case OP.DUP:
        this.push(this.top(op, at));
        return;

      // Scalars.
      case OP.NONE:
        return this.push(null);
      case OP.NEWTRUE:
        return this.push(true);
      case OP.NEWFALSE:
        return this.push(false);
      case OP.BININT:
        return this.push(this.i32(op, at));
      case OP.BININT1:
        return this.push(this.u8(op, at));
      case OP.BININT2:
        return this.push(this.u16(op, at));
      case OP.LONG1:
        return this.push(decodeLong(this.take(this.u8(op, at), op, at)));
      case OP.LONG4: {
        const n = this.i32(op, at);
        if (n < 0) this.fail(`corrupt pickle: LONG4 at byte ${at} has negative length ${n}`);
        // Decoding is quadratic in the length; torch.save's integers fit in 8 bytes.
        if (n > MAX_LONG_BYTES) this.fail(`unsupported pickle: LONG4 at byte ${at} is a ${n}-byte integer (at most ${MAX_LONG_BYTES})`);
        return this.push(decodeLong(this.take(n, op, at)));
      }
      case OP.BINFLOAT: {
        this.need(8, op, at);
        const v = this.view.getFloat64(this.pos, false); // big-endian, unlike everything else
        this.pos += 8;
        return this.push(v);
      }
      case OP.INT: {
        const s = this.line(op, at);
        if (s === "00") return this.push(false); // protocol 0 spelling of bool
        if (s === "01") return this.push(true);
        return this.push(this.parseInt(s, op, at));
      }
      case OP.LONG:
        return this.push(this.parseInt(this.line(op, at).replace(/L$/, ""), op, at));
      case OP.FLOAT: {
        const s = this.line(op, at).trim();
        const special: Record<string, number> = { nan: NaN, inf: Infinity, "-inf": -Infinity };
        const v = special[s] ?? Number(s);
        if (s === "" || (Number.isNaN(v) && s !== "nan")) this.fail(`corrupt pickle: FLOAT at byte ${at} is "${s}"`);
        return this.push(v);
      }

      // Strings and bytes.
      case OP.BINUNICODE:
        return this.push(this.text(this.take(this.u32(op, at), op, at), at));
      case OP.SHORT_BINUNICODE:
        return this.push(this.text(this.take(this.u8(op, at), op, at), at));
      case OP.BINUNICODE8:
        return this.push(this.text(this.take(this.u64(op, at), op, at), at));
      case OP.BINSTRING: {
        // Python 2 str; torch.load decodes these with encoding="utf-8".
        const n = this.i32(op, at);
        if (n < 0) this.fail(`corrupt pickle: BINSTRING at byte ${at} has negative length ${n}`);
        return this.push(this.text(this.take(n, op, at), at));
      }
      case OP.SHORT_BINSTRING:
        return this.push(this.text(this.take(this.u8(op, at), op, at), at));
      case OP.BINBYTES:
        return this.push(this.take(this.u32(op, at), op, at).slice());
      case OP.SHORT_BINBYTES:
        return this.push(this.take(this.u8(op, at), op, at).slice());
      case OP.BINBYTES8:
      case OP.BYTEARRAY8:
        return this.push(this.take(this.u64(op, at), op, at).slice());

      // Containers.
      case OP.EMPTY_DICT:
        return this.push(new Map());
      case OP.EMPTY_LIST:
        return this.push([]);
      case OP.EMPTY_TUPLE:
        return this.push(tuple([]));
      case OP.EMPTY_SET:
        return this.push(new Set());
      case OP.DICT: {
        const map = new Map<PickleValue, PickleValue>();
        this.setItems(map, this.popMark(op, at), op, at);
        return this.push(map);
      }
      case OP.LIST:
        return this.push(this.popMark(op, at));
      case OP.TUPLE:
        return this.push(tuple(this.popMark(op, at)));
      case OP.TUPLE1: {
        const a = this.pop(op, at);
        return this.push(tuple([a]));
      }
      case OP.TUPLE2: {
        const b = this.pop(op, at);
        const a = this.pop(op, at);
        return this.push(tuple([a, b]));
      }
      case OP.TUPLE3: {
        const c = this.pop(op, at);
        const b = this.pop(op, at);
        const a = this.pop(op, at);
        return this.push(tuple([a, b, c]));
      }
      case OP.FROZENSET:
        return this.push(new Set(this.popMark(op, at)));
      case OP.APPEND: {
        const v = this.pop(op, at);
        this.asList(this.top(op, at), op, at).push(v);
        return;
      }
      case OP.APPENDS: {
        const items = this.popMark(op, at);
        const list = this.asList(this.top(op, at), op, at);
        for (const item of items) list.push(item); // no spread: lists can be longer than the call-stack limit
        return;
      }
      case OP.SETITEM: {
        const v = this.pop(op, at);
        const k = this.pop(op, at);
        this.asMap(this.top(op, at), op, at).set(k, v);
        return;
      }
      case OP.SETITEMS: {
        const items = this.popMark(op, at);
        this.setItems(this.asMap(this.top(op, at), op, at), items, op, at);
        return;
      }
      case OP.ADDITEMS: {
        const items = this.popMark(op, at);
        const set = this.top(op, at);
        if (!(set instanceof Set)) this.fail(`corrupt pickle: ADDITEMS at byte ${at} expected a set, found ${describe(set)}`);
        for (const item of items) set.add(item);
        return;
      }

      // Memo.
      case OP.BINPUT:
        return this.memoPut(this.u8(op, at), op, at);
      case OP.LONG_BINPUT:
        return this.memoPut(this.u32(op, at), op, at);
      case OP.PUT:
        return this.memoPut(Number(this.parseInt(this.line(op, at), op, at)), op, at);
      case OP.MEMOIZE:
        return this.memoPut(this.memo.size, op, at);
      case OP.BINGET:
        return this.push(this.memoGet(this.u8(op, at), op, at));
      case OP.LONG_BINGET:
        return this.push(this.memoGet(this.u32(op, at), op, at));
      case OP.GET:
        return this.push(this.memoGet(Number(this.parseInt(this.line(op, at), op, at)), op, at));

      // Globals and calls: only through the allow-list, and nothing is executed.
      case OP.GLOBAL: {
        const module = this.line(op, at);
        const name = this.line(op, at);
        return this.push(this.resolveGlobal(module, name));
      }
      case OP.STACK_GLOBAL: {
        const name = this.pop(op, at);
        const module = this.pop(op, at);
        if (typeof module !== "string" || typeof name !== "string") {
          this.fail(`corrupt pickle: STACK_GLOBAL at byte ${at} expected two strings, found ${describe(module)} and ${describe(name)}`);
        }
        return this.push(this.resolveGlobal(module, name));
      }
      case OP.REDUCE: {
        const args = this.pop(op, at);
        const callable = this.pop(op, at);
        return this.push(this.call(callable, args, at));
      }
      case OP.NEWOBJ: {
        const args = this.pop(op, at);
        const cls = this.pop(op, at);
        return this.push(this.newObject(cls, args, at));
      }
      case OP.NEWOBJ_EX: {
        const kwargs = this.pop(op, at);
        const args = this.pop(op, at);
        const cls = this.pop(op, at);
        if (!(kwargs instanceof Map) || kwargs.size !== 0)
          this.fail(`unsupported pickle: NEWOBJ_EX at byte ${at} passes keyword arguments`);
        return this.push(this.newObject(cls, args, at));
      }
      case OP.BUILD: {
        // BUILD sets attributes on an object (`__setstate__`): an OrderedDict's `_metadata`, a
        // Parameter's extra state. None of it is weights, so the state is dropped.
        this.pop(op, at);
        this.top(op, at);
        return;
      }
      case OP.BINPERSID: {
        const pid = this.pop(op, at);
        return this.push(this.persistentLoad(pid, at));
      }
      case OP.PERSID:
        this.fail(`unsupported pickle: text persistent id at byte ${at} (torch.save writes binary ones)`);
        break;
      default:
        this.fail(
          `unsupported or corrupt pickle: opcode 0x${op.toString(16).padStart(2, "0")} at byte ${at} ` +
            `is not one torch.save writes (objects other than tensors and dicts are refused)`,
        );
    }
  }

  private parseInt(s: string, op: number, at: number): number | bigint {
    if (s.length > MAX_LONG_BYTES * 3) {
      this.fail(
        `unsupported pickle: opcode 0x${op.toString(16)} at byte ${at} is a ${s.length}-digit integer (at most ${MAX_LONG_BYTES * 3})`,
      );
    }
    if (!/^[+-]?\d+$/.test(s.trim()))
      this.fail(`corrupt pickle: opcode 0x${op.toString(16)} at byte ${at} expected an integer, found "${s}"`);
    const b = BigInt(s.trim());
    return narrow(b);
  }

  private resolveGlobal(module: string, name: string): PickleValue {
    const full = `${module}.${name}`;
    const storage = STORAGE_CLASSES[full];
    if (storage !== undefined || CALLABLES.has(full) || MARKER_TYPES.has(full)) return { kind: "global", name: full };
    const dtype = DTYPE_GLOBALS[full];
    if (dtype !== undefined) return { kind: "dtype", dtype };
    const hint = /^torch(vision)?\b|^__torch__\b/.test(module)
      ? " (a whole pickled model or a custom object? Save and load model.state_dict() instead)"
      : "";
    this.fail(`refusing to load: it calls ${full}; only tensors and ordered dicts are allowed${hint}`);
  }

  /** REDUCE: build our own value for an allowed callable. */
  private call(callable: PickleValue, argsValue: PickleValue, at: number, depth = 0): PickleValue {
    if (!isGlobal(callable)) this.fail(`corrupt pickle: REDUCE at byte ${at} calls ${describe(callable)}, not a global`);
    // torch nests one _rebuild_from_type_v2 in another at most once; a deep (or, through a list that
    // contains itself, endless) nesting would overflow the stack.
    if (depth > MAX_REBUILD_NESTING)
      this.fail(`corrupt pickle: REDUCE at byte ${at} nests tensor rebuilds more than ${MAX_REBUILD_NESTING} deep`);
    const args = this.args(argsValue, callable.name, at);
    switch (callable.name) {
      case "collections.OrderedDict": {
        const map = new Map<PickleValue, PickleValue>();
        if (args.length > 0 && args[0] !== null) {
          // OrderedDict([(k, v), ...]) — torch writes OrderedDict() then SETITEMS, but be lenient.
          const pairs = args[0];
          if (!Array.isArray(pairs)) this.fail(`corrupt pickle: OrderedDict at byte ${at} built from ${describe(pairs)}`);
          for (const pair of pairs) {
            if (!Array.isArray(pair) || pair.length !== 2)
              this.fail(`corrupt pickle: OrderedDict at byte ${at} item is ${describe(pair)}, not a pair`);
            map.set(pair[0], pair[1]);
          }
        }
        return map;
      }
      case "torch._utils._rebuild_tensor":
        // _rebuild_tensor(storage, storage_offset, size, stride)
        return this.tensor(args, 4, null, at);
      case "torch._utils._rebuild_tensor_v2":
        // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks, metadata=None)
        return this.tensor(args, 6, null, at);
      case "torch._utils._rebuild_tensor_v3": {
        // _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype, metadata=None)
        const dtype = args[6];
        if (!isDType(dtype)) this.fail(`malformed tensor record at byte ${at}: expected a torch dtype, found ${describe(dtype)}`);
        return this.tensor(args, 7, dtype.dtype, at);
      }
      case "torch._utils._rebuild_parameter":
      case "torch._utils._rebuild_parameter_with_state": {
        // _rebuild_parameter(data, requires_grad, backward_hooks[, state]): a Parameter is its data.
        const data = args[0];
        if (!isTensorRef(data)) this.fail(`malformed parameter record at byte ${at}: expected a tensor, found ${describe(data)}`);
        return data;
      }
      case "torch._tensor._rebuild_from_type_v2": {
        // _rebuild_from_type_v2(func, type, args, state): a Tensor/Parameter with extra attributes.
        const [func, type, innerArgs] = args;
        if (!isGlobal(type) || !MARKER_TYPES.has(type.name)) {
          this.fail(`refusing to load: it rebuilds a tensor subclass ${describe(type)}; only tensors and ordered dicts are allowed`);
        }
        return this.call(func, innerArgs, at, depth + 1);
      }
      case "torch.device": {
        const [spec, index] = args;
        if (typeof spec !== "string") this.fail(`corrupt pickle: torch.device at byte ${at} built from ${describe(spec)}`);
        const [type, idx] = spec.split(":");
        const i = typeof index === "number" ? index : idx !== undefined ? Number(idx) : null;
        return { kind: "device", type, index: i };
      }
      default:
        this.fail(`corrupt pickle: ${callable.name} at byte ${at} cannot be called`);
    }
  }

  private newObject(cls: PickleValue, argsValue: PickleValue, at: number): PickleValue {
    if (isGlobal(cls) && cls.name === "collections.OrderedDict") {
      this.args(argsValue, cls.name, at);
      return new Map();
    }
    this.fail(`refusing to load: it instantiates ${describe(cls)}; only tensors and ordered dicts are allowed`);
  }

  private args(v: PickleValue, name: string, at: number): readonly PickleValue[] {
    // A tuple, as torch.save writes: a list could contain itself (APPEND of its own memo entry).
    if (!Array.isArray(v) || !Object.isFrozen(v)) {
      this.fail(`corrupt pickle: ${name} at byte ${at} called with ${describe(v)} instead of an argument tuple`);
    }
    return v;
  }

  private tensor(args: readonly PickleValue[], minArgs: number, dtype: StorageDType | null, at: number): TorchTensorRef {
    if (args.length < minArgs)
      this.fail(`malformed tensor record at byte ${at}: expected at least ${minArgs} arguments, found ${args.length}`);
    const [storage, offset, size, stride] = args;
    if (!isStorage(storage)) this.fail(`malformed tensor record at byte ${at}: expected a storage, found ${describe(storage)}`);
    const ints = (v: PickleValue, what: string): number[] => {
      if (!Array.isArray(v) || !v.every(isCount))
        this.fail(`malformed tensor record at byte ${at}: expected ${what} as a tuple of non-negative integers, found ${describe(v)}`);
      return v as number[];
    };
    if (!isCount(offset))
      this.fail(`malformed tensor record at byte ${at}: expected a non-negative storage offset, found ${describe(offset)}`);
    const sizes = ints(size, "the size");
    const strides = ints(stride, "the stride");
    if (sizes.length !== strides.length) {
      this.fail(`malformed tensor record at byte ${at}: size has ${sizes.length} dimensions but stride has ${strides.length}`);
    }
    return { kind: "tensor", storage, dtype: dtype ?? storage.dtype, storageOffset: offset, size: sizes, stride: strides };
  }

  /** torch.save's persistent id for a storage: ('storage', StorageClass, key, location, numel). */
  private persistentLoad(pid: PickleValue, at: number): TorchStorageRef {
    if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== "storage") {
      this.fail(`unsupported persistent id at byte ${at}: expected ('storage', type, key, location, numel), found ${describe(pid)}`);
    }
    const [, cls, key, location, numel] = pid;
    const dtype = isGlobal(cls) ? STORAGE_CLASSES[cls.name] : undefined;
    if (dtype === undefined) this.fail(`malformed storage record at byte ${at}: expected a torch storage class, found ${describe(cls)}`);
    if (typeof key !== "string" || typeof location !== "string" || !isCount(numel)) {
      this.fail(`malformed storage record at byte ${at}: expected a string key, a location and an element count`);
    }
    return { kind: "storage", dtype, key, location, numel };
  }
}

function tuple(items: PickleValue[]): PickleValue[] {
  return Object.freeze(items) as PickleValue[];
}

/** Little-endian two's-complement integer (LONG1/LONG4), as a number when it is exact. */
function decodeLong(raw: Uint8Array): number | bigint {
  if (raw.length === 0) return 0;
  let v = 0n;
  for (let i = raw.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(raw[i]);
  if (raw[raw.length - 1] & 0x80) v -= 1n << BigInt(raw.length * 8);
  return narrow(v);
}

function narrow(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function isGlobal(v: PickleValue): v is PickleGlobal {
  return typeof v === "object" && v !== null && (v as { kind?: unknown }).kind === "global";
}

function isStorage(v: PickleValue): v is TorchStorageRef {
  return typeof v === "object" && v !== null && (v as { kind?: unknown }).kind === "storage";
}

function isDType(v: PickleValue): v is TorchDTypeRef {
  return typeof v === "object" && v !== null && (v as { kind?: unknown }).kind === "dtype";
}

/** A short Python-flavoured description of a value, for error messages. */
export function describe(v: PickleValue | undefined): string {
  if (v === undefined) return "nothing";
  if (v === null) return "None";
  if (typeof v === "boolean") return v ? "True" : "False";
  if (typeof v === "number" || typeof v === "bigint") return `the number ${v}`;
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (v instanceof Uint8Array) return `bytes of length ${v.length}`;
  if (Array.isArray(v)) return `${Object.isFrozen(v) ? "a tuple" : "a list"} of ${v.length}`;
  if (v instanceof Map) return `a dict of ${v.size}`;
  if (v instanceof Set) return `a set of ${v.size}`;
  switch (v.kind) {
    case "global":
      return v.name;
    case "dtype":
      return `dtype ${v.dtype}`;
    case "storage":
      return `a ${v.dtype} storage`;
    case "tensor":
      return `a ${v.dtype} tensor of shape [${v.size.join(", ")}]`;
    case "device":
      return `device ${v.type}`;
  }
}
