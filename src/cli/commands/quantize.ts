import { InvalidArgumentError, Option, type Command } from "commander";
import { existsSync } from "node:fs";
import { IMAGENET_CLASSES, IMAGENET_SYNSETS } from "../../data/imagenet_classes.js";
import { OptionError, WeightsError } from "../../errors.js";
import { decodeOnnxModel, QUANTIZED_OPS } from "../../inference/onnx_model.js";
import { Predictor } from "../../inference/predictor.js";
import { preprocessingForResolution } from "../../models/preprocessing.js";
import { loadBatches, readCalibrationSet, streamBatches } from "../../quantize/calibration_set.js";
import { compareModels, type Comparison } from "../../quantize/compare.js";
import { QUANTIZABLE_OPS } from "../../quantize/qdq.js";
import { quantizeModel, type QuantizeMode } from "../../quantize/quantize.js";
import { CALIBRATION_METHODS, type CalibrationMethod } from "../../quantize/statistics.js";
import { readInputFile, writeFileAtomic } from "../../weights/files.js";
import { humanCount } from "../format.js";
import { type ArchFlags, addArchFlags, addWeightsFlags, loadForInference, positiveInt, type WeightsFlags } from "../options.js";

interface QuantizeOptions extends ArchFlags, WeightsFlags {
  arch?: string;
  weights: string;
  calibration?: string;
  out: string;
  method: CalibrationMethod;
  samples: number;
  holdout: number;
  perChannel: boolean;
  dynamic?: boolean;
  fp16?: boolean;
  fp32Ops?: string[];
  fp32Layers?: string[];
  resolution?: number;
  batchSize: number;
  threads?: number;
  json?: boolean;
}

const list = (text: string) =>
  text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

function fraction(text: string): number {
  const v = Number(text);
  if (!(v >= 0 && v < 1)) throw new InvalidArgumentError(`--holdout must be a fraction in [0, 1), got ${text}`);
  return v;
}

export function registerQuantize(program: Command): void {
  addWeightsFlags(addArchFlags(program.command("quantize")))
    .description(
      "write an int8 (static QDQ, calibrated on your images), weight-only int8 (--dynamic) or fp16 (--fp16) ONNX model, " +
        "and measure its accuracy against float32 on held-out images",
    )
    .option("--arch <arch>", "architecture (optional for convzoo checkpoints)")
    .requiredOption("--weights <file|name>", "the float weights: a convzoo checkpoint, a torchvision .pth, or a name (resnet50.DEFAULT)")
    .option("--calibration <dir>", "images (one sub-folder per class, or a flat folder) for the activation ranges and the comparison")
    .requiredOption("--out <model.onnx>", "output ONNX file")
    .addOption(new Option("--method <method>", "activation ranges from calibration").choices(CALIBRATION_METHODS).default("percentile"))
    .option("--samples <N>", "calibration images used (at most)", positiveInt("--samples"), 256)
    .option("--holdout <F>", "fraction of the calibration folder held out for the fp32 vs quantized comparison", fraction, 0.2)
    .option("--per-channel", "int8 weight scales per output channel", true)
    .option("--no-per-channel", "one int8 weight scale per tensor")
    .option("--dynamic", "weight-only int8: int8 weights, float32 compute, no calibration needed")
    .option("--fp16", "fp16 weights and compute, float32 input and output (for WebGPU, and half the size)")
    .option("--fp32-ops <ops>", `op types left in float32 (of ${QUANTIZABLE_OPS.join(",")})`, list)
    .option("--fp32-layers <paths>", "layers (module paths, e.g. features.0,classifier) left in float32", list)
    .option(
      "--resolution <N>",
      "input side (default: the checkpoint's, the weights' crop size, or the architecture's)",
      positiveInt("--resolution"),
    )
    .option("--batch-size <B>", "images per calibration/comparison run", positiveInt("--batch-size"), 16)
    .option("--threads <T>", "ONNX Runtime threads (default: all cores)", positiveInt("--threads"))
    .option("--json", "print one JSON object")
    .action(async (opts: QuantizeOptions) => {
      if (opts.dynamic && opts.fp16) throw new OptionError("choose one of --dynamic, --fp16 (got both)");
      const mode: QuantizeMode = opts.dynamic ? "dynamic" : opts.fp16 ? "fp16" : "static";
      if (mode === "static" && !opts.calibration)
        throw new OptionError("static int8 needs --calibration DIR (your images; or --dynamic / --fp16, which need none)");
      await refuseOnnx(opts.weights);
      const request = { arch: opts.arch, weights: opts.weights, widthMult: opts.widthMult, phi: opts.phi };
      // The calibration folder is listed (and checked) before the weights are loaded, so a bad folder fails fast.
      const set = opts.calibration ? await readCalibrationSet(opts.calibration, { samples: opts.samples, holdout: opts.holdout }) : null;
      const { loaded, preprocessing, resolution } = await loadForInference(request, opts, "be quantized");
      const transform = preprocessingForResolution(preprocessing, resolution);
      if (set?.skipped.length) console.error(`warning: skipped ${set.skipped.length} non-image file(s) (first: ${set.skipped[0]})`);
      const calibration = set && mode === "static" ? await loadBatches(set.calibration, transform, opts.batchSize) : undefined;
      const started = performance.now();
      const { onnx, record } = await quantizeModel(loaded.model, {
        mode,
        resolution,
        method: opts.method,
        perChannel: opts.perChannel,
        calibration,
        classes: loaded.classes,
        preprocessing: transform,
        threads: opts.threads,
        fp32Ops: opts.fp32Ops,
        fp32Nodes: opts.fp32Layers,
      });
      const seconds = (performance.now() - started) / 1000;
      await writeFileAtomic(opts.out, onnx);
      let comparison: Comparison | null = null;
      let labelNote = "";
      if (set && set.holdout.length) {
        const labels = holdoutLabels(set.classes, set.holdout, loaded.classes);
        if (!labels) labelNote = "the folder's classes are not the model's, so only the agreement is measured";
        const reference = await Predictor.create(loaded.model, {
          resolution,
          classes: loaded.classes,
          preprocessing: transform,
          threads: opts.threads,
        });
        const candidate = await Predictor.fromOnnx(decodeOnnxModel(onnx, opts.out), { threads: opts.threads });
        try {
          const batches = streamBatches(
            set.holdout.map((s) => s.path),
            transform,
            opts.batchSize,
          );
          comparison = await compareModels(reference, candidate, batches, labels);
        } finally {
          await reference.release();
          await candidate.release();
        }
      }
      const name = mode === "static" ? "int8" : mode === "dynamic" ? "weight-only int8" : "fp16";
      if (opts.json) {
        console.log(
          JSON.stringify(
            { out: opts.out, arch: loaded.model.arch, resolution, bytes: onnx.length, seconds, quantization: record, comparison },
            null,
            2,
          ),
        );
        return;
      }
      console.log(
        `wrote ${opts.out} (${humanCount(onnx.length)}B, ${loaded.model.arch} ${resolution}x${resolution}, ${name}` +
          (mode === "static"
            ? `: ${record.activations} activations from ${record.calibrationImages} images (${record.method}), ` +
              `${record.weights} int8 weights ${record.perChannel ? "per channel" : "per tensor"}`
            : "") +
          `; ${record.foldedBatchNorms} BatchNorms folded; ${seconds.toFixed(1)} s)`,
      );
      if (comparison) {
        const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
        const top1 =
          comparison.referenceTop1 !== null && comparison.candidateTop1 !== null
            ? `top-1 fp32 ${pct(comparison.referenceTop1)}, ${name} ${pct(comparison.candidateTop1)} ` +
              `(${((comparison.candidateTop1 - comparison.referenceTop1) * 100).toFixed(1)} points), `
            : "";
        console.log(`held-out ${comparison.images} images: ${top1}agreement ${pct(comparison.agreement)}`);
      } else if (set) console.log("no images held out (--holdout 0): nothing compared");
      else console.log("no --calibration folder: nothing compared (give one to measure the accuracy cost)");
      if (labelNote) console.error(`note: ${labelNote}`);
      if (mode === "static" && record.floatActivations?.includes("HardSwish"))
        console.error(
          "note: HardSwish has no int8 kernel in ONNX Runtime's CPU provider: it runs in float between DequantizeLinear and " +
            "QuantizeLinear, and int8 measured no faster than float32 on mobilenet_v3_large (README, Quantization); " +
            "--dynamic or --fp16 shrink the file without that cost",
        );
    });
}

/** `--weights` must be the float weights: an ONNX model (quantized or not) cannot be quantized again here. */
async function refuseOnnx(weights: string): Promise<void> {
  if (!existsSync(weights) || !weights.toLowerCase().endsWith(".onnx")) return;
  let model;
  try {
    model = decodeOnnxModel(await readInputFile(weights), weights);
  } catch {
    throw new WeightsError(
      `${weights}: an ONNX file, and not one convzoo wrote: quantize takes the float weights (a checkpoint or a name)`,
    );
  }
  const done = model.quantization?.mode ?? (model.opTypes.some((op) => QUANTIZED_OPS.includes(op)) ? "static" : null);
  if (done)
    throw new WeightsError(
      `${weights} is already quantized (${done}): quantize the float weights it came from (the checkpoint or weights name), ` +
        "not the quantized model",
    );
  throw new WeightsError(
    `${weights} is an ONNX model: quantize takes the float weights it was exported from (the checkpoint or weights name)`,
  );
}

/** Labels of the held-out images as the model's class indices, or null when the folder is flat or its classes are not the model's. */
function holdoutLabels(
  folderClasses: string[] | null,
  holdout: readonly { label: number }[],
  modelClasses: readonly string[],
): number[] | null {
  if (!folderClasses) return null;
  const index = new Map(modelClasses.map((c, i) => [c, i]));
  // ImageNet's own layout names its class folders by WordNet id (n01440764 …), as `eval` accepts.
  if (modelClasses.length === IMAGENET_CLASSES.length && modelClasses.every((c, i) => c === IMAGENET_CLASSES[i]))
    IMAGENET_SYNSETS.forEach((id, i) => index.set(id, i));
  if (!folderClasses.every((c) => index.has(c))) return null;
  return holdout.map((s) => index.get(folderClasses[s.label])!);
}
