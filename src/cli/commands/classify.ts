import type { Command } from "commander";
import { OptionError } from "../../errors.js";
import { Predictor } from "../../inference/predictor.js";
import { readFileList } from "../files_from.js";
import { type ArchFlags, addArchFlags, addWeightsFlags, loadForInference, positiveInt, type WeightsFlags } from "../options.js";
import { printable, printableJson } from "../../text.js";

interface ClassifyOptions extends ArchFlags, WeightsFlags {
  arch?: string;
  weights: string;
  topk: number;
  resolution?: number;
  threads?: number;
  json?: boolean;
  filesFrom?: string;
}

export function registerClassify(program: Command): void {
  addWeightsFlags(addArchFlags(program.command("classify [image...]")))
    .description("classify image files: top-k labels with probabilities")
    .option("--arch <arch>", "architecture (optional for convzoo checkpoints)")
    .requiredOption(
      "--weights <file|name>",
      "weights: a torchvision .pth or safetensors file, or a name (resnet50.DEFAULT; `convzoo weights list`)",
    )
    .option("--topk <K>", "labels per image", positiveInt("--topk"), 5)
    .option(
      "--resolution <N>",
      "input side (default: the checkpoint's, the weights' crop size, or the architecture's)",
      positiveInt("--resolution"),
    )
    .option("--threads <T>", "ONNX Runtime threads (default: all cores)", positiveInt("--threads"))
    .option("--files-from <file>", "also classify the image paths listed in FILE, one per line (or NUL-separated; - for stdin)")
    .option("--json", "print JSON")
    .action(async (args: string[], opts: ClassifyOptions) => {
      const images = opts.filesFrom ? [...args, ...(await readFileList(opts.filesFrom))] : args;
      if (images.length === 0) throw new OptionError("classify needs image paths: as arguments, or in a list with --files-from FILE");
      const request = { arch: opts.arch, weights: opts.weights, widthMult: opts.widthMult, phi: opts.phi };
      const { loaded, preprocessing, resolution } = await loadForInference(request, opts, "classify");
      const predictor = await Predictor.create(loaded.model, { resolution, classes: loaded.classes, preprocessing, threads: opts.threads });
      try {
        const results = await predictor.classifyFiles(images, opts.topk);
        if (opts.json) {
          console.log(printableJson(results, 2));
          return;
        }
        for (const r of results) {
          console.log(printable(r.file));
          for (const p of r.top) console.log(`  ${(p.probability * 100).toFixed(2).padStart(6)}%  ${printable(p.label)}`);
        }
      } finally {
        await predictor.release();
      }
    });
}
