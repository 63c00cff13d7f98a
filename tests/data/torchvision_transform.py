"""Reference for tests/data/image.test.ts: torchvision's eval transform through PIL.

Run with Debian's interpreter (/usr/bin/python3), which has torch and torchvision:

    /usr/bin/python3 torchvision_transform.py IMAGE OUT [--resize 256] [--crop 224]
        [--interpolation bilinear|bicubic|nearest] [--mean R G B] [--std R G B]
    /usr/bin/python3 torchvision_transform.py IMAGE OUT --decode

Default mode writes the CHW float32 (little-endian) result of
Compose([Resize(resize), CenterCrop(crop), ToTensor(), Normalize(mean, std)]) to OUT.
--decode writes the decoded HWC uint8 RGB pixels to OUT instead, and prints "WIDTH HEIGHT".

With --jobs FILE, each line of FILE is a JSON array of the arguments above, run in order in this one
process (importing torch takes a second or two), printing one line per --decode job.

The image is opened the way torchvision's ImageFolder loader does (Image.open(...).convert("RGB")),
plus ImageOps.exif_transpose, because convzoo applies EXIF orientation (the loader does not).
"""

import argparse
import json
import sys

import numpy as np
from PIL import Image, ImageOps
from torchvision import transforms
from torchvision.transforms import InterpolationMode

MODES = {
    "bilinear": InterpolationMode.BILINEAR,
    "bicubic": InterpolationMode.BICUBIC,
    "nearest": InterpolationMode.NEAREST,
}


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--jobs":
        with open(sys.argv[2]) as f:
            for line in f:
                if line.strip():
                    run(json.loads(line))
    else:
        run(sys.argv[1:])


def run(argv: list) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("image")
    ap.add_argument("out")
    ap.add_argument("--decode", action="store_true")
    ap.add_argument("--resize", type=int, default=256)
    ap.add_argument("--crop", type=int, default=224)
    ap.add_argument("--interpolation", choices=sorted(MODES), default="bilinear")
    ap.add_argument("--mean", type=float, nargs=3, default=[0.485, 0.456, 0.406])
    ap.add_argument("--std", type=float, nargs=3, default=[0.229, 0.224, 0.225])
    args = ap.parse_args(argv)

    with open(args.image, "rb") as f:
        img = Image.open(f)
        img = ImageOps.exif_transpose(img).convert("RGB")

    if args.decode:
        np.asarray(img, dtype=np.uint8).tofile(args.out)
        print(img.width, img.height, flush=True)
        return

    transform = transforms.Compose(
        [
            transforms.Resize(args.resize, interpolation=MODES[args.interpolation]),
            transforms.CenterCrop(args.crop),
            transforms.ToTensor(),
            transforms.Normalize(args.mean, args.std),
        ]
    )
    out = transform(img).numpy().astype("<f4")
    out.tofile(args.out)


if __name__ == "__main__":
    main()
