"""PyTorch CPU baseline for bench/grad_ops.ts: times the backward of single ops.

Run with Debian's interpreter (the torch we compare against). bench/grad_ops.ts keeps one
`--serve` process and sends it requests between its own ONNX Runtime runs, so both sides see the
same machine load (shared machines are noisy):
    /usr/bin/python3 bench/torch_grad_ops.py --serve --threads 2
    stdin, one JSON per line:  {"case": {...}, "part": "dx", "runs": 3, "warmup": 1}
    stdout, one JSON per line: {"ms": [...]}
or alone, for a quick look:
    /usr/bin/python3 bench/torch_grad_ops.py --threads 2 --runs 7 < cases.json

A case is {"name", "op": "conv"|"maxpool"|"relu"|"bn", ...shape fields}. For a conv the parts are
aten.convolution_backward with output_mask (input grad only "dx", weight grad only "dw", both
"dx+dw") and "forward"; for a max-pool, max_pool2d_with_indices_backward ("dx") and the forward;
for relu, threshold_backward; for bn, native_batch_norm_backward in training mode. Random normal
tensors; speed does not depend on values.
"""

import argparse
import json
import sys
import time

import torch


def timed(fn, warmup, runs):
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def conv_parts(c):
    n, cin, cout, h, k = c["n"], c["cin"], c["cout"], c["h"], c["k"]
    s, p, d, groups = c["stride"], c["pad"], c.get("dil", 1), c.get("groups", 1)
    x = torch.randn(n, cin, h, h)
    w = torch.randn(cout, cin // groups, k, k)
    y = torch.nn.functional.conv2d(x, w, None, s, p, d, groups)
    dy = torch.randn_like(y)
    bw = torch.ops.aten.convolution_backward

    def back(mask):
        return lambda: bw(dy, x, w, None, [s, s], [p, p], [d, d], False, [0, 0], groups, mask)

    return {
        "forward": lambda: torch.nn.functional.conv2d(x, w, None, s, p, d, groups),
        "dx": back([True, False, False]),
        "dw": back([False, True, False]),
        "dx+dw": back([True, True, False]),
    }


def maxpool_parts(c):
    n, ch, h, k, s, p = c["n"], c["c"], c["h"], c["k"], c["stride"], c["pad"]
    ceil = bool(c.get("ceil", False))
    x = torch.randn(n, ch, h, h)
    y, idx = torch.ops.aten.max_pool2d_with_indices(x, [k, k], [s, s], [p, p], [1, 1], ceil)
    dy = torch.randn_like(y)
    return {
        "forward": lambda: torch.ops.aten.max_pool2d_with_indices(x, [k, k], [s, s], [p, p], [1, 1], ceil),
        "dx": lambda: torch.ops.aten.max_pool2d_with_indices_backward(dy, x, [k, k], [s, s], [p, p], [1, 1], ceil, idx),
    }


def relu_parts(c):
    x = torch.randn(c["n"], c["c"], c["h"], c["h"])
    y = torch.relu(x)
    dy = torch.randn_like(y)
    return {"dx": lambda: torch.ops.aten.threshold_backward(dy, y, 0.0)}


def bn_parts(c):
    x = torch.randn(c["n"], c["c"], c["h"], c["h"])
    w = torch.randn(c["c"])
    b = torch.randn(c["c"])
    rm, rv = torch.zeros(c["c"]), torch.ones(c["c"])
    y, mean, invstd = torch.ops.aten.native_batch_norm(x, w, b, rm, rv, True, 0.1, 1e-5)[:3]
    dy = torch.randn_like(y)
    return {
        "forward": lambda: torch.ops.aten.native_batch_norm(x, w, b, rm, rv, True, 0.1, 1e-5),
        "dx+dw": lambda: torch.ops.aten.native_batch_norm_backward(dy, x, w, rm, rv, mean, invstd, True, 1e-5, [True, True, True]),
    }


PARTS = {"conv": conv_parts, "maxpool": maxpool_parts, "relu": relu_parts, "bn": bn_parts}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--serve", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    torch.set_grad_enabled(False)
    if a.serve:
        cache = {}
        print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
        for line in sys.stdin:
            req = json.loads(line)
            c = req["case"]
            if c["name"] not in cache:
                cache.clear()  # one case's tensors at a time
                cache[c["name"]] = PARTS[c["op"]](c)
            fn = cache[c["name"]][req["part"]]
            print(json.dumps({"ms": timed(fn, req.get("warmup", 1), req.get("runs", 3))}), flush=True)
        return
    cases = json.load(sys.stdin)
    result = {}
    with torch.no_grad():
        for c in cases:
            parts = PARTS[c["op"]](c)
            result[c["name"]] = {part: timed(fn, a.warmup, a.runs) for part, fn in parts.items()}
    json.dump({"torch": torch.__version__, "threads": a.threads, "results": result}, sys.stdout)


if __name__ == "__main__":
    main()
