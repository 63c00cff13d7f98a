import { OptionError } from "../../errors.js";
import type { Command } from "commander";
import { Predictor, type Classification } from "../../inference/predictor.js";
import { InferenceClient } from "../../serve/client.js";
import { readInputFile } from "../../weights/files.js";
import { printable, printableJson } from "../../text.js";
import { readFileList } from "../files_from.js";
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
  server?: string;
  model?: string;
  apiKeyFile?: string;
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
    .option(
      "--weights <file|name>",
      "weights: a torchvision .pth or safetensors file, or a name (resnet50.DEFAULT; `convzoo weights list`)",
    )
    .option("--onnx <model.onnx>", "instead of --weights: an ONNX model from `convzoo export` or `convzoo quantize` (int8, fp16)")
    .option("--server <URL>", "classify on a running `convzoo serve` (Open Inference Protocol) instead of loading weights")
    .option("--model <M>", "with --server: the served model's name")
    .option("--api-key-file <F>", "with --server: send its first line as the bearer token")
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
      if (opts.server !== undefined || opts.model !== undefined) {
        if (opts.weights || opts.onnx)
          throw new OptionError("give either --weights/--onnx (classify here) or --server with --model (classify on a server)");
        if (!opts.server || !opts.model) throw new OptionError("classifying on a server needs both --server URL and --model M");
        const results = await classifyOnServer(opts.server, opts.model, images, opts.topk, opts.apiKeyFile);
        printResults(results, opts.json);
        return;
      }
      const predictor = opts.onnx ? await onnxPredictor(opts.onnx, opts, "classify") : await fromWeights(opts);
      try {
        printResults(await predictor.classifyFiles(images, opts.topk), opts.json);
      } finally {
        await predictor.release();
      }
    });
}

async function fromWeights(opts: ClassifyOptions): Promise<Predictor> {
  if (!opts.weights)
    throw new OptionError(
      "required option '--weights <file|name>' not specified (or --onnx <model.onnx>, or classify on a server: --server URL --model M)",
    );
  const request = { arch: opts.arch, weights: opts.weights, widthMult: opts.widthMult, phi: opts.phi };
  const { loaded, preprocessing, resolution } = await loadForInference(request, opts, "classify");
  return Predictor.create(loaded.model, { resolution, classes: loaded.classes, preprocessing, threads: opts.threads });
}

function printResults(results: Classification[], json: boolean | undefined): void {
  if (json) {
    console.log(printableJson(results, 2));
    return;
  }
  for (const r of results) {
    console.log(printable(r.file));
    for (const p of r.top) console.log(`  ${(p.probability * 100).toFixed(2).padStart(6)}%  ${printable(p.label)}`);
  }
}

/** The images' bytes go to the server as they are (BYTES input); it decodes them with the model's own transform. */
async function classifyOnServer(url: string, model: string, files: string[], topk: number, apiKeyFile?: string): Promise<Classification[]> {
  const apiKey = apiKeyFile
    ? Buffer.from(await readInputFile(apiKeyFile))
        .toString("utf8")
        .split(/\r?\n/)[0]
        .trim()
    : undefined;
  const client = new InferenceClient(url, { apiKey });
  const meta = await client.metadata(model);
  const batch = Number(meta.parameters?.max_batch_size ?? 8);
  const results: Classification[] = [];
  for (let i = 0; i < files.length; i += batch) {
    const chunk = files.slice(i, i + batch);
    const bytes = await Promise.all(chunk.map((f) => readInputFile(f)));
    const rows = await client.classifyImages(model, bytes, topk);
    chunk.forEach((file, r) => results.push({ file, top: rows[r].map((c) => ({ label: c.label, index: c.index, probability: c.score })) }));
  }
  return results;
}
