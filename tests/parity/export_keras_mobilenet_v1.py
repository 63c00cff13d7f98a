"""Writes Keras MobileNet V1 reference cases for convzoo's parity test.

Keras's MobileNet V1 (keras/applications/mobilenet.py) as data: seeded random weights in Keras's
own layout and tensor orders (conv kernels H, W, in, out; depthwise kernels H, W, C, 1; the 1x1
`conv_preds` classifier with a bias; BatchNormalization gamma/beta/moving_mean/moving_variance,
randomised), saved with h5py as Keras saves them (legacy HDF5):

  layout "model"   (`model.save`):   /model_weights/<layer>/<layer>/kernel:0, attrs on /model_weights
  layout "weights" (`save_weights`, the keras-applications files): /<layer>/<layer>/kernel:0, attrs on /

with the `layer_names` attribute listing every layer in order (weightless ones too) and each layer
group's `weight_names` attribute naming its datasets. The reference forward is plain torch written
from Keras's layer graph: ZeroPadding2D(((0, 1), (0, 1))) then a 'valid' conv at stride 2 (F.pad),
'same' (symmetric 1) at stride 1, BatchNormalization with epsilon 1e-3, ReLU6, global average
pooling, dropout off (inference), the 1x1 conv_preds and a reshape to [N, classes]. It converts
Keras's tensors to torch's layout itself, independently of convzoo's reader.

usage: /usr/bin/python3 export_keras_mobilenet_v1.py OUT_DIR NAME:ALPHA:ROWS:LAYOUT [...]
Files per case: NAME.h5, NAME.input.f32 (2 images, NCHW, as the network sees them: in [-1, 1]),
NAME.logits.f32 (raw little-endian float32), NAME.json.
"""
import json
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

# Keras's _depthwise_conv_block calls: (pointwise filters, stride), block ids 1..13.
BLOCKS = [
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
]
CLASSES = 1000
BN_EPSILON = 1e-3  # Keras BatchNormalization's default


def build_weights(alpha, rng):
    """Keras layer name -> list of (weight name, numpy array), plus the ordered layer names."""
    layers = []  # (layer name, [(weight name, array)])

    def conv_kernel(h, w, cin, cout):
        return (rng.standard_normal((h, w, cin, cout)) * np.sqrt(2.0 / (h * w * cin))).astype(np.float32)

    def bn(c):
        return [
            ("gamma", rng.uniform(0.5, 1.5, c).astype(np.float32)),
            ("beta", rng.normal(0.0, 0.2, c).astype(np.float32)),
            ("moving_mean", rng.normal(0.0, 0.2, c).astype(np.float32)),
            ("moving_variance", rng.uniform(0.5, 1.5, c).astype(np.float32)),
        ]

    filters = int(32 * alpha)
    layers += [("input_1", []), ("conv1_pad", []), ("conv1", [("kernel", conv_kernel(3, 3, 3, filters))])]
    layers += [("conv1_bn", bn(filters)), ("conv1_relu", [])]
    cin = filters
    for block_id, (pointwise, stride) in enumerate(BLOCKS, start=1):
        cout = int(pointwise * alpha)
        if stride == 2:
            layers.append(("conv_pad_%d" % block_id, []))
        dw = (rng.standard_normal((3, 3, cin, 1)) * np.sqrt(2.0 / 9)).astype(np.float32)
        layers += [("conv_dw_%d" % block_id, [("depthwise_kernel", dw)]), ("conv_dw_%d_bn" % block_id, bn(cin))]
        layers += [("conv_dw_%d_relu" % block_id, [])]
        layers += [("conv_pw_%d" % block_id, [("kernel", conv_kernel(1, 1, cin, cout))]), ("conv_pw_%d_bn" % block_id, bn(cout))]
        layers += [("conv_pw_%d_relu" % block_id, [])]
        cin = cout
    preds = [("kernel", conv_kernel(1, 1, cin, CLASSES)), ("bias", rng.normal(0.0, 0.1, CLASSES).astype(np.float32))]
    layers += [("global_average_pooling2d_1", []), ("reshape_1", []), ("dropout", []), ("conv_preds", preds)]
    layers += [("act_softmax", []), ("reshape_2", [])]
    return layers


def write_h5(path, layers, layout):
    with h5py.File(path, "w") as f:
        if layout == "model":
            f.attrs["keras_version"] = b"2.2.4"
            f.attrs["backend"] = b"tensorflow"
            f.attrs["model_config"] = json.dumps({"class_name": "Model", "config": {"name": "mobilenet"}}).encode("utf8")
            root = f.create_group("model_weights")
        else:
            assert layout == "weights", layout
            root = f
        root.attrs["layer_names"] = np.array([name.encode("utf8") for name, _ in layers])
        root.attrs["backend"] = b"tensorflow"
        root.attrs["keras_version"] = b"2.2.4"
        for name, weights in layers:
            g = root.create_group(name)
            names = ["%s/%s:0" % (name, w) for w, _ in weights]
            # Keras stores np.asarray(names): an empty float array for weightless layers.
            g.attrs["weight_names"] = np.array([n.encode("utf8") for n in names]) if names else np.array([])
            for full, (_, value) in zip(names, weights):
                g.create_dataset(full, data=value)


def forward(layers, x, tf_padding=True, calibrate=None):
    """
    Keras's MobileNet V1 in plain torch (NCHW), from Keras-layout weights. With `calibrate` (a numpy
    Generator), each BatchNormalization's moving statistics are first set near the batch's own, randomly
    perturbed, as a trained network's are: the activations then neither die nor saturate at 6, so the
    logits depend on the image rather than on the biases alone.
    """
    w = {name: dict(weights) for name, weights in layers}
    t = lambda a: torch.from_numpy(a)  # noqa: E731

    def conv(x, kernel, stride, depthwise=False):
        k = t(kernel)
        # Keras HWIO -> torch OIHW; depthwise (H, W, C, 1) -> (C, 1, H, W).
        k = k.permute(2, 3, 0, 1) if depthwise else k.permute(3, 2, 0, 1)
        groups = x.shape[1] if depthwise else 1
        size = kernel.shape[0]
        if stride == 2 and tf_padding:
            return F.conv2d(F.pad(x, (0, 1, 0, 1)), k, stride=2, padding=0, groups=groups)
        return F.conv2d(x, k, stride=stride, padding=(size - 1) // 2, groups=groups)

    def bn_relu6(x, name):
        p = w[name]
        if calibrate is not None:
            mean, var = x.mean(dim=(0, 2, 3)).numpy(), x.var(dim=(0, 2, 3)).numpy()
            c = mean.shape[0]
            p["moving_mean"][:] = mean + 0.1 * np.sqrt(var) * calibrate.standard_normal(c)
            p["moving_variance"][:] = var * calibrate.uniform(0.7, 1.3, c) + 1e-3
        y = F.batch_norm(x, t(p["moving_mean"]), t(p["moving_variance"]), t(p["gamma"]), t(p["beta"]), False, 0.0, BN_EPSILON)
        return torch.clamp(y, 0.0, 6.0)

    x = bn_relu6(conv(x, w["conv1"]["kernel"], 2), "conv1_bn")
    for block_id, (_, stride) in enumerate(BLOCKS, start=1):
        x = bn_relu6(conv(x, w["conv_dw_%d" % block_id]["depthwise_kernel"], stride, depthwise=True), "conv_dw_%d_bn" % block_id)
        x = bn_relu6(conv(x, w["conv_pw_%d" % block_id]["kernel"], 1), "conv_pw_%d_bn" % block_id)
    x = x.mean(dim=(2, 3), keepdim=True)  # GlobalAveragePooling2D + Reshape((1, 1, C)); Dropout is identity at inference
    x = F.conv2d(x, t(w["conv_preds"]["kernel"]).permute(3, 2, 0, 1), t(w["conv_preds"]["bias"]))
    return x.reshape(x.shape[0], CLASSES)  # reshape_2; act_softmax is applied after (logits compared here)


def export_case(out_dir, name, alpha, rows, layout):
    rng = np.random.default_rng(20240 + int(alpha * 100) + rows)
    layers = build_weights(alpha, rng)
    # Two different images, already scaled to [-1, 1] as mobilenet.preprocess_input does (x / 127.5 - 1).
    # Image 0 is noise; image 1 smooth colour gradients with a bright square (different statistics, so the
    # pooled features, and the logits, differ clearly).
    pixels = np.empty((2, 3, rows, rows), dtype=np.float32)
    pixels[0] = rng.integers(0, 256, size=(3, rows, rows))
    ramp = np.linspace(0.0, 1.0, rows, dtype=np.float32)
    pixels[1, 0] = 255.0 * ramp[None, :]
    pixels[1, 1] = 255.0 * ramp[:, None]
    pixels[1, 2] = 127.5 + 127.5 * np.sin(12.0 * ramp[:, None] + 5.0 * ramp[None, :])
    pixels[1, :, rows // 4 : rows // 2, rows // 3 : rows // 2] = 250.0
    x = torch.from_numpy(pixels / 127.5 - 1.0)
    with torch.no_grad():
        forward(layers, x, calibrate=rng)
        logits = forward(layers, x)
        symmetric = forward(layers, x, tf_padding=False)
        probs = torch.softmax(logits, dim=1)
    write_h5(os.path.join(out_dir, name + ".h5"), layers, layout)
    x.numpy().astype("<f4").tofile(os.path.join(out_dir, name + ".input.f32"))
    logits.numpy().astype("<f4").tofile(os.path.join(out_dir, name + ".logits.f32"))
    count = lambda pred: sum(int(a.size) for layer, ws in layers for wn, a in ws if pred(wn))  # noqa: E731
    meta = {
        "name": name,
        "alpha": alpha,
        "rows": rows,
        "layout": layout,
        "batch": 2,
        # Keras's count_params(): every weight; trainable ones exclude the BN moving statistics.
        "kerasParams": count(lambda wn: True),
        "kerasTrainable": count(lambda wn: not wn.startswith("moving_")),
        # How far PyTorch's symmetric padding lands from the reference: the test must be able to tell.
        "symmetricMaxDiff": float((symmetric - logits).abs().max()),
        "top1": [int(i) for i in probs.argmax(dim=1)],
    }
    with open(os.path.join(out_dir, name + ".json"), "w") as f:
        json.dump(meta, f)


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(2)
    for text in sys.argv[2:]:
        name, alpha, rows, layout = text.split(":")
        export_case(out_dir, name, float(alpha), int(rows), layout)
        print("exported", name, flush=True)


if __name__ == "__main__":
    main()
