/**
 * Serving throughput and latency, side by side in one run on loopback (run by hand, not in CI):
 *
 *   node --import tsx bench/serve.ts                 # mobilenet_v2 at 224, 3 rounds (about 8 minutes)
 *   node --import tsx bench/serve.ts --quick         # smoke test: short runs, numbers not meaningful
 *   node --import tsx bench/serve.ts --json          # stdout: one JSON object; the table goes to stderr
 *   options: --arch A --resolution N --max-batch B --delay-ms D --rounds R --duration S
 *            --instances 1,2   servers with these instance counts (each batching off and on; default 1)
 *
 * Contenders, interleaved round by round:
 *   in-process  Predictor.predict on batches of 1 to B images (the library, no HTTP): images/s, measured in a
 *               fresh child process each round (as each server is its own process: measured in this one,
 *               beside autocannon and the servers' sockets, batch 1 ran at 132 img/s against 207–290 alone);
 *   serve off   `convzoo serve --no-dynamic-batching`: every request runs alone (batch-1 serving);
 *   serve on    `convzoo serve --max-batch-size B --max-queue-delay-ms D`: dynamic batching;
 *   ×N          either with `--instances N` (N sessions of 2/N threads each, N batches at once).
 * Each server is its own process (2 ONNX Runtime threads in all, as the in-process Predictor); autocannon
 * (in this process) keeps 1, 8 or 64 connections busy with one-image requests: FP32 [1, 3, R, R] in
 * Triton's binary-data extension, the top 5 back through the classification extension.
 * Reported: requests/s (2xx per second), p50/p99 latency, the mean batch the server ran (from its
 * /metrics), the CPU the server and the load generator used, and ratios: batching on / off at each
 * client count (same instances), over batch-1 serving (off, one instance: the issue's baseline), and
 * server / in-process throughput at the batch size the server actually ran (its overhead). Medians over rounds.
 * Weights are random (speed does not depend on values).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { initializeWeights } from "../src/models/bind.js";
import "../src/models/index.js";
import { createModel } from "../src/models/registry.js";
import { Predictor } from "../src/inference/predictor.js";
import { Random } from "../src/random.js";
import { median } from "../src/tools/bench.js";
import { saveCheckpoint } from "../src/weights/files.js";
import { stateDict } from "../src/weights/load.js";

const args = process.argv.slice(2);
function flag(name: string, fallback: string): string {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
}
const known = new Set([
  "--quick",
  "--json",
  "--arch",
  "--resolution",
  "--max-batch",
  "--delay-ms",
  "--rounds",
  "--duration",
  "--instances",
  "--in-process-child",
]);
for (const a of args) if (a.startsWith("--") && !known.has(a)) throw new Error(`unknown argument ${a}; see the header of bench/serve.ts`);
const quick = args.includes("--quick");
const json = args.includes("--json");
const ARCH = flag("--arch", "mobilenet_v2");
const RESOLUTION = Number(flag("--resolution", "224"));
const MAX_BATCH = Number(flag("--max-batch", "16"));
const DELAY_MS = Number(flag("--delay-ms", "2"));
const ROUNDS = Number(flag("--rounds", quick ? "1" : "3"));
const DURATION_S = Number(flag("--duration", quick ? "2" : "10"));
const WARMUP_S = quick ? 1 : 3;
const THREADS = 2;
const INSTANCES = flag("--instances", "1").split(",").map(Number);
for (const n of INSTANCES)
  if (!(Number.isInteger(n) && n >= 1 && THREADS % n === 0)) throw new Error(`--instances: each count must divide ${THREADS}`);
const CLIENTS = [1, 8, 64];
const CLI = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));

const log = (msg: string) => process.stderr.write(`${msg}\n`);

interface Server {
  mode: "off" | "on";
  instances: number;
  /** "off" / "on" with one instance, "off×2" / "on×2" with two. */
  key: string;
  url: string;
  child: ChildProcess;
}

function startServer(mode: "off" | "on", instances: number, weights: string): Promise<Server> {
  const key = instances === 1 ? mode : `${mode}×${instances}`;
  const batching =
    mode === "off"
      ? ["--no-dynamic-batching", "--max-batch-size", "1"]
      : ["--max-batch-size", String(MAX_BATCH), "--max-queue-delay-ms", String(DELAY_MS)];
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      CLI,
      "serve",
      "--weights",
      weights,
      "--name",
      "m",
      "--port",
      "0",
      "--instances",
      String(instances),
      "--threads",
      String(THREADS / instances),
      ...batching,
    ],
    {
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let err = "";
  return new Promise((resolve, reject) => {
    child.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
      const m = /^ready: (http:\/\/\S+) /m.exec(err);
      if (m) resolve({ mode, instances, key, url: m[1], child });
    });
    child.on("exit", (code) => reject(new Error(`serve (${key}) exited with ${code}:\n${err}`)));
  });
}

/** One image, FP32 in binary, asking for the top 5 by the classification extension. */
function requestBody(seed: number): { body: Buffer; headers: Record<string, string> } {
  const rng = new Random(seed);
  const data = new Float32Array(3 * RESOLUTION * RESOLUTION);
  for (let i = 0; i < data.length; i++) data[i] = rng.normal();
  const bytes = Buffer.from(data.buffer);
  const header = Buffer.from(
    JSON.stringify({
      inputs: [{ name: "input", datatype: "FP32", shape: [1, 3, RESOLUTION, RESOLUTION], parameters: { binary_data_size: bytes.length } }],
      outputs: [{ name: "probabilities", parameters: { classification: 5 } }],
    }),
  );
  return {
    body: Buffer.concat([header, bytes]),
    headers: { "Content-Type": "application/octet-stream", "Inference-Header-Content-Length": String(header.length) },
  };
}

async function metricCounts(url: string): Promise<{ inferences: number; executions: number; requests: number; computeMicros: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name}\\{model="m",version="1"\\} (\\S+)$`, "m").exec(text)?.[1] ?? 0);
  return {
    inferences: value("nv_inference_count"),
    executions: value("nv_inference_exec_count"),
    requests: value("nv_inference_request_success"),
    // Per request: the run time of the batch it was in (so the mean over requests is the mean batch run, request-weighted).
    computeMicros: value("nv_inference_compute_infer_duration_us"),
  };
}

interface LoadResult {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  meanBatch: number;
  /** The server's run time of a batch (ONNX Runtime in its worker), ms, averaged over requests. */
  batchRunMs: number;
  /** CPU the server process used over the run, in cores (user + system over wall time). */
  serverCores: number;
  /** CPU this process (autocannon, the load generator) used, in cores. */
  clientCores: number;
}

/** user + system CPU seconds of a process so far (Linux /proc; fields 14 and 15 are in clock ticks of 1/100 s). */
function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function load(server: Server, clients: number, seconds: number, req: ReturnType<typeof requestBody>): Promise<LoadResult> {
  const before = await metricCounts(server.url);
  const [server0, client0, wall0] = [processCpuSeconds(server.child.pid!), process.cpuUsage(), performance.now()];
  const r = await autocannon({
    url: `${server.url}/v2/models/m/infer`,
    method: "POST",
    body: req.body,
    headers: req.headers,
    connections: clients,
    duration: seconds,
    pipelining: 1,
    timeout: 60,
  });
  const wall = (performance.now() - wall0) / 1000;
  const serverCores = (processCpuSeconds(server.child.pid!) - server0) / wall;
  const client = process.cpuUsage(client0);
  const clientCores = (client.user + client.system) / 1e6 / wall;
  const after = await metricCounts(server.url);
  if (r.errors > 0 || r.non2xx > 0 || r.timeouts > 0)
    throw new Error(`serve ${server.key} at ${clients} clients: ${r.errors} errors, ${r.non2xx} non-2xx, ${r.timeouts} timeouts`);
  return {
    requestsPerSecond: r["2xx"] / r.duration,
    p50: r.latency.p50,
    p99: r.latency.p99,
    meanBatch: (after.inferences - before.inferences) / Math.max(1, after.executions - before.executions),
    batchRunMs: (after.computeMicros - before.computeMicros) / Math.max(1, after.requests - before.requests) / 1000,
    serverCores,
    clientCores,
  };
}

/** In-process images/s at a batch size: median over runs of Predictor.predict. */
async function inProcess(predictor: Predictor, batch: number, runs: number): Promise<number> {
  const rng = new Random(batch);
  const data = new Float32Array(batch * 3 * RESOLUTION * RESOLUTION);
  for (let i = 0; i < data.length; i++) data[i] = rng.normal();
  const input = { dtype: "float32" as const, shape: [batch, 3, RESOLUTION, RESOLUTION], data };
  for (let i = 0; i < 2; i++) await predictor.predict(input);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await predictor.predict(input);
    times.push(performance.now() - t0);
  }
  return (batch * 1000) / median(times);
}

/** The child's side: images/s at each batch size, as one JSON line on stdout. */
async function inProcessChild(): Promise<void> {
  const model = initializeWeights(createModel(ARCH, {}), 0);
  const predictor = await Predictor.create(model, { resolution: RESOLUTION, threads: THREADS, output: "logits" });
  const result: Record<number, number> = {};
  for (const b of [...new Set([1, 2, 4, 8, MAX_BATCH])])
    result[b] = await inProcess(predictor, b, quick ? 3 : Math.max(5, Math.round(40 / b)));
  await predictor.release();
  console.log(JSON.stringify(result));
}

/** One round of in-process figures from a fresh process (the same flags, so the same model and sizes). */
function inProcessRound(): Promise<Record<number, number>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), ...args, "--in-process-child"], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    child.on("exit", (code) =>
      code === 0 ? resolve(JSON.parse(out) as Record<number, number>) : reject(new Error(`in-process child exited with ${code}`)),
    );
  });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "convzoo-bench-serve-"));
  const servers: Server[] = [];
  try {
    const model = initializeWeights(createModel(ARCH, {}), 0);
    const weights = join(dir, `${ARCH}.safetensors`);
    await saveCheckpoint(weights, stateDict(model), { arch: ARCH, options: model.options, resolution: RESOLUTION });
    log(
      `${ARCH} at ${RESOLUTION}, ${THREADS} threads, batching on: max batch ${MAX_BATCH}, delay ${DELAY_MS} ms; ${ROUNDS} rounds of ${DURATION_S} s per point`,
    );
    log(`${cpus().length} cores: ${cpus()[0]?.model}`);
    for (const n of INSTANCES) servers.push(await startServer("off", n, weights), await startServer("on", n, weights));
    const req = requestBody(1);
    const batches = [...new Set([1, 2, 4, 8, MAX_BATCH])];
    const inproc = new Map<number, number[]>(batches.map((b) => [b, []]));
    const served = new Map<string, LoadResult[]>();
    for (let round = 0; round < ROUNDS; round++) {
      const measured = await inProcessRound();
      for (const b of batches) {
        inproc.get(b)!.push(measured[b]);
        log(`round ${round + 1}: in-process batch ${b}: ${measured[b].toFixed(1)} images/s`);
      }
      // Rotate which server goes first each round.
      const order = round % 2 === 0 ? servers : [...servers].reverse();
      for (const s of order) {
        for (const c of CLIENTS) {
          await load(s, c, WARMUP_S, req);
          const r = await load(s, c, DURATION_S, req);
          const key = `${s.key}/${c}`;
          served.set(key, [...(served.get(key) ?? []), r]);
          log(
            `round ${round + 1}: serve ${s.key} ${c} clients: ${r.requestsPerSecond.toFixed(1)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms, mean batch ${r.meanBatch.toFixed(2)} run in ${r.batchRunMs.toFixed(1)} ms, CPU: server ${r.serverCores.toFixed(2)} cores, client ${r.clientCores.toFixed(2)}`,
          );
        }
      }
    }

    const med = (key: string, pick: (r: LoadResult) => number) => median(served.get(key)!.map(pick));
    const inprocAt = (batch: number) => {
      // The in-process figure at the batch the server ran: interpolated between the measured sizes.
      const sizes = [...inproc.keys()].sort((a, b) => a - b);
      const lo = [...sizes].reverse().find((s) => s <= batch) ?? sizes[0];
      const hi = sizes.find((s) => s >= batch) ?? sizes[sizes.length - 1];
      const [a, b] = [median(inproc.get(lo)!), median(inproc.get(hi)!)];
      return hi === lo ? a : a + ((b - a) * (batch - lo)) / (hi - lo);
    };
    const rows = [];
    for (const server of servers) {
      const { mode, key: serverKey } = server;
      for (const c of CLIENTS) {
        const key = `${serverKey}/${c}`;
        const rps = med(key, (r) => r.requestsPerSecond);
        const meanBatch = med(key, (r) => r.meanBatch);
        const ref = inprocAt(meanBatch);
        const offKey = `${serverKey.replace(/^on/, "off")}/${c}`;
        rows.push({
          mode: serverKey,
          clients: c,
          requestsPerSecond: rps,
          p50Ms: med(key, (r) => r.p50),
          p99Ms: med(key, (r) => r.p99),
          meanBatch,
          batchRunMs: med(key, (r) => r.batchRunMs),
          inProcessBatchMs: (meanBatch * 1000) / ref,
          serverCores: med(key, (r) => r.serverCores),
          clientCores: med(key, (r) => r.clientCores),
          inProcessImagesPerSecond: ref,
          serverOverInProcess: rps / ref,
          // Batching on over batching off with the same instances; and over batch-1 serving with one instance.
          batchingSpeedup: mode === "on" ? rps / med(offKey, (r) => r.requestsPerSecond) : null,
          overBatchOneServing: served.has(`off/${c}`) ? rps / med(`off/${c}`, (r) => r.requestsPerSecond) : null,
        });
      }
    }
    const table = [
      "| batching | clients | req/s | p50 ms | p99 ms | mean batch | batch run ms (server / in-process) | server CPU (cores) | client CPU (cores) | in-process img/s at that batch | server / in-process | on / off | over batch-1 serving |",
      "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
      ...rows.map(
        (r) =>
          `| ${r.mode} | ${r.clients} | ${r.requestsPerSecond.toFixed(1)} | ${r.p50Ms} | ${r.p99Ms} | ${r.meanBatch.toFixed(2)} | ${r.batchRunMs.toFixed(1)} / ${r.inProcessBatchMs.toFixed(1)} | ${r.serverCores.toFixed(2)} | ${r.clientCores.toFixed(2)} | ${r.inProcessImagesPerSecond.toFixed(1)} | ${r.serverOverInProcess.toFixed(3)} | ${r.batchingSpeedup === null ? "" : `${r.batchingSpeedup.toFixed(2)}x`} | ${r.overBatchOneServing === null ? "" : `${r.overBatchOneServing.toFixed(2)}x`} |`,
      ),
    ];
    log("");
    log(`in-process Predictor images/s by batch: ${[...inproc].map(([b, v]) => `${b}: ${median(v).toFixed(1)}`).join(", ")}`);
    for (const line of table) log(line);
    if (json) {
      console.log(
        JSON.stringify({
          arch: ARCH,
          resolution: RESOLUTION,
          threads: THREADS,
          maxBatch: MAX_BATCH,
          delayMs: DELAY_MS,
          instances: INSTANCES,
          rounds: ROUNDS,
          durationS: DURATION_S,
          inProcess: Object.fromEntries([...inproc].map(([b, v]) => [b, v])),
          rows,
        }),
      );
    }
  } finally {
    for (const s of servers) s.child.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  }
}

if (args.includes("--in-process-child")) await inProcessChild();
else await main();
