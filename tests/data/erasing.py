"""Reference for tests/data/erasing.test.ts: torchvision 0.14's RandomErasing.

Run with Debian's interpreter (/usr/bin/python3), which has torch and torchvision:

    /usr/bin/python3 erasing.py erase IMAGE.f32 C H W BOXES.json OUT
    /usr/bin/python3 erasing.py sample H W N SCALE0 SCALE1 RATIO0 RATIO1 OUT.json

erase: IMAGE.f32 holds a float32 [C, H, W] image; BOXES.json lists [i, j, h, w, v] with v a flat list of
C or C*h*w float32 values (reshaped to [C, 1, 1] or [C, h, w]); each is applied with F.erase to a fresh
copy and the results are written one after another (float32).
sample: N draws of RandomErasing.get_params on a zero [3, H, W] tensor (torch.manual_seed(0)), each
[i, j, h, w], or null when the 10 attempts failed; written as JSON.
"""

import json
import sys

import numpy as np
import torch
import torchvision.transforms.functional as F
from torchvision.transforms import RandomErasing


def erase(image, c, h, w, boxes_path, out_path):
    img = torch.from_numpy(np.fromfile(image, dtype=np.float32).reshape(int(c), int(h), int(w)))
    with open(boxes_path) as f:
        boxes = json.load(f)
    with open(out_path, "wb") as out:
        for i, j, bh, bw, v in boxes:
            v = torch.tensor(v, dtype=torch.float32)
            v = v.reshape(int(c), 1, 1) if v.numel() == int(c) else v.reshape(int(c), bh, bw)
            out.write(F.erase(img.clone(), i, j, bh, bw, v).numpy().tobytes())


def sample(h, w, n, s0, s1, r0, r1, out_path):
    torch.manual_seed(0)
    img = torch.zeros(3, int(h), int(w))
    draws = []
    for _ in range(int(n)):
        i, j, bh, bw, v = RandomErasing.get_params(img, scale=(float(s0), float(s1)), ratio=(float(r0), float(r1)), value=[0.0])
        draws.append(None if v is img else [i, j, bh, bw])
    with open(out_path, "w") as f:
        json.dump(draws, f)


if __name__ == "__main__":
    {"erase": erase, "sample": sample}[sys.argv[1]](*sys.argv[2:])
