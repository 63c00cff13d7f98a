"""Reference for tests/train/recalibrate.test.ts: torch.optim.swa_utils.update_bn over an image folder.

usage: torch_update_bn.py <arch> <classes> <resolution> <batch> <out>

Writes under `out`: data/class_<c>/<i>.png (images already at the resolution: ToTensor + Normalize
only), initial.pth (torchvision's model, seeded, BatchNorm statistics randomised, so the result
must overwrite them) and updated.pth (after update_bn's procedure over ImageFolder with
DataLoader(shuffle=False), last short batch kept; the prefixes given on stdin as JSON are frozen).
"""
import json
import os
import sys

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision import transforms

torch.set_num_threads(2)
arch, classes, res, batch, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
frozen = json.loads(sys.stdin.read() or "[]")
data = os.path.join(out, "data")
rng = np.random.default_rng(3)
for c in range(classes):
    d = os.path.join(data, f"class_{c}")
    os.makedirs(d, exist_ok=True)
    base = rng.uniform(60, 190, 3)
    for i in range(7):
        img = np.clip(np.round(base + rng.normal(0, 30, (res, res, 3))), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(os.path.join(d, f"{i:03d}.png"))

torch.manual_seed(0)
model = getattr(torchvision.models, arch)(num_classes=classes)
with torch.no_grad():
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
torch.save(model.state_dict(), os.path.join(out, "initial.pth"))

norm = transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
ds = torchvision.datasets.ImageFolder(data, transforms.Compose([transforms.ToTensor(), norm]))
loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=False, drop_last=False)
# torch.optim.swa_utils.update_bn, restricted to the BatchNorm layers outside the frozen prefixes
# (update_bn itself resets every BatchNorm, frozen ones included): their statistics restart from
# (0, 1) with momentum None (a cumulative average over the forward passes) in train mode, while
# frozen parts stay in eval mode with their statistics.
def frozen_name(name):
    return any(name == p or name.startswith(p + ".") for p in frozen)
trained = [m for name, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm2d) and not frozen_name(name)]
model.train()
for name, m in model.named_modules():
    if frozen_name(name):
        m.eval()
for m in trained:
    m.running_mean = torch.zeros_like(m.running_mean)
    m.running_var = torch.ones_like(m.running_var)
    m.momentum = None
    m.num_batches_tracked *= 0
with torch.no_grad():
    for x, _ in loader:
        model(x)
torch.save(model.state_dict(), os.path.join(out, "updated.pth"))
