import { Option, type Command } from "commander";
import { join, relative, sep } from "node:path";
import { IMAGENET_CLASSES, IMAGENET_SYNSETS } from "../../data/imagenet_classes.js";
import { readImageFolder, type ImageFolder, type Sample } from "../../data/folder.js";
import { asImageFolder } from "../../data/zip_folder.js";
import { skippedFileMessage } from "../../data/loader.js";
import { InputFileError, OptionError, WeightsError } from "../../errors.js";
import { Predictor } from "../../inference/predictor.js";
import { evaluatePredictor, evaluateSamples, type Evaluation } from "../../train/evaluate.js";
import { mistakeThumbnails, writeReport, type ReportEpoch } from "../../run/report.js";
import type { CheckpointMetadata } from "../../weights/checkpoint.js";
import { table } from "../format.js";
import { addWeightsFlags, loadForInference, positiveInt, readOnnxFlag, type WeightsFlags } from "../options.js";
import { printable, printableJson, printableLines, shown } from "../../text.js";

interface EvalOptions extends WeightsFlags {
  weights?: string;
  onnx?: string;
  /** The old name of --weights. */
  checkpoint?: string;
  batchSize: number;
  threads?: number;
  resolution?: number;
  report?: string;
  json?: boolean;
}

/** Above this many classes the terminal summary leaves the confusion matrix to --json and --report. */
const MAX_PRINTED_MATRIX = 12;
const MAX_PRINTED_MISTAKES = 5;

export function registerEval(program: Command): void {
  addWeightsFlags(program.command("eval <dataDir>"))
    .description(
      "evaluate a checkpoint or named weights on an image folder (one sub-folder per class, or a zip of one): accuracy, " +
        "loss, per-class figures, confusion matrix",
    )
    .option("--weights <file|name>", "a convzoo checkpoint (from convzoo train), or named ImageNet weights (resnet50.DEFAULT); required")
    .addOption(new Option("--checkpoint <file>", "the same as --weights").hideHelp())
    .option(
      "--onnx <model.onnx>",
      "evaluate an ONNX model from `convzoo export` or `convzoo quantize` (int8, fp16); with --weights too, both are " +
        "evaluated and compared",
    )
    .option("--batch-size <B>", "images per inference run", positiveInt("--batch-size"), 32)
    .option("--threads <T>", "ONNX Runtime threads (default: all cores)", positiveInt("--threads"))
    .option("--resolution <R>", "input side (default: the checkpoint's)", positiveInt("--resolution"))
    .option("--report <file>", "also write an HTML report (per-class figures, confusion matrix, mistakes)")
    .option("--json", "print one JSON object")
    .action(async (dataDir: string, opts: EvalOptions) => {
      if (opts.onnx) return evalOnnx(dataDir, opts);
      const checkpoint = weightsFlag(opts);
      const noClasses = () =>
        new WeightsError(
          `${checkpoint}: no convzoo class names in the checkpoint (expected one written by convzoo train, or ` +
            `named weights such as resnet50.DEFAULT)`,
        );
      const { loaded, preprocessing, resolution } = await loadForInference({ weights: checkpoint }, opts, "be evaluated").catch(
        (e: unknown) => {
          // loadModel's hint "pass --arch" suits classify and export; eval also needs the class names.
          throw e instanceof OptionError && e.message.endsWith("pass --arch") ? noClasses() : e;
        },
      );
      const meta = loaded.metadata;
      const arch = loaded.model.arch;
      if (!meta?.classes && !loaded.entry?.classes) throw noClasses();
      const { folder, shownPath } = await readEvalFolder(dataDir);
      const samples = matchClasses(folder.classes, folder.samples, loaded.classes, dataDir, checkpoint);
      const live = process.stderr.isTTY && !opts.json;
      const scored = await evaluateSamples(loaded.model, samples, {
        classes: loaded.classes,
        resolution,
        preprocessing,
        batchSize: opts.batchSize,
        threads: opts.threads,
        onBadFile: (path, reason) =>
          console.error(`${live ? "\r\x1b[K" : ""}warning: ${printable(skippedFileMessage(shownPath(path), reason))}`),
        onProgress: live ? (done, total) => process.stderr.write(`\revaluating ${done}/${total}`) : undefined,
      });
      if (live) process.stderr.write("\r\x1b[K");
      // The mistakes' thumbnails come from the files (a zip's temp folder); everything shown names them as the user does.
      const thumbnails = opts.report ? await mistakeThumbnails(scored, shownPath) : undefined;
      const evaluation = withShownPaths(scored, shownPath);
      if (opts.report) {
        const training = (meta?.training ?? {}) as Record<string, unknown>;
        const history = meta ? historyOf(meta) : [];
        await writeReport(opts.report, {
          title: `${arch} on ${dataDir}`,
          arch,
          strategy: typeof meta?.strategy === "string" ? meta.strategy : typeof training.strategy === "string" ? training.strategy : "—",
          data: dataDir,
          classes: loaded.classes,
          history,
          bestEpoch: typeof meta?.bestEpoch === "number" ? meta.bestEpoch : null,
          evaluation,
          thumbnails,
          decision: Array.isArray(meta?.decision) && meta.decision.every((l) => typeof l === "string") ? meta.decision : undefined,
          createdAt: new Date().toISOString(),
        });
      }
      if (opts.json) {
        console.log(printableJson(jsonResult(evaluation, { checkpoint, data: dataDir, arch, resolution }), 2));
      } else {
        console.log(printableLines(summaryText(evaluation, dataDir, arch, resolution)));
      }
      if (opts.report) console.error(`wrote ${opts.report}`);
    });
}

/** A scored folder, and how to name its files: a zip's files inside the zip (its temp folder is gone at exit). */
interface EvalFolder {
  folder: ImageFolder;
  /** `<tmp>/cat/1.png` → `project.zip/cat/1.png` for a zip; the path itself for a folder. */
  shownPath: (path: string) => string;
}

/** The images to score: a folder of class folders, or a zip of one (the studio's project zip); problems as warnings. */
async function readEvalFolder(dataDir: string): Promise<EvalFolder> {
  const root = await asImageFolder(dataDir);
  const unpacked = root !== dataDir;
  const shownPath = (path: string) => (unpacked && path.startsWith(root + sep) ? join(dataDir, relative(root, path)) : path);
  // The folder reader's messages start with the file's path.
  const shownMessage = (message: string) =>
    unpacked && message.startsWith(root + sep) ? dataDir + sep + message.slice(root.length + 1) : message;
  const folder = await readImageFolder(root);
  for (const problem of folder.unreadable) console.error(`warning: ${printable(shownMessage(problem))}`);
  if (folder.skipped.length)
    console.error(
      `warning: skipped ${folder.skipped.length} non-image file${folder.skipped.length > 1 ? "s" : ""} ` +
        `(first: ${printable(shownPath(folder.skipped[0]))})`,
    );
  return { folder, shownPath };
}

/** The evaluation with its file paths as the user names them (thumbnails are read before this). */
function withShownPaths(ev: Evaluation, shownPath: (path: string) => string): Evaluation {
  return { ...ev, paths: ev.paths.map(shownPath), skipped: ev.skipped.map(shownPath) };
}

/**
 * `eval --onnx`: the ONNX model (float, int8 or fp16) scored on the folder; with `--weights` (or
 * `--checkpoint`) the float model too, on the same images, and their top-1 agreement.
 */
async function evalOnnx(dataDir: string, opts: EvalOptions): Promise<void> {
  const reference = opts.weights || opts.checkpoint ? weightsFlag(opts) : undefined;
  const onnx = await readOnnxFlag(opts.onnx!, { ...opts, weights: undefined, checkpoint: undefined } as EvalOptions);
  const { folder, shownPath } = await readEvalFolder(dataDir);
  const samples = matchClasses(folder.classes, folder.samples, onnx.classes, dataDir, opts.onnx!);
  const live = process.stderr.isTTY && !opts.json;
  const run = async (predictor: Predictor, label: string) => {
    try {
      return await evaluatePredictor(predictor, samples, {
        resolution: predictor.resolution,
        preprocessing: predictor.preprocessing,
        batchSize: opts.batchSize,
        onBadFile: (path, reason) =>
          console.error(`${live ? "\r\x1b[K" : ""}warning: ${printable(skippedFileMessage(shownPath(path), reason))}`),
        onProgress: live ? (done, total) => process.stderr.write(`\revaluating ${label} ${done}/${total}`) : undefined,
      });
    } finally {
      if (live) process.stderr.write("\r\x1b[K");
      await predictor.release();
    }
  };
  const scored = await run(await Predictor.fromOnnx(onnx, { threads: opts.threads, preprocessing: onnx.preprocessing }), opts.onnx!);
  const evaluation = withShownPaths(scored, shownPath);
  let comparison: { weights: string; top1: number; agreement: number; images: number } | null = null;
  if (reference) {
    const { loaded } = await loadForInference({ weights: reference }, { ...opts, resolution: onnx.resolution }, "be evaluated");
    if (loaded.classes.join("\n") !== onnx.classes.join("\n"))
      throw new WeightsError(`${reference} and ${opts.onnx} have different classes: they cannot be compared`);
    const predictor = await Predictor.create(loaded.model, {
      resolution: onnx.resolution,
      classes: loaded.classes,
      preprocessing: onnx.preprocessing,
      threads: opts.threads,
    });
    const base = withShownPaths(await run(predictor, reference), shownPath);
    const byPath = new Map(base.paths.map((p, i) => [p, base.predictions?.[i]]));
    const common = evaluation.paths.filter((p) => byPath.has(p));
    const same = evaluation.paths.filter((p, i) => byPath.get(p) === evaluation.predictions?.[i]).length;
    comparison = { weights: reference, top1: base.top1, agreement: common.length ? same / common.length : 0, images: common.length };
  }
  const head = { onnx: opts.onnx!, data: dataDir, arch: onnx.arch, resolution: onnx.resolution, quantization: onnx.quantization };
  if (opts.json) {
    const { checkpoint: _unused, ...rest } = jsonResult(evaluation, {
      checkpoint: opts.onnx!,
      data: dataDir,
      arch: onnx.arch,
      resolution: onnx.resolution,
    });
    console.log(printableJson({ ...head, ...rest, comparison }, 2));
    return;
  }
  const kind = onnx.quantization ? ` (${String(onnx.quantization.mode)})` : "";
  console.log(printableLines(summaryText(evaluation, dataDir, `${onnx.arch}${kind}`, onnx.resolution)));
  if (comparison) {
    console.log("");
    console.log(
      `compared on the same ${comparison.images} images: ${printable(comparison.weights)} top-1 ${pct(comparison.top1)}, ` +
        `${printable(opts.onnx!)} ` +
        `top-1 ${pct(evaluation.top1)} (${((evaluation.top1 - comparison.top1) * 100).toFixed(2)} points), ` +
        `agreement ${pct(comparison.agreement)}`,
    );
  }
}

/** --weights, or its old name --checkpoint. */
function weightsFlag(opts: EvalOptions): string {
  if (opts.weights && opts.checkpoint && opts.weights !== opts.checkpoint) {
    throw new OptionError("--checkpoint is another name for --weights: give one");
  }
  const file = opts.weights ?? opts.checkpoint;
  if (!file) throw new OptionError("required option '--weights <file|name>' not specified");
  return file;
}

/**
 * Relabels the folder's samples with the checkpoint's class indices, matching classes by name. A
 * folder class the checkpoint does not know is an error; a checkpoint class with no folder is fine.
 */
function matchClasses(
  folderClasses: readonly string[],
  samples: readonly Sample[],
  known: readonly string[],
  dataDir: string,
  checkpoint: string,
): Sample[] {
  const index = new Map(known.map((c, i) => [c, i]));
  // ImageNet's own layout names its class folders by WordNet id (n01440764 …).
  if (known.length === IMAGENET_CLASSES.length && known.every((c, i) => c === IMAGENET_CLASSES[i]))
    IMAGENET_SYNSETS.forEach((id, i) => index.set(id, i));
  const unknown = folderClasses.filter((c) => !index.has(c));
  if (unknown.length) {
    throw new InputFileError(
      `${dataDir}: class folder${unknown.length > 1 ? "s" : ""} ` +
        `${listed(unknown)} ${unknown.length > 1 ? "are" : "is"} not among ` +
        `the ${known.length} classes of ${checkpoint} (${listed(known)})`,
    );
  }
  return samples.map((s) => ({ path: s.path, label: index.get(folderClasses[s.label])! }));
}

/** Class names for a message: all of a few, the first 20 of many. */
function listed(names: readonly string[]): string {
  const quoted = names.slice(0, 20).map((c) => `"${shown(c, 40)}"`);
  return names.length > 20 ? `${quoted.join(", ")}, … ${names.length - 20} more` : quoted.join(", ");
}

/** The training history the checkpoint carries: a `history` list, else its last epoch's `metrics`. */
function historyOf(meta: CheckpointMetadata): ReportEpoch[] {
  const isEpoch = (e: unknown): e is ReportEpoch =>
    typeof e === "object" && e !== null && typeof (e as ReportEpoch).epoch === "number" && typeof (e as ReportEpoch).trainLoss === "number";
  if (Array.isArray(meta.history) && meta.history.every(isEpoch)) return meta.history;
  return isEpoch(meta.metrics) ? [meta.metrics] : [];
}

function jsonResult(ev: Evaluation, head: { checkpoint: string; data: string; arch: string; resolution: number }) {
  return {
    ...head,
    images: ev.images,
    classes: ev.classes,
    top1: ev.top1,
    top5: ev.top5,
    topK: ev.topK,
    loss: ev.loss,
    perClass: ev.perClass,
    confusion: ev.confusion,
    misclassified: ev.misclassified.map((m) => ({
      path: ev.paths[m.index],
      true: ev.classes[m.label],
      predicted: ev.classes[m.predicted],
      probability: m.probability,
    })),
    skipped: ev.skipped,
  };
}

const pct = (v: number) => `${(v * 100).toFixed(2)}%`;

function summaryText(ev: Evaluation, dataDir: string, arch: string, resolution: number): string {
  const lines: string[] = [];
  lines.push(
    `${dataDir}: ${ev.images} ` +
      `images${ev.skipped.length ? ` (${ev.skipped.length} unreadable skipped)` : ""}, ${arch} at ` +
      `${resolution}x${resolution}, ${ev.classes.length} classes`,
  );
  lines.push(`top-1 ${pct(ev.top1)}   top-${ev.topK} ${pct(ev.top5)}   loss ${ev.loss.toFixed(4)}`);
  lines.push("");
  lines.push(
    table(
      ["class", "support", "predicted", "precision", "recall"],
      ev.perClass.map((c) => [c.class, c.support, c.predicted, pct(c.precision), c.support ? pct(c.recall) : "-"]),
      ["left", "right", "right", "right", "right"],
    ),
  );
  lines.push("(precision of a class never predicted is 0; recall is the per-class accuracy)");
  if (ev.classes.length <= MAX_PRINTED_MATRIX) {
    lines.push("");
    lines.push("confusion matrix (rows: true class, columns: predicted)");
    lines.push(
      table(
        ["", ...ev.classes],
        ev.confusion.map((row, t) => [ev.classes[t], ...row]),
      ),
    );
  }
  if (ev.misclassified.length) {
    lines.push("");
    lines.push(`most confident mistakes (${Math.min(MAX_PRINTED_MISTAKES, ev.misclassified.length)} of ${ev.misclassified.length})`);
    for (const m of ev.misclassified.slice(0, MAX_PRINTED_MISTAKES)) {
      lines.push(
        `  ${pct(m.probability).padStart(7)}  ${relative(dataDir, ev.paths[m.index])}: ${ev.classes[m.label]} ` +
          `-> ${ev.classes[m.predicted]}`,
      );
    }
  }
  return lines.join("\n");
}
