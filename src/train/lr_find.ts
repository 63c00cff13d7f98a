/**
 * The learning-rate range test (Node), fastai's `Learner.lr_find` (fastai/callback/schedule.py, LRFinder and
 * the suggestion functions; the smoothing is fastai/learner.py's AvgSmoothLoss): a short mock training whose
 * learning rate grows exponentially each step, recording the loss smoothed by a debiased moving average,
 * stopping when it diverges; then the rates fastai suggests from the smoothed curve. The model's weights are
 * not touched: the Trainer works on its own copies and nothing is written back (fastai saves and reloads).
 * Details and the exact formulas: docs/training.md#learning-rate-range-test
 */
import type { ColorJitter } from "../data/augment.js";
import type { Sample } from "../data/folder.js";
import { epochBatches } from "../data/loader.js";
import { OptionError } from "../errors.js";
import type { Model } from "../models/model.js";
import type { Preprocessing } from "../models/preprocessing.js";
import { Random } from "../random.js";
import type { OptimizerOptions } from "./optimizers.js";
import { Trainer } from "./trainer.js";
import { targetDistribution } from "./training_graph.js";

/** fastai's defaults (LRFinder and lr_find). */
export const LR_FIND_DEFAULTS = { startLr: 1e-7, endLr: 10, iterations: 100, beta: 0.98, divergence: 4 } as const;
/** LRFinder's floor on the number of iterations (`if num_it < 6: num_it = 6`). */
export const LR_FIND_MIN_ITERATIONS = 6;

/** The suggestion rules, fastai's names: `valley` (its default since 2.5), `minimum` (the minimum's rate / 10), `steep`. */
export type LrSuggestionMethod = "valley" | "minimum" | "steep";
export const LR_SUGGESTION_METHODS: readonly LrSuggestionMethod[] = ["valley", "minimum", "steep"];

/** A suggested rate per rule (null when the curve is too short to judge: fewer points than the rules need). */
export type LrSuggestions = Record<LrSuggestionMethod, number | null>;

/** Where a suggestion sits on the curve (fastai's plotted point: for `minimum` the minimum itself, not /10). */
export interface LrPoint {
  lr: number;
  loss: number;
}

export type LrFindStop = "completed" | "diverged" | "non-finite" | "interrupted";

export interface LrFindResult {
  /** The rate of each step run. */
  lrs: number[];
  /** Each step's raw (batch mean) loss. */
  losses: number[];
  /** The debiased moving average of the losses (β 0.98), what fastai records, plots and judges. */
  smoothed: number[];
  suggestions: LrSuggestions;
  /** The points the suggestions were read from, for a plot. */
  points: Record<LrSuggestionMethod, LrPoint | null>;
  /** True when the test stopped before its last iteration (divergence, a non-finite loss, an abort). */
  stoppedEarly: boolean;
  stop: LrFindStop;
  /** The iterations asked for (at least 6), which the suggestion window depends on. */
  iterations: number;
}

export interface LrFindOptions {
  batchSize: number;
  resolution: number;
  /** The transform's mean, std and interpolation (the weights' preprocessing). */
  preprocessing: Preprocessing;
  /** Parameter-path prefixes that stay fixed: the strategy's (see transfer/strategy.ts). */
  frozen?: readonly string[];
  optimizer?: OptimizerOptions;
  /** First rate, default 1e-7. */
  startLr?: number;
  /** The rate the schedule heads for (reached at step `iterations`, one past the last), default 10. */
  endLr?: number;
  /** Steps, default 100 (at least 6, as fastai). */
  iterations?: number;
  /** Stop when the smoothed loss exceeds 4 × its best so far (fastai's stop_div); default true. */
  stopOnDivergence?: boolean;
  /** The training transform's random crop and flip; default true (the run's transform). */
  augment?: boolean;
  colorJitter?: ColorJitter | null;
  labelSmoothing?: number;
  classWeights?: readonly number[] | null;
  /** Per-prefix learning-rate factors (discriminative rates): the schedule's rate is the head's. */
  lrMultipliers?: Readonly<Record<string, number>> | null;
  clipGradNorm?: number | null;
  dropout?: number | null;
  /** Seeds the shuffle, the augmentation and the dropout masks; default 0. */
  seed?: number;
  threads?: number;
  /** Data worker threads (see epochBatches). */
  workers?: number;
  /** Stops after the current step; the result holds the steps run. */
  signal?: AbortSignal;
  onStep?: (e: { iteration: number; iterations: number; lr: number; loss: number; smoothed: number }) => void;
  /** Called once per file that cannot be decoded (it is left out). */
  onBadFile?: (path: string, reason: string) => void;
}

/**
 * The rates of the test: lr_i = start · (end / start)^(i / n), i = 0 … n − 1 (fastai's SchedExp at
 * `train_iter / num_it`: the last step's rate is one step short of `end`).
 */
export function lrFindSchedule(startLr: number, endLr: number, iterations: number): number[] {
  return Array.from({ length: iterations }, (_, i) => startLr * (endLr / startLr) ** (i / iterations));
}

/**
 * fastai's AvgSmoothLoss over a sequence: val ← torch.lerp(loss, val, β) (for β ≥ 0.5 torch computes
 * val − (val − loss)·(1 − β)), starting at 0; the value after n losses is val / (1 − β^n).
 */
export function smoothLosses(losses: readonly number[], beta: number = LR_FIND_DEFAULTS.beta): number[] {
  const out: number[] = [];
  let val = 0;
  losses.forEach((loss, i) => {
    val = lerp(loss, val, beta);
    out.push(val / (1 - beta ** (i + 1)));
  });
  return out;
}

/** torch.lerp(start, end, weight) as ATen computes it (the form depends on |weight| < 0.5). */
function lerp(start: number, end: number, weight: number): number {
  return Math.abs(weight) < 0.5 ? start + weight * (end - start) : end - (end - start) * (1 - weight);
}

/** A Python index (negative counts from the end), as fastai's code indexes. */
function at<T>(xs: readonly T[], i: number): T {
  return xs[i < 0 ? xs.length + i : i];
}

/** The first index of the smallest value (torch.argmin's tie rule). */
function argmin(xs: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] < xs[best]) best = i;
  return best;
}

/** The loss at the rate nearest `lr` (fastai's `losses[min(range(len(lrs)), key=|lrs[i] − lr|)]`: the first nearest). */
function lossNear(lrs: readonly number[], losses: readonly number[], lr: number): number {
  let best = 0;
  for (let i = 1; i < lrs.length; i++) if (Math.abs(lrs[i] - lr) < Math.abs(lrs[best] - lr)) best = i;
  return losses[best];
}

type Rule = (lrs: readonly number[], losses: readonly number[]) => { lr: number; point: LrPoint };

/**
 * fastai's `valley`: the longest valley is the longest strictly decreasing subsequence of the losses (by an O(n²)
 * scan); the suggestion is the rate at start + ⌊len/3⌋ + ⌊len/6⌋ along it (fastai's "2/3" reads as about halfway).
 * Kept to the letter, quirks included: the valley's start is `end − length` (one before its first point), and the
 * start is fixed when the end first takes the lead, so a length that grows later in the same scan does not move it.
 */
export const valley: Rule = (lrs, losses) => {
  const n = losses.length;
  let maxStart = 0;
  let maxEnd = 0;
  const lds = new Array<number>(n).fill(1);
  for (let i = 1; i < n; i++) {
    for (let j = 0; j < i; j++) {
      if (losses[i] < losses[j] && lds[i] < lds[j] + 1) lds[i] = lds[j] + 1;
      if (lds[maxEnd] < lds[i]) {
        maxEnd = i;
        maxStart = maxEnd - lds[maxEnd];
      }
    }
  }
  const sections = (maxEnd - maxStart) / 3;
  const idx = maxStart + Math.trunc(sections) + Math.trunc(sections / 2);
  return { lr: at(lrs, idx), point: { lr: at(lrs, idx), loss: at(losses, idx) } };
};

/** fastai's `minimum`: a tenth of the rate at the lowest loss. */
export const minimum: Rule = (lrs, losses) => {
  const lrMin = lrs[argmin(losses)];
  return { lr: lrMin / 10, point: { lr: lrMin, loss: lossNear(lrs, losses, lrMin) } };
};

/** fastai's `steep`: the rate at the left end of the steepest descent, d loss / d ln(lr) smallest. */
export const steep: Rule = (lrs, losses) => {
  const grads = losses.slice(1).map((l, i) => (l - losses[i]) / (Math.log(lrs[i + 1]) - Math.log(lrs[i])));
  const lr = lrs[argmin(grads)];
  return { lr, point: { lr, loss: lossNear(lrs, losses, lr) } };
};

const RULES: Record<LrSuggestionMethod, Rule> = { valley, minimum, steep };

/**
 * The suggestions from a recorded curve as fastai's lr_find computes them: on the smoothed losses from index
 * ⌊iterations/10⌋ to 5 before the end (`[num_it//10:-5]`), cut at the first NaN. After a non-finite loss the
 * test stops where fastai would have gone on recording NaN up to `iterations`: the window ends as fastai's would
 * (at iterations − 5), i.e. the finite points just before the failure are kept. Too few points: null.
 */
export function suggestLrs(
  lrs: readonly number[],
  smoothed: readonly number[],
  iterations: number,
  stop: LrFindStop = "completed",
): Pick<LrFindResult, "suggestions" | "points"> {
  const recorded = stop === "non-finite" ? iterations : smoothed.length;
  let end = Math.min(smoothed.length, recorded - 5);
  const start = Math.floor(iterations / 10);
  const nan = smoothed.findIndex((v, i) => i >= start && i < end && Number.isNaN(v));
  if (nan >= 0) end = nan;
  const x = lrs.slice(start, Math.max(start, end));
  const y = smoothed.slice(start, Math.max(start, end));
  const suggestions = { valley: null, minimum: null, steep: null } as LrSuggestions;
  const points = { valley: null, minimum: null, steep: null } as Record<LrSuggestionMethod, LrPoint | null>;
  for (const m of LR_SUGGESTION_METHODS) {
    // fastai fails on an empty window (and steep on a one-point one: no slope): no suggestion here.
    if (x.length < (m === "steep" ? 2 : 1)) continue;
    const r = RULES[m](x, y);
    suggestions[m] = r.lr;
    points[m] = r.point;
  }
  return { suggestions, points };
}

/**
 * The test's bookkeeping without the training (pure, so the tests drive it with made-up losses): the rate of
 * each step, the smoothed loss, and LRFinder.after_batch's stopping rule after each recorded loss.
 */
export class LrRangeRecorder {
  readonly iterations: number;
  readonly schedule: number[];
  readonly lrs: number[] = [];
  readonly losses: number[] = [];
  readonly smoothed: number[] = [];
  stop: LrFindStop | null = null;
  private val = 0;
  private best = Number.POSITIVE_INFINITY;
  private readonly stopOnDivergence: boolean;

  constructor(o: { startLr?: number; endLr?: number; iterations?: number; stopOnDivergence?: boolean } = {}) {
    this.iterations = Math.max(LR_FIND_MIN_ITERATIONS, o.iterations ?? LR_FIND_DEFAULTS.iterations);
    this.schedule = lrFindSchedule(o.startLr ?? LR_FIND_DEFAULTS.startLr, o.endLr ?? LR_FIND_DEFAULTS.endLr, this.iterations);
    this.stopOnDivergence = o.stopOnDivergence ?? true;
  }

  /** The rate of the next step. */
  get nextLr(): number {
    return this.schedule[this.losses.length];
  }

  /**
   * Records the loss of the step run at `nextLr`; returns why the test stops, or null to go on. As fastai's
   * Recorder then LRFinder: smooth, keep the best smoothed value, stop when it exceeds 4 × the best (stop_div),
   * or at the last iteration. A non-finite raw loss stops too (fastai records NaN to the end; see suggestLrs).
   */
  record(loss: number, aborted = false): LrFindStop | null {
    if (this.stop !== null) throw new Error("LrRangeRecorder: the test has stopped");
    const i = this.losses.length;
    this.lrs.push(this.schedule[i]);
    this.losses.push(loss);
    this.val = lerp(loss, this.val, LR_FIND_DEFAULTS.beta);
    const smooth = this.val / (1 - LR_FIND_DEFAULTS.beta ** (i + 1));
    this.smoothed.push(smooth);
    if (smooth < this.best) this.best = smooth;
    if (this.stopOnDivergence && smooth > LR_FIND_DEFAULTS.divergence * this.best) this.stop = "diverged";
    else if (!Number.isFinite(loss)) this.stop = "non-finite";
    else if (i + 1 >= this.iterations) this.stop = "completed";
    else if (aborted) this.stop = "interrupted";
    return this.stop;
  }

  result(): LrFindResult {
    const stop = this.stop ?? "interrupted";
    return {
      lrs: [...this.lrs],
      losses: [...this.losses],
      smoothed: [...this.smoothed],
      ...suggestLrs(this.lrs, this.smoothed, this.iterations, stop),
      stoppedEarly: stop !== "completed",
      stop,
      iterations: this.iterations,
    };
  }
}

function checkOptions(o: LrFindOptions, samples: readonly Sample[]) {
  const startLr = o.startLr ?? LR_FIND_DEFAULTS.startLr;
  const endLr = o.endLr ?? LR_FIND_DEFAULTS.endLr;
  if (!(startLr > 0 && Number.isFinite(startLr))) throw new OptionError(`lr-find: the start rate must be > 0, got ${startLr}`);
  if (!(endLr > startLr && Number.isFinite(endLr)))
    throw new OptionError(`lr-find: the end rate must be above the start rate ${startLr}, got ${endLr}`);
  const asked = o.iterations ?? LR_FIND_DEFAULTS.iterations;
  if (!Number.isInteger(asked) || asked < 1) throw new OptionError(`lr-find: iterations must be a whole number ≥ 1, got ${asked}`);
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new OptionError(`lr-find: batch size must be ≥ 1, got ${o.batchSize}`);
  if (samples.length < 2) throw new OptionError(`lr-find needs at least 2 training images, got ${samples.length}`);
  return { startLr, endLr, iterations: Math.max(LR_FIND_MIN_ITERATIONS, asked) };
}

/**
 * Runs the range test on `samples` (training images, the training transform) and returns the curve and
 * fastai's suggestions. Batches are drawn from reshuffled passes over the samples, full batches only (fastai's
 * training loader drops the last short one; with fewer images than `batchSize` a batch is all of them). The
 * model is left exactly as it was: its parameters and BatchNorm statistics are read, never written.
 */
export async function lrFind(model: Model, samples: readonly Sample[], o: LrFindOptions): Promise<LrFindResult> {
  const { startLr, endLr, iterations } = checkOptions(o, samples);
  const batchSize = Math.min(o.batchSize, samples.length);
  const k = model.options.numClasses;
  const seed = o.seed ?? 0;
  const trainer = await Trainer.create(model, {
    batchSize,
    resolution: o.resolution,
    frozen: o.frozen ?? [],
    optimizer: o.optimizer,
    dropout: o.dropout ?? undefined,
    clipGradNorm: o.clipGradNorm ?? undefined,
    lrMultipliers: o.lrMultipliers ?? undefined,
    threads: o.threads,
    seed,
  });
  const transform = {
    resolution: o.resolution,
    augment: o.augment ?? true,
    preprocessing: o.preprocessing,
    colorJitter: o.colorJitter ?? undefined,
  };
  const rng = new Random(seed + 1);
  const recorder = new LrRangeRecorder({ startLr, endLr, iterations, stopOnDivergence: o.stopOnDivergence });
  try {
    while (recorder.stop === null) {
      // One pass: reshuffled, cut to whole batches (drop_last).
      const order = rng.shuffle([...samples]);
      const pass = order.slice(0, Math.floor(order.length / batchSize) * batchSize);
      let stepped = false;
      const batches = epochBatches(pass, { batchSize, shuffle: false, transform, rng, onBadFile: o.onBadFile, workers: o.workers });
      for await (const batch of batches) {
        const lr = recorder.nextLr;
        const loss = await trainer.step(batch.images, targetDistribution(batch.labels, k, o.labelSmoothing ?? 0, o.classWeights), lr);
        stepped = true;
        const stop = recorder.record(loss, o.signal?.aborted ?? false);
        const i = recorder.losses.length - 1;
        o.onStep?.({ iteration: i + 1, iterations, lr, loss, smoothed: recorder.smoothed[i] });
        if (stop !== null) break;
      }
      if (!stepped) throw new OptionError("lr-find: no training image could be read (see the skipped files)");
    }
  } finally {
    await trainer.release();
  }
  return recorder.result();
}
