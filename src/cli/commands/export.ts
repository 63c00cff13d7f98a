import type { Command } from "commander";
import { exportOnnx } from "../../inference/export.js";
import { OptionError } from "../../errors.js";
import type { InferenceOutput } from "../../models/inference_graph.js";
import { writeFileAtomic } from "../../weights/files.js";
import { humanCount } from "../format.js";
import { type ArchFlags, addArchFlags, addWeightsFlags, loadForInference, positiveInt, type WeightsFlags } from "../options.js";
import { printable } from "../../text.js";

interface ExportOptions extends ArchFlags, WeightsFlags {
  weights?: string;
  out: string;
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
    .requiredOption("--out <model.onnx>", "output file")
    .option("--resolution <N>", "input side (default: the architecture's)", positiveInt("--resolution"))
    .option("--num-classes <K>", "classifier outputs when no weights are given", positiveInt("--num-classes"))
    .option("--logits", "output logits instead of softmax probabilities")
    .option("--embedding", "output the pooled features [N, D] that feed the final classifier layer")
    .option("--features", "output the backbone's feature maps at strides 4, 8, 16, 32 (feature_stride4 …) for detection/segmentation heads")
    .action(async (archArg: string | undefined, opts: ExportOptions) => {
      const output = outputKind(opts);
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
      await writeFileAtomic(opts.out, bytes);
      console.log(printable(`wrote ${opts.out} (${humanCount(bytes.length)}B, ${arch}, output: ${output})`));
    });
}
