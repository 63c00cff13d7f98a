"""References for tests/train/recipe.test.ts, in torch 1.13 (float32). Reads one JSON task on stdin, prints JSON.

tasks:
  schedules: torch's lr schedulers stepped over a run -> {name: [lr per step]}
    StepLR(step_size, gamma) stepped per epoch; CosineAnnealingLR(T_max = total, eta_min) per step;
    SequentialLR(LinearLR(1/W, 1, W - 1), CosineAnnealingLR(total - W, eta_min), [W]) per step (warm-up + cosine);
    OneCycleLR(max_lr, total_steps, pct_start, anneal cos, div 25, final_div 1e4) per step.
  train: the tiny net of tiny_net.ts (bn or not) from the given weights through the given batches:
    CrossEntropyLoss(weight, label_smoothing), optional clip_grad_norm_, SGD or AdamW with one param group per
    lr factor (longest prefix), the lr of each step given; optional EMA as timm's ModelEmaV2
    (ema = decay * ema + (1 - decay) * value over every floating state_dict entry, after each step).
    -> {losses, state: {key: values after}, ema: {key: values}}
"""
import json
import sys

import torch
from torch import nn

torch.set_num_threads(1)
task = json.load(sys.stdin)


def schedules(t):
    out = {}
    p = [nn.Parameter(torch.zeros(1))]

    def run(make, steps, per_epoch=None):
        opt = torch.optim.SGD(p, lr=t["lr"])
        sched = make(opt)
        lrs = []
        for s in range(steps):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            if per_epoch is None:
                sched.step()
            elif (s + 1) % per_epoch == 0:
                sched.step()
        return lrs

    e, spe = t["epochs"], t["steps_per_epoch"]
    total = e * spe
    out["step"] = run(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=t["step_size"], gamma=t["gamma"]), total, spe)
    out["cosine"] = run(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=total, eta_min=t["eta_min"]), total)
    w = t["warmup"]
    out["warmup_cosine"] = run(
        lambda o: torch.optim.lr_scheduler.SequentialLR(
            o,
            [
                torch.optim.lr_scheduler.LinearLR(o, start_factor=1 / w, end_factor=1.0, total_iters=w - 1),
                torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=total - w, eta_min=t["eta_min"]),
            ],
            milestones=[w],
        ),
        total,
    )
    for pct in t["pct_starts"]:
        out[f"onecycle_{pct}"] = run(
            lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=t["lr"], total_steps=total, pct_start=pct, anneal_strategy="cos", cycle_momentum=False),
            total,
        )
    return out


class Tiny(nn.Module):
    def __init__(self, k, bn):
        super().__init__()
        layers = []
        c = 3
        for v in [8, "M", 16, "M"]:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers.append(nn.Conv2d(c, v, 3, padding=1))
                if bn:
                    layers.append(nn.BatchNorm2d(v))
                layers.append(nn.ReLU())
                c = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, k))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def train(t):
    m = Tiny(t["classes"], t["bn"])
    sd = m.state_dict()
    m.load_state_dict({k: torch.tensor(t["weights"][k], dtype=v.dtype).reshape(v.shape) for k, v in sd.items()})
    m.train()
    factors = t.get("lr_factors") or {}
    prefixes = sorted(factors, key=len, reverse=True)

    def factor(name):
        for p in prefixes:
            if p == "" or name == p or name.startswith(p + "."):
                return factors[p]
        return 1.0

    groups = {}
    for name, p in m.named_parameters():
        groups.setdefault(factor(name), []).append(p)
    o = t["optimizer"]
    lr0 = t["lrs"][0]
    pg = [{"params": ps, "lr": lr0 * f, "factor": f} for f, ps in groups.items()]
    if o["kind"] == "adamw":
        opt = torch.optim.AdamW(pg, lr=lr0, weight_decay=o["weight_decay"])
    else:
        opt = torch.optim.SGD(pg, lr=lr0, momentum=o["momentum"], weight_decay=o["weight_decay"], nesterov=o.get("nesterov", False))
    w = t.get("class_weights")
    loss_fn = nn.CrossEntropyLoss(weight=None if w is None else torch.tensor(w, dtype=torch.float32), label_smoothing=t.get("label_smoothing", 0.0))
    decay = t.get("ema_decay")
    ema = {k: v.clone() for k, v in m.state_dict().items()} if decay is not None else None
    losses = []
    for i, b in enumerate(t["batches"]):
        x = torch.tensor(b["x"], dtype=torch.float32).reshape(b["shape"])
        y = torch.tensor(b["y"])
        for g in opt.param_groups:
            g["lr"] = t["lrs"][i] * g["factor"]
        opt.zero_grad()
        loss = loss_fn(m(x), y)
        loss.backward()
        if t.get("clip") is not None:
            nn.utils.clip_grad_norm_(m.parameters(), t["clip"])
        opt.step()
        losses.append(loss.item())
        if ema is not None:
            with torch.no_grad():
                for k, v in m.state_dict().items():
                    if v.is_floating_point():
                        ema[k].copy_(decay * ema[k] + (1.0 - decay) * v)
                    else:
                        ema[k].copy_(v)
    flat = lambda d: {k: v.flatten().tolist() for k, v in d.items() if v.is_floating_point()}
    return {"losses": losses, "state": flat(m.state_dict()), "ema": flat(ema) if ema is not None else None}


print(json.dumps({"schedules": schedules, "train": train}[task["task"]](task)))
