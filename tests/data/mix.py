"""Reference for tests/data/mix.test.ts: timm's Mixup in mode 'batch' (timm/data/mixup.py), for given λ.

timm is not installed; its few lines are re-implemented here from its source (one_hot, mixup_target,
rand_bbox with margin 0, cutmix_bbox_and_lam, Mixup._mix_batch), with np.random.randint's two draws
(the box centre) taken as given. Run with Debian's interpreter (/usr/bin/python3), which has torch:

    /usr/bin/python3 mix.py mix IMAGES.f32 B C H W LABELS.json K JOBS.json OUT.f32 OUT.json
    /usr/bin/python3 mix.py beta A N OUT.json

mix: each job is {"kind": "mixup", "lam", "smoothing"} or {"kind": "cutmix", "lam", "cy", "cx",
"smoothing", "correct"}; OUT.f32 receives each job's mixed images then its [B, K] targets (float32);
OUT.json the cutmix boxes [yl, yh, xl, xh] and corrected λ (null for mixup).
beta: N draws of numpy's Beta(A, A) (np.random.seed(0)), as timm's λ.
"""

import json
import sys

import numpy as np
import torch


def one_hot(x, num_classes, on_value=1.0, off_value=0.0):
    x = x.long().view(-1, 1)
    return torch.full((x.size()[0], num_classes), off_value).scatter_(1, x, on_value)


def mixup_target(target, num_classes, lam=1.0, smoothing=0.0):
    off_value = smoothing / num_classes
    on_value = 1.0 - smoothing + off_value
    y1 = one_hot(target, num_classes, on_value=on_value, off_value=off_value)
    y2 = one_hot(target.flip(0), num_classes, on_value=on_value, off_value=off_value)
    return y1 * lam + y2 * (1.0 - lam)


def rand_bbox(img_shape, lam, cy, cx):
    ratio = np.sqrt(1 - lam)
    img_h, img_w = img_shape[-2:]
    cut_h, cut_w = int(img_h * ratio), int(img_w * ratio)
    # timm: cy = np.random.randint(0, img_h); cx = np.random.randint(0, img_w)
    yl = np.clip(cy - cut_h // 2, 0, img_h)
    yh = np.clip(cy + cut_h // 2, 0, img_h)
    xl = np.clip(cx - cut_w // 2, 0, img_w)
    xh = np.clip(cx + cut_w // 2, 0, img_w)
    return yl, yh, xl, xh


def cutmix_bbox_and_lam(img_shape, lam, cy, cx, correct_lam=True):
    yl, yu, xl, xu = rand_bbox(img_shape, lam, cy, cx)
    if correct_lam:
        bbox_area = (yu - yl) * (xu - xl)
        lam = 1.0 - bbox_area / float(img_shape[-2] * img_shape[-1])
    return (yl, yu, xl, xu), lam


def mix(images, b, c, h, w, labels_path, k, jobs_path, out_path, json_path):
    x0 = torch.from_numpy(np.fromfile(images, dtype=np.float32).reshape(int(b), int(c), int(h), int(w)))
    with open(labels_path) as f:
        target = torch.tensor(json.load(f), dtype=torch.int64)
    with open(jobs_path) as f:
        jobs = json.load(f)
    boxes = []
    with open(out_path, "wb") as out:
        for job in jobs:
            x = x0.clone()
            lam = job["lam"]
            if job["kind"] == "cutmix":  # Mixup._mix_batch, use_cutmix
                (yl, yh, xl, xh), lam = cutmix_bbox_and_lam(x.shape, lam, job["cy"], job["cx"], job["correct"])
                x[:, :, yl:yh, xl:xh] = x.flip(0)[:, :, yl:yh, xl:xh]
                boxes.append([int(yl), int(yh), int(xl), int(xh), float(lam)])
            else:
                x_flipped = x.flip(0).mul_(1.0 - lam)
                x.mul_(lam).add_(x_flipped)
                boxes.append(None)
            t = mixup_target(target, int(k), lam, job["smoothing"])
            out.write(x.numpy().tobytes())
            out.write(t.numpy().astype(np.float32).tobytes())
    with open(json_path, "w") as f:
        json.dump(boxes, f)


def beta(a, n, out_path):
    np.random.seed(0)
    with open(out_path, "w") as f:
        json.dump([float(np.random.beta(float(a), float(a))) for _ in range(int(n))], f)


if __name__ == "__main__":
    {"mix": mix, "beta": beta}[sys.argv[1]](*sys.argv[2:])
