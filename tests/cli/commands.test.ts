/** The CLI end to end: each command on real files, checked against independent facts. */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import * as ort from "onnxruntime-node";
import sharp from "sharp";
import { createModel, fromOnnx, initializeWeights, saveCheckpoint, stateDict } from "../../src/index.js";
import { convzoo } from "../helpers/cli.js";
import { requirePython, runPython } from "../helpers/python.js";

describe("convzoo command", () => {
  let dir = "";
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "convzoo-cli-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("models lists the registry", () => {
    const r = convzoo("models", "--json");
    assert.equal(r.status, 0, r.stderr);
    const rows = JSON.parse(r.stdout) as { arch: string; description: string }[];
    for (const arch of ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "mobilenet_v2"]) {
      const row = rows.find((x) => x.arch === arch);
      assert.ok(row && row.description.length > 10, `${arch} listed with a description`);
    }
    const human = convzoo("models");
    assert.match(human.stdout, /^arch\s+family\s+resolution\s+description/m);
  });

  test("summary resnet50: torchvision's parameter count, ~4.09 GMACs, per-layer rows", () => {
    const r = convzoo("summary", "resnet50", "--json");
    assert.equal(r.status, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.arch, "resnet50");
    assert.equal(s.params, 25_557_032); // torchvision's documented count
    assert.equal(s.resolution, 224);
    // torchvision's model card: 4.09 GFLOPS (its "FLOPS" are multiply-accumulates).
    assert.ok(Math.abs(s.macs / 1e9 - 4.09) < 0.01, `macs ${s.macs}`);
    const fc = s.layers.find((l: { name: string }) => l.name === "fc");
    assert.deepEqual(fc, { name: "fc", type: "Linear", outputShape: [1, 1000], params: 2_049_000, macs: 2_048_000 });
    const conv1 = s.layers[0];
    assert.deepEqual(conv1.outputShape, [1, 64, 112, 112]);
    assert.equal(
      s.layers.reduce((n: number, l: { params: number }) => n + l.params, 0),
      s.params,
      "layer params add up",
    );
    const human = convzoo("summary", "resnet50");
    assert.match(human.stdout, /^block\s+type\s+output\s+params\s+MACs$/m);
    assert.match(human.stdout, /^ {2}layer3\.5\s+Bottleneck\s+\[1, 1024, 14, 14\]\s+1,117,184/m, "blocks indented under their stage");
    assert.match(human.stdout, /resnet50 at 224x224: 25,557,032 parameters/);
    const flat = convzoo("summary", "resnet50", "--layers");
    assert.match(flat.stdout, /^layer\s+type\s+output\s+params\s+MACs$/m);
    assert.match(flat.stdout, /^layer3\.5\.conv2\s+Conv2d\s+\[1, 256, 14, 14\]\s+589,824\s+115,605,504$/m);
    // The block view's rows partition the model: top-level rows add up to the totals.
    const top = s.blocks.filter((b: { depth: number }) => b.depth === 0);
    assert.equal(
      top.reduce((n: number, b: { params: number }) => n + b.params, 0),
      s.params,
    );
    assert.equal(
      top.reduce((n: number, b: { macs: number }) => n + b.macs, 0),
      s.macs,
    );
  });

  test("summary mobilenet_v2 with α and resolution", () => {
    const r = convzoo("summary", "mobilenet_v2", "--json", "--width-mult", "1.0");
    const s = JSON.parse(r.stdout);
    assert.equal(s.params, 3_504_872); // torchvision's documented count
    assert.ok(Math.abs(s.macs / 1e6 - 300.8) < 1, `torchvision reports 0.30 GFLOPS; got ${s.macs}`);
    const small = JSON.parse(convzoo("summary", "mobilenet_v2", "--json", "--width-mult", "0.5", "--resolution", "160").stdout);
    assert.equal(small.resolution, 160);
    assert.ok(small.macs < s.macs / 4);
  });

  test("export writes a valid ONNX model with a dynamic batch and probabilities", async (t) => {
    const out = join(dir, "mv2.onnx");
    const r = convzoo("export", "mobilenet_v2", "--out", out, "--resolution", "96", "--width-mult", "0.5");
    assert.equal(r.status, 0, r.stderr);
    const bytes = readFileSync(out);
    const decoded = fromOnnx(bytes);
    assert.deepEqual(decoded.inputs, ["input"]);
    assert.deepEqual(decoded.outputs, ["probabilities"]);
    assert.equal(decoded.metadata.arch, "mobilenet_v2");
    assert.ok(decoded.initializers.has("features.0.0.weight"), "initializers carry torchvision names");
    const session = await ort.InferenceSession.create(bytes);
    const x = new ort.Tensor(
      "float32",
      Float32Array.from({ length: 3 * 3 * 96 * 96 }, (_, i) => Math.sin(i)),
      [3, 3, 96, 96],
    );
    const y = (await session.run({ input: x })).probabilities;
    assert.deepEqual(y.dims, [3, 1000]);
    const p = y.data as Float32Array;
    for (let row = 0; row < 3; row++) {
      const sum = p.subarray(row * 1000, row * 1000 + 1000).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - 1) < 1e-5, `row ${row} sums to ${sum}`);
      assert.ok(p.subarray(row * 1000, row * 1000 + 1000).every((v) => v >= 0 && v <= 1));
    }
    const logitsOut = join(dir, "mv2-logits.onnx");
    assert.equal(convzoo("export", "mobilenet_v2", "--out", logitsOut, "--resolution", "64", "--logits").status, 0);
    assert.deepEqual(fromOnnx(readFileSync(logitsOut)).outputs, ["logits"]);
    if (!requirePython(t, "onnx")) return;
    // The reference checker: onnx.checker with full checks (types, shapes, opset).
    runPython([
      "-c",
      `import onnx; m = onnx.load(${JSON.stringify(out)}); onnx.checker.check_model(m, full_check=True); print(m.opset_import[0].version)`,
    ]);
  });

  test("classify: sorted labels, probabilities that sum to 1, class names from the checkpoint", async () => {
    const model = createModel("resnet18", { numClasses: 3 });
    initializeWeights(model, 3);
    const ckpt = join(dir, "r18.safetensors");
    await saveCheckpoint(ckpt, stateDict(model), { arch: "resnet18", options: model.options, classes: ["cat", "dog", "fox"] });
    const images: string[] = [];
    for (const [i, colour] of [
      [255, 0, 0],
      [0, 128, 255],
    ].entries()) {
      const path = join(dir, `img${i}.png`);
      await sharp({ create: { width: 300, height: 240, channels: 3, background: { r: colour[0], g: colour[1], b: colour[2] } } })
        .png()
        .toFile(path);
      images.push(path);
    }
    const r = convzoo("classify", ...images, "--weights", ckpt, "--topk", "3", "--json");
    assert.equal(r.status, 0, r.stderr);
    const results = JSON.parse(r.stdout) as { file: string; top: { label: string; probability: number }[] }[];
    assert.deepEqual(
      results.map((x) => x.file),
      images,
    );
    for (const res of results) {
      assert.deepEqual(new Set(res.top.map((p) => p.label)), new Set(["cat", "dog", "fox"]));
      const probs = res.top.map((p) => p.probability);
      assert.deepEqual(
        probs,
        [...probs].sort((a, b) => b - a),
        "sorted",
      );
      assert.ok(Math.abs(probs.reduce((a, b) => a + b, 0) - 1) < 1e-5);
    }
    const human = convzoo("classify", images[0], "--weights", ckpt, "--topk", "2");
    assert.equal(human.status, 0, human.stderr);
    assert.equal(human.stdout.trim().split("\n").length, 3);
  });

  test("compare: params, MACs, published top-1 with its source, measured latency", () => {
    const r = convzoo("compare", "resnet18", "mobilenet_v2:alpha=1.4", "resnet50:res=128", "--no-latency", "--json");
    assert.equal(r.status, 0, r.stderr);
    const rows = JSON.parse(r.stdout);
    assert.deepEqual(
      rows.map((x: { name: string }) => x.name),
      ["resnet18", "mobilenet_v2 α=1.4", "resnet50"],
    );
    assert.equal(rows[0].params, 11_689_512);
    assert.equal(rows[0].paperTop1, 72.12);
    assert.equal(rows[0].torchvisionTop1, 69.758, "resnet18.IMAGENET1K_V1's acc@1 from the weights registry");
    assert.match(rows[0].paperSource, /He et al\. 2015/);
    assert.equal(rows[1].paperTop1, 74.7, "the α=1.4 row of the MobileNetV2 paper");
    assert.equal(rows[1].torchvisionTop1, undefined, "torchvision has no α=1.4 weights");
    assert.equal(rows[2].resolution, 128);
    assert.equal(rows[2].paperTop1, undefined, "the paper's figure is for 224 only");
    assert.ok(rows.every((x: { latencyMs?: number }) => x.latencyMs === undefined));
    const timed = JSON.parse(convzoo("compare", "mobilenet_v2:res=64", "--runs", "2", "--json").stdout);
    assert.ok(timed[0].latencyMs > 0);
    const human = convzoo("compare", "resnet18", "--no-latency");
    assert.match(human.stdout, /^model\s+input\s+params\s+MACs\s+latency \(ms\)\s+paper top-1/m);
  });

  test("bench infer reports images per second", () => {
    const r = convzoo("bench", "infer", "--arch", "mobilenet_v2", "--resolution", "64", "--runs", "3", "--warmup", "1", "--json");
    assert.equal(r.status, 0, r.stderr);
    const b = JSON.parse(r.stdout);
    assert.equal(b.batchSize, 1);
    assert.equal(b.timesMs.length, 3);
    assert.ok(b.imagesPerSecond > 0 && Number.isFinite(b.imagesPerSecond));
  });
});
