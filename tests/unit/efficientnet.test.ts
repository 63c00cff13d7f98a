/**
 * EfficientNet facts that parity alone does not show: torchvision's published parameter counts,
 * per-variant BatchNorm / dropout / stochastic depth / eval transform read from torchvision itself,
 * the compound scaling rule for any φ (and why φ = 1 is not B1), EfficientNetV2-XL against the
 * paper, the feature stages, and the option errors.
 */
import "../../src/models/efficientnet.js";
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createModel, featureInfo, getArch, nn, OptionError, summarize, type Model } from "../../src/index.js";
import { COMPOUND, compoundScaling, MAX_PHI } from "../../src/models/efficientnet.js";
import { requirePython, runPython } from "../helpers/python.js";

const B = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => `efficientnet_b${i}`);
const V2 = ["efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l"];

/** `num_params` of each torchvision weights enum (torchvision 0.14 models/efficientnet.py). */
const TORCHVISION_PARAMS: Record<string, number> = {
  efficientnet_b0: 5_288_548,
  efficientnet_b1: 7_794_184,
  efficientnet_b2: 9_109_994,
  efficientnet_b3: 12_233_232,
  efficientnet_b4: 19_341_616,
  efficientnet_b5: 30_389_784,
  efficientnet_b6: 43_040_704,
  efficientnet_b7: 66_347_960,
  efficientnet_v2_s: 21_458_488,
  efficientnet_v2_m: 54_139_356,
  efficientnet_v2_l: 118_515_272,
};

/** Parameter paths and shapes: the structure a state_dict would have. */
const structure = (m: Model) => [...m.net.namedParameters()].map(([k, p]) => `${k}:${p.shape.join("x")}`);
const stageLengths = (m: Model) =>
  m.net
    .child("features")!
    .children()
    .slice(1, -1)
    .map(([, s]) => s.children().length);

describe("EfficientNet B0–B7 and V2 as torchvision defines them", () => {
  test("parameter counts equal torchvision's published num_params", () => {
    for (const [arch, params] of Object.entries(TORCHVISION_PARAMS)) assert.equal(createModel(arch).net.parameterCount(), params, arch);
  });

  test("BatchNorm eps/momentum, dropout, stochastic depth, state_dict keys, module tree and eval transforms read from torchvision", (t) => {
    if (!requirePython(t, "torchvision")) return;
    // Construct without initialising weights (init functions patched out): structure only, fast.
    const code = `
import json, sys, torch, torchvision
from torchvision.ops import StochasticDepth
for f in ("kaiming_normal_", "uniform_", "kaiming_uniform_", "ones_", "zeros_"):
    setattr(torch.nn.init, f, lambda t, *a, **k: t)
out = {}
for arch in sys.argv[1:]:
    m = getattr(torchvision.models, arch)()
    w = torchvision.models.get_model_weights(arch).IMAGENET1K_V1.transforms()
    out[arch] = {
        "bn": sorted({(b.eps, b.momentum) for b in m.modules() if isinstance(b, torch.nn.BatchNorm2d)}),
        "dropout": m.classifier[0].p,
        "sd": [s.p for s in m.modules() if isinstance(s, StochasticDepth)],
        "keys": list(m.state_dict().keys()),
        "modules": [name for name, _ in m.named_modules()],
        "transform": [w.crop_size[0], w.resize_size[0], w.interpolation.value, list(w.mean), list(w.std)],
    }
print(json.dumps(out))`;
    const ref = JSON.parse(runPython(["-c", code, ...B, ...V2])) as Record<
      string,
      { bn: number[][]; dropout: number; sd: number[]; keys: string[]; modules: string[]; transform: unknown[] }
    >;
    for (const arch of [...B, ...V2]) {
      const m = createModel(arch);
      const modules = [...m.net.namedModules()].map(([, x]) => x);
      const bn = new Set(modules.filter((x) => x instanceof nn.BatchNorm2d).map((x) => JSON.stringify([x.eps, x.momentum])));
      assert.deepEqual(
        [...bn],
        ref[arch].bn.map((b) => JSON.stringify(b)),
        `${arch}: BatchNorm eps/momentum`,
      );
      const dropout = m.net.child("classifier")!.child("0") as InstanceType<typeof nn.Dropout>;
      assert.equal(dropout.p, ref[arch].dropout, `${arch}: dropout`);
      const sd = modules.filter((x) => x instanceof nn.StochasticDepth).map((x) => x.p);
      assert.deepEqual(sd, ref[arch].sd, `${arch}: stochastic depth 0.2 · block / blocks`);
      assert.deepEqual(
        [...m.net.namedParameters()].map(([k]) => k),
        ref[arch].keys,
        `${arch}: state_dict keys in order`,
      );
      assert.deepEqual(
        [...m.net.namedModules()].map(([k]) => k),
        ref[arch].modules,
        `${arch}: module tree (parameter-free modules too)`,
      );
      const p = m.preprocessing;
      assert.deepEqual(
        [p.cropSize, p.resizeSize, p.interpolation, p.mean, p.std],
        ref[arch].transform,
        `${arch}: IMAGENET1K_V1 eval transform`,
      );
      assert.equal(m.defaultResolution, p.cropSize, `${arch}: default resolution is the weights' crop`);
    }
  });

  test("feature stages: strides 2, 4, 8, 16, 32, the last one the final 1x1 conv", () => {
    for (const arch of [...B, ...V2, "efficientnet_v2_xl"]) {
      const m = createModel(arch);
      const info = featureInfo(m, 224);
      assert.deepEqual(
        info.map((f) => f.reduction),
        [2, 4, 8, 16, 32],
        arch,
      );
      const features = m.net.child("features")!;
      assert.equal(info[4].module, `features.${features.children().length - 1}`, `${arch}: last stage is the head conv`);
      assert.equal(m.classifier, "classifier.1");
      assert.deepEqual(m.head, ["classifier"]);
    }
    assert.deepEqual(createModel("efficientnet_b0").stages, ["features.1", "features.2", "features.3", "features.5", "features.8"]);
    assert.deepEqual(createModel("efficientnet_v2_s").stages, ["features.1", "features.2", "features.3", "features.5", "features.7"]);
  });

  test("MBConv squeezes SE from the block input; Fused-MBConv has one k×k conv and no SE", () => {
    const b0 = createModel("efficientnet_b0").net;
    // features.2.0: 16 → expand ×6 = 96 → SE 96 → max(1, 16 // 4) = 4 (not 96 / 4).
    const se = b0.child("features")!.child("2")!.child("0")!.child("block")!.child("2")!;
    assert.ok(se instanceof nn.SqueezeExcitation);
    assert.deepEqual((se.child("fc1") as InstanceType<typeof nn.Conv2d>).weight.shape, [4, 96, 1, 1]);

    const s = createModel("efficientnet_v2_s").net.child("features")!;
    const block = (stage: number) => s.child(String(stage))!.child("0")!.child("block")!;
    // Expansion 1: a single 3x3 conv + BN + SiLU; expansion 4: fused 3x3 (24 → 96, stride 2), then 1x1 (96 → 48).
    assert.equal(block(1).children().length, 1);
    const fused = block(2).child("0")!.child("0") as InstanceType<typeof nn.Conv2d>;
    assert.deepEqual(
      [fused.weight.shape, fused.stride],
      [
        [96, 24, 3, 3],
        [2, 2],
      ],
    );
    assert.ok(
      !block(2)
        .children()
        .some(([, x]) => x instanceof nn.SqueezeExcitation),
    );
    assert.ok(
      block(4)
        .children()
        .some(([, x]) => x instanceof nn.SqueezeExcitation),
    );
  });
});

describe("efficientnet: compound scaling for any φ", () => {
  test("α·β²·γ² ≈ 2 (the paper's constraint), so FLOPs grow by about 2^φ", () => {
    const { alpha, beta, gamma } = COMPOUND;
    assert.deepEqual([alpha, beta, gamma], [1.2, 1.1, 1.15]);
    assert.ok(Math.abs(alpha * beta ** 2 * gamma ** 2 - 2) < 0.1);
    const macs = (phi: number) => summarize(createModel("efficientnet", { phi })).macs;
    const ratio = macs(1) / macs(0);
    // Channel rounding to multiples of 8 and ceil() on depth make the real growth uneven (≈2.6x here).
    assert.ok(ratio > 1.9 && ratio < 3, `MACs(φ=1) / MACs(φ=0) = ${ratio}`);
  });

  test("φ = 0 is B0: same parameters, structure, MACs, resolution and transform", () => {
    const eff = createModel("efficientnet");
    const b0 = createModel("efficientnet_b0");
    assert.equal(eff.options.phi, 0, "φ defaults to 0");
    assert.equal(eff.net.parameterCount(), 5_288_548);
    assert.deepEqual(structure(eff), structure(b0));
    assert.equal(summarize(eff).macs, summarize(b0).macs);
    assert.equal(eff.defaultResolution, 224);
    assert.deepEqual(eff.preprocessing, b0.preprocessing);
  });

  test("φ = 2: depth 1.44, width 1.21, resolution 1.3225 → 296 px; the table scaled inside the config", () => {
    const m = createModel("efficientnet", { phi: 2 });
    const d = m.details as Record<string, number>;
    assert.equal(d.phi, 2);
    assert.ok(Math.abs(d.depthMult - 1.44) < 1e-12);
    assert.ok(Math.abs(d.widthMult - 1.21) < 1e-12);
    assert.ok(Math.abs(d.resolutionMult - 1.3225) < 1e-12);
    assert.ok(Math.abs(d.flopsMult - (1.2 * 1.21 * 1.3225) ** 2) < 1e-12);
    assert.equal(d.resolution, 296);
    assert.equal(m.defaultResolution, 296);
    // B0's blocks per stage [1, 2, 2, 3, 3, 4, 1], each ceil(n · 1.44).
    assert.deepEqual(stageLengths(m), [2, 3, 3, 5, 5, 6, 2]);
    // Stem 32 · 1.21 = 38.7 → 40 (multiple of 8); head 4 × make_divisible(320 · 1.21) = 4 × 384.
    const stem = m.net.child("features")!.child("0")!.child("0") as InstanceType<typeof nn.Conv2d>;
    assert.equal(stem.outChannels, 40);
    assert.equal(featureInfo(m).at(-1)!.channels, 1536);
    assert.deepEqual([m.preprocessing.cropSize, m.preprocessing.resizeSize, m.preprocessing.interpolation], [296, 338, "bicubic"]);
  });

  test("default resolution is round(224 · 1.15^φ), rounded to nearest", () => {
    const res = [0, 1, 2, 3, 4, 5, 6, 7, 8].map((phi) => createModel("efficientnet", { phi }).defaultResolution);
    assert.deepEqual(res, [224, 258, 296, 341, 392, 451, 518, 596, 685]);
    assert.equal(compoundScaling(0.5).resolution, Math.round(224 * Math.sqrt(1.15)));
    assert.equal(createModel("efficientnet", { phi: 0.5 }).defaultResolution, 240);
  });

  test("φ = 1 is not efficientnet_b1: torchvision's B1–B7 use hand-picked coefficients", () => {
    const phi1 = createModel("efficientnet", { phi: 1 });
    const b1 = createModel("efficientnet_b1");
    // B1 is width 1.0, depth 1.1, 240 px; the rule gives width 1.1, depth 1.2, 258 px at φ = 1.
    assert.deepEqual([b1.details.widthMult, b1.details.depthMult, b1.defaultResolution], [1.0, 1.1, 240]);
    assert.deepEqual([phi1.details.widthMult, phi1.details.depthMult, phi1.defaultResolution], [1.1, 1.2, 258]);
    assert.equal(phi1.net.parameterCount(), 9_109_994);
    assert.notEqual(phi1.net.parameterCount(), b1.net.parameterCount());
    assert.notDeepEqual(structure(phi1), structure(b1));
    // Its width and depth are B2's (1.1, 1.2), but not its resolution (torchvision 288, paper 260).
    assert.deepEqual(structure(phi1), structure(createModel("efficientnet_b2")));
    assert.match(getArch("efficientnet").description, /φ = 1 is not efficientnet_b1/);
  });

  test("non-integer φ works and size grows with φ", () => {
    const params = [0, 0.5, 1, 1.5, 2, 3, 4, 5, 6, 7, MAX_PHI].map((phi) => createModel("efficientnet", { phi }).net.parameterCount());
    for (let i = 1; i < params.length; i++) assert.ok(params[i] >= params[i - 1], `params at index ${i}: ${params}`);
  });

  test("φ outside [0, 8] and φ on other architectures are OptionErrors naming the range", () => {
    for (const phi of [-0.5, 8.01, 100, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(
        () => createModel("efficientnet", { phi }),
        (e: unknown) => e instanceof OptionError && /compound coefficient φ must be in \[0, 8\]/.test(e.message),
        `φ = ${phi}`,
      );
    }
    assert.throws(
      () => createModel("efficientnet_b0", { phi: 1 }),
      (e: unknown) => e instanceof OptionError && /has no compound coefficient φ/.test(e.message),
    );
    assert.throws(() => createModel("efficientnet_v2_s", { widthMult: 0.5 }), OptionError);
    assert.throws(
      () => createModel("efficientnet_b3", { dropout: 1 }),
      (e: unknown) => e instanceof OptionError && /dropout must be in \[0, 0.99\]/.test(e.message),
    );
    assert.equal(
      (createModel("efficientnet_b3", { dropout: 0.1 }).net.child("classifier")!.child("0") as InstanceType<typeof nn.Dropout>).p,
      0.1,
    );
  });
});

describe("efficientnet_v2_xl (not in torchvision)", () => {
  test("208,119,808 parameters: the paper's 208M (Table 7) and timm's 208.12M; 93.4 GMACs at 512 ≈ the paper's 94B FLOPs", () => {
    const xl = createModel("efficientnet_v2_xl");
    assert.equal(xl.net.parameterCount(), 208_119_808);
    assert.equal(xl.defaultResolution, 512);
    const macs = summarize(xl, 512).macs;
    assert.ok(Math.abs(macs - 94e9) <= 0.01 * 94e9, `MACs ${macs} within 1% of 94e9`);
    // timm's arch_def: stages of 4, 8, 8, 16, 24, 32, 8 blocks (Fused ×3, then MBConv + SE).
    assert.deepEqual(stageLengths(xl), [4, 8, 8, 16, 24, 32, 8]);
    assert.deepEqual(xl.details, { fusedBlocks: 20, mbconvBlocks: 80, resolution: 512 });
    assert.deepEqual(
      [xl.preprocessing.mean, xl.preprocessing.std, xl.preprocessing.interpolation],
      [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5], "bicubic"],
    );
    // Same block types and head as V2-L, wider and deeper: the key sets differ only by extra blocks.
    const l = new Set(structure(createModel("efficientnet_v2_l")).map((k) => k.split(":")[0]));
    assert.ok(structure(xl).filter((k) => l.has(k.split(":")[0])).length === l.size);
  });

  test("10 classes change only the classifier", () => {
    const xl = createModel("efficientnet_v2_xl", { numClasses: 10 });
    assert.equal(xl.net.parameterCount(), 208_119_808 - 1000 * 1281 + 10 * 1281);
  });
});
