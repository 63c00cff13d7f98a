"""Reference SGD steps for tests/train/sgd.test.ts.

usage: torch_sgd.py <arch> <full|head> <out_dir> <steps> <batch> <resolution> <classes> <lr> <momentum> <weight_decay> <nesterov 0|1> <label_smoothing>

Builds torchvision's <arch> (seeded, dropout 0 where it has one), saves its initial state_dict
(initial.pth), fixed batches (batch<i>.bin, raw float32 [B,3,R,R]) and labels (labels.json), runs the
SGD steps in train mode (torch.optim.SGD, CrossEntropyLoss with label smoothing), and saves the final
state_dict (final.pth) and per-step losses (losses.json). Strategy `head`: everything but the final
classifier is frozen: requires_grad False and its BatchNorm modules in eval mode.
"""
import json
import os
import sys

import torch
import torchvision

torch.set_num_threads(2)
torch.use_deterministic_algorithms(True)

arch, strategy, out = sys.argv[1:4]
steps, batch, res, classes = (int(a) for a in sys.argv[4:8])
lr, momentum, wd, nesterov, smoothing = (float(a) for a in sys.argv[8:13])
os.makedirs(out, exist_ok=True)

torch.manual_seed(0)
kwargs = {"num_classes": classes}
if arch.startswith("mobilenet_v2") or arch.startswith("efficientnet"):
    kwargs["dropout"] = 0.0
model = getattr(torchvision.models, arch)(**kwargs)
head = {"resnet18": "fc", "mobilenet_v2": "classifier.1"}[arch]
torch.save(model.state_dict(), os.path.join(out, "initial.pth"))

g = torch.Generator().manual_seed(1)
batches = [torch.randn(batch, 3, res, res, generator=g) for _ in range(steps)]
labels = [torch.randint(0, classes, (batch,), generator=g) for _ in range(steps)]
for i, x in enumerate(batches):
    x.numpy().astype("float32").tofile(os.path.join(out, f"batch{i}.bin"))

model.train()
if strategy == "head":
    for name, p in model.named_parameters():
        p.requires_grad = name.startswith(head + ".")
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and not name.startswith(head):
            m.eval()
params = [p for p in model.parameters() if p.requires_grad]
opt = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=wd, nesterov=bool(nesterov))
loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=smoothing)
losses = []
for x, y in zip(batches, labels):
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    losses.append(loss.item())

torch.save(model.state_dict(), os.path.join(out, "final.pth"))
with open(os.path.join(out, "labels.json"), "w") as f:
    json.dump([l.tolist() for l in labels], f)
with open(os.path.join(out, "losses.json"), "w") as f:
    json.dump(losses, f)
print(json.dumps({"losses": losses}))
