"""PyTorch CPU baseline for bench/infer.ts: times torchvision's model of the same architecture.

Run with Debian's interpreter (the one whose torch we compare against), e.g.
    /usr/bin/python3 bench/torch_infer.py --arch resnet50 --batch 16 --resolution 224 --threads 2 --runs 5

Random weights (torchvision's own init) and a random normal input: speed does not depend on values.
The model is in eval mode; each timed call is `model(x)` under torch.no_grad() and, when this torch
has it, under torch.inference_mode() too (the two modes alternate run by run, so noise hits both
alike). Prints one JSON object: {"torch", "arch", "batch", "resolution", "threads", "modes": {mode: [ms, ...]}}.
"""

import argparse
import json
import sys
import time

import torch
import torchvision


def build(arch):
    ctor = getattr(torchvision.models, arch)
    try:
        return ctor(weights=None)
    except TypeError:  # torchvision < 0.13
        return ctor(pretrained=False)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", required=True)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--resolution", type=int, default=224)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--modes", default="no_grad,inference_mode", help="comma-separated: no_grad, inference_mode")
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)  # as ONNX Runtime's interOpNumThreads in convzoo
    torch.manual_seed(0)
    model = build(a.arch).eval()
    x = torch.randn(a.batch, 3, a.resolution, a.resolution)

    contexts = {"no_grad": torch.no_grad}
    if hasattr(torch, "inference_mode"):
        contexts["inference_mode"] = torch.inference_mode
    modes = [m for m in a.modes.split(",") if m in contexts]
    if not modes:
        sys.exit(f"no usable mode in {a.modes!r} (this torch has: {', '.join(contexts)})")

    def once(mode):
        with contexts[mode]():
            t0 = time.perf_counter()
            model(x)
            return (time.perf_counter() - t0) * 1000

    for _ in range(a.warmup):
        for mode in modes:
            once(mode)
    times = {mode: [] for mode in modes}
    for _ in range(a.runs):
        for mode in modes:
            times[mode].append(once(mode))

    print(json.dumps({
        "torch": torch.__version__,
        "arch": a.arch,
        "batch": a.batch,
        "resolution": a.resolution,
        "threads": torch.get_num_threads(),
        "modes": times,
    }))


if __name__ == "__main__":
    main()
