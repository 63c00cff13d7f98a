/**
 * What a person sees while weights download: on a terminal a bar with bytes, rate and ETA on
 * stderr; elsewhere one plain line after every progress interval of silence (see progress.ts), so
 * a long download in a log does not look like a hang.
 */
import cliProgress from "cli-progress";
import type { DownloadProgress } from "../hub/download.js";
import { progressIntervalMs } from "./progress.js";

const MB = 1024 * 1024;

function megabytes(n: number): string {
  return `${(n / MB).toFixed(1)} MB`;
}

function eta(p: DownloadProgress): string {
  if (p.total === null || p.bytesPerSecond <= 0) return "?";
  const s = Math.max(0, Math.round((p.total - p.received) / p.bytesPerSecond));
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

/** A progress callback for fetchWeights that draws for `label` (the file name), and a stop(). */
export function downloadDisplay(label: string): { onProgress: (p: DownloadProgress) => void; stop: () => void } {
  const live = process.stderr.isTTY === true;
  const interval = progressIntervalMs();
  let bar: cliProgress.SingleBar | null = null;
  let last = Date.now();
  return {
    onProgress(p) {
      const rate = `${megabytes(p.bytesPerSecond)}/s`;
      if (!live) {
        if (Date.now() - last < interval) return;
        last = Date.now();
        const of = p.total === null ? "" : ` of ${megabytes(p.total)}`;
        console.error(`downloading ${label}: ${megabytes(p.received)}${of}, ${rate}, ETA ${eta(p)}`);
        return;
      }
      if (!bar) {
        bar = new cliProgress.SingleBar(
          { format: `${label} {bar} {done} / {size}  {rate}  ETA {left}`, stream: process.stderr, hideCursor: true, clearOnComplete: true },
          cliProgress.Presets.shades_classic,
        );
        bar.start(p.total ?? p.received, 0, { done: "", size: "", rate: "", left: "" });
      }
      if (p.total !== null) bar.setTotal(p.total);
      bar.update(p.received, { done: megabytes(p.received), size: p.total === null ? "?" : megabytes(p.total), rate, left: eta(p) });
    },
    stop() {
      bar?.stop();
      bar = null;
    },
  };
}
