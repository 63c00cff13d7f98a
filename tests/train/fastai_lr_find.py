"""Reference for tests/train/lr_find.test.ts: fastai's learning-rate range test, its few lines re-written here
(fastai is not installed). Reads one JSON task on stdin, prints JSON.

Sources (fastai 2.x):
  fastai/callback/schedule.py: SchedExp (start * (end/start) ** pos); LRFinder (num_it floor 6, lr set in
    before_batch at pos = train_iter / num_it, after_batch: best smoothed loss, stop when > 4 * best with
    stop_div, stop at num_it); lr_find (the suggestion window recorder.*[num_it//10:-5], cut at the first NaN);
    valley, minimum, steep.
  fastai/learner.py: AvgSmoothLoss (val = torch.lerp(loss, val, beta), value = val / (1 - beta**count), beta 0.98);
    Recorder.after_batch records opt lr and smooth_loss.value (order 50, before LRFinder at 60; TrainEvalCallback
    at -10 has already counted the batch in train_iter).

Two versions of the same lines:
  "f64": plain Python floats (the formulas; torch.lerp's form for weight >= 0.5 written out, as ATen computes it);
  "f32": with torch tensors where fastai has them (losses and the smoothed value float32, tensor(recorder.lrs)
         float32), i.e. fastai's own arithmetic; only when torch imports.

task: {"cases": [{"start", "end", "num_it", "stop_div", "raw": [loss per batch, NaN/Infinity allowed]}],
       "direct": [{"lrs", "losses"}]}   (direct: the suggestion functions called on the given lists)
-> {"f64": [{"lrs", "smoothed", "stop_at", "valley", "minimum", "steep", "points"}], "direct": [...], "f32": [...] | null}
"""
import json
import math
import sys

task = json.load(sys.stdin)


def sched_exp(start, end, pos):
    return start * (end / start) ** pos


def lerp(start, end, weight):
    # ATen's lerp: start + weight * (end - start) when |weight| < 0.5, else end - (end - start) * (1 - weight).
    return start + weight * (end - start) if abs(weight) < 0.5 else end - (end - start) * (1 - weight)


def record(case, smooth_step, to_float):
    """LRFinder + Recorder over the raw losses: (recorded lrs, recorded smoothed losses, index of the last batch)."""
    start, end, num_it, stop_div = case["start"], case["end"], case["num_it"], case["stop_div"]
    if num_it < 6:
        num_it = 6
    lrs, losses = [], []
    best = float("inf")
    train_iter = 0
    state = smooth_step(None, None, 0)
    for loss in case["raw"]:
        lr = sched_exp(start, end, train_iter / num_it)  # before_batch
        train_iter += 1  # TrainEvalCallback.after_batch
        state, value = smooth_step(state, loss, train_iter)  # Recorder.after_batch
        lrs.append(lr)
        losses.append(value)
        if value < best:  # LRFinder.after_batch
            best = value
        if value > 4 * best and stop_div:
            break
        if train_iter >= num_it:
            break
    return num_it, lrs, losses, train_iter - 1


def smooth64(state, loss, count, beta=0.98):
    if state is None and loss is None:
        return 0.0
    val = lerp(loss, state, beta)
    return val, val / (1 - beta**count)


def valley(lrs, losses, num_it):
    n = len(losses)
    max_start, max_end = 0, 0
    lds = [1] * n
    for i in range(1, n):
        for j in range(0, i):
            if (losses[i] < losses[j]) and (lds[i] < lds[j] + 1):
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    idx = max_start + int(sections) + int(sections / 2)
    return float(lrs[idx]), (float(lrs[idx]), float(losses[idx]))


def argmin(xs):
    best = 0
    for i in range(1, len(xs)):
        if xs[i] < xs[best]:
            best = i
    return best


def minimum(lrs, losses, num_it):
    lr_min = lrs[argmin(losses)]
    loss_idx = losses[min(range(len(lrs)), key=lambda i: abs(lrs[i] - lr_min))]
    return lr_min / 10, (lr_min, float(loss_idx))


def steep(lrs, losses, num_it):
    grads = [(losses[i + 1] - losses[i]) / (math.log(lrs[i + 1]) - math.log(lrs[i])) for i in range(len(losses) - 1)]
    lr_steep = lrs[argmin(grads)]
    loss_idx = losses[min(range(len(lrs)), key=lambda i: abs(lrs[i] - lr_steep))]
    return lr_steep, (lr_steep, float(loss_idx))


def suggest(lrs, losses, num_it, funcs):
    out = {"points": {}}
    for name, f, need in funcs:
        if len(losses) < need:  # fastai raises here; the TypeScript side gives null
            out[name], out["points"][name] = None, None
        else:
            lr, (x, y) = f(lrs, losses, num_it)
            out[name], out["points"][name] = float(lr), {"lr": float(x), "loss": float(y)}
    return out


FUNCS64 = [("valley", valley, 1), ("minimum", minimum, 1), ("steep", steep, 2)]


def window(lrs, losses, num_it, isnan):
    # lr_find: recorder.lrs[num_it//10:-5], then cut at the first NaN.
    lrs, losses = lrs[num_it // 10 : -5], losses[num_it // 10 : -5]
    nan = [i for i, v in enumerate(losses) if isnan(v)]
    if nan:
        lrs, losses = lrs[: min(nan)], losses[: min(nan)]
    return lrs, losses


def f64(case):
    num_it, lrs, losses, stop_at = record(case, smooth64, float)
    wl, wv = window(lrs, losses, num_it, math.isnan)
    return {"lrs": lrs, "smoothed": losses, "stop_at": stop_at, **suggest(wl, wv, num_it, FUNCS64)}


def f32_all(cases):
    try:
        import torch
    except ImportError:
        return None

    def smooth32(state, loss, count, beta=0.98):
        if state is None and loss is None:
            return torch.tensor(0.0)
        val = torch.lerp(torch.tensor(loss, dtype=torch.float32), state, beta)
        return val, val / (1 - beta**count)

    # fastai's suggestion functions on tensors, as in schedule.py.
    def valley_t(lrs, losses, num_it):
        return valley(lrs, losses, num_it)

    def minimum_t(lrs, losses, num_it):
        lr_min = lrs[losses.argmin()].item()
        loss_idx = losses[min(range(len(lrs)), key=lambda i: abs(lrs[i] - lr_min))]
        return lr_min / 10, (lr_min, loss_idx)

    def steep_t(lrs, losses, num_it):
        grads = (losses[1:] - losses[:-1]) / (lrs[1:].log() - lrs[:-1].log())
        lr_steep = lrs[grads.argmin()].item()
        loss_idx = losses[min(range(len(lrs)), key=lambda i: abs(lrs[i] - lr_steep))]
        return lr_steep, (lr_steep, loss_idx)

    out = []
    for case in cases:
        num_it, lrs, losses, stop_at = record(case, smooth32, float)
        lrs_t = torch.tensor(lrs[num_it // 10 : -5])
        losses_t = torch.tensor([float(v) for v in losses[num_it // 10 : -5]])
        nan_idxs = torch.nonzero(torch.isnan(losses_t.view(-1)))
        if len(nan_idxs) > 0:
            drop_idx = min(nan_idxs)
            lrs_t, losses_t = lrs_t[:drop_idx], losses_t[:drop_idx]
        funcs = [("valley", valley_t, 1), ("minimum", minimum_t, 1), ("steep", steep_t, 2)]
        s = suggest(lrs_t, losses_t, num_it, funcs)
        out.append({"lrs": lrs, "smoothed": [float(v) for v in losses], "stop_at": stop_at, **s})
    return out


def jsonable(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, list):
        return [jsonable(v) for v in x]
    return x


def parse(v):
    return float(v) if isinstance(v, str) else v


for case in task["cases"]:
    case["raw"] = [parse(v) for v in case["raw"]]
result = {
    "f64": [f64(c) for c in task["cases"]],
    "direct": [suggest(d["lrs"], d["losses"], 100, FUNCS64) for d in task.get("direct", [])],
    "f32": f32_all(task["cases"]),
}
print(json.dumps(jsonable(result)))
