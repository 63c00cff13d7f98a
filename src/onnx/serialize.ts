/** Graph → ONNX ModelProto bytes, and ONNX bytes → initializer tensors. Browser-safe. */
import type { Attr, Graph, Value } from "../graph/ir.js";
import { ONNX_DTYPE, OPSET } from "../graph/ops.js";
import { WeightsError } from "../errors.js";
import { DTYPE_BYTES, typedArrayFromBytes, type DType, type Tensor } from "../tensor.js";
import { IR_VERSION, ModelProto } from "./schema.js";

export interface ExportOptions {
  /** Free-form key/value pairs stored in ModelProto.metadata_props (arch, classes, preprocessing). */
  metadata?: Record<string, string>;
  docString?: string;
}

const ATTRIBUTE_TYPE = { float: 1, int: 2, string: 3, tensor: 4, floats: 6, ints: 7 } as const;

function tensorProto(name: string, t: Tensor): Record<string, unknown> {
  const d = t.data;
  return {
    name,
    dims: [...t.shape],
    dataType: ONNX_DTYPE[t.dtype],
    rawData: new Uint8Array(d.buffer, d.byteOffset, d.byteLength),
  };
}

function valueInfo(v: Value): Record<string, unknown> {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: ONNX_DTYPE[v.dtype],
        shape: { dim: v.shape.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attribute(name: string, a: Attr): Record<string, unknown> {
  const base = { name, type: ATTRIBUTE_TYPE[a.type] };
  switch (a.type) {
    case "int":
      return { ...base, i: a.value };
    case "float":
      return { ...base, f: a.value };
    case "ints":
      return { ...base, ints: [...a.value] };
    case "floats":
      return { ...base, floats: [...a.value] };
    case "string":
      return { ...base, s: new TextEncoder().encode(a.value) };
    case "tensor":
      return { ...base, t: tensorProto("", a.value) };
  }
}

/**
 * Serializes a graph to ONNX (opset 17). Values produced inside the graph get value_info entries.
 * Initializers nothing reads are left out (a scalar replaced by its rank-aligned copy, see
 * graph/ops.ts), which ONNX Runtime would otherwise warn about and drop.
 */
export function toOnnx(graph: Graph, options: ExportOptions = {}): Uint8Array {
  const boundary = new Set([...graph.inputs, ...graph.outputs].map((v) => v.name));
  const read = new Set([...graph.nodes.flatMap((n) => n.inputs.map((v) => v?.name)), ...graph.outputs.map((v) => v.name)]);
  const internal = graph.nodes.flatMap((n) => n.outputs).filter((v) => !boundary.has(v.name));
  // Other operator sets (ONNX Runtime's com.microsoft.nchwc, see graph/nchwc.ts) are at version 1.
  const domains = [...new Set(graph.nodes.flatMap((n) => (n.domain ? [n.domain] : [])))];
  const model = {
    irVersion: IR_VERSION,
    opsetImport: [{ domain: "", version: OPSET }, ...domains.map((domain) => ({ domain, version: 1 }))],
    producerName: "convzoo",
    docString: options.docString ?? "",
    metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
    graph: {
      name: graph.name,
      node: graph.nodes.map((n) => ({
        name: n.name,
        opType: n.op,
        ...(n.domain ? { domain: n.domain } : {}),
        input: n.inputs.map((v) => (v ? v.name : "")),
        output: n.outputs.map((v) => v.name),
        attribute: Object.entries(n.attrs).map(([k, a]) => attribute(k, a)),
      })),
      initializer: [...graph.initializers.values()].filter((i) => read.has(i.value.name)).map((i) => tensorProto(i.value.name, i.tensor)),
      input: graph.inputs.map(valueInfo),
      output: graph.outputs.map(valueInfo),
      valueInfo: internal.map(valueInfo),
    },
  };
  const message = ModelProto.fromObject(model);
  return ModelProto.encode(message).finish();
}

export interface DecodedOnnx {
  metadata: Record<string, string>;
  initializers: Map<string, Tensor>;
  inputs: string[];
  outputs: string[];
  /** Each output's dims as recorded (null: symbolic, absent or not a size, e.g. the batch). */
  outputDims: Record<string, (number | null)[]>;
  opTypes: string[];
}

const DTYPE_BY_CODE = new Map<number, DType>(Object.entries(ONNX_DTYPE).map(([k, v]) => [v, k as DType]));

/**
 * Reads back what convzoo writes: metadata, raw_data initializers, input/output names, op types. Any
 * malformed input (not protobuf, no graph, an initializer whose bytes do not match its dims and type) is a
 * WeightsError naming `source`; nothing is allocated beyond the decoded message (bounded by `bytes`).
 */
export function fromOnnx(bytes: Uint8Array, source = "ONNX model"): DecodedOnnx {
  const fail: (what: string) => never = (what) => {
    throw new WeightsError(`${source}: ${what}`);
  };
  let m: OnnxObject;
  try {
    m = ModelProto.toObject(ModelProto.decode(bytes), {
      longs: Number,
      bytes: Uint8Array as unknown as typeof String,
      defaults: false,
    }) as OnnxObject;
  } catch (e) {
    // protobufjs throws RangeError ("index out of range") or Error ("invalid wire type") on bad bytes.
    return fail(`not an ONNX model or truncated (${(e as Error).message})`);
  }
  if (!m.graph) return fail("not an ONNX model: it has no graph");
  const initializers = new Map<string, Tensor>();
  for (const t of m.graph.initializer ?? []) {
    const name = t.name ?? "";
    const dtype = DTYPE_BY_CODE.get(t.dataType ?? 0);
    if (!dtype) fail(`initializer "${name}": unsupported data type ${t.dataType}`);
    const dims = t.dims ?? [];
    if (!dims.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`initializer "${name}": dims [${dims.join(", ")}] are not sizes`);
    const count = dims.reduce((a, d) => a * d, 1);
    let data: Tensor["data"];
    if (t.rawData) {
      const needed = count * DTYPE_BYTES[dtype];
      if (t.rawData.length !== needed)
        fail(`initializer "${name}" [${dims.join(", ")}] (${dtype}) needs ${needed} bytes, has ${t.rawData.length}`);
      data = typedArrayFromBytes(dtype, t.rawData);
    } else {
      if (dtype !== "float32") fail(`initializer "${name}": ${dtype} values outside raw_data are not read`);
      const values = t.floatData ?? [];
      if (values.length !== count) fail(`initializer "${name}" of dims [${dims.join(", ")}] needs ${count} values, has ${values.length}`);
      data = Float32Array.from(values);
    }
    initializers.set(name, { dtype, shape: dims, data } as Tensor);
  }
  return {
    metadata: Object.fromEntries((m.metadataProps ?? []).map((p) => [p.key ?? "", p.value ?? ""])),
    initializers,
    inputs: (m.graph.input ?? []).map((v) => v.name ?? ""),
    outputs: (m.graph.output ?? []).map((v) => v.name ?? ""),
    outputDims: Object.fromEntries(
      (m.graph.output ?? []).map((v) => [
        v.name ?? "",
        (v.type?.tensorType?.shape?.dim ?? []).map((d) =>
          Number.isSafeInteger(d.dimValue) && (d.dimValue as number) >= 1 ? (d.dimValue as number) : null,
        ),
      ]),
    ),
    opTypes: (m.graph.node ?? []).map((n) => n.opType ?? ""),
  };
}

/** The parts of a decoded ModelProto read above; every field may be absent in a hostile file. */
interface OnnxObject {
  metadataProps?: { key?: string; value?: string }[];
  graph?: {
    node?: { opType?: string }[];
    initializer?: { name?: string; dims?: number[]; dataType?: number; rawData?: Uint8Array; floatData?: number[] }[];
    input?: { name?: string }[];
    output?: { name?: string; type?: { tensorType?: { shape?: { dim?: { dimValue?: number }[] } } } }[];
  };
}
