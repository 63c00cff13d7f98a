"""Writes PyTorch checkpoint fixtures for tests/weights/pth.test.ts.

Run with Debian's interpreter (it has python3-torch): /usr/bin/python3 make_pth_fixtures.py OUT_DIR
Writes OUT_DIR/*.pth and OUT_DIR/expected.json: for each readable fixture, each tensor's dtype,
shape and row-major values, in state-dict order. Nothing here is committed as binary.
"""

import collections
import json
import os
import sys
import zipfile

import torch

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)
expected = {}


def describe(sd):
    """name -> {dtype, shape, values} for every tensor value, in order."""
    result = collections.OrderedDict()
    for k, v in sd.items():
        if isinstance(v, torch.Tensor):
            values = v.contiguous().reshape(-1)
            if v.dtype in (torch.float16, torch.bfloat16):
                values = values.float()
            result[k] = {
                "dtype": str(v.dtype).replace("torch.", ""),
                "shape": list(v.shape),
                "values": values.tolist(),
            }
    return result


def save(name, obj, tensors=None):
    torch.save(obj, os.path.join(out, name))
    if tensors is not None:
        expected[name] = describe(tensors)


def rewrite_zip(src, dst, drop=None, replace=None):
    """Copies a torch zip, dropping entries whose name ends with `drop` and replacing others."""
    with zipfile.ZipFile(os.path.join(out, src)) as zin, zipfile.ZipFile(os.path.join(out, dst), "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            if drop is not None and info.filename.endswith(drop):
                continue
            data = zin.read(info.filename)
            if replace is not None and info.filename.endswith(replace[0]):
                data = replace[1]
            zout.writestr(info.filename, data)


def evil_zip(name, pickle_bytes):
    """A zip laid out like torch.save's, whose data.pkl is hand-written."""
    root = name.split(".")[0]
    with zipfile.ZipFile(os.path.join(out, name), "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{root}/data.pkl", pickle_bytes)
        z.writestr(f"{root}/version", "3\n")


# --- every storage dtype -------------------------------------------------------------------------
dtypes = collections.OrderedDict(
    [
        ("f32", torch.randn(2, 3)),
        ("f16", torch.randn(5).half()),
        ("f64", torch.randn(2, 2).double()),
        ("i64", torch.tensor([-3, 0, 2**40, 7])),
        ("i32", torch.tensor([-2**31, 5], dtype=torch.int32)),
        ("i16", torch.tensor([-300, 301], dtype=torch.int16)),
        ("i8", torch.tensor([-128, 127], dtype=torch.int8)),
        ("u8", torch.tensor([0, 255], dtype=torch.uint8)),
        ("bool", torch.tensor([True, False, True])),
        ("bf16", torch.tensor([1.5, -2.25, 3e8]).bfloat16()),
        ("scalar", torch.tensor(2.5)),
        ("empty", torch.zeros(0, 3)),
        ("param", torch.nn.Parameter(torch.randn(3))),  # torch._utils._rebuild_parameter
    ]
)
tagged = torch.randn(2)
tagged.note = "extra attribute"  # newer torch saves such tensors through torch._tensor._rebuild_from_type_v2
dtypes["tagged"] = tagged
save("dtypes.pth", dtypes, dtypes)

# --- views: non-contiguous tensors and tensors sharing one storage with offsets ------------------
base = torch.arange(12.0).reshape(3, 4)
views = collections.OrderedDict(
    [
        ("base", base),
        ("transposed", base.t()),  # stride (1, 4)
        ("slice", base[1:, 2:]),  # storage offset 6, stride (4, 1)
        ("stepped", base[:, ::2]),  # stride (4, 2)
        ("row", base[2]),  # offset 8, contiguous
        ("expanded", torch.arange(3.0).expand(2, 3)),  # stride (0, 1)
        ("permuted", torch.arange(24.0).reshape(2, 3, 4).permute(2, 0, 1)),
    ]
)
save("views.pth", views, views)

# --- a small torchvision-like module, after one training step ------------------------------------
model = torch.nn.Sequential(
    torch.nn.Conv2d(3, 4, 3, bias=False),
    torch.nn.BatchNorm2d(4),
    torch.nn.ReLU(),
    torch.nn.AdaptiveAvgPool2d(1),
    torch.nn.Flatten(),
    torch.nn.Linear(4, 5),
)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
model.train()
model(torch.randn(2, 3, 8, 8)).sum().backward()
optimizer.step()
sd = model.state_dict()  # an OrderedDict with _metadata and num_batches_tracked
save("sequential.pth", sd, sd)
save(
    "wrapped.pth",
    {"epoch": 7, "arch": "tiny", "best_acc": 0.5, "state_dict": sd, "optimizer": optimizer.state_dict()},
    sd,
)
save("model_state_dict.pth", {"model_state_dict": sd, "epoch": 1}, sd)
prefixed = torch.nn.DataParallel(model).state_dict()  # keys "module.0.weight", ...
save("prefixed.pth", prefixed, prefixed)

# --- files that must be refused ------------------------------------------------------------------
save("whole_model.pth", model)  # pickles torch.nn.modules.container.Sequential
# GLOBAL 'os system' + REDUCE, protocol 2.
evil_zip("evil_os.pth", b"\x80\x02cos\nsystem\nX\x0a\x00\x00\x00touch pwnd\x85R.")
# STACK_GLOBAL 'builtins' 'eval' + REDUCE, protocol 4.
evil_zip("evil_eval.pth", b"\x80\x04\x8c\x08builtins\x94\x8c\x04eval\x94\x93\x8c\x031+1\x94\x85\x94R\x94.")
torch.save(sd, os.path.join(out, "legacy.pth"), _use_new_zipfile_serialization=False)
rewrite_zip("sequential.pth", "missing_pkl.pth", drop="/data.pkl")
rewrite_zip("sequential.pth", "missing_storage.pth", drop="/data/0")
torch.jit.script(model).save(os.path.join(out, "scripted.pt"))

with open(os.path.join(out, "expected.json"), "w") as f:
    json.dump(expected, f)
print(json.dumps({"torch": torch.__version__, "files": sorted(os.listdir(out))}))
