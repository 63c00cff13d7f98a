/**
 * What a person sees while a model trains: on a terminal, a progress bar per epoch (steps, loss,
 * images/s, ETA) on stderr, and one summary line per epoch; elsewhere (a pipe, CI, a log file) the
 * summary lines and, after every PROGRESS_INTERVAL of silence, one plain progress line, so a long
 * epoch does not look like a hang. `--json` puts one JSON object per line on stdout instead (events
 * "start", "epoch", …), so another program can follow a run.
 */
import cliProgress from "cli-progress";
import type { FitEvent } from "../train/fit.js";
import { printableJson, printableLines } from "../text.js";

export interface DisplayOptions {
  /** Only progress bars and warnings: no notes, epoch lines or JSON records (the demo prints its own). */
  quiet?: boolean;
}

/** Seconds of silence before a plain progress line (not on a terminal); CONVZOO_PROGRESS_INTERVAL overrides it. */
const PROGRESS_INTERVAL_S = 15;

export function progressIntervalMs(): number {
  const text = process.env.CONVZOO_PROGRESS_INTERVAL;
  const s = text === undefined || text.trim() === "" ? NaN : Number(text);
  return (Number.isFinite(s) && s >= 0 ? s : PROGRESS_INTERVAL_S) * 1000;
}

export class TrainingDisplay {
  private bar: cliProgress.SingleBar | null = null;
  private readonly live: boolean;
  private readonly quiet: boolean;
  /** Plain progress lines (output is not a terminal, and not --json). */
  private readonly plain: boolean;
  private readonly intervalMs = progressIntervalMs();
  private lastOutput = Date.now();
  /** Where and when the current epoch (or feature pass) started showing progress, for the ETA. */
  private phase: { key: string; done: number; at: number } | null = null;

  constructor(
    private readonly json: boolean,
    o: DisplayOptions = {},
  ) {
    this.live = process.stderr.isTTY === true && !json;
    this.plain = process.stderr.isTTY !== true && !json;
    this.quiet = o.quiet ?? false;
  }

  /** A line for people (stderr; suppressed in --json mode, where `record` carries the facts). */
  note(line: string): void {
    if (!this.json && !this.quiet) this.interrupt(() => console.error(printableLines(line)));
  }

  /** A warning: always on stderr, also in --json mode. */
  warn(message: string): void {
    this.interrupt(() => console.error(`warning: ${printableLines(message)}`));
  }

  /** A JSON line on stdout in --json mode. */
  record(type: string, fields: Record<string, unknown>): void {
    if (this.json && !this.quiet) console.log(printableJson({ type, ...fields }));
  }

  readonly onEvent = (e: FitEvent): void => {
    switch (e.type) {
      case "warning":
        this.warn(e.message);
        break;
      case "start": {
        const { type, ...fields } = e;
        this.record(type, fields);
        const resumed = e.resumedAt ? `, resuming at epoch ${e.resumedAt.epoch} step ${e.resumedAt.step}` : "";
        const frozen = e.frozen.length ? `, frozen: ${e.frozen.join(", ")}` : "";
        const cached = e.cachedFeatures ? ", the head on cached backbone features" : "";
        this.note(
          `training on ${e.trainImages} images (${e.valImages} for validation), ${e.stepsPerEpoch} steps per ` +
            `epoch, ${e.trainable} trainable tensors${frozen}${cached}${resumed}`,
        );
        break;
      }
      case "features":
        if (this.plain) this.progressLine("features", e.done, e.total, `features ${e.done}/${e.total} images`);
        if (!this.live) break;
        if (!this.bar) this.bar = this.startBar("features {bar} {value}/{total} images  {speed} img/s  ETA {eta_formatted}", e.total);
        this.bar.update(e.done, { speed: "" });
        if (e.done >= e.total) this.stopBar();
        break;
      case "step":
        if (this.plain) {
          const text = `epoch ${e.epoch} step ${e.step}/${e.steps}  loss ${e.loss.toFixed(4)}  ${e.imagesPerSecond.toFixed(1)} img/s`;
          this.progressLine(`epoch ${e.epoch}`, e.step, e.steps, text);
        }
        if (!this.live) break;
        if (!this.bar)
          this.bar = this.startBar(
            `epoch ${e.epoch} {bar} {value}/{total} steps  loss {loss}  {speed} img/s  ETA {eta_formatted}`,
            e.steps,
            e.step - 1,
          );
        this.bar.update(e.step, { loss: e.loss.toFixed(4), speed: e.imagesPerSecond.toFixed(1) });
        break;
      case "epoch": {
        this.stopBar();
        this.phase = null;
        const { type, ...fields } = e;
        this.record(type, fields);
        const val =
          e.valAccuracy === null
            ? ""
            : `  val loss ${e.valLoss!.toFixed(4)} acc ${(e.valAccuracy * 100).toFixed(1)}%${e.best ? " (best)" : ""}`;
        this.note(
          `epoch ${e.epoch}: loss ${e.trainLoss.toFixed(4)} acc ${(e.trainAccuracy * 100).toFixed(1)}%${val}  ` +
            `lr ${e.lr.toExponential(2)}  ${e.seconds.toFixed(1)}s (${e.imagesPerSecond.toFixed(1)} img/s)`,
        );
        break;
      }
    }
  };

  /** Ends any bar (before exiting, or before printing something else). */
  stopBar(): void {
    this.bar?.stop();
    this.bar = null;
  }

  private startBar(format: string, total: number, start = 0): cliProgress.SingleBar {
    const bar = new cliProgress.SingleBar(
      { format, stream: process.stderr, hideCursor: true, clearOnComplete: true, etaBuffer: 20 },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, start, { loss: "", speed: "" });
    return bar;
  }

  /** Not on a terminal: a plain line with an ETA once PROGRESS_INTERVAL has passed without output. */
  private progressLine(key: string, done: number, total: number, text: string): void {
    const now = Date.now();
    if (this.phase?.key !== key || done < this.phase.done) this.phase = { key, done, at: now };
    if (now - this.lastOutput < this.intervalMs || done >= total) return;
    const rate = (done - this.phase.done) / (now - this.phase.at);
    const eta = rate > 0 ? `  ETA ${duration((total - done) / rate)}` : "";
    this.interrupt(() => console.error(`${text}${eta}`));
  }

  private interrupt(print: () => void): void {
    this.lastOutput = Date.now();
    if (!this.bar) return print();
    // Print above the bar: clear its line, print, redraw.
    process.stderr.write("\r\x1b[K");
    print();
    this.bar.render();
  }
}

/** 95000 → "1m35s"; 4000 → "4s". */
function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}
