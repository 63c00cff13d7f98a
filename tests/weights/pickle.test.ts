/** The restricted unpickler on hand-written pickles (no Python needed). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { isTensorRef, unpickle, type PickleValue } from "../../src/weights/pickle.js";
import { assertWeightsError, orderedDict, P, pickle, tensorRecord } from "./helpers.js";

const SRC = "model.pth";

test("decodes the scalar and container opcodes torch.save emits", () => {
  // {'n': None, 't': True, 'f': False, 'i1': 7, 'i2': 1000, 'i4': -5, 'big': 2**70, 'neg': -129,
  //  'x': 1.5, 's': 'héllo', 'b': b'\x01\x02', 'l': [1, 2, 3], 'tup': (1, 'a'), 'same': <memo of l>}
  const bytes = pickle(
    P.proto(2),
    P.emptyDict(),
    P.put(0),
    P.mark(),
    P.str("n"),
    P.none(),
    P.str("t"),
    P.bool(true),
    P.str("f"),
    P.bool(false),
    P.str("i1"),
    P.int(7),
    P.str("i2"),
    P.int(1000),
    P.str("i4"),
    P.int(-5),
    P.str("big"),
    P.long(2n ** 70n),
    P.str("neg"),
    P.long(-129n),
    P.str("x"),
    P.float(1.5),
    P.shortStr("s"),
    P.str("héllo"),
    P.str("b"),
    P.bytes([1, 2]),
    P.str("l"),
    P.emptyList(),
    P.put(1),
    P.int(1),
    P.append(),
    P.mark(),
    P.int(2),
    P.int(3),
    P.appends(),
    P.str("tup"),
    P.int(1),
    P.shortStr("a"),
    P.memoize(),
    P.tuple2(),
    P.str("same"),
    P.get(1),
    P.setitems(),
    P.stop(),
  );
  const v = unpickle(bytes, SRC) as Map<PickleValue, PickleValue>;
  assert.ok(v instanceof Map);
  assert.deepEqual([...v.keys()], ["n", "t", "f", "i1", "i2", "i4", "big", "neg", "x", "s", "b", "l", "tup", "same"]);
  assert.equal(v.get("n"), null);
  assert.equal(v.get("t"), true);
  assert.equal(v.get("f"), false);
  assert.equal(v.get("i1"), 7);
  assert.equal(v.get("i2"), 1000);
  assert.equal(v.get("i4"), -5);
  assert.equal(v.get("big"), 2n ** 70n);
  assert.equal(v.get("neg"), -129);
  assert.equal(v.get("x"), 1.5);
  assert.equal(v.get("s"), "héllo");
  assert.deepEqual(v.get("b"), Uint8Array.from([1, 2]));
  assert.deepEqual(v.get("l"), [1, 2, 3]);
  assert.deepEqual(v.get("tup"), [1, "a"]);
  assert.ok(Object.isFrozen(v.get("tup")), "tuples are frozen arrays");
  assert.equal(v.get("same"), v.get("l"), "BINGET returns the memoized object itself");
});

test("builds an OrderedDict of tensor records without touching storage bytes", () => {
  const bytes = pickle(
    P.proto(2),
    orderedDict(),
    P.mark(),
    P.str("w"),
    tensorRecord({ cls: "FloatStorage", key: "0", numel: 12, offset: 2, size: [2, 3], stride: [1, 2] }),
    P.str("steps"),
    tensorRecord({ cls: "LongStorage", key: "1", numel: 1, offset: 0, size: [], stride: [] }),
    P.setitems(),
    // OrderedDict state (its `_metadata` attribute) goes through BUILD and is dropped.
    P.emptyDict(),
    P.str("_metadata"),
    orderedDict(),
    P.setitem(),
    P.build(),
    P.stop(),
  );
  const v = unpickle(bytes, SRC) as Map<PickleValue, PickleValue>;
  assert.deepEqual([...v.keys()], ["w", "steps"]);
  const w = v.get("w");
  assert.ok(isTensorRef(w));
  assert.equal(w.dtype, "float32");
  assert.deepEqual(w.storage, { kind: "storage", dtype: "float32", key: "0", location: "cpu", numel: 12 });
  assert.equal(w.storageOffset, 2);
  assert.deepEqual(w.size, [2, 3]);
  assert.deepEqual(w.stride, [1, 2]);
  const steps = v.get("steps");
  assert.ok(isTensorRef(steps));
  assert.equal(steps.dtype, "int64");
  assert.deepEqual(steps.size, []);
});

test("torch ≥ 2 records: untyped storages with _rebuild_tensor_v3, _rebuild_from_type_v2, torch.device", () => {
  // _rebuild_from_type_v2(_rebuild_tensor_v3, torch._tensor.Tensor,
  //   (('storage', UntypedStorage, '0', 'cpu', 8), 1, (1,), (1,), False, OrderedDict(), torch.float32), {})
  const v3args = [
    ...P.mark(),
    ...P.mark(),
    ...P.str("storage"),
    ...P.global("torch", "UntypedStorage"),
    ...P.str("0"),
    ...P.str("cpu"),
    ...P.int(8),
    ...P.tuple(),
    ...P.binpersid(),
    ...P.int(1),
    ...P.int(1),
    ...P.tuple1(),
    ...P.int(1),
    ...P.tuple1(),
    ...P.bool(false),
    ...orderedDict(),
    ...P.global("torch", "float32"),
    ...P.tuple(),
  ];
  const bytes = pickle(
    P.proto(2),
    P.emptyDict(),
    P.str("t"),
    P.global("torch._tensor", "_rebuild_from_type_v2"),
    P.mark(),
    P.global("torch._utils", "_rebuild_tensor_v3"),
    P.global("torch._tensor", "Tensor"),
    v3args,
    P.emptyDict(),
    P.tuple(),
    P.reduce(),
    P.setitem(),
    P.str("dev"),
    P.global("torch", "device"),
    P.str("cuda:1"),
    P.tuple1(),
    P.reduce(),
    P.setitem(),
    P.stop(),
  );
  const v = unpickle(bytes, SRC) as Map<PickleValue, PickleValue>;
  const t = v.get("t");
  assert.ok(isTensorRef(t));
  assert.equal(t.dtype, "float32");
  assert.equal(t.storage.dtype, "uint8");
  assert.equal(t.storage.numel, 8);
  assert.equal(t.storageOffset, 1);
  assert.deepEqual(v.get("dev"), { kind: "device", type: "cuda", index: 1 });
});

test("refuses any global outside the allow-list, by name, before calling it", () => {
  // GLOBAL 'builtins exec' ('print(1)',) REDUCE
  assertWeightsError(
    () => unpickle(pickle(P.proto(2), P.global("builtins", "exec"), P.str("print(1)"), P.tuple1(), P.reduce(), P.stop()), SRC),
    /^model\.pth: refusing to load: it calls builtins\.exec; only tensors and ordered dicts are allowed$/,
  );
  // STACK_GLOBAL 'os' 'system' (protocol 4)
  assertWeightsError(
    () => unpickle(pickle(P.proto(4), P.shortStr("os"), P.shortStr("system"), P.stackGlobal(), P.stop()), SRC),
    /^model\.pth: refusing to load: it calls os\.system;/,
  );
  // A pickled nn.Module gets a hint.
  assertWeightsError(
    () => unpickle(pickle(P.proto(2), P.global("torch.nn.modules.linear", "Linear"), P.emptyTuple(), P.newobj(), P.stop()), SRC),
    /refusing to load: it calls torch\.nn\.modules\.linear\.Linear; .*model\.state_dict\(\)/,
  );
  // Allowed-but-not-callable names cannot be called either.
  assertWeightsError(
    () => unpickle(pickle(P.proto(2), P.global("torch", "FloatStorage"), P.emptyTuple(), P.reduce(), P.stop()), SRC),
    /^model\.pth: .*torch\.FloatStorage .*cannot be called/,
  );
});

test("rejects truncated and malformed pickles with the file name and the byte position", () => {
  const good = pickle(P.proto(2), P.emptyDict(), P.str("key"), P.str("value"), P.setitem(), P.stop());
  assertWeightsError(
    () => unpickle(good.subarray(0, 10), SRC),
    /^model\.pth: truncated or corrupt pickle: opcode 0x58 at byte 3 needs 3 bytes, 2 left$/,
  );
  assertWeightsError(
    () => unpickle(good.subarray(0, good.length - 1), SRC),
    /^model\.pth: truncated pickle: it ends at byte \d+ without a STOP opcode$/,
  );
  assertWeightsError(
    () => unpickle(pickle(P.proto(2), P.get(3), P.stop()), SRC),
    /^model\.pth: corrupt pickle: .* reads memo 3, which was never set$/,
  );
  assertWeightsError(
    () => unpickle(pickle(P.proto(2), P.setitem(), P.stop()), SRC),
    /^model\.pth: corrupt pickle: opcode 0x73 at byte 2 found an empty stack$/,
  );
  assertWeightsError(() => unpickle(pickle(P.proto(2), P.appends(), P.stop()), SRC), /has no MARK/);
  assertWeightsError(
    () => unpickle(pickle(P.proto(2), P.int(1), P.int(2), P.append(), P.stop()), SRC),
    /expected a list, found the number 1/,
  );
  // INST ('i') instantiates a class from protocol 0: not something torch.save writes.
  assertWeightsError(
    () => unpickle(Uint8Array.from([0x80, 0x02, 0x28, 0x69]), SRC),
    /^model\.pth: unsupported or corrupt pickle: opcode 0x69 at byte 3/,
  );
  assertWeightsError(() => unpickle(pickle(P.proto(9), P.none(), P.stop()), SRC), /unsupported pickle protocol 9/);
});

test("rejects tensor records with the wrong shape of arguments", () => {
  const bad = pickle(
    P.proto(2),
    P.global("torch._utils", "_rebuild_tensor_v2"),
    P.mark(),
    P.str("not a storage"),
    P.int(0),
    P.mark(),
    P.tuple(),
    P.mark(),
    P.tuple(),
    P.bool(false),
    P.none(),
    P.tuple(),
    P.reduce(),
    P.stop(),
  );
  assertWeightsError(
    () => unpickle(bad, SRC),
    /^model\.pth: malformed tensor record at byte \d+: expected a storage, found "not a storage"$/,
  );
});
