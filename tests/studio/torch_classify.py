"""Loads a convzoo studio checkpoint into torchvision and classifies images: the "loads in PyTorch" claim.

usage: torch_classify.py CHECKPOINT IMAGE...  -> JSON [{"file": ..., "label": ...}] on stdout

The safetensors file is read by hand (8-byte little-endian header length, the JSON header, raw little-endian
tensors; the format's spec) since Debian ships no `safetensors` package; `load_state_dict(strict=True)` then proves
every key and shape is torchvision's. Preprocessing is torchvision's eval transform with the checkpoint's metadata.
"""
import json
import struct
import sys

import torch
import torchvision
from PIL import Image
from torchvision import transforms

DTYPES = {"F32": torch.float32, "I64": torch.int64}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    body = data[8 + n :]
    tensors = {}
    for key, t in header.items():
        start, end = t["data_offsets"]
        tensors[key] = torch.frombuffer(bytearray(body[start:end]), dtype=DTYPES[t["dtype"]]).reshape(t["shape"])
    return tensors, json.loads(meta["convzoo"])


def main():
    tensors, meta = read_safetensors(sys.argv[1])
    model = getattr(torchvision.models, meta["arch"])(num_classes=meta["options"]["numClasses"])
    model.load_state_dict(tensors, strict=True)
    model.eval()
    p = meta["preprocessing"]
    interpolation = {"bilinear": transforms.InterpolationMode.BILINEAR, "bicubic": transforms.InterpolationMode.BICUBIC}
    transform = transforms.Compose(
        [
            transforms.Resize(p["resizeSize"], interpolation=interpolation[p["interpolation"]]),
            transforms.CenterCrop(p["cropSize"]),
            transforms.ToTensor(),
            transforms.Normalize(p["mean"], p["std"]),
        ]
    )
    out = []
    with torch.no_grad():
        for path in sys.argv[2:]:
            x = transform(Image.open(path).convert("RGB")).unsqueeze(0)
            out.append({"file": path, "label": meta["classes"][int(model(x).argmax(1))]})
    print(json.dumps(out))


main()
