/**
 * What batching gains in process (run by hand): a model's Predictor at batch 1 against batch B, the
 * two interleaved in each round on the same images, per-image time and the ratio. This bounds what
 * any server's dynamic batching can gain on the machine (bench/serve.ts, issue 16): a server that
 * batches runs at most the in-process batch-B rate, and one that serves batch 1 within 10% of the
 * in-process batch-1 rate leaves batching at most gain / 0.9 over it.
 *
 *   node --import tsx bench/batch_gain.ts [--arch mobilenet_v2] [--resolution 224] [--batch 16]
 *        [--threads 2] [--rounds 12]
 */
import "../src/models/index.js";
import { initializeWeights } from "../src/models/bind.js";
import { createModel } from "../src/models/registry.js";
import { Predictor } from "../src/inference/predictor.js";
import { median } from "../src/tools/bench.js";

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const arch = flag("--arch", "mobilenet_v2");
const resolution = Number(flag("--resolution", "224"));
const batch = Number(flag("--batch", "16"));
const threads = Number(flag("--threads", "2"));
const rounds = Number(flag("--rounds", "12"));

const model = initializeWeights(createModel(arch, {}), 0);
const predictor = await Predictor.create(model, { resolution, threads, output: "probabilities" });
const images = (n: number) => ({
  dtype: "float32" as const,
  shape: [n, 3, resolution, resolution],
  data: new Float32Array(n * 3 * resolution * resolution).fill(0.1),
});
const one = images(1);
const many = images(batch);
// Warm-up: ONNX Runtime plans its buffers per shape on the first runs.
for (let i = 0; i < 3; i++) {
  await predictor.predict(one);
  await predictor.predict(many);
}
/** Milliseconds per image over 2·B images: 2·B single-image runs, or 2 runs of B. */
async function msPerImage(n: 1 | "batch"): Promise<number> {
  const input = n === 1 ? one : many;
  const runs = n === 1 ? 2 * batch : 2;
  const t = performance.now();
  for (let i = 0; i < runs; i++) await predictor.predict(input);
  return (performance.now() - t) / (2 * batch);
}
const single: number[] = [];
const batched: number[] = [];
const gains: number[] = [];
for (let r = 0; r < rounds; r++) {
  // Order alternating by round, so neither always runs on a warmer or colder machine.
  const [s1, sb] = r % 2 === 0 ? [await msPerImage(1), await msPerImage("batch")] : [0, await msPerImage("batch")];
  const msOne = r % 2 === 0 ? s1 : await msPerImage(1);
  single.push(msOne);
  batched.push(sb);
  gains.push(msOne / sb);
  console.log(
    `round ${r + 1}: batch 1 ${msOne.toFixed(2)} ms/image, batch ${batch} ${sb.toFixed(2)} ms/image, gain ${(msOne / sb).toFixed(2)}x`,
  );
}
await predictor.release();
const lo = Math.min(...gains);
const hi = Math.max(...gains);
const gain = median(gains);
console.log(
  `${arch} at ${resolution}, ${threads} threads, ${rounds} rounds: batch 1 ${median(single).toFixed(2)} ms/image, ` +
    `batch ${batch} ${median(batched).toFixed(2)} ms/image; batching gains ${gain.toFixed(2)}x (rounds ${lo.toFixed(2)}–${hi.toFixed(2)}); ` +
    `a server within 10% of batch 1 in process can gain at most ${(gain / 0.9).toFixed(2)}x by batching`,
);
