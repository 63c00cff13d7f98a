/**
 * Learning-rate schedules, evaluated on the host per step (the rate is a graph input, so changing it costs
 * nothing). Browser-safe. constant; step (StepLR, per epoch); cosine to 0 per iteration after warm-up (as timm
 * and torchvision's reference scripts); linear warm-up for any schedule. Formulas: docs/training.md#schedules
 */
import { OptionError } from "../errors.js";

export type ScheduleKind = "constant" | "step" | "cosine";
export const SCHEDULES: readonly ScheduleKind[] = ["constant", "step", "cosine"];

export interface ScheduleOptions {
  kind: ScheduleKind;
  /** Base learning rate. */
  lr: number;
  epochs: number;
  stepsPerEpoch: number;
  /** Linear warm-up length in epochs (may be fractional); default 0. */
  warmupEpochs?: number;
  /** step: decay every this many epochs (default: a third of the run, at least 1). */
  stepEpochs?: number;
  /** step: decay factor (default 0.1). */
  gamma?: number;
}

export type Schedule = (globalStep: number) => number;

export function makeSchedule(o: ScheduleOptions): Schedule {
  if (!SCHEDULES.includes(o.kind)) throw new OptionError(`unknown schedule "${o.kind}"; expected one of ${SCHEDULES.join(", ")}`);
  if (!(o.lr > 0) || !Number.isFinite(o.lr)) throw new OptionError(`learning rate must be a positive number, got ${o.lr}`);
  const total = o.epochs * o.stepsPerEpoch;
  const warmup = Math.round((o.warmupEpochs ?? 0) * o.stepsPerEpoch);
  if (!(warmup >= 0) || warmup > total)
    throw new OptionError(`warm-up (${o.warmupEpochs} epochs) must be between 0 and the run's ${o.epochs} epochs`);
  const stepEpochs = o.stepEpochs ?? Math.max(1, Math.floor(o.epochs / 3));
  const gamma = o.gamma ?? 0.1;
  if (!(stepEpochs >= 1)) throw new OptionError(`step schedule: decay period must be >= 1 epoch, got ${stepEpochs}`);
  if (!(gamma > 0 && gamma <= 1)) throw new OptionError(`step schedule: gamma must be in (0, 1], got ${gamma}`);
  const base = (s: number): number => {
    switch (o.kind) {
      case "constant":
        return o.lr;
      case "step":
        return o.lr * gamma ** Math.floor(Math.floor(s / o.stepsPerEpoch) / stepEpochs);
      case "cosine": {
        const span = Math.max(1, total - warmup);
        return o.lr * 0.5 * (1 + Math.cos((Math.PI * Math.min(s - warmup, span)) / span));
      }
    }
  };
  return (s) => (s < warmup ? (o.lr * (s + 1)) / warmup : base(s));
}
