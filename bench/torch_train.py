"""PyTorch CPU baseline for bench/train.ts: times one SGD (or AdamW) training step of torchvision's model.

Run with Debian's interpreter (the one whose torch we compare against), e.g.
    /usr/bin/python3 bench/torch_train.py --arch resnet18 --batch 16 --resolution 224 --threads 2 --runs 3

Random weights (torchvision's own init; dropout 0, as convzoo's bench), a random normal batch and
labels i % classes, the model in train mode. Each timed step is what a PyTorch training loop does:
optimizer.zero_grad(), forward, CrossEntropyLoss, backward, torch.optim.SGD(momentum=0.9).step().
Prints one JSON object: {"torch", "arch", "batch", "resolution", "threads", "times": [ms, ...], "peakRssMB"}.
"""

import argparse
import json
import resource
import time

import torch
import torchvision


def build(arch, classes):
    ctor = getattr(torchvision.models, arch)
    kwargs = {"num_classes": classes}
    if arch.startswith(("mobilenet", "efficientnet")):
        kwargs["dropout"] = 0.0
    try:
        return ctor(weights=None, **kwargs)
    except TypeError:  # torchvision < 0.13
        return ctor(pretrained=False, **kwargs)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", required=True)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--resolution", type=int, default=224)
    p.add_argument("--classes", type=int, default=1000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--optimizer", choices=["sgd", "adamw"], default="sgd")
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)  # as ONNX Runtime's interOpNumThreads in convzoo
    torch.manual_seed(0)
    model = build(a.arch, a.classes).train()
    x = torch.randn(a.batch, 3, a.resolution, a.resolution)
    y = torch.arange(a.batch) % a.classes
    loss_fn = torch.nn.CrossEntropyLoss()
    if a.optimizer == "adamw":
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return (time.perf_counter() - t0) * 1000

    for _ in range(a.warmup):
        step()
    times = [step() for _ in range(a.runs)]
    print(json.dumps({
        "torch": torch.__version__,
        "arch": a.arch,
        "batch": a.batch,
        "resolution": a.resolution,
        "threads": torch.get_num_threads(),
        "times": times,
        "peakRssMB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
