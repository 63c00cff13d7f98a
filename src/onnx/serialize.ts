/** Graph → ONNX ModelProto bytes, and ONNX bytes → initializer tensors. Browser-safe. */
import type { Attr, Graph, Value } from "../graph/ir.js";
import { ONNX_DTYPE, OPSET } from "../graph/ops.js";
import type { DType, Tensor } from "../tensor.js";
import { typedArrayFromBytes } from "../tensor.js";
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

/** Serializes a graph to ONNX (opset 17). Values produced inside the graph get value_info entries. */
export function toOnnx(graph: Graph, options: ExportOptions = {}): Uint8Array {
  const boundary = new Set([...graph.inputs, ...graph.outputs].map((v) => v.name));
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
      initializer: [...graph.initializers.values()].map((i) => tensorProto(i.value.name, i.tensor)),
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
  opTypes: string[];
}

const DTYPE_BY_CODE = new Map<number, DType>(Object.entries(ONNX_DTYPE).map(([k, v]) => [v, k as DType]));

/** Reads back what convzoo writes: metadata, raw_data initializers, input/output names, op types. */
export function fromOnnx(bytes: Uint8Array): DecodedOnnx {
  const m = ModelProto.toObject(ModelProto.decode(bytes), {
    longs: Number,
    bytes: Uint8Array as unknown as typeof String,
    defaults: false,
  }) as {
    metadataProps?: { key: string; value: string }[];
    graph: {
      node?: { opType: string }[];
      initializer?: { name: string; dims?: number[]; dataType: number; rawData?: Uint8Array; floatData?: number[] }[];
      input?: { name: string }[];
      output?: { name: string }[];
    };
  };
  const initializers = new Map<string, Tensor>();
  for (const t of m.graph.initializer ?? []) {
    const dtype = DTYPE_BY_CODE.get(t.dataType);
    if (!dtype) throw new Error(`ONNX initializer ${t.name}: unsupported data type ${t.dataType}`);
    const data = t.rawData ? typedArrayFromBytes(dtype, t.rawData) : Float32Array.from(t.floatData ?? []);
    initializers.set(t.name, { dtype, shape: t.dims ?? [], data } as Tensor);
  }
  return {
    metadata: Object.fromEntries((m.metadataProps ?? []).map((p) => [p.key, p.value])),
    initializers,
    inputs: (m.graph.input ?? []).map((v) => v.name),
    outputs: (m.graph.output ?? []).map((v) => v.name),
    opTypes: (m.graph.node ?? []).map((n) => n.opType),
  };
}
