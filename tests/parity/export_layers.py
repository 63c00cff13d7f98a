"""Reference for the layer zoo: one torch nn.Sequential using every building block convzoo offers
(Conv2dNormActivation with Hardswish, SqueezeExcitation with a Hardsigmoid gate, a dilated grouped
biased conv, SiLU, MaxPool2d with ceil_mode, AvgPool2d counting padding, BatchNorm eps 1e-3,
ReLU6, Sigmoid, AdaptiveAvgPool2d to a non-dividing size, Flatten, Dropout, Linear).
The TypeScript test builds the same stack; keys and outputs must agree.

usage: /usr/bin/python3 export_layers.py OUT_DIR
Writes layers.pth, layers.input.f32, layers.output.f32 and layers.json (input/output shapes).
"""
import json
import os
import sys

import torch
from torch import nn
from torchvision.ops.misc import Conv2dNormActivation, SqueezeExcitation


def build():
    return nn.Sequential(
        Conv2dNormActivation(3, 16, 3, stride=2, activation_layer=nn.Hardswish),
        SqueezeExcitation(16, 8, scale_activation=nn.Hardsigmoid),
        nn.Conv2d(16, 24, 3, padding=2, dilation=2, groups=4, bias=True),
        nn.SiLU(),
        nn.MaxPool2d(3, 2, ceil_mode=True),
        nn.AvgPool2d(3, stride=2, padding=1),
        nn.BatchNorm2d(24, eps=1e-3, momentum=0.01),
        nn.ReLU6(),
        nn.Sigmoid(),
        nn.AdaptiveAvgPool2d((3, 2)),
        nn.Flatten(),
        nn.Dropout(0.3),
        nn.Linear(24 * 3 * 2, 7),
    )


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(7)
    net = build()
    gen = torch.Generator().manual_seed(8)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5, generator=gen)
            m.bias.data.normal_(0, 0.3, generator=gen)
            m.running_mean.normal_(0, 0.3, generator=gen)
            m.running_var.uniform_(0.5, 2.0, generator=gen)
    net.eval()
    # 37 is odd on purpose: ceil_mode pooling and uneven adaptive bins both matter there.
    x = torch.randn(2, 3, 37, 37, generator=gen) * 2
    with torch.no_grad():
        y = net(x)
    torch.save(net.state_dict(), os.path.join(out, "layers.pth"))
    x.numpy().astype("<f4").tofile(os.path.join(out, "layers.input.f32"))
    y.numpy().astype("<f4").tofile(os.path.join(out, "layers.output.f32"))
    with open(os.path.join(out, "layers.json"), "w") as f:
        json.dump({"input": list(x.shape), "output": list(y.shape), "params": sum(p.numel() for p in net.parameters())}, f)


if __name__ == "__main__":
    main()
