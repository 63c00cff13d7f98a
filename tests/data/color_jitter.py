"""Reference for tests/data/color_jitter.test.ts: torchvision's colour adjustments on a uint8 tensor.

Run with Debian's interpreter (/usr/bin/python3), which has torch and torchvision:

    /usr/bin/python3 color_jitter.py IMAGE.rgb WIDTH HEIGHT JOBS.json OUT

IMAGE.rgb holds HWC uint8 RGB pixels. JOBS.json is a list of jobs, each a list of [op, factor]
steps applied in order (op: brightness | contrast | saturation | hue), e.g.
[[["brightness", 1.3]], [["hue", -0.2], ["contrast", 0.6]]]. Each step is the functional op of
torchvision.transforms.functional on the [3, H, W] uint8 tensor (the tensor path of ColorJitter).
OUT receives every job's result, HWC uint8, one after another.
"""

import json
import sys

import numpy as np
import torch
import torchvision.transforms.functional as F

OPS = {
    "brightness": F.adjust_brightness,
    "contrast": F.adjust_contrast,
    "saturation": F.adjust_saturation,
    "hue": F.adjust_hue,
}


def main() -> None:
    image, width, height, jobs_path, out_path = sys.argv[1:6]
    width, height = int(width), int(height)
    hwc = np.fromfile(image, dtype=np.uint8).reshape(height, width, 3)
    chw = torch.from_numpy(hwc.copy()).permute(2, 0, 1).contiguous()
    with open(jobs_path) as f:
        jobs = json.load(f)
    with open(out_path, "wb") as out:
        for job in jobs:
            img = chw
            for op, factor in job:
                img = OPS[op](img, float(factor))
            assert img.dtype == torch.uint8
            out.write(img.permute(1, 2, 0).contiguous().numpy().tobytes())


if __name__ == "__main__":
    main()
