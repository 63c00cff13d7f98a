"""The PyTorch recipe of bench/small_data.ts: fastai's `fine_tune`, written in plain torch.

Run with Debian's interpreter (torch 1.13, torchvision 0.14), e.g.
    /usr/bin/python3 bench/torch_small_data.py --train T/train --test T/test \
        --weights pretrained.safetensors --lr 2e-3 --epochs 30 --seed 0

What it does (fastai 2's `Learner.fine_tune(epochs, base_lr, freeze_epochs=1, lr_mult=100,
pct_start=0.3, div=5)` with `cnn_learner`'s defaults, on torchvision's mobilenet_v3_small):
  - images: resize the shorter side to R (bilinear), centre-crop R, the checkpoint's mean/std
    (ImageNet's without a checkpoint); training images get RandomResizedCrop(R, scale=(0.5, 1))
    and, with --flip, a horizontal flip (digits are not mirror-symmetric: the bench leaves it off
    for MNIST); --no-augment leaves them as they are;
  - weights: every tensor of the checkpoint whose name and shape match torchvision's model (a
    convzoo checkpoint's keys are torchvision's), so the last classifier layer starts afresh for the
    new classes, as convzoo does;
  - with weights: 1 epoch with the backbone (`features`) frozen but its BatchNorm layers training
    (fastai's train_bn), one-cycle at base_lr with pct_start 0.99; then everything trains for
    --epochs epochs of one-cycle (pct_start 0.3, div 5) at base_lr / 2 with discriminative rates
    (fastai's slice(lr / 100, lr) over three groups: features[:7], features[7:], classifier →
    lr/100, lr/10, lr);
  - without weights: one-cycle at base_lr over everything for --epochs epochs (fastai's
    fit_one_cycle: pct_start 0.25, div 25);
  - AdamW (fastai's: eps 1e-5, weight decay 0.01 decoupled, none on BatchNorm and biases), beta1
    cycled 0.95 → 0.85 → 0.95 with the one-cycle; cross-entropy; shuffled batches, the last
    incomplete one dropped (fastai's training DataLoader);
  - at the end, BatchNorm running statistics recomputed over the (unaugmented) training images
    (torch.optim.swa_utils.update_bn), then top-1 on --test (and --val when given).
Prints one JSON object: {"testTop1", "valTop1", "trainSeconds", "evalSeconds", "steps", "batch", ...}.
"""

import argparse
import json
import math
import os
import struct
import sys
import time

T0 = time.perf_counter()

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torchvision  # noqa: E402
from PIL import Image  # noqa: E402
from torch import nn  # noqa: E402
from torchvision import transforms as T  # noqa: E402

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def read_safetensors(path):
    """A tiny safetensors reader: 8-byte little-endian header length, JSON header, raw tensors."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    base = 8 + n
    dtypes = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64, "I32": np.int32}
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        if info["dtype"] not in dtypes:
            continue
        array = np.frombuffer(data[base + begin : base + end], dtype=dtypes[info["dtype"]]).reshape(info["shape"])
        tensors[name] = torch.from_numpy(array.copy())
    return tensors, meta


def preprocessing_of(meta):
    """The checkpoint's mean/std (convzoo records its preprocessing in the metadata)."""
    mean, std = IMAGENET_MEAN, IMAGENET_STD
    for key in ("preprocessing", "convzoo"):
        raw = meta.get(key)
        if not raw:
            continue
        try:
            value = json.loads(raw)
        except ValueError:
            continue
        p = value.get("preprocessing", value) if isinstance(value, dict) else None
        if isinstance(p, dict) and "mean" in p and "std" in p:
            return p["mean"], p["std"]
    return mean, std


def read_folder(root, classes=None):
    """ImageFolder order: classes sorted, files sorted; returns uint8 [N, 3, H, W] images and labels."""
    names = classes or sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    images, labels = [], []
    for label, name in enumerate(names):
        folder = os.path.join(root, name)
        for file in sorted(os.listdir(folder)):
            if file.lower().endswith(IMAGE_EXTENSIONS):
                images.append(Image.open(os.path.join(folder, file)).convert("RGB"))
                labels.append(label)
    return names, images, torch.tensor(labels, dtype=torch.long)


def to_tensor(images, resolution):
    """Resize the shorter side to R (bilinear) and centre-crop R, as convzoo's evaluation does."""
    t = T.Compose([T.Resize(resolution, interpolation=T.InterpolationMode.BILINEAR), T.CenterCrop(resolution), T.PILToTensor()])
    return torch.stack([t(im) for im in images])


def param_groups(model, lrs, weight_decay):
    """fastai's splits (three layer groups), no weight decay on BatchNorm parameters and biases."""
    parts = [model.features[:7], model.features[7:], model.classifier]
    groups = []
    for part, lr in zip(parts, lrs):
        decay, no_decay = [], []
        for m in part.modules():
            for name, p in m.named_parameters(recurse=False):
                if not p.requires_grad:
                    continue
                (no_decay if isinstance(m, nn.BatchNorm2d) or name == "bias" else decay).append(p)
        if decay:
            groups.append({"params": decay, "lr": lr, "weight_decay": weight_decay})
        if no_decay:
            groups.append({"params": no_decay, "lr": lr, "weight_decay": 0.0})
    return groups


def fit_one_cycle(model, batches, epochs, lrs, pct_start, div, augment, normalize, generator):
    optimizer = torch.optim.AdamW(param_groups(model, lrs, 0.01), eps=1e-5, betas=(0.95, 0.99))
    max_lr = [g["lr"] for g in optimizer.param_groups]
    total = epochs * batches.steps_per_epoch
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=max_lr,
        total_steps=total,
        pct_start=pct_start,
        div_factor=div,
        final_div_factor=1e5,
        anneal_strategy="cos",
        cycle_momentum=True,
        base_momentum=0.85,
        max_momentum=0.95,
    )
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    steps = 0
    for _ in range(epochs):
        for x, y in batches.epoch(generator):
            x = normalize(torch.stack([augment(img) for img in x]).float() / 255)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            schedule.step()
            steps += 1
    return steps


class Batches:
    """Shuffled batches, the last incomplete one dropped (fastai's training DataLoader)."""

    def __init__(self, images, labels, batch):
        self.images, self.labels, self.batch = images, labels, batch
        self.steps_per_epoch = max(1, len(labels) // batch)

    def epoch(self, generator):
        order = torch.randperm(len(self.labels), generator=generator)
        for i in range(self.steps_per_epoch):
            idx = order[i * self.batch : (i + 1) * self.batch]
            yield self.images[idx], self.labels[idx]


@torch.no_grad()
def top1(model, images, labels, normalize):
    model.eval()
    correct = 0
    for i in range(0, len(labels), 100):
        x = normalize(images[i : i + 100].float() / 255)
        correct += (model(x).argmax(1) == labels[i : i + 100]).sum().item()
    return correct / len(labels)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--val")
    ap.add_argument("--weights")
    ap.add_argument("--arch", default="mobilenet_v3_small")
    ap.add_argument("--resolution", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3, help="fastai's base_lr (fine_tune halves it after the frozen epoch)")
    ap.add_argument("--epochs", type=int, default=0, help="epochs after unfreezing (0: about 300 steps, 8–60 epochs)")
    ap.add_argument("--freeze-epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=0, help="0: the largest power of two ≤ n/8 within 4–16")
    ap.add_argument("--flip", action="store_true")
    ap.add_argument("--no-augment", action="store_true", help="no crop or flip (the search may choose it, as it may for convzoo)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    if a.arch != "mobilenet_v3_small":
        sys.exit(f"torch_small_data.py: only mobilenet_v3_small is wired (its layer groups), got {a.arch}")
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    generator = torch.Generator().manual_seed(a.seed)

    classes, train_images, train_labels = read_folder(a.train)
    train = to_tensor(train_images, a.resolution)
    n = len(train_labels)
    batch = a.batch or max(4, min(16, 2 ** int(math.floor(math.log2(max(1, n / 8))))))
    batches = Batches(train, train_labels, batch)
    epochs = a.epochs or max(8, min(60, round(300 / batches.steps_per_epoch)))

    state, meta = read_safetensors(a.weights) if a.weights else ({}, {})
    mean, std = preprocessing_of(meta)
    normalize = T.Normalize(mean, std)
    r = a.resolution
    augment = T.Compose(
        [T.RandomResizedCrop(r, scale=(0.5, 1.0), interpolation=T.InterpolationMode.BILINEAR)]
        + ([T.RandomHorizontalFlip()] if a.flip else [])
    )
    if a.no_augment:
        augment = lambda img: img  # noqa: E731

    model = torchvision.models.mobilenet_v3_small(num_classes=len(classes))
    loaded = 0
    if a.weights:
        own = model.state_dict()
        matched = {k: v for k, v in state.items() if k in own and tuple(own[k].shape) == tuple(v.shape)}
        own.update(matched)
        model.load_state_dict(own)
        loaded = len(matched)

    steps = 0
    if a.weights:
        # Frozen backbone, BatchNorm still training (fastai's train_bn); one-cycle at base_lr.
        for m in model.features.modules():
            for p in m.parameters(recurse=False):
                p.requires_grad = isinstance(m, nn.BatchNorm2d)
        steps += fit_one_cycle(model, batches, a.freeze_epochs, [a.lr] * 3, 0.99, 25.0, augment, normalize, generator)
        for p in model.parameters():
            p.requires_grad = True
        lr = a.lr / 2
        steps += fit_one_cycle(model, batches, epochs, [lr / 100, lr / 10, lr], 0.3, 5.0, augment, normalize, generator)
    else:
        steps += fit_one_cycle(model, batches, epochs, [a.lr] * 3, 0.25, 25.0, augment, normalize, generator)

    # BatchNorm statistics from the training images (mobilenet_v3's momentum 0.01 cannot converge in a few hundred steps).
    loader = [normalize(train[i : i + 64].float() / 255) for i in range(0, n, 64)]
    torch.optim.swa_utils.update_bn(loader, model)
    train_seconds = time.perf_counter() - T0

    t1 = time.perf_counter()
    _, test_images, test_labels = read_folder(a.test, classes)
    result = {
        "testTop1": top1(model, to_tensor(test_images, r), test_labels, normalize),
        "testImages": len(test_labels),
    }
    if a.val:
        _, val_images, val_labels = read_folder(a.val, classes)
        result["valTop1"] = top1(model, to_tensor(val_images, r), val_labels, normalize)
    result.update(
        {
            "trainSeconds": train_seconds,
            "evalSeconds": time.perf_counter() - t1,
            "trainImages": n,
            "batch": batch,
            "epochs": epochs,
            "freezeEpochs": a.freeze_epochs if a.weights else 0,
            "steps": steps,
            "lr": a.lr,
            "augment": not a.no_augment,
            "loadedTensors": loaded,
            "mean": mean,
            "std": std,
            "torch": torch.__version__,
        }
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
