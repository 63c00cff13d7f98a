/**
 * The NCHWc channel block of this machine's ONNX Runtime CPU kernels (graph/nchwc.ts), asked of
 * ONNX Runtime itself: ReorderInput pads a 4-channel tensor up to one block. 16 with AVX-512, 8
 * with AVX2; anything else (an older CPU, a build without the kernels: the op fails) reads as 1,
 * "do not lower". Node only (onnxruntime-node).
 */
import { ort } from "./ort_node.js";
import { Graph } from "../graph/ir.js";
import { NCHWC_DOMAIN } from "../graph/nchwc.js";
import { toOnnx } from "../onnx/serialize.js";

let cached: Promise<number> | undefined;

export function nchwcBlockSize(): Promise<number> {
  cached ??= probe();
  return cached;
}

async function probe(): Promise<number> {
  const g = new Graph("nchwc_probe");
  const x = g.addInput("x", "float32", [1, 4, 1, 1]);
  g.markOutput(g.addNode("ReorderInput", [x], [{ dtype: "float32", shape: [1, "C", 1, 1] }], {}, NCHWC_DOMAIN)[0], "y");
  try {
    const session = await ort.InferenceSession.create(toOnnx(g), {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: "disabled",
    });
    const out = await session.run({ x: new ort.Tensor("float32", new Float32Array(4), [1, 4, 1, 1]) });
    await session.release();
    const block = Number(out.y.dims[1]);
    // A 4 may be a real block of 4 or no blocking at all (4 channels stay 4): not worth the risk.
    return block === 8 || block === 16 ? block : 1;
  } catch {
    return 1;
  }
}
