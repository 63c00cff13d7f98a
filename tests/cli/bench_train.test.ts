/** `convzoo bench train` end to end: a tiny training benchmark whose JSON fields are sane numbers (no timing assertions). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { convzoo } from "../helpers/cli.js";

test("bench train reports step time, images per second and peak memory", { timeout: 300_000 }, () => {
  const args = [
    "bench",
    "train",
    "--arch",
    "mobilenet_v3_small",
    "--resolution",
    "32",
    "--batch-size",
    "2",
    "--runs",
    "2",
    "--warmup",
    "1",
    "--threads",
    "2",
    "--classes",
    "10",
    "--json",
  ];
  const r = convzoo(...args);
  assert.equal(r.status, 0, r.stderr);
  const b = JSON.parse(r.stdout);
  assert.equal(b.arch, "mobilenet_v3_small");
  assert.equal(b.batchSize, 2);
  assert.equal(b.resolution, 32);
  assert.equal(b.threads, 2);
  assert.equal(b.runs, 2);
  assert.equal(b.timesMs.length, 2);
  for (const t of b.timesMs) assert.ok(Number.isFinite(t) && t > 0, `step time ${t}`);
  assert.ok(b.minMs > 0 && b.minMs <= b.medianMs, `min ${b.minMs} <= median ${b.medianMs}`);
  assert.ok(Math.abs(b.imagesPerSecond - (2 * 1000) / b.medianMs) < 1e-6 * b.imagesPerSecond, "images/s = batch / median");
  // Peak RSS of the whole process: at least Node + ONNX Runtime, and less than this machine could hold.
  assert.ok(b.peakRssMB > 20 && b.peakRssMB < 64 * 1024, `peak RSS ${b.peakRssMB} MB`);
  assert.ok(b.graphBuildMs > 0 && b.setupMs > 0, "set-up times reported");

  const human = convzoo(...args.slice(0, -1));
  assert.equal(human.status, 0, human.stderr);
  assert.match(human.stdout, /mobilenet_v3_small 32x32 batch 2, 2 threads, SGD step: median [\d.]+ ms .* images\/s over 2 steps/);
  assert.match(human.stdout, /peak RSS \d+ MB/);
});

test("bench train rejects a bad flag with one clear line", () => {
  const r = convzoo("bench", "train", "--arch", "resnet18", "--batch-size", "0");
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--batch-size expects a positive integer, got "0"/);
});
