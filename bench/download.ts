/**
 * Download throughput, side by side in one run (by hand, not in CI):
 *
 *   node --import tsx bench/download.ts             # 200 MB, 5 rounds
 *   node --import tsx bench/download.ts --quick     # 20 MB, 1 round: smoke test, numbers not meaningful
 *   SIZE_MB=400 ROUNDS=7 node --import tsx bench/download.ts
 *
 * A generated checkpoint (random bytes, torch.hub-style name with its hash prefix) served from
 * memory by a loopback HTTP server in its own process; each round, in rotated order:
 *   convzoo   `fetchWeights` into a fresh cache (stream, SHA-256 while streaming, fsync, rename)
 *   torch.hub `torch.hub.download_url_to_file(url, dst, hash_prefix, progress=False)` in a Python
 *             process started once (Debian's /usr/bin/python3 with torch), timed inside Python
 * Both check the hash. Medians over rounds, MB/s (10^6 bytes), and the ratio; then what convzoo's
 * fsync before the rename (which torch.hub does not do) costs on its own at that size.
 */
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { performance } from "node:perf_hooks";
import { fetchWeights } from "../src/hub/download.js";
import { median } from "../src/tools/bench.js";

const args = process.argv.slice(2);
for (const a of args) if (a !== "--quick") throw new Error(`unknown argument ${a}; usage: bench/download.ts [--quick]`);
const quick = args.includes("--quick");
const SIZE = (quick ? 20 : Number(process.env.SIZE_MB ?? 200)) * 1e6;
const ROUNDS = quick ? 1 : Number(process.env.ROUNDS ?? 5);
const PYTHON = process.env.PYTHON ?? "/usr/bin/python3";
const log = (msg: string) => process.stderr.write(`${msg}\n`);

const SERVER = `
const { createServer } = require("node:http");
const { readFileSync } = require("node:fs");
const [path, name] = process.argv.slice(1);
const bytes = readFileSync(path);
const server = createServer((req, res) => {
  if (req.url !== "/" + name) return res.writeHead(404).end();
  res.writeHead(200, { "content-length": bytes.length, "content-type": "application/octet-stream" });
  res.end(bytes);
});
server.listen(0, "127.0.0.1", () => process.stdout.write(server.address().port + "\\n"));
`;

const TORCH = `
import json, sys, time
import torch.hub
for line in sys.stdin:
    url, dst, prefix = json.loads(line)
    t = time.perf_counter()
    torch.hub.download_url_to_file(url, dst, hash_prefix=prefix, progress=False)
    print(json.dumps({"seconds": time.perf_counter() - t}), flush=True)
`;

const dir = mkdtempSync(join(tmpdir(), "convzoo-bench-download-"));
const children: ReturnType<typeof spawn>[] = [];
try {
  log(`generating ${SIZE / 1e6} MB …`);
  const bytes = randomBytes(SIZE);
  const prefix = createHash("sha256").update(bytes).digest("hex").slice(0, 8);
  const file = `bench-${prefix}.pth`;
  writeFileSync(join(dir, "served"), bytes);

  const server = spawn(process.execPath, ["-e", SERVER, join(dir, "served"), file], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(server);
  const port = Number((await once(createInterface({ input: server.stdout! }), "line"))[0]);
  const url = `http://127.0.0.1:${port}/${file}`;

  // No proxy variables reach either contender: both go straight to the loopback server.
  const pyEnv = { PATH: process.env.PATH ?? "/usr/bin:/bin", no_proxy: "*", OMP_NUM_THREADS: "1" };
  const torch = spawn(PYTHON, ["-c", TORCH], { stdio: ["pipe", "pipe", "inherit"], env: pyEnv });
  children.push(torch);
  const torchLines = createInterface({ input: torch.stdout! })[Symbol.asyncIterator]();

  const contenders: Record<string, (round: number) => Promise<number>> = {
    convzoo: async (round) => {
      const env = { CONVZOO_HOME: join(dir, `cz${round}`), TORCH_HOME: join(dir, "no-torch") };
      const t = performance.now();
      const path = await fetchWeights({ url, file }, { env });
      const seconds = (performance.now() - t) / 1000;
      rmSync(path);
      return seconds;
    },
    "torch.hub": async (round) => {
      const dst = join(dir, `th${round}`, file);
      mkdirSync(join(dir, `th${round}`), { recursive: true });
      torch.stdin!.write(`${JSON.stringify([url, dst, prefix])}\n`);
      const next = await torchLines.next();
      if (next.done) throw new Error("the torch.hub process ended early (is torch installed in /usr/bin/python3?)");
      rmSync(dst);
      return (JSON.parse(next.value) as { seconds: number }).seconds;
    },
  };
  const names = Object.keys(contenders);
  // One warm-up each (page cache, Python's imports, undici's first connection), not counted.
  for (const name of names) await contenders[name](-1);
  const times = new Map<string, number[]>(names.map((n) => [n, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = names.map((_, i) => names[(i + round) % names.length]);
    for (const name of order) {
      const s = await contenders[name](round);
      times.get(name)!.push(s);
      log(`round ${round + 1}/${ROUNDS} ${name.padEnd(9)} ${(SIZE / 1e6 / s).toFixed(0).padStart(5)} MB/s`);
    }
  }
  // What the fsync before the rename costs (torch.hub does none): a datasync of a file just written.
  const syncs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const fh = await open(join(dir, "sync"), "w");
    await fh.write(bytes);
    const t = performance.now();
    await fh.datasync();
    syncs.push((performance.now() - t) / 1000);
    await fh.close();
  }
  const mbps = (n: string) => SIZE / 1e6 / median(times.get(n)!);
  log("");
  console.log(`${SIZE / 1e6} MB over loopback, ${ROUNDS} rounds, ${cpus().length} cores, load ${loadavg()[0].toFixed(1)}`);
  console.log("| contender | median MB/s | runs (s) |");
  console.log("| --- | --- | --- |");
  for (const n of names)
    console.log(
      `| ${n} | ${mbps(n).toFixed(0)} | ${times
        .get(n)!
        .map((s) => s.toFixed(2))
        .join(" ")} |`,
    );
  console.log(`convzoo / torch.hub throughput: ${(mbps("convzoo") / mbps("torch.hub")).toFixed(2)}x`);
  const sync = median(syncs).toFixed(2);
  console.log(`of convzoo's time, its fsync of the finished file: about ${sync} s (a datasync of ${SIZE / 1e6} MB just written)`);
} finally {
  for (const c of children) c.kill();
  rmSync(dir, { recursive: true, force: true });
}
