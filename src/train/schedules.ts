/**
 * Learning-rate schedules, evaluated on the host per optimizer step (the rate is a graph input, so changing it
 * costs nothing). Browser-safe. constant; step (StepLR, per epoch, size and γ); cosine to a minimum rate per
 * iteration after warm-up (as timm and torchvision's reference scripts); one-cycle (torch's OneCycleLR, cos
 * annealing, no momentum cycling); linear warm-up for any schedule but one-cycle. Formulas:
 * docs/training.md#schedules
 */
import { OptionError } from "../errors.js";

export type ScheduleKind = "constant" | "step" | "cosine" | "onecycle";
export const SCHEDULES: readonly ScheduleKind[] = ["constant", "step", "cosine", "onecycle"];

export interface ScheduleOptions {
  kind: ScheduleKind;
  /** Base learning rate (one-cycle: the peak, torch's max_lr). */
  lr: number;
  epochs: number;
  /** Optimizer steps per epoch (with gradient accumulation: ⌈batches / accumulate⌉). */
  stepsPerEpoch: number;
  /** Linear warm-up length in epochs (may be fractional); default 0. Not with one-cycle. */
  warmupEpochs?: number;
  /** step: decay every this many epochs (StepLR's step_size; default: a third of the run, at least 1). */
  stepEpochs?: number;
  /** step: decay factor (StepLR's gamma; default 0.1). */
  gamma?: number;
  /** cosine: the rate it anneals to (CosineAnnealingLR's eta_min); default 0. */
  minLr?: number;
  /** one-cycle: the fraction of the run spent rising (OneCycleLR's pct_start); default 0.3 as torch (fastai: 0.25). */
  pctStart?: number;
  /** one-cycle: the start rate is lr / divFactor; default 25. */
  divFactor?: number;
  /** one-cycle: the final rate is lr / divFactor / finalDivFactor; default 1e4. */
  finalDivFactor?: number;
}

/** The learning rate of 0-based optimizer step `globalStep`. */
export type Schedule = (globalStep: number) => number;

function positive(name: string, v: number): void {
  if (!(v > 0) || !Number.isFinite(v)) throw new OptionError(`${name} must be a positive number, got ${v}`);
}

/** OneCycleLR's cos annealing from `start` to `end` at fraction `pct`. */
const annealCos = (start: number, end: number, pct: number): number => end + ((start - end) / 2) * (Math.cos(Math.PI * pct) + 1);

export function makeSchedule(o: ScheduleOptions): Schedule {
  if (!SCHEDULES.includes(o.kind)) throw new OptionError(`unknown schedule "${o.kind}"; expected one of ${SCHEDULES.join(", ")}`);
  if (!(o.lr > 0) || !Number.isFinite(o.lr)) throw new OptionError(`learning rate must be a positive number, got ${o.lr}`);
  const total = o.epochs * o.stepsPerEpoch;
  const warmup = Math.round((o.warmupEpochs ?? 0) * o.stepsPerEpoch);
  if (!(warmup >= 0) || warmup > total)
    throw new OptionError(`warm-up (${o.warmupEpochs} epochs) must be between 0 and the run's ${o.epochs} epochs`);
  const stepEpochs = o.stepEpochs ?? Math.max(1, Math.floor(o.epochs / 3));
  const gamma = o.gamma ?? 0.1;
  if (!(Number.isInteger(stepEpochs) && stepEpochs >= 1))
    throw new OptionError(`step schedule: decay period must be a whole number of epochs >= 1, got ${stepEpochs}`);
  if (!(gamma > 0 && gamma <= 1)) throw new OptionError(`step schedule: gamma must be in (0, 1], got ${gamma}`);
  const minLr = o.minLr ?? 0;
  if (!(minLr >= 0 && minLr <= o.lr))
    throw new OptionError(`cosine schedule: the minimum learning rate must be in [0, lr = ${o.lr}], got ${minLr}`);
  if (o.kind === "onecycle") return oneCycle(o, total, warmup);
  const base = (s: number): number => {
    switch (o.kind) {
      case "constant":
        return o.lr;
      case "step":
        return o.lr * gamma ** Math.floor(Math.floor(s / o.stepsPerEpoch) / stepEpochs);
      case "cosine": {
        const span = Math.max(1, total - warmup);
        const cosine = 0.5 * (1 + Math.cos((Math.PI * Math.min(s - warmup, span)) / span));
        // Without a minimum, exactly the earlier formula (bit for bit).
        return minLr === 0 ? o.lr * cosine : minLr + (o.lr - minLr) * cosine;
      }
      case "onecycle":
        throw new Error("unreachable");
    }
  };
  return (s) => (s < warmup ? (o.lr * (s + 1)) / warmup : base(s));
}

/** torch.optim.lr_scheduler.OneCycleLR(max_lr = lr, total_steps, pct_start, anneal_strategy "cos", three_phase False). */
function oneCycle(o: ScheduleOptions, total: number, warmup: number): Schedule {
  if (warmup > 0) throw new OptionError("one-cycle warms up by itself (pctStart): drop the warm-up");
  const pctStart = o.pctStart ?? 0.3;
  const div = o.divFactor ?? 25;
  const finalDiv = o.finalDivFactor ?? 1e4;
  if (!(pctStart > 0 && pctStart < 1)) throw new OptionError(`one-cycle: pctStart must be in (0, 1), got ${pctStart}`);
  positive("one-cycle: divFactor", div);
  positive("one-cycle: finalDivFactor", finalDiv);
  const initial = o.lr / div;
  const final = initial / finalDiv;
  const rise = pctStart * total - 1;
  const end = total - 1;
  if (!(rise > 0 && end > rise))
    throw new OptionError(`one-cycle needs steps on both sides of the peak: ${total} steps with pctStart ${pctStart} leave none`);
  return (s) => (s <= rise ? annealCos(initial, o.lr, s / rise) : annealCos(o.lr, final, (s - rise) / (end - rise)));
}
