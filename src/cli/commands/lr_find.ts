/**
 * `convzoo lr-find`: the learning-rate range test (fastai's lr_find, src/train/lr_find.ts) on a labelled folder,
 * with the strategy's frozen layers and the training transform: prints fastai's suggestions and a short table,
 * writes an HTML report with the curve (log-x SVG, suggestions marked) with --report, or one JSON object.
 */
import { Option, type Command } from "commander";
import { existsSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { readDataset } from "../../data/dataset.js";
import { skippedFileMessage } from "../../data/loader.js";
import { InputFileError, OptionError } from "../../errors.js";
import { loadModel } from "../../inference/load.js";
import { preprocessingForResolution, type Preprocessing } from "../../models/preprocessing.js";
import { escapeHtml } from "../../run/report.js";
import { runOption, runOptionRows } from "../../run/settings.js";
import { checkTrainableData } from "../../run/checks.js";
import { chooseAugmentation, chooseBatchSize, chooseOptimizer } from "../../run/sizing.js";
import {
  LR_FIND_DEFAULTS,
  LR_SUGGESTION_METHODS,
  lrFind,
  type LrFindResult,
  type LrFindStop,
  type LrSuggestionMethod,
} from "../../train/lr_find.js";
import type { OptimizerOptions } from "../../train/optimizers.js";
import { frozenPrefixes, STRATEGIES, unfreezeStagesPrefixes, type Strategy } from "../../transfer/strategy.js";
import { writeFileAtomic } from "../../weights/files.js";
import { table } from "../format.js";
import { downloadOptions, optionFrom, positiveInt, positiveNumber } from "../options.js";
import { printable, printableLines } from "../../text.js";

interface LrFindFlags {
  arch?: string;
  weights?: string;
  widthMult?: number;
  phi?: number;
  strategy: Strategy;
  freeze?: string[];
  unfreezeStages?: number;
  batchSize?: number;
  resolution?: number;
  optimizer?: "sgd" | "adamw";
  momentum: number;
  nesterov?: boolean;
  weightDecay?: number;
  labelSmoothing: number;
  augment?: boolean;
  seed: number;
  startLr: number;
  endLr: number;
  iterations: number;
  stopDiv: boolean;
  threads?: number;
  offline?: boolean;
  report?: string;
  json?: boolean;
}

/** What the suggestions mean, for the terminal and the report. */
const METHOD_NOTES: Record<LrSuggestionMethod, string> = {
  valley: "fastai's default: about halfway down the longest descent",
  minimum: "a tenth of the rate at the lowest loss",
  steep: "where the loss falls fastest",
};

const STOP_NOTES: Record<LrFindStop, string> = {
  completed: "all run",
  diverged: "stopped: the smoothed loss passed 4× its best",
  "non-finite": "stopped: the loss was not finite",
  interrupted: "interrupted",
};

export function registerLrFind(program: Command): void {
  const command = program
    .command("lr-find <dataDir>")
    .description(
      "learning-rate range test (fastai's lr_find): a short training with the rate growing exponentially; prints " +
        "the suggested rates (valley, minimum/10, steep) and writes the loss curve with --report",
    );
  for (const field of ["arch", "weights", "widthMult", "phi"] as const) command.addOption(optionFrom(runOption(field)));
  command
    .addOption(
      new Option("--strategy <s>", "what trains: full, head (the classifier only), partial (--freeze / --unfreeze-stages)")
        .choices(STRATEGIES)
        .default("full"),
    )
    .addOption(optionFrom(runOption("freeze")))
    .addOption(optionFrom(runOption("unfreezeStages")))
    .addOption(optionFrom(runOption("batchSize")))
    .addOption(optionFrom(runOption("resolution")))
    .addOption(optionFrom(runOption("optimizer")))
    .addOption(optionFrom(runOption("momentum")))
    .addOption(optionFrom(runOption("nesterov")))
    .addOption(optionFrom(runOption("weightDecay")))
    .addOption(optionFrom(runOption("labelSmoothing")))
    .addOption(optionFrom(runOption("seed")))
    .addOption(optionFrom(runOptionRows("augment")[0]))
    .addOption(optionFrom(runOptionRows("augment")[1]))
    .option("--start-lr <lr>", "first learning rate", positiveNumber("--start-lr"), LR_FIND_DEFAULTS.startLr)
    .option("--end-lr <lr>", "the rate the exponential schedule heads for", positiveNumber("--end-lr"), LR_FIND_DEFAULTS.endLr)
    .option("--iterations <N>", "training steps (at least 6)", positiveInt("--iterations"), LR_FIND_DEFAULTS.iterations)
    .option("--no-stop-div", "run every step, even after the loss diverges (4× its best)")
    .option("--threads <T>", "ONNX Runtime threads (default: all cores)", positiveInt("--threads"))
    .option("--offline", "never use the network: named --weights must already be cached (also CONVZOO_OFFLINE=1)")
    .option("--report <file>", "write an HTML report with the loss curve and the suggestions")
    .option("--json", "print one JSON object: lrs, losses, smoothed, suggestions")
    .action(async (dataDir: string, opts: LrFindFlags) => {
      const say = (line: string) => {
        if (!opts.json) console.error(printableLines(line));
      };
      if (opts.report) checkWritable(opts.report);
      const ds = await readDataset({ path: dataDir });
      for (const problem of ds.unreadable) console.error(`warning: ${printable(problem)}`);
      if (ds.skipped.length)
        console.error(
          `warning: skipped ${ds.skipped.length} non-image file${ds.skipped.length > 1 ? "s" : ""} (first: ${printable(ds.skipped[0])})`,
        );
      say(ds.description);
      // As `convzoo train` checks before it trains: one class or one image cannot give a loss curve.
      checkTrainableData(dataDir, ds.classes, ds.train.length);
      const loaded = await loadModel({
        arch: opts.arch,
        weights: opts.weights,
        widthMult: opts.widthMult,
        phi: opts.phi,
        numClasses: ds.classes.length,
        seed: opts.seed,
        download: downloadOptions(opts, opts.weights),
      });
      for (const note of loaded.notes) say(`note: ${note}`);
      const model = loaded.model;
      // The side and transform `convzoo train` would use (run/run.ts's prepareRun).
      const fromCheckpoint = typeof loaded.metadata?.resolution === "number" ? loaded.metadata.resolution : undefined;
      const resolution = opts.resolution ?? fromCheckpoint ?? loaded.entry?.transforms.cropSize ?? model.defaultResolution;
      const preprocessing: Preprocessing = loaded.entry
        ? preprocessingForResolution(loaded.preprocessing, resolution)
        : { ...loaded.preprocessing, resizeSize: resolution, cropSize: resolution };
      if (opts.unfreezeStages !== undefined && opts.freeze?.length) throw new OptionError("give --freeze or --unfreeze-stages, not both");
      if (opts.unfreezeStages !== undefined && opts.strategy !== "partial")
        throw new OptionError(`--unfreeze-stages applies to --strategy partial, not ${opts.strategy}`);
      const frozen =
        opts.unfreezeStages !== undefined
          ? unfreezeStagesPrefixes(model, opts.unfreezeStages)
          : frozenPrefixes(model, opts.strategy, opts.freeze ?? []);
      const batchSize = opts.batchSize ?? chooseBatchSize(ds.train.length).value;
      // Sized as `convzoo train` sizes them (run/sizing.ts) when not given.
      const optimizerKind = opts.optimizer ?? chooseOptimizer(opts.weights !== undefined).value;
      const augment = opts.augment ?? chooseAugmentation(resolution).value;
      const optimizer: OptimizerOptions =
        optimizerKind === "adamw"
          ? { kind: "adamw", weightDecay: opts.weightDecay ?? 0.01 }
          : { kind: "sgd", momentum: opts.momentum, nesterov: opts.nesterov ?? false, weightDecay: opts.weightDecay ?? 1e-4 };
      const trained = opts.strategy === "partial" ? `partial (frozen: ${frozen.join(", ")})` : opts.strategy;
      say(
        `lr-find: ${model.arch}, ${ds.train.length} images, batch ${batchSize} at ${resolution} px, ${trained}, ` +
          `${optimizerKind}${augment ? ", augmented" : ""}; ` +
          `lr ${fmt(opts.startLr)} → ${fmt(opts.endLr)} over ${Math.max(6, opts.iterations)} steps`,
      );

      const live = process.stderr.isTTY === true && !opts.json;
      const controller = new AbortController();
      const onSigint = () => {
        if (controller.signal.aborted) process.exit(130);
        controller.abort();
      };
      process.on("SIGINT", onSigint);
      let result: LrFindResult;
      try {
        result = await lrFind(model, ds.train, {
          batchSize,
          resolution,
          preprocessing,
          frozen,
          optimizer,
          startLr: opts.startLr,
          endLr: opts.endLr,
          iterations: opts.iterations,
          stopOnDivergence: opts.stopDiv,
          augment,
          labelSmoothing: opts.labelSmoothing,
          seed: opts.seed,
          threads: opts.threads,
          signal: controller.signal,
          onBadFile: (path, reason) => console.error(`${live ? "\r\x1b[K" : ""}warning: ${printable(skippedFileMessage(path, reason))}`),
          onStep: live
            ? (e) => process.stderr.write(`\rstep ${e.iteration}/${e.iterations}  lr ${fmt(e.lr)}  loss ${e.smoothed.toFixed(4)}\x1b[K`)
            : undefined,
        });
      } finally {
        process.off("SIGINT", onSigint);
        if (live) process.stderr.write("\r\x1b[K");
      }
      if (opts.report) {
        await writeFileAtomic(
          opts.report,
          new TextEncoder().encode(
            renderLrFindReport(result, {
              title: `Learning-rate range test: ${model.arch} on ${dataDir}`,
              facts: [
                ["architecture", model.arch],
                ["weights", opts.weights ?? "random initialisation"],
                ["data", `${dataDir} (${ds.train.length} training images, ${ds.classes.length} classes)`],
                ["strategy", trained],
                ["batch size", `${batchSize}`],
                ["resolution", `${resolution}`],
                ["optimizer", JSON.stringify(optimizer)],
                ["rates", `${fmt(opts.startLr)} → ${fmt(opts.endLr)}, ${result.iterations} steps`],
                ["created", new Date().toISOString()],
              ],
            }),
          ),
        );
      }
      if (opts.json) {
        const { lrs, losses, smoothed, suggestions, points, stop, stoppedEarly, iterations } = result;
        console.log(
          JSON.stringify({ lrs, losses, smoothed, suggestions, points, stop, stoppedEarly, iterations, report: opts.report ?? null }),
        );
        return;
      }
      console.log(suggestionText(result));
      console.log("");
      console.log(curveTable(result));
      if (opts.report) console.error(`report: ${opts.report}`);
      if (result.stop === "interrupted") process.exitCode = 130;
    });
}

function checkWritable(path: string): void {
  const dir = dirname(path);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new InputFileError(`${path}: folder ${dir} does not exist`);
}

/** 0.00123 → "1.23e-3". */
function fmt(lr: number): string {
  return lr.toExponential(2).replace("e+", "e");
}

function suggestionText(r: LrFindResult): string {
  const lines = [`suggested learning rates (${r.lrs.length} of ${r.iterations} steps; ${STOP_NOTES[r.stop]}):`];
  for (const m of LR_SUGGESTION_METHODS) {
    const lr = r.suggestions[m];
    lines.push(`  ${m.padEnd(8)} ${lr === null ? "—       " : fmt(lr)}  ${METHOD_NOTES[m]}`);
  }
  if (r.suggestions.valley === null)
    lines.push("  (too few steps before the loss diverged to judge: lower --end-lr or raise --iterations)");
  return lines.join("\n");
}

/** About a dozen rows of the curve, evenly spaced over the steps run. */
function curveTable(r: LrFindResult, rows = 12): string {
  const n = r.lrs.length;
  const picks = [
    ...new Set(Array.from({ length: Math.min(rows, n) }, (_, k) => Math.round((k * (n - 1)) / Math.max(1, Math.min(rows, n) - 1)))),
  ];
  return table(
    ["step", "lr", "loss", "smoothed"],
    picks.map((i) => [i + 1, fmt(r.lrs[i]), r.losses[i].toFixed(4), r.smoothed[i].toFixed(4)]),
    ["right", "right", "right", "right"],
  );
}

const COLORS: Record<LrSuggestionMethod, string> = { valley: "#d62728", minimum: "#2ca02c", steep: "#9467bd" };
const PLOT = { width: 640, height: 360, left: 60, right: 20, top: 34, bottom: 44 };

/**
 * The curve as inline SVG: the smoothed loss (and the raw loss, faint) against the rate on a log axis, each
 * suggestion marked where fastai's plot marks it (minimum: at the lowest loss) with a dashed line at the rate
 * suggested. The y axis leaves out the last 5 points as fastai's plot does (skip_end=5); higher values are clipped.
 */
export function lrFindChart(r: LrFindResult): string {
  const n = r.lrs.length;
  if (n === 0) return `<p class="note">No steps were run.</p>`;
  const lx = r.lrs.map(Math.log10);
  const [x0, x1] = [lx[0], lx[n - 1] > lx[0] ? lx[n - 1] : lx[0] + 1];
  const shown = r.smoothed.slice(0, n > 10 ? n - 5 : n).filter(Number.isFinite);
  const all = [...r.smoothed, ...r.losses].filter(Number.isFinite);
  let y0 = all.length ? Math.min(...all) : 0;
  let y1 = shown.length ? Math.max(...shown) : y0 + 1;
  if (y1 <= y0) [y0, y1] = [y0 - 0.5, y0 + 0.5];
  const pad = (y1 - y0) * 0.05;
  [y0, y1] = [y0 - pad, y1 + pad];
  const w = PLOT.width - PLOT.left - PLOT.right;
  const h = PLOT.height - PLOT.top - PLOT.bottom;
  const x = (lr: number) => PLOT.left + ((Math.log10(lr) - x0) / (x1 - x0)) * w;
  const y = (v: number) => PLOT.top + h - ((Math.min(Math.max(v, y0), y1) - y0) / (y1 - y0)) * h;
  const f = (v: number) => v.toFixed(1);
  const path = (values: readonly number[]) => {
    let d = "";
    let gap = true;
    values.forEach((v, i) => {
      if (!Number.isFinite(v)) {
        gap = true;
        return;
      }
      d += `${gap ? " M" : " L"}${f(x(r.lrs[i]))},${f(y(v))}`;
      gap = false;
    });
    return d.trim();
  };
  const parts: string[] = [
    `<svg id="lr-find-curve" class="chart" role="img" viewBox="0 0 ${PLOT.width} ${PLOT.height}" ` +
      `width="${PLOT.width}" height="${PLOT.height}">`,
    `<title>loss against learning rate</title>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const v = y0 + ((y1 - y0) * i) / 4;
    parts.push(`<line class="grid" x1="${PLOT.left}" x2="${PLOT.left + w}" y1="${f(y(v))}" y2="${f(y(v))}"/>`);
    parts.push(`<text class="tick" x="${PLOT.left - 6}" y="${f(y(v) + 4)}" text-anchor="end">${v.toFixed(2)}</text>`);
  }
  for (let e = Math.ceil(x0 - 1e-9); e <= x1 + 1e-9; e++) {
    const px = f(PLOT.left + ((e - x0) / (x1 - x0)) * w);
    parts.push(`<line class="grid" x1="${px}" x2="${px}" y1="${PLOT.top}" y2="${PLOT.top + h}"/>`);
    parts.push(`<text class="tick" x="${px}" y="${PLOT.top + h + 16}" text-anchor="middle">1e${e}</text>`);
  }
  parts.push(
    `<text class="axis" x="${PLOT.left + w / 2}" y="${PLOT.height - 6}" text-anchor="middle">learning rate (log scale)</text>`,
    `<text class="axis" x="14" y="${PLOT.top + h / 2}" text-anchor="middle" transform="rotate(-90 14 ${PLOT.top + h / 2})">loss</text>`,
    `<path class="series" data-series="loss" d="${path(r.losses)}" stroke="#1f77b4" stroke-opacity="0.3" fill="none"/>`,
    `<path class="series" data-series="smoothed" data-points="${r.smoothed.filter(Number.isFinite).length}" d="${path(r.smoothed)}" ` +
      `stroke="#1f77b4" stroke-width="2" fill="none"/>`,
  );
  let legendX = PLOT.left + 8;
  for (const m of LR_SUGGESTION_METHODS) {
    const lr = r.suggestions[m];
    const p = r.points[m];
    if (lr === null || p === null) continue;
    const label = `${m} ${fmt(lr)}`;
    parts.push(
      `<line class="suggested" data-method="${m}" x1="${f(x(lr))}" x2="${f(x(lr))}" y1="${PLOT.top}" y2="${PLOT.top + h}" ` +
        `stroke="${COLORS[m]}" stroke-dasharray="4 3"/>`,
      `<circle class="suggestion" data-method="${m}" data-lr="${lr}" cx="${f(x(p.lr))}" cy="${f(y(p.loss))}" r="5" ` +
        `fill="${COLORS[m]}"><title>${escapeHtml(`${label}: ${METHOD_NOTES[m]}`)}</title></circle>`,
      `<g class="legend"><circle cx="${f(legendX)}" cy="20" r="4" fill="${COLORS[m]}"/>` +
        `<text x="${f(legendX + 8)}" y="24">${escapeHtml(label)}</text></g>`,
    );
    legendX += label.length * 7 + 24;
  }
  parts.push("</svg>");
  return parts.join("\n");
}

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#222;max-width:980px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px}.facts dt{color:#666}.facts dd{margin:0}
.chart{font-size:11px}.chart .grid{stroke:#e4e4e4}.chart .tick,.chart .axis{fill:#555}
table{border-collapse:collapse}td,th{padding:2px 10px;border-bottom:1px solid #eee;text-align:right}
th{font-weight:600}td.l,th.l{text-align:left}.note{color:#777;font-size:12px}
`;

/** The standalone lr-find report: one self-contained HTML file (no scripts, no network). */
export function renderLrFindReport(r: LrFindResult, o: { title: string; facts: [string, string][] }): string {
  const facts = [...o.facts, ["steps run", `${r.lrs.length} of ${r.iterations} (${STOP_NOTES[r.stop]})`]];
  const rows = LR_SUGGESTION_METHODS.map((m) => {
    const lr = r.suggestions[m];
    const text = lr === null ? "—" : escapeHtml(fmt(lr));
    return `<tr><td class="l">${m}</td><td>${text}</td><td class="l">${escapeHtml(METHOD_NOTES[m])}</td></tr>`;
  });
  const steps = r.lrs.map(
    (lr, i) =>
      `<tr><td>${i + 1}</td><td>${escapeHtml(fmt(lr))}</td><td>${escapeHtml(r.losses[i].toFixed(4))}</td>` +
      `<td>${escapeHtml(r.smoothed[i].toFixed(4))}</td></tr>`,
  );
  return [
    "<!DOCTYPE html>",
    `<html lang="en"><head><meta charset="utf-8">`,
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    `<title>${escapeHtml(o.title)}</title><style>${STYLE}</style></head><body>`,
    `<h1>${escapeHtml(o.title)}</h1>`,
    `<dl class="facts">${facts.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join("")}</dl>`,
    `<h2>Loss against learning rate</h2>`,
    lrFindChart(r),
    `<p class="note">The smoothed loss (debiased moving average, β 0.98) over the steps; the suggestions are read from it between ` +
      `the first tenth of the steps and the last five (fastai's lr_find). A good rate sits on the steep descent, before the minimum.</p>`,
    `<h2>Suggestions</h2><table><tr><th class="l">rule</th><th>lr</th><th class="l"></th></tr>${rows.join("")}</table>`,
    `<h2>Steps</h2><table><tr><th>step</th><th>lr</th><th>loss</th><th>smoothed</th></tr>${steps.join("")}</table>`,
    "</body></html>",
    "",
  ].join("\n");
}
