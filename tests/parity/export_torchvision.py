"""Writes torchvision reference cases for convzoo's parity tests.

For each case: seeded random weights with randomised BatchNorm statistics, saved with torch.save
(so our .pth reader is exercised on real files), a random input batch, torchvision's logits, and
torchvision's own parameter count and conv + linear MACs (counted with forward hooks).

usage: /usr/bin/python3 export_torchvision.py OUT_DIR CASE [CASE ...]
  CASE = name=arch[,resolution:R][,batch:B][,KEY:VALUE ...]
  resolution (default 224) and batch (default 2) shape the input; every other KEY:VALUE is passed
  to the torchvision constructor (num_classes:10, width_mult:0.5, aux_logits:True …), with ints,
  floats and True/False parsed.
Files per case: NAME.pth, NAME.input.f32, NAME.logits.f32 (raw little-endian float32), NAME.json.
"""
import json
import os
import sys

import torch
import torchvision


def parse_case(text):
    name, _, rest = text.partition("=")
    fields = dict(kv.split(":", 1) for kv in rest.split(",")[1:]) if "," in rest else {}
    return name, rest.split(",")[0], fields


def parse_value(text):
    if text in ("True", "False"):
        return text == "True"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def randomise_batchnorm(model, gen, resolution=64):
    """Realistic, then perturbed BatchNorm statistics.

    Purely random running statistics let activations drift so far through a deep net that its
    logits barely depend on the input (the parity check would then test weights, not the data
    path). So the statistics are first measured on random batches in train mode (cumulative
    average), then perturbed, and the affine parameters randomised, so BN folding and eps are
    still exercised with non-trivial values.
    """
    # Non-zero biases everywhere (torchvision zero-initialises most), so bias handling is tested too.
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) and m.bias is not None:
            m.bias.data = torch.randn(m.bias.shape, generator=gen) * 0.05
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    saved = [m.momentum for m in bns]
    for m in bns:
        n = m.num_features
        # Affine parameters first, so the statistics measured next fit the network as it will be.
        # A γ the constructor zeroed (zero_init_residual) ends a residual branch: keep it small, as
        # in trained ResNets, or 50 unit-variance branches summed make the logits of a deep net
        # cancel down to where float32 rounding (torch's own too) exceeds the 1e-4 tolerance.
        low, high = (0.05, 0.2) if bool((m.weight == 0).all()) else (0.8, 1.25)
        m.weight.data = torch.empty(n).uniform_(low, high, generator=gen)
        m.bias.data = torch.randn(n, generator=gen) * 0.1
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average over the calibration batches
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(4, 3, resolution, resolution, generator=gen))
    model.eval()
    for m, momentum in zip(bns, saved):
        n = m.num_features
        m.momentum = momentum
        # A channel that was (nearly) constant on the calibration batches would get a huge 1/σ and
        # turn float32 rounding into visible error; real trained nets have no such channels.
        m.running_var.clamp_(min=0.05 * float(m.running_var.mean()) + 1e-3)
        m.running_mean += torch.randn(n, generator=gen) * 0.1 * m.running_var.sqrt()
        m.running_var *= torch.empty(n).uniform_(0.8, 1.25, generator=gen)
        m.num_batches_tracked = torch.tensor(7, dtype=torch.long)


def count_macs(model, x):
    total = [0]

    def conv_hook(m, _inp, out):
        per_image = out.numel() // out.shape[0]
        total[0] += per_image * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def linear_hook(m, _inp, _out):
        total[0] += m.in_features * m.out_features

    handles = []
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, torch.nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    with torch.no_grad():
        model(x[:1])
    for h in handles:
        h.remove()
    return total[0]


def export_case(out_dir, name, arch, fields):
    resolution = int(fields.get("resolution", 224))
    batch = int(fields.get("batch", 2))
    kwargs = {k: parse_value(v) for k, v in fields.items() if k not in ("resolution", "batch")}
    kwargs.setdefault("num_classes", 1000)
    torch.manual_seed(1234)
    gen = torch.Generator().manual_seed(4321)
    model = getattr(torchvision.models, arch)(weights=None, **kwargs)
    randomise_batchnorm(model, gen, resolution)
    model.eval()
    x = torch.randn(batch, 3, resolution, resolution, generator=gen)
    with torch.no_grad():
        logits = model(x)
    torch.save(model.state_dict(), os.path.join(out_dir, name + ".pth"))
    x.numpy().astype("<f4").tofile(os.path.join(out_dir, name + ".input.f32"))
    logits.numpy().astype("<f4").tofile(os.path.join(out_dir, name + ".logits.f32"))
    meta = {
        "name": name,
        "arch": arch,
        "resolution": resolution,
        "batch": batch,
        "numClasses": kwargs["num_classes"],
        "widthMult": kwargs.get("width_mult"),
        "params": sum(p.numel() for p in model.parameters()),
        "macs": count_macs(model, x),
        "logitsShape": list(logits.shape),
    }
    with open(os.path.join(out_dir, name + ".json"), "w") as f:
        json.dump(meta, f)


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(2)
    for text in sys.argv[2:]:
        name, arch, fields = parse_case(text)
        export_case(out_dir, name, arch, fields)
        print("exported", name, flush=True)


if __name__ == "__main__":
    main()
