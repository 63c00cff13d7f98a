/**
 * `--unfreeze-stages K` (unfreezeStagesPrefixes): per family, the frozen prefixes are the ones a
 * person reading the architecture would write down, and — checked by a second, independent
 * mechanism — the parameters left trainable are exactly those first used after the cut stage's last
 * parameter in the order a training forward pass binds them.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Graph } from "../../src/graph/ir.js";
import { createModel } from "../../src/models/index.js";
import type { Model } from "../../src/models/model.js";
import { ForwardContext } from "../../src/nn/context.js";
import type { Parameter } from "../../src/nn/parameter.js";
import { underPrefix } from "../../src/models/bind.js";
import { frozenPrefixes, unfreezeStagesPrefixes } from "../../src/transfer/strategy.js";

const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
const features = (...ix: number[]) => ix.map((i) => `features.${i}`);

test("unfreeze-stages: resnet18 — K=1 trains layer4 + fc, K=2 layer3, layer4 + fc", () => {
  const m = createModel("resnet18");
  assert.deepEqual(m.stages, ["relu", "layer1", "layer2", "layer3", "layer4"]);
  assert.deepEqual(unfreezeStagesPrefixes(m, 1), ["conv1", "bn1", "layer1", "layer2", "layer3"]);
  assert.deepEqual(unfreezeStagesPrefixes(m, 2), ["conv1", "bn1", "layer1", "layer2"]);
  assert.deepEqual(unfreezeStagesPrefixes(m, 4), ["conv1", "bn1"]);
  assert.deepEqual(unfreezeStagesPrefixes(m, 0), frozenPrefixes(m, "head"));
  assert.deepEqual(unfreezeStagesPrefixes(m, 5), []);
  assert.deepEqual(unfreezeStagesPrefixes(m, 9), []);
});

test("unfreeze-stages: mobilenet_v2 K=1 trains features.14–18 (the stride-32 stage) + classifier", () => {
  const m = createModel("mobilenet_v2");
  assert.equal(m.stages.at(-2), "features.13");
  assert.deepEqual(unfreezeStagesPrefixes(m, 1), features(...range(0, 13)));
  assert.deepEqual(unfreezeStagesPrefixes(m, 0), ["features"]);
});

test("unfreeze-stages: efficientnet_b0 — stage boundaries after features.3 and features.5", () => {
  const m = createModel("efficientnet_b0");
  assert.deepEqual(m.stages, features(1, 2, 3, 5, 8));
  // K=1: the stride-32 stage (features.6, 7 and the final 1x1 conv features.8) trains.
  assert.deepEqual(unfreezeStagesPrefixes(m, 1), features(...range(0, 5)));
  assert.deepEqual(unfreezeStagesPrefixes(m, 2), features(...range(0, 3)));
  assert.deepEqual(unfreezeStagesPrefixes(m, 4), features(0, 1));
});

test("unfreeze-stages: googlenet — auxiliary classifiers follow the inception block they tap", () => {
  const m = createModel("googlenet");
  assert.deepEqual(m.stages, ["conv1", "conv3", "inception3b", "inception4e", "inception5b"]);
  // K=1: only inception5a/5b and fc train; aux1 (on 4a) and aux2 (on 4d) sit on frozen blocks, so
  // their losses could change no trainable weight: they are frozen with their taps.
  assert.deepEqual(unfreezeStagesPrefixes(m, 1), [
    "conv1",
    "conv2",
    "conv3",
    "inception3a",
    "inception3b",
    "inception4a",
    "inception4b",
    "inception4c",
    "inception4d",
    "inception4e",
    "aux1",
    "aux2",
  ]);
  // K=2: the cut is after inception3b, so 4a…5b train and both auxiliary heads train with them.
  assert.deepEqual(unfreezeStagesPrefixes(m, 2), ["conv1", "conv2", "conv3", "inception3a", "inception3b"]);
  assert.deepEqual(unfreezeStagesPrefixes(m, 4), ["conv1"]);
});

test("unfreeze-stages: vgg11 — the cut is at a max-pool; only convolutions carry parameters", () => {
  const m = createModel("vgg11");
  assert.deepEqual(m.stages, features(2, 5, 10, 15, 20));
  assert.deepEqual(unfreezeStagesPrefixes(m, 1), features(0, 3, 6, 8, 11, 13));
  assert.deepEqual(unfreezeStagesPrefixes(m, 3), features(0, 3));
  assert.deepEqual(unfreezeStagesPrefixes(m, 0), ["features"]);
});

test("unfreeze-stages: a bad K names the stage count and the stages", () => {
  const m = createModel("resnet18");
  for (const k of [-1, 1.5, Number.NaN]) {
    assert.throws(
      () => unfreezeStagesPrefixes(m, k),
      (e: Error) => {
        assert.match(e.message, /--unfreeze-stages/);
        assert.match(e.message, /5 stages/);
        assert.match(e.message, /relu, layer1, layer2, layer3, layer4/);
        return true;
      },
    );
  }
});

/**
 * A second mechanism, independent of the module records: a training forward pass with each stage's
 * output captured; for every parameter, how many graph nodes existed when it was first bound, and
 * for every stage, the index of the node producing its output. A parameter lies after stage s's
 * cut exactly when it is bound after that node was emitted.
 */
function bindingOrder(model: Model): { keys: string[]; boundAt: Map<string, number>; stageEnd: Map<string, number> } {
  const g = new Graph("order");
  const keys: string[] = [];
  const boundAt = new Map<string, number>();
  const bind = (key: string, p: Parameter) => {
    keys.push(key);
    boundAt.set(key, g.nodes.length);
    return g.addInput(key, p.dtype, p.shape);
  };
  const ctx = new ForwardContext(g, model.net, { training: true, bind, capture: { outputs: model.stages } });
  const r = model.defaultResolution;
  ctx.call(model.net, g.addInput("input", "float32", [1, 3, r, r]));
  const stageEnd = new Map<string, number>();
  for (const s of model.stages) {
    const v = ctx.capturedOutputs.get(s)!;
    stageEnd.set(
      s,
      g.nodes.findIndex((n) => n.outputs.some((o) => o.id === v.id)),
    );
  }
  return { keys, boundAt, stageEnd };
}

test("unfreeze-stages: trainable parameters are exactly those bound after the cut, every family", () => {
  const archs = [
    "resnet18",
    "resnet50",
    "vgg11",
    "vgg16_bn",
    "googlenet",
    "mobilenet_v1",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "efficientnet_b0",
    "efficientnet_v2_s",
  ];
  for (const arch of archs) {
    const m = createModel(arch);
    const { keys, boundAt, stageEnd } = bindingOrder(m);
    const order = keys.filter((k) => !k.endsWith("running_mean") && !k.endsWith("running_var"));
    const params = [...m.net.namedParameters()].filter(([, p]) => p.kind === "parameter").map(([k]) => k);
    assert.deepEqual([...order].sort(), [...params].sort(), `${arch}: every parameter is used once in a training forward`);
    const S = m.stages.length;
    for (let k = 1; k < S; k++) {
      const frozen = unfreezeStagesPrefixes(m, k);
      const cutStage = m.stages[S - k - 1];
      const end = stageEnd.get(cutStage)!;
      assert.ok(end >= 0, `${arch}: ${cutStage}'s output is a node output`);
      const expectTrainable = order.filter((key) => boundAt.get(key)! > end);
      const trainable = order.filter((key) => !underPrefix(key, frozen));
      assert.deepEqual(trainable, expectTrainable, `${arch} K=${k}: trainable = parameters after ${cutStage}`);
      assert.ok(
        trainable.some((key) => underPrefix(key, m.head)),
        `${arch} K=${k}: the head trains`,
      );
      // Minimal: no prefix lies under another.
      for (const p of frozen) assert.ok(!frozen.some((q) => q !== p && underPrefix(p, [q])), `${arch} K=${k}: ${p} is redundant`);
      // Unfreezing one more stage trains a strict superset.
      const frozenMore = unfreezeStagesPrefixes(m, k - 1);
      const fewer = order.filter((key) => !underPrefix(key, frozenMore));
      assert.ok(fewer.length < trainable.length && fewer.every((key) => trainable.includes(key)), `${arch} K=${k}: more than K=${k - 1}`);
    }
  }
});
