/**
 * Calibration (Node): the float32 graph (BatchNorm folded) runs over the calibration batches with
 * every activation the plan quantizes as an extra output, and each one's statistics are gathered —
 * min/max in one pass; for `percentile` and `entropy` a second pass fills histograms over the first
 * pass's range (so no activation is kept in memory between batches).
 */
import type { Graph } from "../graph/ir.js";
import { toOnnx } from "../onnx/serialize.js";
import { Session } from "../runtime/session.js";
import type { Tensor } from "../tensor.js";
import type { QuantizationPlan, Range } from "./qdq.js";
import { Histogram, MinMax, rangeFrom, type CalibrationMethod } from "./statistics.js";

export interface CalibrateOptions {
  method: CalibrationMethod;
  threads?: number;
}

/**
 * Ranges of the plan's activations over `batches` ([n, 3, R, R] each, normalised). `graph` is the
 * float graph the plan was made on; it is copied, not changed.
 */
export async function calibrate(
  graph: Graph,
  plan: QuantizationPlan,
  batches: readonly Tensor<"float32">[],
  options: CalibrateOptions,
): Promise<Map<string, Range>> {
  const inputName = graph.inputs[0].name;
  const wanted = plan.activations.filter((name) => !plan.shared.has(name));
  const values = new Map(graph.nodes.flatMap((n) => n.outputs.map((o) => [o.name, o] as const)));
  // The same graph with the activations as extra outputs, for the serialisation only.
  const kept = graph.outputs.length;
  graph.outputs.push(...wanted.flatMap((n) => (values.has(n) && !graph.outputs.includes(values.get(n)!) ? [values.get(n)!] : [])));
  let onnx: Uint8Array;
  try {
    onnx = toOnnx(graph);
  } finally {
    graph.outputs.splice(kept);
  }
  const session = await Session.create(onnx, { threads: options.threads });
  const run = async (batch: Tensor<"float32">, visit: (name: string, data: Float32Array) => void) => {
    const out = await session.run({ [inputName]: batch });
    for (const name of wanted) visit(name, name === inputName ? batch.data : out[name].data);
  };
  try {
    const minMax = new Map(wanted.map((n) => [n, new MinMax()]));
    for (const batch of batches) await run(batch, (name, data) => minMax.get(name)!.add(data));
    let histograms: Map<string, Histogram> | undefined;
    if (options.method !== "minmax") {
      histograms = new Map(wanted.map((n) => [n, new Histogram(minMax.get(n)!.min, minMax.get(n)!.max)]));
      for (const batch of batches) await run(batch, (name, data) => histograms!.get(name)!.add(data));
    }
    return new Map(wanted.map((n) => [n, rangeFrom(options.method, minMax.get(n)!, histograms?.get(n))] as const));
  } finally {
    await session.release();
  }
}
