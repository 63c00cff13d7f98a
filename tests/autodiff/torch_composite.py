"""torch.autograd reference for tests/autodiff/torch.test.ts.

usage: /usr/bin/python3 torch_composite.py DIR
DIR/manifest.json names the case, its labels and its tensors (shape per name); each tensor is a raw
little-endian float32 file DIR/<name>.f32 written by the TypeScript test. This script runs the same
network in float32 with torch.autograd and writes DIR/grad_<name>.f32 for every tensor and
DIR/loss.json. BatchNorm runs in training mode (batch statistics, biased variance for the
normalisation, as PyTorch does).
"""
import json
import os
import sys

import torch
import torch.nn.functional as F


def bn(x, t, name, eps=1e-5):
    return F.batch_norm(x, None, None, t[name + ".weight"], t[name + ".bias"], training=True, eps=eps)


def resnet_chain(t, labels):
    # conv-bn-relu-maxpool, a strided 3x3 conv with a 1x1 strided shortcut, relu, gap, linear, NLL.
    y = F.conv2d(t["x"], t["conv1.weight"], t["conv1.bias"], stride=1, padding=1)
    y = F.relu(bn(y, t, "bn1"))
    y = F.max_pool2d(y, 3, 2, 1)
    main = F.conv2d(y, t["conv2.weight"], None, stride=2, padding=1)
    short = F.conv2d(y, t["down.weight"], None, stride=2)
    y = F.relu(main + short)
    y = torch.flatten(F.adaptive_avg_pool2d(y, 1), 1)
    logits = F.linear(y, t["fc.weight"], t["fc.bias"])
    return F.nll_loss(F.log_softmax(logits, 1), labels)


def mobilenet_chain(t, labels):
    # conv s2-bn-relu6, depthwise-bn-hardswish, SE (hardsigmoid gate), concat with an avg-pool branch,
    # 1x1 project-bn + residual, depthwise s2, sigmoid, gap, linear, NLL.
    y = F.relu6(bn(F.conv2d(t["x"], t["stem.weight"], None, stride=2, padding=1), t, "stem_bn"))
    z = F.hardswish(bn(F.conv2d(y, t["dw.weight"], None, stride=1, padding=1, groups=8), t, "dw_bn", eps=1e-3))
    s = F.adaptive_avg_pool2d(z, 1)
    s = F.relu(F.conv2d(s, t["se.fc1.weight"], t["se.fc1.bias"]))
    s = F.hardsigmoid(F.conv2d(s, t["se.fc2.weight"], t["se.fc2.bias"]))
    z = z * s
    z = torch.cat([z, F.avg_pool2d(z, 3, 1, 1)], 1)
    z = bn(F.conv2d(z, t["project.weight"], None), t, "project_bn") + y
    z = torch.sigmoid(F.conv2d(z, t["dw2.weight"], t["dw2.bias"], stride=2, padding=1, groups=8))
    z = torch.flatten(F.adaptive_avg_pool2d(z, 1), 1)
    logits = F.linear(z, t["fc.weight"], t["fc.bias"])
    return F.nll_loss(F.log_softmax(logits, 1), labels)


CASES = {"resnet_chain": resnet_chain, "mobilenet_chain": mobilenet_chain}


def main():
    d = sys.argv[1]
    with open(os.path.join(d, "manifest.json")) as f:
        m = json.load(f)
    tensors = {}
    for name, shape in m["tensors"].items():
        with open(os.path.join(d, name + ".f32"), "rb") as f:
            data = torch.frombuffer(bytearray(f.read()), dtype=torch.float32)
        tensors[name] = data.reshape(shape).clone().requires_grad_(True)
    labels = torch.tensor(m["labels"], dtype=torch.int64)
    loss = CASES[m["case"]](tensors, labels)
    loss.backward()
    for name, t in tensors.items():
        with open(os.path.join(d, "grad_" + name + ".f32"), "wb") as f:
            f.write(t.grad.detach().contiguous().numpy().astype("<f4").tobytes())
    with open(os.path.join(d, "loss.json"), "w") as f:
        json.dump({"loss": loss.item()}, f)


if __name__ == "__main__":
    main()
