/** Reading an ONNX model written by convzoo from a file (Node); the decoding is onnx_metadata.ts. */
import { readInputFile } from "../weights/files.js";
import { decodeOnnxModel, type OnnxModel } from "./onnx_metadata.js";

export { decodeOnnxModel, QUANTIZED_OPS, type OnnxModel } from "./onnx_metadata.js";

export async function readOnnxModel(path: string): Promise<OnnxModel> {
  return decodeOnnxModel(await readInputFile(path), path);
}
