"""Reference cases for the paper's plain nets (He et al. 2015, Table 2: plain-18, plain-34).

torchvision has no plain net, so this makes a genuine torch one: torchvision's resnet18/34 with every
BasicBlock's shortcut removed — its `downsample` projection deleted and its forward replaced by
relu(bn2(conv2(relu(bn1(conv1(x)))))). Weights are seeded and BatchNorm statistics randomised as
in export_torchvision.py, and the same files are written (NAME.pth, NAME.input.f32,
NAME.logits.f32, NAME.json), so the test compares the same things as the torchvision harness.

The parameter count in NAME.json is independent of the model that runs: torchvision's resnet18/34
count minus the parameters of its downsample projections (`paramsFromResnet`); `params` is the count
of the modified model itself. The exporter checks the two agree.

usage: /usr/bin/python3 export_plain_resnet.py OUT_DIR CASE [CASE ...]
  CASE = name=resnet18_plain|resnet34_plain[,resolution:R][,batch:B][,num_classes:K]
"""
import json
import os
import sys
import types

import torch
import torch.nn.functional as F
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_torchvision import count_macs, parse_case, parse_value, randomise_batchnorm  # noqa: E402


def plain_forward(self, x):
    out = F.relu(self.bn1(self.conv1(x)))
    out = self.bn2(self.conv2(out))
    return F.relu(out)


def count_params(module):
    return sum(p.numel() for p in module.parameters())


def make_plain(model):
    """Removes every shortcut in place; returns the parameters the projections had."""
    removed = 0
    for m in model.modules():
        if isinstance(m, torchvision.models.resnet.BasicBlock):
            if m.downsample is not None:
                removed += count_params(m.downsample)
            del m.downsample
            m.forward = types.MethodType(plain_forward, m)
    return removed


def export_case(out_dir, name, arch, fields):
    if not arch.endswith("_plain"):
        raise SystemExit(f"{arch}: expected resnet18_plain or resnet34_plain")
    resolution = int(fields.get("resolution", 224))
    batch = int(fields.get("batch", 2))
    kwargs = {k: parse_value(v) for k, v in fields.items() if k not in ("resolution", "batch")}
    kwargs.setdefault("num_classes", 1000)
    torch.manual_seed(1234)
    gen = torch.Generator().manual_seed(4321)
    model = getattr(torchvision.models, arch[: -len("_plain")])(weights=None, **kwargs)
    residual_params = count_params(model)
    removed = make_plain(model)
    params = count_params(model)
    assert params == residual_params - removed, (params, residual_params, removed)
    assert not any("downsample" in k for k in model.state_dict()), "a projection survived"
    randomise_batchnorm(model, gen)
    model.eval()
    x = torch.randn(batch, 3, resolution, resolution, generator=gen)
    with torch.no_grad():
        logits = model(x)
    torch.save(model.state_dict(), os.path.join(out_dir, name + ".pth"))
    x.numpy().astype("<f4").tofile(os.path.join(out_dir, name + ".input.f32"))
    logits.numpy().astype("<f4").tofile(os.path.join(out_dir, name + ".logits.f32"))
    meta = {
        "name": name,
        "arch": arch,
        "resolution": resolution,
        "batch": batch,
        "numClasses": kwargs["num_classes"],
        "params": params,
        "paramsFromResnet": residual_params - removed,
        "residualParams": residual_params,
        "macs": count_macs(model, x),
        "logitsShape": list(logits.shape),
    }
    with open(os.path.join(out_dir, name + ".json"), "w") as f:
        json.dump(meta, f)


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(2)
    for text in sys.argv[2:]:
        name, arch, fields = parse_case(text)
        export_case(out_dir, name, arch, fields)
        print("exported", name, flush=True)


if __name__ == "__main__":
    main()
