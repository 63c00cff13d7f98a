/**
 * A tiny VGG-style classifier for the training-recipe tests (torch_recipe.py builds the same in torch.nn):
 * features = conv3x3(3→8), [BN], ReLU, max-pool, conv3x3(8→16), [BN], ReLU, max-pool; global average pool;
 * classifier = Linear(16, 12), ReLU, Linear(12, K). `test_tiny` has no BatchNorm, `test_tiny_bn` has.
 */
import * as ops from "../../src/graph/ops.js";
import type { Value } from "../../src/graph/ir.js";
import "../../src/models/index.js";
import { makeLayers } from "../../src/models/vgg.js";
import { registerArch, listArchs } from "../../src/models/registry.js";
import type { ForwardContext } from "../../src/nn/context.js";
import { AdaptiveAvgPool2d, Linear, ReLU, Sequential } from "../../src/nn/layers.js";
import { Module } from "../../src/nn/module.js";

class Tiny extends Module {
  readonly features: Sequential;
  readonly avgpool: AdaptiveAvgPool2d;
  readonly classifier: Sequential;
  constructor(features: Sequential, numClasses: number) {
    super();
    this.features = this.addModule("features", features);
    this.avgpool = this.addModule("avgpool", new AdaptiveAvgPool2d(1));
    this.classifier = this.addModule("classifier", new Sequential(new Linear(16, 12), new ReLU(), new Linear(12, numClasses)));
  }
  forward(ctx: ForwardContext, x: Value): Value {
    const y = ctx.call(this.avgpool, ctx.call(this.features, x));
    return ctx.call(this.classifier, ops.flatten(ctx.g, y, 1));
  }
}

for (const bn of [false, true]) {
  const name = bn ? "test_tiny_bn" : "test_tiny";
  if (listArchs().some((a) => a.name === name)) continue;
  registerArch({
    name,
    family: "test",
    description: "a tiny VGG-style test network",
    defaultResolution: 16,
    minResolution: 4,
    build: (o) => {
      const { features, stages } = makeLayers([8, "M", 16, "M"], bn);
      return { net: new Tiny(features, o.numClasses), classifier: "classifier.2", head: ["classifier"], stages };
    },
  });
}
