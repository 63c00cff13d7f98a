/**
 * src/hub/download.ts against loopback servers (tests/hub/server.ts): no test touches the network
 * or the real ~/.cache; every cache is a temp dir passed through `env`.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { ConvzooError, OptionError, WeightsError } from "../../src/errors.js";
import { convzooHome, torchHubCheckpointsDir, weightsCacheDir } from "../../src/hub/cache.js";
import { type DownloadProgress, fetchWeights, findCachedWeights, hashPrefixOf } from "../../src/hub/download.js";
import { checkpoint, FileServer, ForwardProxy } from "./server.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const temps: string[] = [];
const server = new FileServer();

before(async () => {
  await server.start();
});
after(async () => {
  await server.close();
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

/** A fresh convzoo cache and torch.hub home, and nothing else from the real environment. */
function sandbox(): { env: NodeJS.ProcessEnv; dir: string; cache: string } {
  const dir = mkdtempSync(join(tmpdir(), "convzoo-hub-"));
  temps.push(dir);
  const env = { HOME: dir, CONVZOO_HOME: join(dir, "home"), TORCH_HOME: join(dir, "torch") };
  return { env, dir, cache: weightsCacheDir(env) };
}

const seenFor = (file: string) => server.seen.filter((s) => s.url.endsWith(`/${file}`));
const oneLine = (re: RegExp) => (e: unknown) => {
  assert.ok(e instanceof ConvzooError, `a ConvzooError, got ${String(e)}`);
  assert.ok(!e.message.includes("\n"), `one line: ${e.message}`);
  assert.match(e.message, re);
  return true;
};
/** Only the final file may stay in the cache: no partial, lock or temp file. */
const cacheFiles = (cache: string) => (existsSync(cache) ? readdirSync(cache).sort() : []);

test("cache dirs: CONVZOO_HOME, XDG_CACHE_HOME, ~/.cache; torch.hub's TORCH_HOME the same way", () => {
  assert.equal(convzooHome({ CONVZOO_HOME: "/x/cz" }), "/x/cz");
  assert.equal(convzooHome({ XDG_CACHE_HOME: "/x/cache", HOME: "/h" }), "/x/cache/convzoo");
  assert.equal(convzooHome({ HOME: "/h" }), "/h/.cache/convzoo");
  assert.equal(convzooHome({ CONVZOO_HOME: "~/cz", HOME: "/h" }), "/h/cz");
  assert.equal(weightsCacheDir({ CONVZOO_HOME: "/x/cz" }), "/x/cz/weights");
  assert.equal(torchHubCheckpointsDir({ TORCH_HOME: "/t" }), "/t/hub/checkpoints");
  assert.equal(torchHubCheckpointsDir({ XDG_CACHE_HOME: "/x/cache" }), "/x/cache/torch/hub/checkpoints");
  assert.equal(torchHubCheckpointsDir({ HOME: "/h", TORCH_HOME: "" }), "/h/.cache/torch/hub/checkpoints");
});

test("hashPrefixOf reads torch.hub's hash prefix from the file name", () => {
  assert.equal(hashPrefixOf("resnet50-11ad3fa6.pth"), "11ad3fa6");
  assert.equal(hashPrefixOf("vgg16_features-amdegroot-88682ab5.pth"), "88682ab5");
  assert.equal(hashPrefixOf("efficientnet_b1-c27df63c.pth"), "c27df63c");
  assert.equal(hashPrefixOf("model.pth"), null);
  assert.equal(hashPrefixOf("model-.pth"), null);
});

test("download: streamed, progress on a timer, hash checked, renamed; the second call is a cache hit", async () => {
  const { env, cache } = sandbox();
  const { file, bytes } = checkpoint("net", 1 << 21);
  const url = server.add(file, { bytes, chunk: 64 << 10, delayMs: 8 });
  const events: DownloadProgress[] = [];
  const path = await fetchWeights({ url, file }, { env, onProgress: (p) => events.push({ ...p }), progressIntervalMs: 40 });
  assert.equal(path, join(cache, file));
  assert.ok(readFileSync(path).equals(bytes));
  assert.deepEqual(cacheFiles(cache), [file]);
  // Steady events (not one per chunk: 32 chunks), bytes never going back, the last one complete.
  assert.ok(events.length >= 3 && events.length < 32, `${events.length} progress events`);
  assert.ok(events.every((e, i) => e.total === bytes.length && (i === 0 || e.received >= events[i - 1].received)));
  assert.equal(events.at(-1)!.received, bytes.length);
  assert.ok(events.some((e) => e.bytesPerSecond > 0));
  const before = server.seen.length;
  assert.equal(await fetchWeights({ url, file }, { env }), path);
  assert.equal(await findCachedWeights({ url, file }, { env }), path);
  assert.equal(server.seen.length, before, "no request for a cached file");
});

test("redirects are followed", async () => {
  const { env, cache } = sandbox();
  const { file, bytes } = checkpoint("redir", 10_000);
  server.add(file, { bytes });
  const path = await fetchWeights({ url: `${server.base}/redirect/${file}`, file }, { env });
  assert.equal(path, join(cache, file));
  assert.ok(readFileSync(path).equals(bytes));
});

test("a hash mismatch removes the file and says expected vs got", async () => {
  const { env, cache } = sandbox();
  const { bytes } = checkpoint("x", 50_000);
  const file = "bad-deadbeef.pth";
  const url = server.add(file, { bytes });
  const got = createHash("sha256").update(bytes).digest("hex");
  await assert.rejects(fetchWeights({ url, file }, { env }), (e: unknown) => {
    assert.ok(e instanceof WeightsError);
    return oneLine(new RegExp(`hash mismatch downloading ${url}: expected a SHA-256 starting with deadbeef, got ${got} .*removed`))(e);
  });
  assert.deepEqual(cacheFiles(cache), []);
});

test("HTTP 404 and 500: one line with the status, nothing left in the cache", async () => {
  const { env, cache } = sandbox();
  const missing = `${server.base}/files/nothing-12345678.pth`;
  const notFound = oneLine(/^HTTP 404 Not Found for http:\/\/127/);
  await assert.rejects(fetchWeights({ url: missing, file: "nothing-12345678.pth" }, { env }), notFound);
  const broken = `${server.base}/status/500/err-12345678.pth`;
  await assert.rejects(fetchWeights({ url: broken, file: "err-12345678.pth" }, { env }), oneLine(/^HTTP 500 Internal Server Error for /));
  assert.deepEqual(cacheFiles(cache), []);
});

test("a connection cut mid-body keeps the partial file; the next call resumes it with a Range request", async () => {
  const { env, cache } = sandbox();
  const { file, bytes } = checkpoint("cut", 1_000_000);
  const url = server.add(file, { bytes, cutAfter: 400_000, chunk: 100_000 });
  await assert.rejects(
    fetchWeights({ url, file }, { env, retries: 0 }),
    oneLine(/download of .* was cut off after 400000 of 1000000 bytes .*partial file .*\.partial is kept: run again to resume/),
  );
  assert.deepEqual(cacheFiles(cache), [`${file}.partial`]);
  assert.equal(readFileSync(join(cache, `${file}.partial`)).length, 400_000);
  const path = await fetchWeights({ url, file }, { env, retries: 0 });
  assert.ok(readFileSync(path).equals(bytes));
  assert.deepEqual(
    seenFor(file).map((s) => s.range),
    [undefined, "bytes=400000-"],
  );
  assert.deepEqual(cacheFiles(cache), [file]);
});

test("within one call, a cut is resumed on its own (retries)", async () => {
  const { env } = sandbox();
  const { file, bytes } = checkpoint("cut2", 600_000);
  const url = server.add(file, { bytes, cutAfter: 250_000, cuts: 2, chunk: 50_000 });
  const notes: string[] = [];
  const path = await fetchWeights({ url, file }, { env, onNote: (n) => notes.push(n) });
  assert.ok(readFileSync(path).equals(bytes));
  assert.equal(notes.filter((n) => /resuming \(\d\/3\)/.test(n)).length, 2, notes.join("\n"));
  // Each resume starts where the bytes on disk end (all that arrived before the cut).
  assert.deepEqual(
    seenFor(file).map((s) => s.range),
    [undefined, "bytes=250000-", "bytes=500000-"],
  );
});

test("resume: a server answering 200 starts over; 416 on a whole partial completes it", async () => {
  const { env, cache } = sandbox();
  mkdirSync(cache, { recursive: true });
  const a = checkpoint("norange", 300_000);
  const urlA = server.add(a.file, { bytes: a.bytes, ignoreRange: true });
  writeFileSync(join(cache, `${a.file}.partial`), Buffer.alloc(1000, 7)); // wrong bytes: must not be kept
  const notes: string[] = [];
  assert.ok(readFileSync(await fetchWeights({ url: urlA, file: a.file }, { env, onNote: (n) => notes.push(n) })).equals(a.bytes));
  assert.ok(notes.some((n) => /does not resume \(HTTP 200 to a Range request\)/.test(n)));

  const b = checkpoint("whole", 200_000);
  const urlB = server.add(b.file, { bytes: b.bytes });
  writeFileSync(join(cache, `${b.file}.partial`), b.bytes);
  assert.ok(readFileSync(await fetchWeights({ url: urlB, file: b.file }, { env })).equals(b.bytes));
  assert.equal(server.full.get(b.file) ?? 0, 0, "no body sent");
  assert.deepEqual(cacheFiles(cache), [a.file, b.file].sort());
});

test("an abort stops the download: the partial file is kept for a resume, the lock released", async () => {
  const { env, cache } = sandbox();
  const { file, bytes } = checkpoint("abort", 1 << 20);
  const url = server.add(file, { bytes, chunk: 64 << 10, delayMs: 30 });
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 150);
  await assert.rejects(fetchWeights({ url, file }, { env, signal: controller.signal }), (e: unknown) => (e as Error).name === "AbortError");
  assert.deepEqual(cacheFiles(cache), [`${file}.partial`]);
  const kept = readFileSync(join(cache, `${file}.partial`)).length;
  assert.ok(kept > 0 && kept < bytes.length);
  assert.ok(readFileSync(await fetchWeights({ url, file }, { env })).equals(bytes));
  assert.equal(seenFor(file).at(-1)!.range, `bytes=${kept}-`);
});

test("two fetches at once (two in this process, one in another) download the file once", async () => {
  const { env, cache } = sandbox();
  const { file, bytes } = checkpoint("twice", 1 << 20);
  const url = server.add(file, { bytes, chunk: 64 << 10, delayMs: 60 }); // ~1 s, so the three overlap
  const child = promisify(execFile)(
    process.execPath,
    ["--import", "tsx", join(ROOT, "tests/hub/fetch_child.ts"), JSON.stringify({ url, file, home: env.CONVZOO_HOME })],
    { cwd: ROOT },
  );
  const notes: string[] = []; // at least one of the two here waits, whoever takes the lock
  const [p1, p2, c] = await Promise.all([
    fetchWeights({ url, file }, { env, onNote: (n) => notes.push(n) }),
    fetchWeights({ url, file }, { env, onNote: (n) => notes.push(n) }),
    child,
  ]);
  assert.equal(p1, join(cache, file));
  assert.equal(p2, p1);
  assert.equal(c.stdout, p1);
  assert.ok(readFileSync(p1).equals(bytes));
  assert.equal(server.full.get(file), 1);
  assert.equal(seenFor(file).length, 1);
  assert.ok(
    notes.some((n) => /^waiting for process \d+, which is downloading /.test(n)),
    notes.join("\n"),
  );
  assert.deepEqual(cacheFiles(cache), [file]);
});

test("a stale lock of a dead process is taken over", async () => {
  const { env, cache } = sandbox();
  const { file, bytes } = checkpoint("stale", 20_000);
  const url = server.add(file, { bytes });
  mkdirSync(cache, { recursive: true });
  writeFileSync(join(cache, `${file}.lock`), `999999999 ${hostname()} dead`); // above Linux's pid_max: no such process
  const notes: string[] = [];
  const path = await fetchWeights({ url, file }, { env, onNote: (n) => notes.push(n) });
  assert.ok(readFileSync(path).equals(bytes));
  assert.ok(notes.some((n) => n.startsWith("taking over the stale lock")));
  assert.deepEqual(cacheFiles(cache), [file]);
});

test("mirror as a base URL: the file comes from <base>/<file>", async () => {
  const { env } = sandbox();
  const { file, bytes } = checkpoint("mirrored", 30_000);
  server.add(file, { bytes });
  const url = "http://127.0.0.1:9/nowhere/" + file; // the origin is never asked
  const path = await fetchWeights({ url, file }, { env: { ...env, CONVZOO_WEIGHTS_MIRROR: `${server.base}/mirror/` } });
  assert.ok(readFileSync(path).equals(bytes));
  assert.deepEqual(
    seenFor(file).map((s) => s.url),
    [`/mirror/${file}`],
  );
});

test("mirror as a directory: hash-checked and used in place; a missing or wrong file is one line", async () => {
  const { env, dir, cache } = sandbox();
  const mirror = join(dir, "mirror");
  mkdirSync(mirror);
  const { file, bytes } = checkpoint("indir", 30_000);
  writeFileSync(join(mirror, file), bytes);
  const url = `${server.base}/files/${file}`; // not served: a request would fail
  const requests = server.seen.length;
  assert.equal(await fetchWeights({ url, file }, { env, mirror }), join(mirror, file));
  assert.equal(await findCachedWeights({ url, file }, { env: { ...env, CONVZOO_WEIGHTS_MIRROR: mirror } }), join(mirror, file));
  await assert.rejects(
    fetchWeights({ url, file: "absent-12345678.pth" }, { env, mirror }),
    oneLine(new RegExp(`absent-12345678.pth is not in the weights mirror ${mirror}: place it there .*or at ${cache}/absent`)),
  );
  writeFileSync(join(mirror, "wrong-12345678.pth"), "x");
  await assert.rejects(fetchWeights({ url, file: "wrong-12345678.pth" }, { env, mirror }), oneLine(/hash mismatch in the weights mirror/));
  assert.equal(server.seen.length, requests);
  await assert.rejects(fetchWeights({ url, file }, { env, mirror: join(dir, "nope") }), (e) => e instanceof OptionError);
});

test("offline: no request; the error names the URL and where to put a hand-fetched file", async () => {
  const { env, cache } = sandbox();
  const { file, bytes } = checkpoint("off", 1000);
  const url = server.add(file, { bytes });
  const requests = server.seen.length;
  const where = join(cache, file);
  await assert.rejects(
    fetchWeights({ url, file }, { env, offline: true }),
    oneLine(new RegExp(`^${file} is not cached and offline mode forbids downloading ${url}: download it by hand to ${where}$`)),
  );
  await assert.rejects(fetchWeights({ url, file }, { env: { ...env, CONVZOO_OFFLINE: "1" } }), oneLine(/CONVZOO_OFFLINE is set/));
  assert.equal(server.seen.length, requests);
  assert.equal(await findCachedWeights({ url, file }, { env }), null);
});

test("torch.hub's cache: a file there is used once its hash is checked (no request); a wrong one is ignored", async () => {
  const { env, cache } = sandbox();
  const torch = torchHubCheckpointsDir(env);
  mkdirSync(torch, { recursive: true });
  const { file, bytes } = checkpoint("torchy", 40_000);
  writeFileSync(join(torch, file), bytes);
  const requests = server.seen.length;
  const notes: string[] = [];
  const path = await fetchWeights({ url: `${server.base}/files/${file}`, file }, { env, offline: true, onNote: (n) => notes.push(n) });
  assert.ok(readFileSync(path).equals(bytes));
  assert.ok(path === join(cache, file) || path === join(torch, file));
  assert.ok(notes.some((n) => n.startsWith("using torch.hub's cached")));
  assert.equal(server.seen.length, requests);

  const other = checkpoint("torchbad", 40_000);
  writeFileSync(join(torch, other.file), Buffer.alloc(40_000));
  const url = server.add(other.file, { bytes: other.bytes });
  const notes2: string[] = [];
  const got = await fetchWeights({ url, file: other.file }, { env, onNote: (n) => notes2.push(n) });
  assert.ok(readFileSync(got).equals(other.bytes));
  assert.ok(notes2.some((n) => n.startsWith(`ignoring ${join(torch, other.file)}: expected a SHA-256 starting with`)));
});

test("a cache that cannot be written (under a regular file): one line naming the directory", async () => {
  const { env, dir } = sandbox();
  writeFileSync(join(dir, "afile"), "");
  const bad = { ...env, CONVZOO_HOME: join(dir, "afile", "home") };
  const { file, bytes } = checkpoint("nowrite", 1000);
  const url = server.add(file, { bytes });
  await assert.rejects(
    fetchWeights({ url, file }, { env: bad }),
    oneLine(new RegExp(`^the weights cache ${weightsCacheDir(bad)} is not writable \\(ENOTDIR\\): set CONVZOO_HOME`)),
  );
});

test("a full disk (the partial file on /dev/full): one line, no file under the final name", async (t) => {
  if (!existsSync("/dev/full")) return t.skip("no /dev/full here");
  const { env, cache } = sandbox();
  mkdirSync(cache, { recursive: true });
  const { file, bytes } = checkpoint("full", 100_000);
  const url = server.add(file, { bytes });
  symlinkSync("/dev/full", join(cache, `${file}.partial`));
  await assert.rejects(fetchWeights({ url, file }, { env }), oneLine(/^disk full writing .*\.partial \(ENOSPC\)/));
  assert.ok(!existsSync(join(cache, file)));
});

test("no network: one line naming the URL and the manual path", async () => {
  const { env, cache } = sandbox();
  const file = "gone-12345678.pth";
  const url = `http://127.0.0.1:9/${file}`; // the discard port: nothing listens
  await assert.rejects(
    fetchWeights({ url, file }, { env }),
    oneLine(new RegExp(`^cannot download ${url}: connection refused \\(ECONNREFUSED\\); .* place it at ${join(cache, file)}$`)),
  );
  assert.deepEqual(cacheFiles(cache), []);
});

test("proxies: HTTP_PROXY carries the request (to a host only the proxy knows); NO_PROXY bypasses it", async () => {
  const { env } = sandbox();
  const proxy = await new ForwardProxy({ "weights.convzoo.test": server.base }).start();
  try {
    const { file, bytes } = checkpoint("proxied", 50_000);
    server.add(file, { bytes });
    const url = `http://weights.convzoo.test/files/${file}`;
    const path = await fetchWeights({ url, file }, { env: { ...env, HTTP_PROXY: proxy.url } });
    assert.ok(readFileSync(path).equals(bytes));
    assert.deepEqual(proxy.seen, [url]);

    const direct = checkpoint("direct", 5_000);
    const directUrl = server.add(direct.file, { bytes: direct.bytes });
    await fetchWeights({ url: directUrl, file: direct.file }, { env: { ...env, http_proxy: proxy.url, no_proxy: "127.0.0.1" } });
    assert.deepEqual(proxy.seen, [url]);
  } finally {
    await proxy.close();
  }
});
