/**
 * Optimizers as graph ops, with PyTorch's semantics (torch.optim.SGD, torch.optim.AdamW): one entry
 * per optimizer in one table, each saying which state slots a parameter carries (`momentum`,
 * `exp_avg` …, graph inputs with their next values as outputs), which per-step scalars the host
 * feeds (the learning rate, Adam's bias corrections), and how one parameter is updated.
 * Browser-safe.
 */
import { OptionError } from "../errors.js";
import type { Graph, Value } from "../graph/ir.js";
import * as ops from "../graph/ops.js";

export interface SgdOptions {
  kind: "sgd";
  /** Default 0 (plain SGD, no momentum buffer). */
  momentum?: number;
  /** L2 penalty added to the gradient (torch.optim.SGD's weight_decay); default 0. */
  weightDecay?: number;
  nesterov?: boolean;
}

export interface AdamWOptions {
  kind: "adamw";
  /** (β1, β2); default (0.9, 0.999) as torch. */
  betas?: [number, number];
  /** Default 1e-8. */
  eps?: number;
  /** Decoupled weight decay (Loshchilov & Hutter 2019): p ← p·(1 − lr·wd); default 0.01 as torch. */
  weightDecay?: number;
}

export type OptimizerOptions = SgdOptions | AdamWOptions;
export type ResolvedOptimizer = Required<SgdOptions> | Required<AdamWOptions>;

/** What an update rule gets: the parameter, its gradient, its slots and the step's scalar inputs. */
interface UpdateArgs {
  g: Graph;
  param: Value;
  grad: Value;
  slots: Record<string, Value>;
  scalars: Record<string, Value>;
}

interface OptimizerRule<O extends ResolvedOptimizer> {
  resolve(o: Partial<O>): O;
  /** State a parameter carries between steps (zero at the start, as torch's lazily created buffers). */
  slots(o: O): string[];
  /** Scalar graph inputs the host computes per step. */
  scalars: string[];
  /** Those proportional to the learning rate (a per-parameter lr factor multiplies them). */
  lrScalars: string[];
  /** Their values for step `t` (1-based) at learning rate `lr`. */
  scalarValues(o: O, t: number, lr: number): Record<string, number>;
  update(o: O, a: UpdateArgs): Updated;
}

interface Updated {
  param: Value;
  slots: Record<string, Value>;
}

const c = (g: Graph, v: number) => ops.scalarConstant(g, v);

const SGD: OptimizerRule<Required<SgdOptions>> = {
  resolve(o) {
    const r = { kind: "sgd" as const, momentum: o.momentum ?? 0, weightDecay: o.weightDecay ?? 0, nesterov: o.nesterov ?? false };
    if (!(r.momentum >= 0 && r.momentum < 1)) throw new OptionError(`SGD momentum must be in [0, 1), got ${r.momentum}`);
    if (!(r.weightDecay >= 0)) throw new OptionError(`SGD weight decay must be >= 0, got ${r.weightDecay}`);
    if (r.nesterov && r.momentum === 0) throw new OptionError("SGD: nesterov needs a momentum > 0");
    return r;
  },
  slots: (o) => (o.momentum > 0 ? ["momentum"] : []),
  scalars: ["lr"],
  lrScalars: ["lr"],
  scalarValues: (_o, _t, lr) => ({ lr }),
  // d = g + wd·p; buf ← m·buf + d (the first step's buf is d: buf starts at 0, dampening 0);
  // p ← p − lr·(nesterov ? d + m·buf : buf)
  update(o, { g, param, grad, slots, scalars }): Updated {
    const d = o.weightDecay > 0 ? ops.add(g, grad, ops.mul(g, param, c(g, o.weightDecay))) : grad;
    if (o.momentum === 0) return { param: ops.sub(g, param, ops.mul(g, d, scalars.lr)), slots: {} };
    const buf = ops.add(g, ops.mul(g, slots.momentum, c(g, o.momentum)), d);
    const step = o.nesterov ? ops.add(g, d, ops.mul(g, buf, c(g, o.momentum))) : buf;
    return { param: ops.sub(g, param, ops.mul(g, step, scalars.lr)), slots: { momentum: buf } };
  },
};

const ADAMW: OptimizerRule<Required<AdamWOptions>> = {
  resolve(o) {
    const r = {
      kind: "adamw" as const,
      betas: o.betas ?? [0.9, 0.999],
      eps: o.eps ?? 1e-8,
      weightDecay: o.weightDecay ?? 0.01,
    } as Required<AdamWOptions>;
    if (!r.betas.every((b) => b >= 0 && b < 1)) throw new OptionError(`AdamW betas must be in [0, 1), got (${r.betas.join(", ")})`);
    if (!(r.eps > 0)) throw new OptionError(`AdamW eps must be > 0, got ${r.eps}`);
    if (!(r.weightDecay >= 0)) throw new OptionError(`AdamW weight decay must be >= 0, got ${r.weightDecay}`);
    return r;
  },
  slots: () => ["exp_avg", "exp_avg_sq"],
  // torch.optim.AdamW (single-tensor path): step_size = lr / (1 − β1^t), and √(1 − β2^t) for the
  // denominator, both computed on the host per step.
  scalars: ["lr", "adamw_step_size", "adamw_bias_correction2_sqrt"],
  lrScalars: ["lr", "adamw_step_size"],
  scalarValues: (o, t, lr) => ({
    lr,
    adamw_step_size: lr / (1 - o.betas[0] ** t),
    adamw_bias_correction2_sqrt: Math.sqrt(1 - o.betas[1] ** t),
  }),
  // p ← p·(1 − lr·wd); m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²;
  // p ← p − step_size · m / (√v / √(1 − β2^t) + eps)
  update(o, { g, param, grad, slots, scalars }): Updated {
    const [b1, b2] = o.betas;
    const decayed = o.weightDecay > 0 ? ops.sub(g, param, ops.mul(g, param, ops.mul(g, scalars.lr, c(g, o.weightDecay)))) : param;
    const m = ops.add(g, ops.mul(g, slots.exp_avg, c(g, b1)), ops.mul(g, grad, c(g, 1 - b1)));
    const v = ops.add(g, ops.mul(g, slots.exp_avg_sq, c(g, b2)), ops.mul(g, ops.mul(g, grad, grad), c(g, 1 - b2)));
    const denom = ops.add(g, ops.div(g, ops.sqrt(g, v), scalars.adamw_bias_correction2_sqrt), c(g, o.eps));
    const next = ops.sub(g, decayed, ops.mul(g, ops.div(g, m, denom), scalars.adamw_step_size));
    return { param: next, slots: { exp_avg: m, exp_avg_sq: v } };
  },
};

const OPTIMIZERS = { sgd: SGD, adamw: ADAMW } as const;

function ruleFor(o: ResolvedOptimizer): OptimizerRule<ResolvedOptimizer> {
  return OPTIMIZERS[o.kind] as unknown as OptimizerRule<ResolvedOptimizer>;
}

export function resolveOptimizer(o: OptimizerOptions | undefined): ResolvedOptimizer {
  const opts = o ?? { kind: "sgd" };
  const rule = OPTIMIZERS[opts.kind] as unknown as OptimizerRule<ResolvedOptimizer> | undefined;
  if (!rule)
    throw new OptionError(`unknown optimizer "${(opts as { kind: string }).kind}"; expected one of ${Object.keys(OPTIMIZERS).join(", ")}`);
  return rule.resolve(opts as Partial<ResolvedOptimizer>);
}

export function optimizerSlots(o: ResolvedOptimizer): string[] {
  return ruleFor(o).slots(o);
}

export function optimizerScalars(o: ResolvedOptimizer): string[] {
  return [...ruleFor(o).scalars];
}

/** The scalar inputs proportional to the learning rate. */
export function optimizerLrScalars(o: ResolvedOptimizer): string[] {
  return [...ruleFor(o).lrScalars];
}

/** The scalar inputs' values for step `t` (1-based: the first step is t = 1). */
export function optimizerScalarValues(o: ResolvedOptimizer, t: number, lr: number): Record<string, number> {
  return ruleFor(o).scalarValues(o, t, lr);
}

export function optimizerUpdate(o: ResolvedOptimizer, args: UpdateArgs): Updated {
  return ruleFor(o).update(o, args);
}
