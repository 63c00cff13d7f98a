"""Reference for tests/data/auto_augment.test.ts: torchvision 0.14's auto-augmentation ops on a PIL image.

Run with Debian's interpreter (/usr/bin/python3), which has torch, torchvision and Pillow 9.4:

    /usr/bin/python3 auto_augment.py IMAGE.rgb WIDTH HEIGHT JOBS.json OUT SPACES.json

IMAGE.rgb holds HWC uint8 RGB pixels. JOBS.json is a list of jobs, each a list of [op, magnitude] steps
applied in order with torchvision.transforms.autoaugment._apply_op on the PIL RGB image, with NEAREST
interpolation and fill None, as TrivialAugmentWide and RandAugment call it. OUT receives every job's
result, HWC uint8, one after another. SPACES.json receives the augmentation spaces (the magnitude bins
as Python floats): {"trivialaugment": {op: [...] | null}, "randaugment": {"WxH": {op: [...] | null}}},
RandAugment's for a few image sizes, each with 31 bins, plus TrivialAugmentWide's with 10 and 64 bins.
"""

import json
import sys

import numpy as np
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms.autoaugment import RandAugment, TrivialAugmentWide, _apply_op


def space(meta):
    return {op: ([float(v) for v in mags] if mags.ndim > 0 else None) for op, (mags, _signed) in meta.items()}


def main() -> None:
    image, width, height, jobs_path, out_path, spaces_path = sys.argv[1:7]
    width, height = int(width), int(height)
    hwc = np.fromfile(image, dtype=np.uint8).reshape(height, width, 3)
    pil = Image.fromarray(hwc, mode="RGB")
    with open(jobs_path) as f:
        jobs = json.load(f)
    with open(out_path, "wb") as out:
        for job in jobs:
            img = pil
            for op, magnitude in job:
                img = _apply_op(img, op, float(magnitude), interpolation=InterpolationMode.NEAREST, fill=None)
            assert img.mode == "RGB" and img.size == (width, height)
            out.write(np.asarray(img, dtype=np.uint8).tobytes())
    ta = TrivialAugmentWide()
    ra = RandAugment()
    spaces = {
        "trivialaugment": {str(n): space(ta._augmentation_space(n)) for n in (31, 10, 64)},
        "randaugment": {f"{w}x{h}": space(ra._augmentation_space(31, (h, w))) for w, h in [(32, 32), (67, 45), (224, 224), (45, 67), (299, 299)]},
    }
    with open(spaces_path, "w") as f:
        json.dump(spaces, f)


if __name__ == "__main__":
    main()
