/**
 * GoogLeNet's auxiliary classifiers (the lecture: used in training only, removed for inference) and
 * its `transform_input`: checkpoints with and without aux weights load, inference graphs never
 * contain the aux heads, and both transform_input settings match torchvision.
 */
// Registers the family until src/models/index.ts imports it.
import "../../src/models/googlenet.js";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test, type TestContext } from "node:test";
import { GOOGLENET_TRANSFORM_INPUT, GoogLeNet } from "../../src/models/googlenet.js";
import {
  createModel,
  inferenceGraph,
  loadModel,
  loadStateDict,
  Predictor,
  readWeightsFile,
  stateDict,
  traceModel,
  WeightsError,
  type Model,
  type Tensor,
} from "../../src/index.js";
import { initializeWeights } from "../../src/models/bind.js";
import { hasPython, requirePython, runPython } from "../helpers/python.js";

/**
 * Reference GoogLeNets from torchvision. The parity harness's BatchNorm statistics are drawn
 * independently of the activations; in GoogLeNet (weights N(0, 0.01), 57 BatchNorms deep) they
 * drown the signal, so its logits hardly depend on the input (relative change ~1e-7 for another
 * input) and could not tell transform_input on from off. Here BatchNorm statistics are calibrated
 * instead: random affine parameters, running statistics measured on random batches in training
 * mode, then perturbed (so eval normalisation differs from batch normalisation). Every case
 * records how much its logits change for another input; the tests require that to be large.
 *
 * argv: OUT_DIR then cases NAME:AUX_LOGITS:TRANSFORM_INPUT:RESOLUTION (1/0 for the flags).
 */
const REFERENCE = String.raw`
import json, os, sys
import torch, torchvision

out_dir = sys.argv[1]
torch.set_num_threads(2)
for case in sys.argv[2:]:
    name, aux, transform, res = case.split(":")
    res = int(res)
    torch.manual_seed(1234)
    gen = torch.Generator().manual_seed(4321)
    model = torchvision.models.googlenet(weights=None, aux_logits=aux == "1", transform_input=transform == "1", init_weights=True)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bns:
        m.weight.data = torch.empty(m.num_features).uniform_(0.5, 1.5, generator=gen)
        m.bias.data = torch.randn(m.num_features, generator=gen) * 0.2
        m.momentum = None  # cumulative average over the calibration batches
        m.reset_running_stats()
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(4, 3, res, res, generator=gen))
    for m in bns:
        m.running_mean += 0.1 * m.running_var.sqrt() * torch.randn(m.num_features, generator=gen)
        m.running_var *= torch.empty(m.num_features).uniform_(0.8, 1.25, generator=gen)
        m.momentum = 0.1
    model.eval()
    x = torch.randn(2, 3, res, res, generator=gen)
    with torch.no_grad():
        logits = model(x)
        other = model(torch.randn(2, 3, res, res, generator=gen))
    torch.save(model.state_dict(), os.path.join(out_dir, name + ".pth"))
    x.numpy().astype("<f4").tofile(os.path.join(out_dir, name + ".input.f32"))
    logits.numpy().astype("<f4").tofile(os.path.join(out_dir, name + ".logits.f32"))
    sensitivity = float((logits - other).abs().max() / logits.abs().max())
    with open(os.path.join(out_dir, name + ".json"), "w") as f:
        json.dump({"resolution": res, "sensitivity": sensitivity}, f)
`;

const CASES = [
  // torchvision's training layout (GoogLeNet(aux_logits=True)): aux heads present.
  "with_aux:1:1:224",
  // torchvision's pretrained layout (googlenet-1378be20.pth): no aux keys at all; an odd size.
  "without_aux:0:1:97",
  // A bare torchvision GoogLeNet(transform_input=False).
  "raw:0:0:64",
];

const f32 = (path: string) => {
  const b = readFileSync(path);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
};

const isAux = (key: string) => key.startsWith("aux1.") || key.startsWith("aux2.");

/** max |Δ| / max |expected| of `model`'s logits on case `name`'s input (reported on `t`). */
async function logitsRatio(t: TestContext, dir: string, name: string, model: Model): Promise<number> {
  const { resolution, sensitivity } = JSON.parse(readFileSync(join(dir, `${name}.json`), "utf8")) as {
    resolution: number;
    sensitivity: number;
  };
  assert.ok(sensitivity > 0.01, `${name}: the reference logits depend on the input (relative change ${sensitivity} for another input)`);
  const predictor = await Predictor.create(model, { resolution, output: "logits" });
  try {
    const out = await predictor.predict({
      dtype: "float32",
      shape: [2, 3, resolution, resolution],
      data: f32(join(dir, `${name}.input.f32`)),
    });
    const expected = f32(join(dir, `${name}.logits.f32`));
    let maxAbs = 0;
    let maxDiff = 0;
    for (let i = 0; i < expected.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(expected[i]));
      maxDiff = Math.max(maxDiff, Math.abs(expected[i] - out.data[i]));
    }
    assert.ok(maxAbs > 0);
    t.diagnostic(
      `${name}: max |Δ| / max |logit| ${(maxDiff / maxAbs).toExponential(2)} (another input changes the logits by ${sensitivity.toExponential(2)})`,
    );
    return maxDiff / maxAbs;
  } finally {
    await predictor.release();
  }
}

describe("GoogLeNet: auxiliary classifiers and transform_input", () => {
  test("the aux heads are in the module tree, and nothing at inference calls them", () => {
    const model = initializeWeights(createModel("googlenet"));
    assert.deepEqual(model.optional, ["aux1", "aux2"]);
    const paths = new Set([...model.net.namedModules()].map(([p]) => p));
    for (const p of ["aux1.conv.conv", "aux1.fc1", "aux1.fc2", "aux2.conv.bn", "aux2.dropout"]) assert.ok(paths.has(p), p);

    const ctx = traceModel(model, 224);
    assert.deepEqual(
      ctx.records.filter((r) => isAux(`${r.name}.`)),
      [],
      "no aux module is called by an inference trace",
    );
    assert.equal(ctx.auxOutputs.size, 0);
    for (const output of ["probabilities", "logits", "embedding", "features"] as const) {
      const g = inferenceGraph(model, { output });
      assert.deepEqual(
        g.nodes.filter((n) => isAux(`${n.scope}.`)).map((n) => n.name),
        [],
        `${output}: aux nodes`,
      );
      assert.deepEqual([...g.initializers.keys()].filter(isAux), [], `${output}: aux weights`);
    }

    // Without the aux heads the count is torchvision's for its pretrained weights (their meta's num_params).
    let aux = 0;
    for (const [key, p] of model.net.namedParameters()) if (isAux(key) && p.kind === "parameter") aux += p.numel;
    assert.equal(model.net.parameterCount(), 13_004_888);
    assert.equal(model.net.parameterCount() - aux, 6_624_904);
  });

  test(`transform_input defaults to ${GOOGLENET_TRANSFORM_INPUT} (torchvision's pretrained weights need it)`, () => {
    const net = createModel("googlenet").net;
    assert.ok(net instanceof GoogLeNet);
    assert.equal(net.transformInput, true);
    // The transform is two per-channel constants in front of conv1.
    const g = inferenceGraph(initializeWeights(createModel("googlenet")), { output: "logits" });
    assert.deepEqual(
      g.nodes.slice(0, 3).map((n) => n.op),
      ["Mul", "Add", "Conv"],
    );
    const off = inferenceGraph(initializeWeights({ ...createModel("googlenet"), net: new GoogLeNet({ transformInput: false }) }), {
      output: "logits",
    });
    assert.equal(off.nodes[0].op, "Conv");
  });

  describe("torchvision checkpoints", () => {
    let dir = "";
    before(() => {
      if (!hasPython("torchvision")) return;
      dir = mkdtempSync(join(tmpdir(), "convzoo-googlenet-"));
      runPython(["-c", REFERENCE, dir, ...CASES]);
    });
    after(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    const file = async (t: TestContext, name: string): Promise<Map<string, Tensor> | null> =>
      requirePython(t, "torchvision") ? (await readWeightsFile(join(dir, `${name}.pth`))).tensors : null;

    test("a state_dict WITH aux weights loads them", async (t) => {
      const tensors = await file(t, "with_aux");
      if (!tensors) return;
      const auxKeys = [...tensors.keys()].filter(isAux);
      assert.ok(auxKeys.includes("aux1.fc2.weight") && auxKeys.includes("aux2.conv.bn.running_var"), "the file has aux keys");
      const { model, notes } = await loadModel({ arch: "googlenet", weights: join(dir, "with_aux.pth") });
      assert.deepEqual(notes, []);
      const loaded = stateDict(model);
      for (const key of auxKeys) assert.deepEqual(loaded.get(key)!.data, tensors.get(key)!.data, key);
      assert.ok((await logitsRatio(t, dir, "with_aux", model)) <= 1e-4);
    });

    test("a state_dict WITHOUT aux keys (torchvision's pretrained layout) loads too", async (t) => {
      const tensors = await file(t, "without_aux");
      if (!tensors) return;
      assert.deepEqual([...tensors.keys()].filter(isAux), [], "the file has no aux keys");
      const { model, notes } = await loadModel({ arch: "googlenet", weights: join(dir, "without_aux.pth") });
      assert.deepEqual(notes, []);
      assert.equal(model.options.numClasses, 1000);
      for (const [key, p] of model.net.namedParameters()) {
        // Aux heads get their seeded initialisation at load; everything else came from the file.
        assert.ok(p.isMaterialized, key);
        if (!isAux(key)) assert.deepEqual(p.tensor.data, tensors.get(key)!.data, key);
      }
      assert.ok((await logitsRatio(t, dir, "without_aux", model)) <= 1e-4);
    });

    test("only the aux heads may be missing", async (t) => {
      const tensors = await file(t, "without_aux");
      if (!tensors) return;
      const partial = new Map(tensors);
      partial.delete("inception5b.branch1.conv.weight");
      assert.throws(
        () => loadStateDict(createModel("googlenet"), partial, "partial.pth"),
        (e: unknown) => e instanceof WeightsError && /missing keys \(1\):\n {4}inception5b\.branch1\.conv\.weight/.test(e.message),
      );
    });

    test("transform_input=False (a bare torchvision GoogLeNet()) through the class option", async (t) => {
      const tensors = await file(t, "raw");
      if (!tensors) return;
      const plain: Model = { ...createModel("googlenet"), net: new GoogLeNet({ transformInput: false }) };
      loadStateDict(plain, tensors, "raw.pth");
      assert.ok((await logitsRatio(t, dir, "raw", plain)) <= 1e-4);
      // The setting matters: the default net (transform on) is far off on these weights.
      const { model } = await loadModel({ arch: "googlenet", weights: join(dir, "raw.pth") });
      assert.ok((await logitsRatio(t, dir, "raw", model)) > 1e-2);
    });
  });
});
