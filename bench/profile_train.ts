/**
 * Where a training step's time goes (run by hand): ONNX Runtime's profiler over Trainer-equivalent
 * steps of one training graph, summed per phase (forward / gradient / SGD) and op type, plus the
 * slowest nodes.
 *
 *   node --import tsx bench/profile_train.ts --arch resnet18 [--batch 16] [--resolution 224] [--steps 3]
 *        [--optimizer sgd|adamw] [--classes 1000] [--opt all|extended|basic|disabled] [--no-arena] [--no-mem-pattern] [--no-spin] [--no-profile] [--no-nchwc]
 *        [--top 25] [--json]
 *
 * Node names are the graph's: gradient ops live under scope `<layer>/grad`, the optimizer under
 * `sgd/<key>` or `adamw/<key>` (phase "update"),
 * everything else is the forward pass; ORT's fused nodes keep the first node's name. The first
 * (warm-up) step is left out of the sums.
 */
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { performance } from "node:perf_hooks";
import * as ort from "onnxruntime-node";
import { median } from "../src/tools/bench.js";
import "../src/models/index.js";
import { initializeWeights } from "../src/models/bind.js";
import { createModel } from "../src/models/registry.js";
import { toOnnx } from "../src/onnx/serialize.js";
import { nchwcBlockSize } from "../src/runtime/nchwc_block.js";
import { Random } from "../src/random.js";
import { ortSessionOptions } from "../src/runtime/session.js";
import { optimizerScalarValues } from "../src/train/optimizers.js";
import { targetDistribution, trainingGraph } from "../src/train/training_graph.js";

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const arch = flag("--arch", "resnet18");
const batchSize = Number(flag("--batch", "16"));
const resolution = Number(flag("--resolution", "224"));
const steps = Number(flag("--steps", "3"));
const top = Number(flag("--top", "25"));
const opt = flag("--opt", "all") as ort.InferenceSession.SessionOptions["graphOptimizationLevel"];
const json = args.includes("--json");
const profile = !args.includes("--no-profile");

const classes = Number(flag("--classes", "1000"));
const optimizer = flag("--optimizer", "sgd");
if (optimizer !== "sgd" && optimizer !== "adamw") throw new Error(`--optimizer: sgd or adamw, got ${optimizer}`);
/** As bench/ab_train.ts: SGD 0.01, AdamW 1e-3. */
const LR = optimizer === "adamw" ? 1e-3 : 0.01;
const model = createModel(arch, { numClasses: classes, dropout: 0 });
initializeWeights(model, 0);
// As Trainer does: built for ONNX Runtime's NCHWc kernels where the CPU has them.
const nchwcBlock = args.includes("--no-nchwc") ? 1 : await nchwcBlockSize();
const spec = trainingGraph(model, {
  batchSize,
  resolution,
  optimizer: optimizer === "adamw" ? { kind: "adamw" } : { kind: "sgd", momentum: 0.9 },
  nchwcBlock,
});
process.stderr.write(`NCHWc block ${nchwcBlock}: ${spec.graph.nodes.filter((n) => n.domain && n.op === "Conv").length} convs lowered\n`);
const onnx = toOnnx(spec.graph);
const options: ort.InferenceSession.SessionOptions = {
  ...ortSessionOptions({ threads: 2 }),
  graphOptimizationLevel: opt,
  enableCpuMemArena: !args.includes("--no-arena"),
  enableMemPattern: !args.includes("--no-mem-pattern"),
  ...(args.includes("--no-spin") ? { extra: { session: { intra_op: { allow_spinning: "0" } } } } : {}),
  ...(profile ? { enableProfiling: true, profileFilePrefix: `/tmp/convzoo_profile_${process.pid}` } : {}),
};
const session = await ort.InferenceSession.create(onnx, options);

const params = new Map(model.net.namedParameters());
const rng = new Random(1);
const feeds: Record<string, ort.Tensor> = {
  input: new ort.Tensor(
    "float32",
    Float32Array.from({ length: batchSize * 3 * resolution * resolution }, () => rng.normal()),
    [batchSize, 3, resolution, resolution],
  ),
  target: new ort.Tensor(
    "float32",
    targetDistribution(
      Array.from({ length: batchSize }, (_, i) => i % classes),
      classes,
    ),
    [batchSize, classes],
  ),
};
for (const s of spec.state) {
  // Parameters and running statistics from the model, optimizer slots (momentum) from zero.
  const fromModel = s.kind === "parameter" || s.kind === "running_mean" || s.kind === "running_var";
  const data = fromModel ? (params.get(s.key)!.tensor.data as Float32Array).slice() : new Float32Array(s.shape.reduce((a, d) => a * d, 1));
  feeds[s.input] = new ort.Tensor("float32", data, [...s.shape]);
}
// The optimizer's per-step scalars as the Trainer feeds them (lr; AdamW's bias corrections by step).
const feedScalars = (t: number) => {
  for (const [n, v] of Object.entries(optimizerScalarValues(spec.optimizer, t, LR)))
    feeds[n] = new ort.Tensor("float32", Float32Array.of(v), []);
};
feedScalars(1);
for (const v of spec.graph.inputs) if (!feeds[v.name]) throw new Error(`no feed for the graph input ${v.name}`);
const wall: number[] = [];
const cpu: number[] = [];
for (let i = 0; i <= steps; i++) {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  feedScalars(i + 1);
  const out = await session.run(feeds);
  wall.push(performance.now() - t0);
  const c = process.cpuUsage(c0);
  cpu.push((c.user + c.system) / 1000);
  for (const s of spec.state) feeds[s.input] = out[s.output];
}
const log = (m: string) => process.stderr.write(`${m}\n`);
log(
  `${arch} b${batchSize} @${resolution} opt=${opt}: wall ms per step ${wall.map((t) => t.toFixed(0)).join(", ")} (median of timed ${median(wall.slice(1)).toFixed(0)}), CPU ms per step (both threads; spinning included unless --no-spin) ${median(cpu.slice(1)).toFixed(0)}, peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`,
);
if (!profile) process.exit(0);
session.endProfiling();
await session.release();
const file = `/tmp/${readdirSync("/tmp").find((n) => n.startsWith(`convzoo_profile_${process.pid}`))}`;

interface Event {
  cat: string;
  name: string;
  dur: number;
  args?: { op_name?: string };
}
const events = JSON.parse(readFileSync(file, "utf8")) as Event[];
rmSync(file);
let run = -1;
const kernels: { name: string; op: string; dur: number; run: number }[] = [];
// Kernel events precede their run's model_run event (which is logged at the run's end).
for (const e of events) {
  if (e.cat === "Session" && e.name === "model_run") run++;
  else if (e.cat === "Node" && e.name.endsWith("_kernel_time"))
    kernels.push({ name: e.name.slice(0, -"_kernel_time".length), op: e.args?.op_name ?? "?", dur: e.dur, run: run + 1 });
}
const timed = kernels.filter((k) => k.run >= 1);
const nTimed = steps;
const phase = (name: string) =>
  /^(sgd|adamw)\//.test(name) ? "update" : /(^|\/)grad\//.test(name) || name.startsWith("grad/") ? "grad" : "forward";
const byKey = new Map<string, number>();
const byNode = new Map<string, { op: string; us: number }>();
for (const k of timed) {
  const key = `${phase(k.name)}\t${k.op}`;
  byKey.set(key, (byKey.get(key) ?? 0) + k.dur);
  const n = byNode.get(k.name) ?? { op: k.op, us: 0 };
  n.us += k.dur;
  byNode.set(k.name, n);
}
const total = [...byKey.values()].reduce((a, b) => a + b, 0) / nTimed / 1000;
const phases = new Map<string, number>();
for (const [key, us] of byKey) phases.set(key.split("\t")[0], (phases.get(key.split("\t")[0]) ?? 0) + us / nTimed / 1000);
const rows = [...byKey]
  .map(([key, us]) => ({ phase: key.split("\t")[0], op: key.split("\t")[1], ms: us / nTimed / 1000 }))
  .sort((a, b) => b.ms - a.ms);
const nodes = [...byNode].map(([name, n]) => ({ name, op: n.op, ms: n.us / nTimed / 1000 })).sort((a, b) => b.ms - a.ms);
if (json) {
  process.stdout.write(
    `${JSON.stringify({ arch, batchSize, resolution, opt, wall, total, phases: Object.fromEntries(phases), rows, nodes })}\n`,
  );
} else {
  console.log(`kernel time per step ${total.toFixed(0)} ms; ${[...phases].map(([p, t]) => `${p} ${t.toFixed(0)}`).join(", ")}`);
  console.log("\nphase    op type                     ms/step   share");
  for (const r of rows.slice(0, 40))
    console.log(`${r.phase.padEnd(8)} ${r.op.padEnd(26)} ${r.ms.toFixed(1).padStart(8)} ${((r.ms / total) * 100).toFixed(1).padStart(6)}%`);
  console.log(`\nslowest ${top} nodes (ms/step):`);
  for (const n of nodes.slice(0, top)) console.log(`${n.ms.toFixed(1).padStart(7)}  ${n.op.padEnd(20)} ${n.name}`);
}
