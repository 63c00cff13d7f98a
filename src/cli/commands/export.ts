import { exportOnnx } from "../../inference/export.js";
import { OptionError } from "../../errors.js";
import type { InferenceOutput } from "../../models/inference_graph.js";
import { writeFileAtomic } from "../../weights/files.js";
import { humanCount } from "../format.js";
import { INSTANCE_KINDS, writeTritonRepository, type InstanceKind } from "../../serve/triton.js";
import { Option, type Command } from "commander";
import {
  type ArchFlags,
  addArchFlags,
  addWeightsFlags,
  loadForInference,
  nonNegativeNumber,
  positiveInt,
  type WeightsFlags,
} from "../options.js";
import { printable } from "../../text.js";

interface ExportOptions extends ArchFlags, WeightsFlags {
  weights?: string;
  out?: string;
  triton?: string;
  name?: string;
  maxBatchSize: number;
  maxQueueDelayMs: number;
  instances: number;
  instanceKind: InstanceKind;
  resolution?: number;
  numClasses?: number;
  logits?: boolean;
  embedding?: boolean;
  features?: boolean;
}

function outputKind(opts: ExportOptions): InferenceOutput {
  const chosen = (["logits", "embedding", "features"] as const).filter((k) => opts[k]);
  if (chosen.length > 1)
    throw new OptionError(`choose one of --logits, --embedding, --features (got ${chosen.map((k) => `--${k}`).join(", ")})`);
  return chosen[0] ?? "probabilities";
}

export function registerExport(program: Command): void {
  addWeightsFlags(addArchFlags(program.command("export [arch]")))
    .description(
      "write an ONNX inference model: input [N,3,H,W] float32 normalised; output probabilities, logits, the " +
        "pooled embedding or multi-scale feature maps",
    )
    .option("--weights <file|name>", "weights: a .pth or safetensors file, or a name (resnet50.DEFAULT); default: seeded random init")
    .option("--out <model.onnx>", "output file")
    .option("--triton <DIR>", "write a Triton model repository: DIR/<name>/config.pbtxt, DIR/<name>/1/model.onnx, DIR/<name>/labels.txt")
    .option("--name <N>", "the model's name in the Triton repository (default: the architecture)")
    .option("--max-batch-size <B>", "Triton's max_batch_size", positiveInt("--max-batch-size"), 8)
    .option("--max-queue-delay-ms <D>", "Triton's dynamic batching delay", nonNegativeNumber("--max-queue-delay-ms"), 0)
    .option("--instances <N>", "Triton's instance_group count", positiveInt("--instances"), 1)
    .addOption(new Option("--instance-kind <kind>", "Triton's instance_group kind").choices(INSTANCE_KINDS).default("auto"))
    .option("--resolution <N>", "input side (default: the architecture's)", positiveInt("--resolution"))
    .option("--num-classes <K>", "classifier outputs when no weights are given", positiveInt("--num-classes"))
    .option("--logits", "output logits instead of softmax probabilities")
    .option("--embedding", "output the pooled features [N, D] that feed the final classifier layer")
    .option("--features", "output the backbone's feature maps at strides 4, 8, 16, 32 (feature_stride4 …) for detection/segmentation heads")
    .action(async (archArg: string | undefined, opts: ExportOptions) => {
      const output = outputKind(opts);
      if (!opts.out && !opts.triton) throw new OptionError("export needs --out model.onnx, --triton DIR, or both");
      if (opts.triton && output !== "probabilities" && output !== "logits")
        throw new OptionError(`--triton serves a classifier: output probabilities or --logits, not --${output}`);
      if (!archArg && !opts.weights)
        throw new OptionError("export needs an architecture, or --weights with a convzoo checkpoint (whose metadata names it)");
      const request = { arch: archArg, weights: opts.weights, widthMult: opts.widthMult, phi: opts.phi, numClasses: opts.numClasses };
      const classifies = output === "probabilities" || output === "logits";
      const { loaded, preprocessing, resolution } = await loadForInference(request, opts, classifies ? `export ${output}` : undefined);
      const arch = loaded.model.arch;
      if (!opts.weights) console.error(`note: no --weights given: ${arch} is exported with seeded random weights`);
      const bytes = exportOnnx(loaded.model, {
        resolution,
        output,
        classes: loaded.classes,
        preprocessing,
      });
      if (opts.out) {
        await writeFileAtomic(opts.out, bytes);
        console.log(printable(`wrote ${opts.out} (${humanCount(bytes.length)}B, ${arch}, output: ${output})`));
      }
      if (opts.triton) {
        const folder = await writeTritonRepository(opts.triton, bytes, {
          name: opts.name ?? arch,
          resolution,
          output,
          classes: loaded.classes,
          maxBatchSize: opts.maxBatchSize,
          maxQueueDelayMs: opts.maxQueueDelayMs,
          instances: opts.instances,
          kind: opts.instanceKind,
        });
        console.log(printable(`wrote ${folder} (Triton model: config.pbtxt, 1/model.onnx, labels.txt; ${arch}, output: ${output})`));
      }
    });
}
