"""Reference feature maps and embeddings for convzoo's backbone exports.

usage: /usr/bin/python3 export_features.py OUT_DIR NAME ARCH RESOLUTION CLASSIFIER MODULE[,MODULE...] [KEY:VALUE ...]
Builds torchvision's ARCH (seeded random weights, randomised BN statistics, as export_torchvision.py),
saves NAME.pth and NAME.input.f32, and with forward hooks records the output of every MODULE
(NAME.<module>.f32) and the input of CLASSIFIER, the embedding (NAME.embedding.f32).
"""
import json
import os
import sys

import torch
import torchvision

from export_torchvision import parse_value, randomise_batchnorm


def main():
    out_dir, name, arch, resolution, classifier, modules = sys.argv[1:7]
    kwargs = dict(kv.split(":", 1) for kv in sys.argv[7:])
    kwargs = {k: parse_value(v) for k, v in kwargs.items()}
    resolution = int(resolution)
    torch.manual_seed(99)
    gen = torch.Generator().manual_seed(98)
    model = getattr(torchvision.models, arch)(weights=None, **kwargs)
    randomise_batchnorm(model, gen, resolution)
    model.eval()
    named = dict(model.named_modules())
    captured = {}
    for m in modules.split(","):
        named[m].register_forward_hook(lambda _m, _i, out, m=m: captured.setdefault(m, out))
    named[classifier].register_forward_hook(lambda _m, inp, _o: captured.setdefault("embedding", inp[0]))
    x = torch.randn(2, 3, resolution, resolution, generator=gen)
    with torch.no_grad():
        model(x)
    torch.save(model.state_dict(), os.path.join(out_dir, name + ".pth"))
    x.numpy().astype("<f4").tofile(os.path.join(out_dir, name + ".input.f32"))
    shapes = {}
    for key, value in captured.items():
        value.numpy().astype("<f4").tofile(os.path.join(out_dir, f"{name}.{key}.f32"))
        shapes[key] = list(value.shape)
    with open(os.path.join(out_dir, name + ".features.json"), "w") as f:
        json.dump(shapes, f)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
