/**
 * A/B training speed of two source trees in one process (run by hand): this checkout against
 * another one (e.g. a git worktree of main), interleaved step by step, so both see the same
 * machine load; optionally PyTorch's step (bench/torch_train.py) interleaved as a third contender.
 *
 *   node --import tsx bench/ab_train.ts --base /work/main [--arch resnet18] [--batch 16]
 *        [--resolution 224] [--rounds 5] [--steps 2] [--optimizer sgd|adamw] [--classes 1000] [--torch]
 *        [--no-spin] [--no-nchwc] [--json]
 *
 * Each tree's own src/ builds the training graph (SGD momentum 0.9 or AdamW, whole network, train
 * mode, dropout 0, 1000 classes by default, random weights seed 0) and runs it as Trainer does (ONNX Runtime
 * session with convzoo's options and memory pattern off, 2 threads), state fed back each step.
 * Both sessions stay alive; each round runs `--steps` timed steps of each contender in rotated
 * order (PyTorch: one fresh process per round, one warm-up step). Prints per-contender medians
 * of wall time and of this process's CPU time per step (both threads; less sensitive than wall
 * time to other jobs preempting us, though ORT's spinning threads count too: --no-spin turns
 * spinning off for both trees), the ratio of medians and, per round, B/A, whose spread says how
 * far to trust the medians.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import * as ort from "onnxruntime-node";

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const base = flag("--base", "");
if (!base) throw new Error("usage: bench/ab_train.ts --base <other checkout> [--arch A] [--rounds R] [--steps S] [--torch]");
const here = resolve(fileURLToPath(new URL("..", import.meta.url)));
const arch = flag("--arch", "resnet18");
const batch = Number(flag("--batch", "16"));
const resolution = Number(flag("--resolution", "224"));
const rounds = Number(flag("--rounds", "5"));
const steps = Number(flag("--steps", "2"));
const withTorch = args.includes("--torch");
const noSpin = args.includes("--no-spin");
const noNchwc = args.includes("--no-nchwc");
const json = args.includes("--json");
const THREADS = 2;
const CLASSES = Number(flag("--classes", "1000"));
const optimizer = flag("--optimizer", "sgd");
if (optimizer !== "sgd" && optimizer !== "adamw") throw new Error(`--optimizer: sgd or adamw, got ${optimizer}`);
/** The learning rate of each step (bench/torch_train.py uses the same: SGD 0.01, AdamW 1e-3). */
const LR = optimizer === "adamw" ? 1e-3 : 0.01;
const log = (m: string) => process.stderr.write(`${m}\n`);

interface Contender {
  name: string;
  step: () => Promise<number>;
  loss: number[];
  times: number[];
  cpu: number[];
  nodes?: number;
}

/** A contender from a source tree: its own model, graph builder and session options. */
async function fromTree(name: string, root: string): Promise<Contender> {
  // The first of the paths that exists in the tree (files were renamed in the renovation).
  const load = async <T>(...rels: string[]) => {
    const rel = rels.find((r) => existsSync(resolve(root, r))) ?? rels[0];
    return (await import(pathToFileURL(resolve(root, rel)).href)) as T;
  };
  await load("src/models/index.ts");
  const { createModel } = await load<typeof import("../src/models/registry.js")>("src/models/registry.ts");
  const { initializeWeights } = await load<typeof import("../src/models/bind.js")>("src/models/bind.ts", "src/models/graphs.ts");
  const { trainingGraph, targetDistribution } = await load<typeof import("../src/train/training_graph.js")>(
    "src/train/training_graph.ts",
    "src/train/graph.ts",
  );
  const { toOnnx } = await load<typeof import("../src/onnx/serialize.js")>("src/onnx/serialize.ts");
  const { optimizerScalarValues } = await load<typeof import("../src/train/optimizers.js")>("src/train/optimizers.ts");
  const { ortSessionOptions } = await load<typeof import("../src/runtime/session.js")>("src/runtime/session.ts");
  const { Random } = await load<typeof import("../src/random.js")>("src/random.ts");
  const model = createModel(arch, { numClasses: CLASSES, dropout: 0 });
  initializeWeights(model, 0);
  // Trees with the NCHWc lowering build for it as their Trainer does (--no-nchwc: neither does);
  // trees from before trainingGraph took nchwcBlock get the pass applied afterwards.
  let nchwcBlock = 1;
  if (!noNchwc && existsSync(resolve(root, "src/runtime/nchwc_block.ts"))) {
    nchwcBlock = await (await load<typeof import("../src/runtime/nchwc_block.js")>("src/runtime/nchwc_block.ts")).nchwcBlockSize();
  }
  const spec = trainingGraph(model, {
    batchSize: batch,
    resolution,
    optimizer: optimizer === "adamw" ? { kind: "adamw" } : { kind: "sgd", momentum: 0.9 },
    nchwcBlock,
  });
  if (nchwcBlock > 1) (await load<typeof import("../src/graph/nchwc.js")>("src/graph/nchwc.ts")).lowerConvsToNchwc(spec.graph, nchwcBlock);
  const spin = noSpin ? { extra: { session: { intra_op: { allow_spinning: "0" } } } } : {};
  const session = await ort.InferenceSession.create(toOnnx(spec.graph), {
    ...ortSessionOptions({ threads: THREADS }),
    enableMemPattern: false,
    ...spin,
  });
  const params = new Map(model.net.namedParameters());
  const rng = new Random(1);
  const feeds: Record<string, ort.Tensor> = {
    input: new ort.Tensor(
      "float32",
      Float32Array.from({ length: batch * 3 * resolution * resolution }, () => rng.normal()),
      [batch, 3, resolution, resolution],
    ),
    target: new ort.Tensor(
      "float32",
      targetDistribution(
        Array.from({ length: batch }, (_, i) => i % CLASSES),
        CLASSES,
      ),
      [batch, CLASSES],
    ),
  };
  for (const s of spec.state) {
    const fromModel = s.kind === "parameter" || s.kind === "running_mean" || s.kind === "running_var";
    const data = fromModel
      ? (params.get(s.key)!.tensor.data as Float32Array).slice()
      : new Float32Array(s.shape.reduce((a, d) => a * d, 1));
    feeds[s.input] = new ort.Tensor("float32", data, [...s.shape]);
  }
  // The optimizer's per-step scalars as the Trainer feeds them (lr; AdamW's bias corrections by step).
  let t = 0;
  const feedScalars = () => {
    t++;
    for (const [n, v] of Object.entries(optimizerScalarValues(spec.optimizer, t, LR)))
      feeds[n] = new ort.Tensor("float32", Float32Array.of(v), []);
  };
  feedScalars();
  for (const v of spec.graph.inputs) {
    if (feeds[v.name]) continue;
    throw new Error(`${name}: no feed for the graph input ${v.name}`);
  }
  const lossName = session.outputNames.find((n) => n === "loss") ?? session.outputNames[0];
  const c: Contender = { name, loss: [], times: [], cpu: [], nodes: spec.graph.nodes.length, step: async () => 0 };
  c.step = async () => {
    if (c.loss.length > 0) feedScalars(); // the first step runs with t = 1, fed above
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const out = await session.run(feeds);
    const ms = performance.now() - t0;
    const used = process.cpuUsage(c0);
    c.cpu.push((used.user + used.system) / 1000);
    for (const s of spec.state) feeds[s.input] = out[s.output];
    c.loss.push((out[lossName].data as Float32Array)[0]);
    return ms;
  };
  return c;
}

function torchContender(): Contender {
  const script = resolve(here, "bench/torch_train.py");
  const c: Contender = { name: "PyTorch", loss: [], times: [], cpu: [], step: async () => 0 };
  return (
    (c.step = async () => {
      // One process per round: warm-up inside, `steps` timed steps; the round's times are pushed here.
      const argv = [
        script,
        "--arch",
        arch,
        "--batch",
        String(batch),
        "--resolution",
        String(resolution),
        "--classes",
        String(CLASSES),
        "--threads",
        String(THREADS),
        "--warmup",
        "1",
        "--runs",
        String(steps),
        "--optimizer",
        optimizer,
      ];
      const { stdout } = await promisify(execFile)("/usr/bin/python3", argv, { maxBuffer: 1 << 24 });
      const times = (JSON.parse(stdout) as { times: number[] }).times;
      c.times.push(...times);
      return NaN;
    }),
    c
  );
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const a = await fromTree("A (base)", resolve(base));
const b = await fromTree("B (this)", here);
log(`${arch} b${batch} @${resolution}: A = ${resolve(base)} (${a.nodes} nodes), B = ${here} (${b.nodes} nodes)`);
for (const c of [a, b]) {
  await c.step(); // warm-up
  c.cpu.length = 0;
}
const contenders = withTorch ? [a, b, torchContender()] : [a, b];
const perRound: number[] = [];
for (let r = 0; r < rounds; r++) {
  const roundMedian = new Map<Contender, number>();
  for (let i = 0; i < contenders.length; i++) {
    const c = contenders[(i + r) % contenders.length];
    if (c.name === "PyTorch") {
      const before = c.times.length;
      await c.step();
      roundMedian.set(c, median(c.times.slice(before)));
      continue;
    }
    const ts: number[] = [];
    for (let s = 0; s < steps; s++) ts.push(await c.step());
    c.times.push(...ts);
    roundMedian.set(c, median(ts));
  }
  perRound.push(roundMedian.get(b)! / roundMedian.get(a)!);
  log(
    `round ${r + 1}/${rounds}: ${contenders.map((c) => `${c.name} ${roundMedian.get(c)!.toFixed(0)} ms`).join(", ")}, B/A ${perRound.at(-1)!.toFixed(3)}`,
  );
}
const ma = median(a.times);
const mb = median(b.times);
const torch = contenders.find((c) => c.name === "PyTorch");
const mt = torch ? median(torch.times) : null;
const summary = {
  arch,
  batch,
  resolution,
  rounds,
  steps,
  aMs: ma,
  bMs: mb,
  aCpuMs: median(a.cpu),
  bCpuMs: median(b.cpu),
  noSpin,
  bOverA: mb / ma,
  perRoundBOverA: perRound,
  torchMs: mt,
  aVsTorch: mt ? mt / ma : null,
  bVsTorch: mt ? mt / mb : null,
  lossA: a.loss.slice(0, 3),
  lossB: b.loss.slice(0, 3),
};
log(
  `\nmedian ms/step: A ${ma.toFixed(0)} [${Math.min(...a.times).toFixed(0)}–${Math.max(...a.times).toFixed(0)}], B ${mb.toFixed(0)} [${Math.min(...b.times).toFixed(0)}–${Math.max(...b.times).toFixed(0)}]` +
    (mt ? `, PyTorch ${mt.toFixed(0)} [${Math.min(...torch!.times).toFixed(0)}–${Math.max(...torch!.times).toFixed(0)}]` : ""),
);
log(
  `median CPU ms/step (this process, both threads${noSpin ? ", no spinning" : ", spinning included"}): A ${summary.aCpuMs.toFixed(0)}, B ${summary.bCpuMs.toFixed(0)}, B/A ${(summary.bCpuMs / summary.aCpuMs).toFixed(3)}`,
);
log(
  `B/A ${summary.bOverA.toFixed(3)} (per round ${Math.min(...perRound).toFixed(3)}–${Math.max(...perRound).toFixed(3)})` +
    (mt ? `; speed vs PyTorch (PyTorch ms / ms): A ${summary.aVsTorch!.toFixed(2)}x, B ${summary.bVsTorch!.toFixed(2)}x` : ""),
);
log(`first losses: A ${summary.lossA.map((l) => l.toFixed(5)).join(", ")}; B ${summary.lossB.map((l) => l.toFixed(5)).join(", ")}`);
if (json) process.stdout.write(`${JSON.stringify(summary)}\n`);
