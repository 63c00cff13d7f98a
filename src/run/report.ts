/**
 * The training report: one self-contained HTML file (no network, no scripts, no external fonts; a
 * Content-Security-Policy says so to the browser) with the loss and accuracy curves per epoch as
 * inline SVG, the history table, per-class precision / recall, the confusion matrix as a heat-map
 * table, the most confident mistakes as embedded thumbnails, and the strategy's decision figures.
 *
 * renderReport is pure (data in, HTML out); writeReport and thumbnails are Node (sharp, files).
 */
import { basename } from "node:path";
import sharp from "sharp";
import { writeFileAtomic } from "../weights/files.js";
import type { Evaluation } from "../train/evaluate.js";

/** One epoch of training (the shape of fit's EpochMetrics). */
export interface ReportEpoch {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  valLoss: number | null;
  valAccuracy: number | null;
  lr: number;
  seconds: number;
  imagesPerSecond: number;
}

export interface ReportData {
  title: string;
  arch: string;
  strategy: string;
  /** The data folder (or any description of the data). */
  data: string;
  classes: string[];
  history: ReportEpoch[];
  /** 1-based epoch whose weights were kept, or null. */
  bestEpoch: number | null;
  /** How that epoch was chosen: the best by validation accuracy (default), or the last. */
  saveEpoch?: "best" | "last";
  evaluation: Evaluation | null;
  /** Free-form lines, e.g. the auto strategy's figures and choice. */
  decision?: string[];
  /** ISO time the report was made. */
  createdAt: string;
  /** `data:image/…` URIs by file path for the misclassified images shown (writeReport fills it in). */
  thumbnails?: Record<string, string>;
}

/** How many misclassified images the report shows (the most confident mistakes). */
export const REPORT_MISTAKES = 12;
/** Above this many classes the confusion matrix is left out (the most confused pairs remain). */
export const REPORT_MAX_MATRIX = 40;

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** HTML-escapes text for element content and quoted attribute values. */
export function escapeHtml(text: unknown): string {
  return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

const finite = (v: number | null | undefined): v is number => typeof v === "number" && Number.isFinite(v);
const pct = (v: number | null | undefined, digits = 1) => (finite(v) ? `${(v * 100).toFixed(digits)}%` : "—");
const num = (v: number | null | undefined, digits = 4) => (finite(v) ? v.toFixed(digits) : "—");

// ---- curves ----

interface Series {
  key: string;
  label: string;
  color: string;
  dashed?: boolean;
  values: (number | null)[];
}

const CHART = { width: 460, height: 260, left: 52, right: 16, top: 30, bottom: 40 };

/**
 * A line chart over the given epochs (the x values, ascending) as inline SVG; each series' values
 * are index-aligned with them, and a missing value breaks its line.
 */
function lineChart(
  id: string,
  title: string,
  epochs: number[],
  series: Series[],
  yMax: number,
  format: (v: number) => string,
  bestEpoch: number | null,
): string {
  const first = epochs[0] ?? 1;
  const last = epochs[epochs.length - 1] ?? 1;
  const w = CHART.width - CHART.left - CHART.right;
  const h = CHART.height - CHART.top - CHART.bottom;
  const x = (epoch: number) => CHART.left + (last === first ? w / 2 : ((epoch - first) / (last - first)) * w);
  const y = (v: number) => CHART.top + h - (Math.min(Math.max(v, 0), yMax) / yMax) * h;
  const f = (v: number) => v.toFixed(1);
  const parts: string[] = [];
  parts.push(
    `<svg id="${id}" class="chart" role="img" viewBox="0 0 ${CHART.width} ${CHART.height}" ` +
      `width="${CHART.width}" height="${CHART.height}">`,
  );
  parts.push(`<title>${escapeHtml(title)}</title>`);
  parts.push(`<text class="chart-title" x="${CHART.left}" y="16">${escapeHtml(title)}</text>`);
  for (let i = 0; i <= 4; i++) {
    const v = (yMax * i) / 4;
    parts.push(`<line class="grid" x1="${CHART.left}" x2="${CHART.left + w}" y1="${f(y(v))}" y2="${f(y(v))}"/>`);
    parts.push(`<text class="tick" x="${CHART.left - 6}" y="${f(y(v) + 4)}" text-anchor="end">${escapeHtml(format(v))}</text>`);
  }
  const step = Math.max(1, Math.ceil((last - first + 1) / 10));
  for (let e = first; e <= last; e += step)
    parts.push(`<text class="tick" x="${f(x(e))}" y="${CHART.top + h + 16}" text-anchor="middle">${e}</text>`);
  parts.push(`<text class="axis" x="${CHART.left + w / 2}" y="${CHART.height - 4}" text-anchor="middle">epoch</text>`);
  if (bestEpoch !== null && bestEpoch >= first && bestEpoch <= last) {
    parts.push(
      `<line class="best" x1="${f(x(bestEpoch))}" x2="${f(x(bestEpoch))}" y1="${CHART.top}" ` +
        `y2="${CHART.top + h}"><title>best epoch ${bestEpoch}</title></line>`,
    );
  }
  let legendX = CHART.left + w;
  for (const s of [...series].reverse()) {
    const points = s.values.map((v, i) => [epochs[i], v, i] as const).filter((p): p is readonly [number, number, number] => finite(p[1]));
    // A new "M" after a missing value, so a gap is not drawn over.
    let d = "";
    let prev = -2;
    for (const [e, v, i] of points) {
      d += `${i === prev + 1 ? " L" : " M"}${f(x(e))},${f(y(v))}`;
      prev = i;
    }
    const dash = s.dashed ? ` stroke-dasharray="5 3"` : "";
    if (points.length)
      parts.push(
        `<path class="series" data-series="${s.key}" data-points="${points.length}" d="${d.trim()}" ` +
          `stroke="${s.color}"${dash} fill="none"/>`,
      );
    for (const [e, v] of points) {
      parts.push(
        `<circle class="point" data-series="${s.key}" cx="${f(x(e))}" cy="${f(y(v))}" r="2.5" ` +
          `fill="${s.color}"><title>${escapeHtml(`${s.label}, epoch ${e}: ${format(v)}`)}</title></circle>`,
      );
    }
    const label = points.length ? s.label : `${s.label} (none)`;
    legendX -= label.length * 6.5 + 18;
    parts.push(
      `<g class="legend"><line x1="${f(legendX)}" x2="${f(legendX + 12)}" y1="12" y2="12" ` +
        `stroke="${s.color}" stroke-width="2"${dash}/><text x="${f(legendX + 15)}" ` +
        `y="16">${escapeHtml(label)}</text></g>`,
    );
  }
  parts.push(`</svg>`);
  return parts.join("");
}

function curves(data: ReportData): string {
  const hist = data.history;
  if (hist.length === 0) return `<p class="note">No training history in this report.</p>`;
  const losses = hist.flatMap((e) => [e.trainLoss, e.valLoss]).filter(finite);
  const lossMax = niceCeiling(Math.max(0, ...losses) * 1.05);
  const loss = lineChart(
    "loss-chart",
    "Loss (cross-entropy)",
    hist.map((e) => e.epoch),
    [
      { key: "train-loss", label: "train", color: "#1f77b4", values: hist.map((e) => e.trainLoss) },
      { key: "val-loss", label: "validation", color: "#d62728", dashed: true, values: hist.map((e) => e.valLoss) },
    ],
    lossMax,
    (v) => v.toFixed(lossMax < 1 ? 2 : 1),
    data.bestEpoch,
  );
  const accuracy = lineChart(
    "accuracy-chart",
    "Top-1 accuracy",
    hist.map((e) => e.epoch),
    [
      { key: "train-accuracy", label: "train", color: "#1f77b4", values: hist.map((e) => e.trainAccuracy) },
      { key: "val-accuracy", label: "validation", color: "#d62728", dashed: true, values: hist.map((e) => e.valAccuracy) },
    ],
    1,
    (v) => `${Math.round(v * 100)}%`,
    data.bestEpoch,
  );
  return `<div class="charts">${loss}${accuracy}</div>`;
}

/** The smallest of 1, 2, 2.5, 5 × 10^k at or above v (a round top for the loss axis). */
function niceCeiling(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function historyTable(hist: ReportEpoch[], best: number | null): string {
  if (hist.length === 0) return "";
  const rows = hist
    .map((e) => {
      const lr = finite(e.lr) ? e.lr.toExponential(2) : "—";
      const cells = [
        e.epoch,
        num(e.trainLoss),
        pct(e.trainAccuracy),
        num(e.valLoss),
        pct(e.valAccuracy),
        lr,
        num(e.seconds, 1),
        num(e.imagesPerSecond, 1),
      ];
      return `<tr${e.epoch === best ? ` class="best-row"` : ""}>${cells.map((c) => `<td>${c}</td>`).join("")}</tr>`;
    })
    .join("");
  return (
    `<details><summary>Epochs</summary><table id="history" class="numbers"><thead><tr>${HISTORY_HEAD}</tr></thead>` +
    `<tbody>${rows}</tbody></table></details>`
  );
}

const HISTORY_HEAD = ["epoch", "train loss", "train acc", "val loss", "val acc", "lr", "s", "img/s"].map((h) => `<th>${h}</th>`).join("");

// ---- evaluation ----

function perClassTable(ev: Evaluation): string {
  const rows = ev.perClass
    .map((c) => {
      const bar = c.support
        ? `<div class="bar"><div style="width:${(c.recall * 100).toFixed(1)}%"></div></div>`
        : `<span class="note">no samples</span>`;
      const cells = [
        `<td class="name">${escapeHtml(c.class)}</td>`,
        `<td>${c.support}</td><td>${c.predicted}</td><td>${pct(c.precision)}</td><td>${c.support ? pct(c.recall) : "—"}</td>`,
        `<td class="bar-cell">${bar}</td>`,
      ];
      return `<tr>${cells.join("")}</tr>`;
    })
    .join("");
  const head = ["class", "support", "predicted", "precision", "recall (accuracy)", ""].map((h) => `<th>${h}</th>`).join("");
  return (
    `<table id="per-class" class="numbers"><thead><tr>${head}</tr></thead><tbody>${rows}</tbody></table>` +
    `<p class="note">Precision of a class that is never predicted is shown as 0.</p>`
  );
}

function confusionMatrix(ev: Evaluation): string {
  const k = ev.classes.length;
  const pairs: { t: number; p: number; n: number }[] = [];
  ev.confusion.forEach((row, t) => row.forEach((n, p) => (t !== p && n > 0 ? pairs.push({ t, p, n }) : undefined)));
  pairs.sort((a, b) => b.n - a.n || a.t - b.t || a.p - b.p);
  const pairList = pairs.length
    ? `<p>Most confused: ${pairs
        .slice(0, 10)
        .map((x) => `<span class="pair">${escapeHtml(ev.classes[x.t])} → ${escapeHtml(ev.classes[x.p])} (${x.n})</span>`)
        .join(", ")}</p>`
    : `<p>No confusions.</p>`;
  if (k > REPORT_MAX_MATRIX) return `<p class="note">${k} classes: the ${k}×${k} matrix is left out.</p>${pairList}`;
  const head = ev.classes.map((c) => `<th class="col" title="${escapeHtml(c)}"><span>${escapeHtml(c)}</span></th>`).join("");
  const body = ev.confusion
    .map((row, t) => {
      const support = row.reduce((s, v) => s + v, 0);
      const cells = row
        .map((n, p) => {
          // Shade by the share of the true class's samples; diagonal green, mistakes red.
          const share = support ? n / support : 0;
          const color = t === p ? `rgba(44,160,44,${(share * 0.85).toFixed(3)})` : `rgba(214,39,40,${(share * 0.85).toFixed(3)})`;
          const tip = `true ${ev.classes[t]}, predicted ${ev.classes[p]}: ${n}${support ? ` (${pct(share)} of ${ev.classes[t]})` : ""}`;
          return (
            `<td class="cell${t === p ? " diag" : ""}" data-true="${t}" data-pred="${p}" ` +
            `style="background:${color}" title="${escapeHtml(tip)}">${n}</td>`
          );
        })
        .join("");
      return `<tr><th class="row" scope="row">${escapeHtml(ev.classes[t])}</th>${cells}</tr>`;
    })
    .join("");
  return (
    `<div class="scroll"><table id="confusion"><thead><tr><th class="corner">true \\ ` +
    `predicted</th>${head}</tr></thead><tbody>${body}</tbody></table></div>${pairList}`
  );
}

function mistakes(ev: Evaluation, thumbs: Record<string, string>): string {
  if (ev.misclassified.length === 0) return `<p>No misclassified images.</p>`;
  const shown = ev.misclassified.slice(0, REPORT_MISTAKES);
  const figures = shown
    .map((m) => {
      const path = ev.paths[m.index] ?? `sample ${m.index}`;
      const uri = thumbs[path];
      // Only data: URIs, so the page never reaches out.
      const img =
        uri && uri.startsWith("data:image/")
          ? `<img src="${escapeHtml(uri)}" alt="${escapeHtml(basename(path))}">`
          : `<div class="no-image">no image</div>`;
      return (
        `<figure class="mistake" title="${escapeHtml(path)}">${img}<figcaption>` +
        `<div class="file">${escapeHtml(basename(path))}</div>` +
        `<div>true: <b>${escapeHtml(ev.classes[m.label])}</b></div>` +
        `<div>predicted: <b>${escapeHtml(ev.classes[m.predicted])}</b> ${pct(m.probability)}</div></figcaption></figure>`
      );
    })
    .join("");
  const more =
    ev.misclassified.length > shown.length
      ? `<p class="note">The ${shown.length} most confident of ${ev.misclassified.length} mistakes.</p>`
      : "";
  return `<div class="mistakes">${figures}</div>${more}`;
}

// ---- page ----

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#222;margin:24px auto;max-width:1100px;padding:0 16px}
h1{font-size:22px;margin:0 0 8px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:8px 0}dl.facts dt{color:#666}dl.facts dd{margin:0}
.charts{display:flex;flex-wrap:wrap;gap:16px}.chart{border:1px solid #eee;background:#fff}
.chart .grid{stroke:#eee}.chart .tick,.chart .axis,.chart .legend text{font-size:11px;fill:#555}
.chart .chart-title{font-size:13px;font-weight:600;fill:#222}
.chart .series{stroke-width:2}.chart .best{stroke:#999;stroke-dasharray:3 3}
table{border-collapse:collapse;margin:8px 0}th,td{padding:3px 8px}table.numbers td{text-align:right}table.numbers td.name{text-align:left}
table.numbers tr:nth-child(even){background:#fafafa}.best-row{font-weight:600}
.bar{width:160px;height:10px;background:#eee}.bar div{height:10px;background:#2ca02c}
.scroll{overflow-x:auto}#confusion td.cell{text-align:center;min-width:28px;border:1px solid #eee}#confusion td.diag{font-weight:600}
#confusion th.col{vertical-align:bottom;font-weight:normal;max-width:90px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
#confusion th.row{text-align:right;font-weight:normal;white-space:nowrap}#confusion th.corner{font-weight:normal;color:#666;font-size:12px}
.mistakes{display:flex;flex-wrap:wrap;gap:12px}.mistake{margin:0;width:150px;font-size:12px}
.mistake img{max-width:96px;max-height:96px;display:block;border:1px solid #ddd}
.mistake .file{color:#666;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.no-image{width:96px;height:96px;background:#eee;color:#999;display:flex;align-items:center;justify-content:center}
.note{color:#777;font-size:12px}pre.decision{background:#f6f6f6;padding:10px;overflow-x:auto}
`;

/** The report as one HTML document. Every string from the data is escaped. */
export function renderReport(data: ReportData): string {
  const best = data.bestEpoch !== null ? data.history.find((e) => e.epoch === data.bestEpoch) : undefined;
  const ev = data.evaluation;
  const facts: [string, string][] = [
    ["architecture", data.arch],
    ["strategy", data.strategy],
    ["data", data.data],
    ["classes", `${data.classes.length}`],
    ["epochs", `${data.history.length}`],
    ...((data.saveEpoch === "last"
      ? [
          ["saved epoch", data.bestEpoch === null ? "—" : `${data.bestEpoch} (the last: too few validation images to pick by)`],
          ["its val accuracy", pct(best?.valAccuracy, 2)],
        ]
      : [
          ["best epoch", data.bestEpoch === null ? "—" : `${data.bestEpoch}`],
          ["best val accuracy", pct(best?.valAccuracy, 2)],
        ]) as [string, string][]),
  ];
  if (ev) {
    facts.push(["evaluated images", `${ev.images}${ev.skipped.length ? ` (${ev.skipped.length} unreadable skipped)` : ""}`]);
    facts.push(["top-1 / top-" + ev.topK, `${pct(ev.top1, 2)} / ${pct(ev.top5, 2)}`]);
    facts.push(["loss", num(ev.loss)]);
  }
  facts.push(["created", data.createdAt]);
  const sections: string[] = [];
  sections.push(
    `<h1>${escapeHtml(data.title)}</h1>` +
      `<dl class="facts">${facts.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join("")}</dl>`,
  );
  if (data.decision?.length) sections.push(`<h2>Decision</h2><pre class="decision">${data.decision.map(escapeHtml).join("\n")}</pre>`);
  sections.push(`<h2>Training curves</h2>${curves(data)}${historyTable(data.history, data.bestEpoch)}`);
  if (ev) {
    sections.push(`<h2>Per-class accuracy</h2>${perClassTable(ev)}`);
    sections.push(
      `<h2>Confusion matrix</h2><p class="note">Rows: true class; columns: predicted class; shade: share of ` +
        `the row.</p>${confusionMatrix(ev)}`,
    );
    sections.push(`<h2>Misclassified images</h2>${mistakes(ev, data.thumbnails ?? {})}`);
  } else {
    sections.push(`<p class="note">No evaluation in this report.</p>`);
  }
  return [
    "<!DOCTYPE html>",
    `<html lang="en"><head><meta charset="utf-8">`,
    // The report loads nothing: images are data: URIs, the style is inline, there is no script.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">`,
    `<meta name="viewport" content="width=device-width, initial-scale=1">`,
    `<title>${escapeHtml(data.title)}</title><style>${STYLE}</style></head>`,
    `<body>${sections.join("\n")}</body></html>`,
    "",
  ].join("\n");
}

/** Small JPEG thumbnails (longest side `size`) as data: URIs by path; files that fail are left out. */
export async function thumbnails(paths: readonly string[], size = 96): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const path of new Set(paths)) {
    try {
      const jpeg = await sharp(path)
        .autoOrient()
        .resize(size, size, { fit: "inside" })
        .flatten({ background: "#ffffff" })
        .jpeg({ quality: 80 })
        .toBuffer();
      out.set(path, `data:image/jpeg;base64,${jpeg.toString("base64")}`);
    } catch {
      // A file that went away or does not decode shows as "no image"; the report still renders.
    }
  }
  return out;
}

/**
 * Thumbnails of the mistakes a report shows, read from the evaluation's files and keyed by
 * `key(path)` (the path the report names: a zip's file inside the zip, when it was read from a temp folder).
 */
export async function mistakeThumbnails(ev: Evaluation, key: (path: string) => string = (p) => p): Promise<Record<string, string>> {
  const shown = ev.misclassified
    .slice(0, REPORT_MISTAKES)
    .map((m) => ev.paths[m.index])
    .filter((p): p is string => p !== undefined);
  return Object.fromEntries([...(await thumbnails(shown))].map(([p, uri]) => [key(p), uri]));
}

/** Writes the report atomically, with thumbnails of the mistakes shown unless `data` has them. */
export async function writeReport(path: string, data: ReportData): Promise<void> {
  const thumbs = data.thumbnails ?? (data.evaluation ? await mistakeThumbnails(data.evaluation) : undefined);
  await writeFileAtomic(path, new TextEncoder().encode(renderReport({ ...data, thumbnails: thumbs })));
}
