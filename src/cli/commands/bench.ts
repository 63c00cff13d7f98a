import { Option, type Command } from "commander";
import { OptionError } from "../../errors.js";
import { readOnnxModel } from "../../inference/onnx_model.js";
import { Predictor } from "../../inference/predictor.js";
import { benchInference, benchPredictor, benchTraining } from "../../tools/bench.js";
import { loadModel } from "../../inference/load.js";
import { type ArchFlags, addArchFlags, flagNames, positiveInt } from "../options.js";

interface BenchOptionsBase extends ArchFlags {
  arch?: string;
  weights?: string;
  batchSize: number;
  resolution?: number;
  runs: number;
  warmup: number;
  threads?: number;
  json?: boolean;
}

interface BenchInferOptions extends BenchOptionsBase {
  onnx?: string;
}

interface BenchTrainOptions extends BenchOptionsBase {
  numClasses: number;
  /** The old name of --num-classes. */
  classes?: number;
}

export function registerBench(program: Command): void {
  const bench = program.command("bench").description("measure speed on this machine");
  addArchFlags(bench.command("infer"))
    .description("inference latency and throughput (median of several runs)")
    .option("--arch <arch>", "architecture (required unless --onnx)")
    .option("--weights <file|name>", "weights: a file or a name (default: seeded random init; speed does not depend on values)")
    .option("--onnx <model.onnx>", "instead of --arch: an ONNX model from `convzoo export` or `convzoo quantize` (int8, fp16)")
    .option("--batch-size <B>", "images per run", positiveInt("--batch-size"), 1)
    .option("--resolution <N>", "input side (default: the architecture's)", positiveInt("--resolution"))
    .option("--runs <R>", "timed runs", positiveInt("--runs"), 20)
    .option("--warmup <W>", "untimed warm-up runs", positiveInt("--warmup"), 3)
    .option("--threads <T>", "ONNX Runtime threads (default: all cores)", positiveInt("--threads"))
    .option("--json", "print JSON")
    .action(async (opts: BenchInferOptions) => {
      const r = opts.onnx ? await benchOnnx(opts.onnx, opts) : await benchModel(opts);
      if (opts.json) console.log(JSON.stringify(r));
      else
        console.log(
          `${r.arch} ${r.resolution}x${r.resolution} batch ${r.batchSize}, ${r.threads} threads: median ` +
            `${r.medianMs.toFixed(2)} ms (min ${r.minMs.toFixed(2)}), ${r.imagesPerSecond.toFixed(1)} images/s ` +
            `over ${r.runs} runs`,
        );
    });
  addArchFlags(bench.command("train"))
    .description("training step time and throughput: SGD (momentum 0.9) on a random batch, the whole network trained")
    .option("--arch <arch>", "architecture")
    .option("--weights <file|name>", "weights: a file or a name (default: seeded random init; speed does not depend on values)")
    .option("--num-classes <K>", "classifier outputs", positiveInt("--num-classes"), 1000)
    .addOption(new Option("--classes <K>", "the same as --num-classes").argParser(positiveInt("--classes")).hideHelp())
    .option("--batch-size <B>", "images per step", positiveInt("--batch-size"), 16)
    .option("--resolution <N>", "input side (default: the architecture's)", positiveInt("--resolution"))
    .option("--runs <R>", "timed steps", positiveInt("--runs"), 5)
    .option("--warmup <W>", "untimed warm-up steps", positiveInt("--warmup"), 1)
    .option("--threads <T>", "ONNX Runtime threads (default: all cores)", positiveInt("--threads"))
    .option("--json", "print JSON")
    .action(async (opts: BenchTrainOptions) => {
      if (!opts.arch) throw new OptionError("required option '--arch <arch>' not specified");
      const { model } = await loadModel({
        arch: opts.arch,
        weights: opts.weights,
        widthMult: opts.widthMult,
        phi: opts.phi,
        numClasses: opts.weights ? undefined : (opts.classes ?? opts.numClasses),
        dropout: 0,
      });
      const r = await benchTraining(model, opts);
      if (opts.json) console.log(JSON.stringify(r));
      else {
        console.log(
          `${r.arch} ${r.resolution}x${r.resolution} batch ${r.batchSize}, ${r.threads} threads, SGD step: ` +
            `median ${r.medianMs.toFixed(1)} ms (min ${r.minMs.toFixed(1)}), ${r.imagesPerSecond.toFixed(1)} ` +
            `images/s over ${r.runs} steps`,
        );
        console.log(
          `set-up ${(r.setupMs / 1000).toFixed(1)} s (graph build ${(r.graphBuildMs / 1000).toFixed(1)} s), ` +
            `peak RSS ${r.peakRssMB.toFixed(0)} MB (the whole process)`,
        );
      }
    });
}

async function benchModel(opts: BenchInferOptions) {
  if (!opts.arch) throw new OptionError("required option '--arch <arch>' not specified (or --onnx <model.onnx>)");
  const { model } = await loadModel({ arch: opts.arch, weights: opts.weights, widthMult: opts.widthMult, phi: opts.phi });
  return benchInference(model, opts);
}

async function benchOnnx(path: string, opts: BenchInferOptions) {
  const clash = (["arch", "weights", "widthMult", "phi", "resolution"] as const).filter((k) => opts[k] !== undefined);
  if (clash.length) throw new OptionError(`--onnx takes the model as it is: drop ${flagNames(clash)}`);
  const predictor = await Predictor.fromOnnx(await readOnnxModel(path), { threads: opts.threads });
  try {
    return await benchPredictor(predictor, opts);
  } finally {
    await predictor.release();
  }
}
