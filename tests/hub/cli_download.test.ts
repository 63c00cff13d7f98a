/**
 * `convzoo weights get` end to end against a file server on 127.0.0.1 (as a mirror URL): the
 * download lands in the cache, progress shows as plain lines off a terminal, a second get does not
 * download again, and a dead mirror is one clear line.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { weightsCacheDir } from "../../src/hub/cache.js";
import { getWeights } from "../../src/hub/registry.js";
import { CLI } from "../helpers/cli.js";
import { FileServer } from "./server.js";

const run = promisify(execFile);

/** The CLI as a child process that does not block this one (the server answers it). */
async function convzoo(env: NodeJS.ProcessEnv, ...args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
    return { status: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { status: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

let dir = "";
let server: FileServer;
// Keras's files carry no hash in their names, so any bytes stand for one here.
const entry = getWeights("mobilenet_v1.KERAS_A025_R128")!;
const bytes = Buffer.alloc(3 << 20, 7);

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "convzoo-get-"));
  server = await new FileServer().start();
  server.add(entry.file, { bytes, chunk: 256 << 10, delayMs: 20 });
});
after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

test("weights get downloads into the cache once, with plain progress lines off a terminal", async () => {
  const env = {
    CONVZOO_HOME: join(dir, "home"),
    TORCH_HOME: join(dir, "torch"),
    CONVZOO_WEIGHTS_MIRROR: `${server.base}/files`,
    CONVZOO_PROGRESS_INTERVAL: "0",
  };
  const r = await convzoo(env, "weights", "get", entry.name);
  assert.equal(r.status, 0, r.stderr);
  const path = join(weightsCacheDir(env), entry.file);
  assert.equal(r.stdout.trim(), path);
  assert.deepEqual(readFileSync(path), bytes);
  assert.match(r.stderr, /downloading mobilenet_2_5_128_tf\.h5: [\d.]+ MB of 3\.0 MB, [\d.]+ MB\/s, ETA/);
  assert.equal(server.full.get(entry.file), 1);
  const again = await convzoo(env, "weights", "get", entry.name);
  assert.equal(again.stdout.trim(), path);
  assert.equal(server.full.get(entry.file), 1, "the second get finds it in the cache");
  const info = JSON.parse((await convzoo(env, "weights", "info", entry.name, "--json")).stdout) as { cached: string };
  assert.equal(info.cached, path);
});

test("a mirror that does not answer: one line naming the URL", async () => {
  const env = { CONVZOO_HOME: join(dir, "home2"), CONVZOO_WEIGHTS_MIRROR: "http://127.0.0.1:9/nothing" };
  const r = await convzoo(env, "weights", "get", entry.name);
  assert.equal(r.status, 1);
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /^convzoo: error: .*http:\/\/127\.0\.0\.1:9\/nothing\/mobilenet_2_5_128_tf\.h5/);
});
