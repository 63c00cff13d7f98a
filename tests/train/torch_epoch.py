"""Reference epoch for tests/train/epoch.test.ts: one epoch of SGD over an image folder, in torch.

usage: torch_epoch.py <config.json>

config: {arch, classes, per_class: [n...], resolution, batch, optimizer: sgd|adamw, lr, momentum,
         weight_decay, nesterov, label_smoothing, frozen: [prefix...], kink_biases?: [b...], out}

Writes, under `out`:
  data/<class>/<i>.png   the image folder (images already at the training resolution, so neither side
                         resizes: ToTensor + Normalize only), smooth random colour fields + noise;
  initial.pth            torchvision's model, seeded, with BatchNorm affine parameters, running
                         statistics and conv/linear biases randomised (a "pretrained-like" start:
                         no all-zero tensors, whose relative differences would be pure rounding);
                         with `kink_biases`, BatchNorm weights in [0.2, 0.4] and each channel's bias
                         drawn from that list, so that every channel stays in one regime of the
                         activation after it (no input within rounding of a kink: see epoch.test.ts);
  final32.pth            after one epoch in float32 (torch's own float32 result);
  final64.pth            after the same epoch in float64 (stored as float32): the ground truth;
  result.json            per-step losses of both runs.
The epoch: torchvision.datasets.ImageFolder (sorted classes, sorted files), DataLoader(shuffle=False,
drop_last=False: the last short batch is kept), model.train() with dropout and stochastic depth 0,
CrossEntropyLoss(label_smoothing), GoogLeNet adding 0.3 x each auxiliary loss, torch.optim.SGD or
torch.optim.AdamW on the trainable parameters. Frozen prefixes: requires_grad False and their BatchNorm layers in eval mode.
"""
import copy
import json
import os
import sys

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision import transforms

torch.set_num_threads(2)
cfg = json.load(open(sys.argv[1]))
out = cfg["out"]
res = cfg["resolution"]
data = os.path.join(out, "data")

# The image folder: per class a base colour, smooth fields (upsampled 4x4 noise) and pixel noise.
rng = np.random.default_rng(7)
for c, n in enumerate(cfg["per_class"]):
    d = os.path.join(data, f"class_{c}")
    os.makedirs(d, exist_ok=True)
    base = rng.uniform(80, 175, 3)
    for i in range(n):
        # Kept inside [20, 235]: no clipped, flat regions, whose equal values would tie in max-pool
        # windows (where any element is a valid subgradient, and runtimes may pick differently).
        coarse = np.clip(rng.normal(0, 20, (4, 4, 3)), -40, 40)
        field = np.kron(coarse, np.ones((res // 4 + 1, res // 4 + 1, 1)))[:res, :res]
        img = np.round(base + field + rng.uniform(-20, 20, (res, res, 3))).astype(np.uint8)
        Image.fromarray(img).save(os.path.join(d, f"{i:03d}.png"))

torch.manual_seed(0)
arch = cfg["arch"]
kwargs = {"num_classes": cfg["classes"]}
if arch.startswith("mobilenet_v2") or arch.startswith("mobilenet_v3"):
    kwargs["dropout"] = 0.0
if arch == "googlenet":
    kwargs.update(aux_logits=True, transform_input=True, init_weights=True, dropout=0.0, dropout_aux=0.0)
model = getattr(torchvision.models, arch)(**kwargs)
# Dropout and stochastic depth off everywhere (torchvision 0.14's efficientnet builders fix the
# classifier dropout positionally, so set the modules directly).
for m in model.modules():
    if isinstance(m, (torch.nn.Dropout, torchvision.ops.StochasticDepth)):
        m.p = 0.0
g = torch.Generator().manual_seed(3)
kink_biases = cfg.get("kink_biases")
with torch.no_grad():
    for m in model.modules() if cfg.get("randomize_bn", True) else []:
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            if kink_biases:
                # Every channel sits in one regime of the activation for the whole epoch: a batch-
                # normalised value x̂ is within √(n − 1) of 0 (and rarely beyond a few units), so
                # γ·x̂ + β stays on the side of the kinks that β is on.
                m.weight.uniform_(0.2, 0.4, generator=g)
                regime = torch.randint(0, len(kink_biases), (m.num_features,), generator=g)
                m.bias.copy_(torch.tensor(kink_biases)[regime])
            else:
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.normal_(0.0, 0.2, generator=g)
            m.running_mean.normal_(0.0, 0.2, generator=g)
            m.running_var.uniform_(0.5, 1.5, generator=g)
        elif isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) and m.bias is not None:
            m.bias.normal_(0.0, 0.1, generator=g)
torch.save(model.state_dict(), os.path.join(out, "initial.pth"))

frozen = cfg["frozen"]


def is_frozen(name):
    return any(name == p or name.startswith(p + ".") for p in frozen)


mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
dataset = torchvision.datasets.ImageFolder(data, transform=transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)]))
loader = torch.utils.data.DataLoader(dataset, batch_size=cfg["batch"], shuffle=False, drop_last=False)


def run(dtype):
    m = copy.deepcopy(model).to(dtype)
    m.train()
    for name, p in m.named_parameters():
        p.requires_grad = not is_frozen(name)
    for name, mod in m.named_modules():
        if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm) and is_frozen(name):
            mod.eval()
    params = [p for p in m.parameters() if p.requires_grad]
    if cfg.get("optimizer", "sgd") == "adamw":
        opt = torch.optim.AdamW(params, lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    else:
        opt = torch.optim.SGD(params, lr=cfg["lr"], momentum=cfg["momentum"], weight_decay=cfg["weight_decay"], nesterov=bool(cfg["nesterov"]))
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=cfg["label_smoothing"])
    losses = []
    for x, y in loader:
        opt.zero_grad()
        outp = m(x.to(dtype))
        if arch == "googlenet":
            loss = loss_fn(outp.logits, y) + 0.3 * loss_fn(outp.aux_logits1, y) + 0.3 * loss_fn(outp.aux_logits2, y)
        else:
            loss = loss_fn(outp, y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    sd = {k: (v.float() if v.is_floating_point() else v) for k, v in m.state_dict().items()}
    return sd, losses


sd32, losses32 = run(torch.float32)
sd64, losses64 = run(torch.float64)
torch.save(sd32, os.path.join(out, "final32.pth"))
torch.save(sd64, os.path.join(out, "final64.pth"))
json.dump({"losses32": losses32, "losses64": losses64, "classes": dataset.classes, "samples": [os.path.relpath(p, data) for p, _ in dataset.samples]}, open(os.path.join(out, "result.json"), "w"))
