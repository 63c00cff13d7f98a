"""Writes MobileNet V1 reference cases for convzoo's parity test.

torchvision has no MobileNet V1, so the network is written here from plain torch.nn modules,
straight from the paper (Howard et al. 2017, Table 1), with the parameter names convzoo's
src/models/mobilenet_v1.ts documents. Otherwise as export_torchvision.py: seeded random weights,
randomised BatchNorm statistics, torch.save'd state_dict, a random input batch, the logits, and
the parameter count and conv + linear MACs (counted with forward hooks).

usage: /usr/bin/python3 export_mobilenet_v1.py OUT_DIR CASE [CASE ...]
  CASE = name=mobilenet_v1[,resolution:R][,batch:B][,width_mult:A][,num_classes:K][,dropout:P]
Files per case: NAME.pth, NAME.input.f32, NAME.logits.f32 (raw little-endian float32), NAME.json.
"""
import json
import os
import sys

import torch
from torch import nn

from export_torchvision import count_macs, parse_case, parse_value, randomise_batchnorm

# Table 1 after the first conv (3x3, 32, stride 2): (depthwise stride, pointwise output channels)
# of the 13 depthwise separable layers. The table's second-to-last "Conv dw / s2" is a typo for s1
# (its input and output are 7x7).
TABLE_1 = [
    (1, 64),
    (2, 128),
    (1, 128),
    (2, 256),
    (1, 256),
    (2, 512),
    (1, 512),
    (1, 512),
    (1, 512),
    (1, 512),
    (1, 512),
    (2, 1024),
    (1, 1024),
]


def conv_bn_relu(cin, cout, kernel, stride=1, groups=1):
    # torchvision's Conv2dNormActivation layout: Sequential(conv, BatchNorm2d, ReLU).
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class DepthwiseSeparableConv(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.depthwise = conv_bn_relu(cin, cin, 3, stride, groups=cin)
        self.pointwise = conv_bn_relu(cin, cout, 1)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class MobileNetV1(nn.Module):
    def __init__(self, num_classes=1000, width_mult=1.0, dropout=0.001):
        super().__init__()
        # TF-Slim's thinning rule: max(int(d * depth_multiplier), min_depth=8).
        depth = lambda d: max(int(d * width_mult), 8)  # noqa: E731
        layers = [conv_bn_relu(3, depth(32), 3, 2)]
        cin = depth(32)
        for stride, out in TABLE_1:
            layers.append(DepthwiseSeparableConv(cin, depth(out), stride))
            cin = depth(out)
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(cin, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def export_case(out_dir, name, arch, fields):
    assert arch == "mobilenet_v1", arch
    resolution = int(fields.get("resolution", 224))
    batch = int(fields.get("batch", 2))
    kwargs = {k: parse_value(v) for k, v in fields.items() if k not in ("resolution", "batch")}
    kwargs.setdefault("num_classes", 1000)
    torch.manual_seed(1234)
    gen = torch.Generator().manual_seed(4321)
    model = MobileNetV1(**kwargs)
    # Random (not zero) biases in the classifier, so the comparison sees them.
    nn.init.normal_(model.classifier[1].bias, 0, 0.1)
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
        "widthMult": kwargs.get("width_mult"),
        "params": sum(p.numel() for p in model.parameters()),
        "macs": count_macs(model, x),
        "logitsShape": list(logits.shape),
        "keys": list(model.state_dict().keys()),
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
