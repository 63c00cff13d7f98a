import { OptionError } from "../../errors.js";
import type { Command } from "commander";
import { Predictor } from "../../inference/predictor.js";
import {
  type ArchFlags,
  addArchFlags,
  addWeightsFlags,
  loadForInference,
  onnxPredictor,
  positiveInt,
  type WeightsFlags,
} from "../options.js";

interface ClassifyOptions extends ArchFlags, WeightsFlags {
  arch?: string;
  weights?: string;
  onnx?: string;
  topk: number;
  resolution?: number;
  threads?: number;
  json?: boolean;
}

export function registerClassify(program: Command): void {
  addWeightsFlags(addArchFlags(program.command("classify <image...>")))
    .description("classify image files: top-k labels with probabilities")
    .option("--arch <arch>", "architecture (optional for convzoo checkpoints)")
    .option(
      "--weights <file|name>",
      "weights: a torchvision .pth or safetensors file, or a name (resnet50.DEFAULT; `convzoo weights list`)",
    )
    .option("--onnx <model.onnx>", "instead of --weights: an ONNX model from `convzoo export` or `convzoo quantize` (int8, fp16)")
    .option("--topk <K>", "labels per image", positiveInt("--topk"), 5)
    .option(
      "--resolution <N>",
      "input side (default: the checkpoint's, the weights' crop size, or the architecture's)",
      positiveInt("--resolution"),
    )
    .option("--threads <T>", "ONNX Runtime threads (default: all cores)", positiveInt("--threads"))
    .option("--json", "print JSON")
    .action(async (images: string[], opts: ClassifyOptions) => {
      const predictor = opts.onnx ? await onnxPredictor(opts.onnx, opts, "classify") : await fromWeights(opts);
      try {
        const results = await predictor.classifyFiles(images, opts.topk);
        if (opts.json) {
          console.log(JSON.stringify(results, null, 2));
          return;
        }
        for (const r of results) {
          console.log(r.file);
          for (const p of r.top) console.log(`  ${(p.probability * 100).toFixed(2).padStart(6)}%  ${p.label}`);
        }
      } finally {
        await predictor.release();
      }
    });
}

async function fromWeights(opts: ClassifyOptions): Promise<Predictor> {
  if (!opts.weights) throw new OptionError("classify needs --weights <file|name> or --onnx <model.onnx>");
  const request = { arch: opts.arch, weights: opts.weights, widthMult: opts.widthMult, phi: opts.phi };
  const { loaded, preprocessing, resolution } = await loadForInference(request, opts, "classify");
  return Predictor.create(loaded.model, { resolution, classes: loaded.classes, preprocessing, threads: opts.threads });
}
