"""torchvision's weights table for the zoo's architectures, read from Debian's torchvision.

`python3 torchvision_weights.py` prints it as JSON (tests/hub/registry.test.ts compares every entry
of src/hub/torchvision.ts with it); `--ts` prints the TypeScript table that file holds.
"""
import json
import math
import sys

from torchvision.models import get_model_weights

ARCHS = ["vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn", "googlenet",
         "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "mobilenet_v2", "mobilenet_v3_large",
         "mobilenet_v3_small"] + [f"efficientnet_b{i}" for i in range(8)] + ["efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l"]


def entries():
    out = []
    for arch in ARCHS:
        enum = get_model_weights(arch)
        for w in enum:
            t = w.transforms()
            metrics = w.meta["_metrics"]["ImageNet-1K"]
            acc1, acc5 = metrics["acc@1"], metrics["acc@5"]
            cats = w.meta["categories"]
            out.append({
                "name": f"{arch}.{w.name}",
                "arch": arch,
                "tag": w.name,
                "url": w.url,
                "default": enum.DEFAULT == w,
                "transforms": {
                    "resizeSize": t.resize_size[0],
                    "cropSize": t.crop_size[0],
                    "interpolation": t.interpolation.value,
                    "mean": list(t.mean),
                    "std": list(t.std),
                },
                "metrics": None if math.isnan(acc1) else {"acc1": acc1, "acc5": acc5},
                "numParams": w.meta["num_params"],
                "minSize": list(w.meta["min_size"]),
                "recipe": w.meta["recipe"],
                "categories": None if cats is None else cats,
            })
    return out


if __name__ == "__main__":
    table = entries()
    if "--ts" not in sys.argv:
        print(json.dumps(table))
        sys.exit(0)
    imagenet = table[0]["categories"]
    rows = []
    for e in table:
        assert e["categories"] in (None, imagenet), e["name"]
        t = e["transforms"]
        m = e["metrics"]
        metrics = f'{{ acc1: {m["acc1"]}, acc5: {m["acc5"]} }}' if m else "null"
        classes = '"imagenet1k"' if e["categories"] else "null"
        fields = [
            f'name: "{e["name"]}"',
            f'url: "{e["url"]}"',
            f'transforms: {{ resizeSize: {t["resizeSize"]}, cropSize: {t["cropSize"]}, interpolation: "{t["interpolation"]}", mean: {json.dumps(t["mean"])}, std: {json.dumps(t["std"])} }}',
            f"metrics: {metrics}",
            f'numParams: {e["numParams"]}',
            f'minSize: {e["minSize"][0]}',
            f'recipe: "{e["recipe"]}"',
            f"classes: {classes}",
        ]
        if e["default"]:
            fields.append("default: true")
        rows.append("  { " + ", ".join(fields) + " },")
    print("\n".join(rows))
