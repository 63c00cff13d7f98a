/**
 * A Triton model repository for one exported model, so the model `convzoo serve` serves can be handed
 * to Triton (or KServe's Triton runtime) unchanged:
 *   DIR/<name>/config.pbtxt    ModelConfig in protobuf text format (Triton's model_config.proto)
 *   DIR/<name>/1/model.onnx    the `convzoo export` graph (input [N, 3, R, R] FP32, N variable)
 *   DIR/<name>/labels.txt      one class name per line, for the classification extension
 * Field meanings: Triton's docs/user_guide/model_configuration.md. The text is checked in the tests by
 * Debian's protoc parsing it against the part of Triton's ModelConfig schema convzoo writes (tests/fixtures/triton/).
 */
import { mkdir, mkdtemp, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { OptionError } from "../errors.js";

export type InstanceKind = "auto" | "cpu" | "gpu";
export const INSTANCE_KINDS: readonly InstanceKind[] = ["auto", "cpu", "gpu"];

export interface TritonModelOptions {
  name: string;
  resolution: number;
  /** The ONNX graph's output: "probabilities" or "logits". */
  output: string;
  classes: readonly string[];
  maxBatchSize: number;
  /** Triton's dynamic batcher delay (microseconds in the config). */
  maxQueueDelayMs: number;
  instances: number;
  kind: InstanceKind;
}

export const LABELS_FILE = "labels.txt";

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** The config.pbtxt text. */
export function tritonConfig(o: TritonModelOptions): string {
  if (!NAME.test(o.name))
    throw new OptionError(`model name ${JSON.stringify(o.name)}: use letters, digits, _ . - (a folder name for Triton)`);
  const delayMicros = Math.round(o.maxQueueDelayMs * 1000);
  return [
    `name: ${quote(o.name)}`,
    `platform: "onnxruntime_onnx"`,
    `max_batch_size: ${o.maxBatchSize}`,
    "input [",
    "  {",
    `    name: "input"`,
    "    data_type: TYPE_FP32",
    "    format: FORMAT_NCHW",
    `    dims: [ 3, ${o.resolution}, ${o.resolution} ]`,
    "  }",
    "]",
    "output [",
    "  {",
    `    name: ${quote(o.output)}`,
    "    data_type: TYPE_FP32",
    `    dims: [ ${o.classes.length} ]`,
    `    label_filename: ${quote(LABELS_FILE)}`,
    "  }",
    "]",
    "dynamic_batching {",
    `  max_queue_delay_microseconds: ${delayMicros}`,
    "}",
    "instance_group [",
    "  {",
    `    count: ${o.instances}`,
    `    kind: KIND_${o.kind.toUpperCase()}`,
    "  }",
    "]",
    "",
  ].join("\n");
}

/** Protobuf text-format string literal (C-style escapes). */
function quote(s: string): string {
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
}

/**
 * Writes DIR/<name>/ whole, or not at all: the model folder is built beside its final place and
 * renamed into it; an existing folder of that name that is a Triton model (has a config.pbtxt) is replaced.
 */
export async function writeTritonRepository(dir: string, onnx: Uint8Array, o: TritonModelOptions): Promise<string> {
  const config = tritonConfig(o);
  for (const c of o.classes)
    if (/[\r\n]/.test(c)) throw new OptionError(`class name ${JSON.stringify(c)} has a line break: it cannot go in ${LABELS_FILE}`);
  await mkdir(dir, { recursive: true });
  const target = join(dir, o.name);
  const existing = await stat(target).catch(() => null);
  if (existing && !(await stat(join(target, "config.pbtxt")).catch(() => null))) {
    throw new OptionError(`${target} exists and is not a Triton model folder (no config.pbtxt): not replacing it`);
  }
  const staging = await mkdtemp(join(dir, `.${o.name}.tmp-`));
  try {
    await mkdir(join(staging, "1"));
    await writeFile(join(staging, "1", "model.onnx"), onnx);
    await writeFile(join(staging, LABELS_FILE), `${o.classes.join("\n")}\n`);
    await writeFile(join(staging, "config.pbtxt"), config);
    if (existing) {
      const old = `${staging}.old`;
      await rename(target, old);
      await rename(staging, target);
      await rm(old, { recursive: true, force: true });
    } else await rename(staging, target);
  } catch (e) {
    await rm(staging, { recursive: true, force: true });
    throw e;
  }
  return target;
}
