/**
 * Getting a checkpoint onto the disk, verified: from convzoo's cache, torch.hub's cache, a mirror,
 * or the network. A download streams to `<file>.partial` beside its final place while its SHA-256
 * is computed, resumes with a Range request after a cut, is checked against the hash prefix in the
 * file name (torch.hub's `check_hash`) and only then renamed to the final name. A lock file makes
 * concurrent fetches of one file (threads or processes) download it once.
 *
 * Every failure is a ConvzooError with a one-line message naming the URL or path and what to do.
 */
import { createHash, randomUUID, type Hash } from "node:crypto";
import { createReadStream, createWriteStream, unlinkSync } from "node:fs";
import { link, mkdir, open, readFile, rename, stat, unlink, writeFile } from "node:fs/promises";
import { STATUS_CODES } from "node:http";
import { hostname } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { once } from "node:events";
import { finished } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { EnvHttpProxyAgent, interceptors, request, type Dispatcher } from "undici";
import { ConvzooError, OptionError, WeightsError } from "../errors.js";
import { torchHubCheckpointsDir, weightsCacheDir } from "./cache.js";

/** A checkpoint on the network. `file` is torch.hub's file name, e.g. `resnet50-11ad3fa6.pth`. */
export interface RemoteFile {
  url: string;
  file: string;
}

export interface DownloadProgress {
  /** Bytes on disk so far, including those of a resumed partial file. */
  received: number;
  /** The whole file's size, when the server said (Content-Length / Content-Range). */
  total: number | null;
  /** Over the last few seconds. */
  bytesPerSecond: number;
}

export interface FetchOptions {
  /** Never touch the network (also `CONVZOO_OFFLINE=1`). */
  offline?: boolean;
  /** A base URL (the file is fetched from `<base>/<file>`) or a directory; default `$CONVZOO_WEIGHTS_MIRROR`. */
  mirror?: string;
  /** Where the cache and proxy variables are read; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Called every `progressIntervalMs` while downloading, and once at the end. */
  onProgress?: (p: DownloadProgress) => void;
  signal?: AbortSignal;
  /** One-line notes worth showing a user: a resume, a cache hit in torch.hub's cache, waiting on another process. */
  onNote?: (line: string) => void;
  /**
   * Resumes tried within one call after the connection is cut, in a row without progress (default 3);
   * the partial file is kept after the last. 0: fail at the first cut.
   */
  retries?: number;
  progressIntervalMs?: number;
}

/** torch.hub's `HASH_REGEX = r"-([a-f0-9]*)\."`, searched in the file name; null when it has no (or an empty) prefix. */
export function hashPrefixOf(file: string): string | null {
  return /-([a-f0-9]*)\./.exec(file)?.[1] || null;
}

const TIMEOUT_MS = 60_000;
const STALE_FOREIGN_LOCK_MS = 10 * 60_000;
const LOCK_POLL_MS = 100;
const WRITE_BACKLOG = 16 << 20;

const errCode = (e: unknown): string | undefined => {
  const err = e as { code?: unknown; cause?: { code?: unknown } } | null;
  const code = err?.code ?? err?.cause?.code;
  return typeof code === "string" ? code : undefined;
};
const oneLine = (s: string) => s.replace(/\s+/g, " ").trim();

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

/** Digests of files already hashed in this process, keyed by path, size and mtime (torch.hub and mirror files are re-read otherwise). */
const digests = new Map<string, string>();

async function hashInto(path: string, hash: Hash): Promise<void> {
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
}

async function sha256File(path: string): Promise<string> {
  const s = await stat(path);
  const key = `${path}\0${s.size}\0${s.mtimeMs}`;
  let digest = digests.get(key);
  if (digest === undefined) {
    const hash = createHash("sha256");
    await hashInto(path, hash);
    digest = hash.digest("hex");
    digests.set(key, digest);
  }
  return digest;
}

interface Settings {
  env: NodeJS.ProcessEnv;
  offline: string | null;
  mirror: { url: string } | { dir: string } | null;
  note: (line: string) => void;
}

async function settingsOf(o: FetchOptions): Promise<Settings> {
  const env = o.env ?? process.env;
  const offlineEnv = /^(1|true|yes|on)$/i.test(env.CONVZOO_OFFLINE ?? "");
  const offline = o.offline ? "offline mode" : o.offline === undefined && offlineEnv ? "CONVZOO_OFFLINE is set" : null;
  const spec = o.mirror ?? (env.CONVZOO_WEIGHTS_MIRROR || undefined);
  let mirror: Settings["mirror"] = null;
  if (spec !== undefined) {
    if (/^https?:\/\//i.test(spec)) mirror = { url: spec.replace(/\/+$/, "") };
    else {
      const dir = spec.startsWith("file:") ? fileURLToPath(spec) : resolve(spec);
      const isDir = await stat(dir).then(
        (s) => s.isDirectory(),
        () => false,
      );
      if (!isDir) throw new OptionError(`the weights mirror ${spec} is neither an http(s) URL nor a directory`);
      mirror = { dir };
    }
  }
  return { env, offline, mirror, note: o.onNote ?? (() => {}) };
}

function checkFileName(f: RemoteFile): void {
  if (!f.file || f.file.includes("/") || f.file.includes("\\") || f.file.startsWith(".")) {
    throw new OptionError(`not a plain file name for a checkpoint: "${f.file}"`);
  }
}

const mismatch = (what: string, prefix: string, digest: string) => `expected a SHA-256 starting with ${prefix}, got ${digest} for ${what}`;

/**
 * The path of a checkpoint already on this machine, or null: convzoo's cache (verified when it was
 * downloaded), then torch.hub's cache (its hash checked; hard-linked into convzoo's cache when the
 * two share a disk, so it is hashed once), then a mirror directory (hash checked, used in place).
 */
export async function findCachedWeights(f: RemoteFile, o: FetchOptions = {}): Promise<string | null> {
  checkFileName(f);
  return findIn(f, await settingsOf(o));
}

async function findIn(f: RemoteFile, s: Settings): Promise<string | null> {
  const own = join(weightsCacheDir(s.env), f.file);
  if (await isFile(own)) return own;
  const prefix = hashPrefixOf(f.file);
  const torch = join(torchHubCheckpointsDir(s.env), f.file);
  if (await isFile(torch)) {
    const digest = prefix ? await sha256File(torch) : "";
    if (prefix && !digest.startsWith(prefix)) s.note(`ignoring ${torch}: ${mismatch("it", prefix, digest)}`);
    else {
      s.note(`using torch.hub's cached ${torch}`);
      try {
        await mkdir(dirname(own), { recursive: true });
        await link(torch, own);
        return own;
      } catch {
        return torch; // another disk, or a read-only cache: use it in place
      }
    }
  }
  if (s.mirror && "dir" in s.mirror) {
    const path = join(s.mirror.dir, f.file);
    if (await isFile(path)) {
      const digest = prefix ? await sha256File(path) : "";
      if (prefix && !digest.startsWith(prefix)) {
        throw new WeightsError(`hash mismatch in the weights mirror: ${mismatch(path, prefix, digest)}`);
      }
      return path;
    }
  }
  return null;
}

/** The path of a verified copy of the checkpoint, downloading it into convzoo's cache if needed. */
export async function fetchWeights(f: RemoteFile, o: FetchOptions = {}): Promise<string> {
  checkFileName(f);
  const s = await settingsOf(o);
  const found = await findIn(f, s);
  if (found) return found;
  const dir = weightsCacheDir(s.env);
  const final = join(dir, f.file);
  if (s.mirror && "dir" in s.mirror) {
    throw new WeightsError(`${f.file} is not in the weights mirror ${s.mirror.dir}: place it there (from ${f.url}), or at ${final}`);
  }
  const url = s.mirror ? `${s.mirror.url}/${encodeURIComponent(f.file)}` : f.url;
  if (s.offline) {
    throw new WeightsError(`${f.file} is not cached and ${s.offline} forbids downloading ${url}: download it by hand to ${final}`);
  }
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    throw fsError(e, dir, dir);
  }
  const release = await acquireLock(final, s, o.signal);
  try {
    if (await isFile(final)) return final; // the process we waited for got it
    await download(url, final, s, o);
    return final;
  } finally {
    await release();
  }
}

// ---------------------------------------------------------------- the lock

/** Locks this process holds, removed at exit so a crash-free run never leaves one behind. */
const held = new Set<string>();
let exitHookInstalled = false;

/**
 * `<final>.lock`, created exclusively, holds "pid host token". Others poll until it goes away. A
 * lock of a dead process on this host (or, from another host, one whose lock and partial file
 * have not changed for 10 minutes) is taken over.
 */
async function acquireLock(final: string, s: Settings, signal?: AbortSignal): Promise<() => Promise<void>> {
  const lock = `${final}.lock`;
  const me = `${process.pid} ${hostname()} ${randomUUID()}`;
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once("exit", () => held.forEach((l) => void unlinkSyncQuiet(l)));
  }
  let tookOver = false;
  let noted = false;
  for (;;) {
    signal?.throwIfAborted();
    try {
      // Written aside, then hard-linked into place: link() is as exclusive as O_EXCL, and nobody ever
      // reads a lock without its owner in it.
      const aside = `${lock}.${process.pid}.${me.slice(-8)}`;
      await writeFile(aside, me);
      try {
        await link(aside, lock);
      } finally {
        await unlink(aside).catch(() => {});
      }
      if (tookOver) {
        // Two processes may have judged the same lock stale; the later unlink removed the earlier one's
        // lock. Whoever still finds its own token after a pause is the holder.
        await sleep(50);
        if ((await readFile(lock, "utf8").catch(() => "")) !== me) {
          tookOver = false;
          continue;
        }
      }
      held.add(lock);
      return async () => {
        held.delete(lock);
        if ((await readFile(lock, "utf8").catch(() => "")) === me) await unlink(lock).catch(() => {});
      };
    } catch (e) {
      if (errCode(e) !== "EEXIST") throw fsError(e, lock, dirname(final));
    }
    const holder = await readFile(lock, "utf8").catch(() => null);
    if (holder === null) continue; // released between our open and read
    if (await isStale(holder, lock, `${final}.partial`)) {
      s.note(`taking over the stale lock ${lock} (${holder.split(" ").slice(0, 2).join(" on ")})`);
      await unlink(lock).catch(() => {});
      tookOver = true;
      continue;
    }
    if (!noted) {
      noted = true;
      s.note(`waiting for process ${holder.split(" ")[0]}, which is downloading ${final}`);
    }
    await sleep(LOCK_POLL_MS, undefined, { signal });
  }
}

function unlinkSyncQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

async function isStale(holder: string, lock: string, partial: string): Promise<boolean> {
  const [pid, host] = holder.split(" ");
  if (host === hostname() && Number(pid) > 0) {
    try {
      process.kill(Number(pid), 0);
      return false;
    } catch (e) {
      return errCode(e) === "ESRCH"; // EPERM: alive, someone else's
    }
  }
  const mtime = async (p: string) => (await stat(p).catch(() => null))?.mtimeMs ?? 0;
  return Date.now() - Math.max(await mtime(lock), await mtime(partial)) > STALE_FOREIGN_LOCK_MS;
}

// ---------------------------------------------------------------- the download

/** A connection cut before the body was complete: the partial file is kept and resumed. */
class Cut extends Error {}

function proxyDispatcher(env: NodeJS.ProcessEnv): { agent: EnvHttpProxyAgent; dispatcher: Dispatcher; proxyFor: (url: string) => string } {
  // Lower case first, as curl and undici read them; "" (not undefined) so undici does not fall back to process.env.
  const pick = (name: string) => env[name.toLowerCase()] || env[name] || "";
  const [httpProxy, httpsProxy, noProxy] = [pick("HTTP_PROXY"), pick("HTTPS_PROXY"), pick("NO_PROXY")];
  const agent = new EnvHttpProxyAgent({
    httpProxy,
    httpsProxy,
    noProxy,
    proxyTunnel: false, // plain-HTTP targets go as absolute-URI requests, as every proxy expects; https tunnels with CONNECT
    headersTimeout: TIMEOUT_MS,
    bodyTimeout: TIMEOUT_MS,
  });
  const dispatcher = agent.compose(interceptors.redirect({ maxRedirections: 10 }));
  // Only for messages: which proxy a URL went through (undici's NO_PROXY matching is not repeated here).
  const proxyFor = (url: string) => (url.startsWith("https:") ? httpsProxy || httpProxy : httpProxy);
  return { agent, dispatcher, proxyFor };
}

async function download(url: string, final: string, s: Settings, o: FetchOptions): Promise<void> {
  const partial = `${final}.partial`;
  const prefix = hashPrefixOf(basename(final));
  const retries = o.retries ?? 3;
  const net = proxyDispatcher(s.env);
  try {
    let cuts = 0;
    let restarted = false;
    for (;;) {
      let result: { digest: string; resumedFrom: number };
      const before = await sizeOf(partial);
      try {
        result = await attempt(url, partial, final, net, s, o);
      } catch (e) {
        if (!(e instanceof Cut)) throw e;
        if (retries > 0 && (await sizeOf(partial)) > before) cuts = 0; // only cuts in a row that bring nothing count
        if (cuts >= retries) throw new WeightsError(`${e.message}; the partial file ${partial} is kept: run again to resume`);
        cuts++;
        s.note(`${e.message}; resuming (${cuts}/${retries})`);
        await sleep(200 * cuts, undefined, { signal: o.signal });
        continue;
      }
      if (prefix && !result.digest.startsWith(prefix)) {
        await unlink(partial).catch(() => {});
        if (result.resumedFrom > 0 && !restarted) {
          // The kept part may be what was wrong (a changed file, a bad disk): one fresh download settles it.
          restarted = true;
          s.note(`hash mismatch after resuming ${url}; downloading it again from the start`);
          continue;
        }
        throw new WeightsError(`hash mismatch downloading ${url}: ${mismatch("the file", prefix, result.digest)}; it was removed`);
      }
      try {
        await rename(partial, final);
      } catch (e) {
        throw fsError(e, final, dirname(final));
      }
      return;
    }
  } finally {
    await net.agent.close().catch(() => {});
  }
}

/** `bytes a-b/total` or `bytes * /total` → [a, total]. */
function contentRange(header: string | string[] | undefined): { start: number | null; total: number | null } {
  const m = /^bytes\s+(?:(\d+)-\d+|\*)\/(\d+|\*)/i.exec(String(header ?? ""));
  if (!m) return { start: null, total: null };
  return { start: m[1] === undefined ? null : Number(m[1]), total: m[2] === "*" ? null : Number(m[2]) };
}

/** One request: appends to the partial file (or starts it over) and returns the whole file's digest. */
async function attempt(
  url: string,
  partial: string,
  final: string,
  net: ReturnType<typeof proxyDispatcher>,
  s: Settings,
  o: FetchOptions,
  fresh = false,
): Promise<{ digest: string; resumedFrom: number }> {
  if (fresh) await unlink(partial).catch(() => {});
  const start = await sizeOf(partial);
  const hash = createHash("sha256");
  if (start > 0) await hashInto(partial, hash);
  const headers: Record<string, string> = { "user-agent": "convzoo", "accept-encoding": "identity" };
  if (start > 0) headers.range = `bytes=${start}-`;
  let res: Dispatcher.ResponseData;
  try {
    res = await request(url, { dispatcher: net.dispatcher, headers, signal: o.signal });
  } catch (e) {
    o.signal?.throwIfAborted();
    throw networkError(e, url, final, net.proxyFor(url));
  }
  const { statusCode } = res;
  const range = contentRange(res.headers["content-range"]);
  if (statusCode === 416 && start > 0) {
    await res.body.dump();
    // The partial may already be whole (cut right after the last byte); otherwise it is longer than the file.
    if (range.total === start) return { digest: hash.digest("hex"), resumedFrom: start };
    if (fresh) throw new WeightsError(`HTTP 416 Range Not Satisfiable for ${url}, asked from the start`);
    s.note(`the server refused to resume ${url} from byte ${start} (HTTP 416); downloading it again from the start`);
    return attempt(url, partial, final, net, s, o, true);
  }
  if (statusCode === 206 && range.start !== start) {
    await res.body.dump();
    if (fresh) throw new WeightsError(`HTTP 206 from ${url} with an unexpected Content-Range ${res.headers["content-range"]}`);
    return attempt(url, partial, final, net, s, o, true);
  }
  if (statusCode !== 200 && statusCode !== 206) {
    await res.body.dump().catch(() => {});
    const why = statusCode >= 300 && statusCode < 400 ? "too many redirects or no Location" : (STATUS_CODES[statusCode] ?? "");
    throw new WeightsError(`HTTP ${statusCode} ${why} for ${url}`.replace(/ +for/, " for"));
  }
  if (statusCode === 200 && start > 0) {
    s.note(`the server does not resume (HTTP 200 to a Range request): downloading ${url} from the start`);
    return streamBody(res, createHash("sha256"), 0, partial, final, url, o);
  }
  return streamBody(res, hash, start, partial, final, url, o);
}

async function streamBody(
  res: Dispatcher.ResponseData,
  hash: Hash,
  start: number,
  partial: string,
  final: string,
  url: string,
  o: FetchOptions,
): Promise<{ digest: string; resumedFrom: number }> {
  const length = Number(res.headers["content-length"] ?? NaN);
  const total = contentRange(res.headers["content-range"]).total ?? (Number.isFinite(length) ? start + length : null);
  let received = start;
  const progress = progressReporter(o, () => received, total);
  let out: ReturnType<typeof createWriteStream>;
  let diskError: unknown = null;
  let cut: unknown = null;
  try {
    out = createWriteStream(partial, { flags: start > 0 ? "a" : "w" });
    out.on("error", (e) => (diskError ??= e));
    await once(out, "open");
  } catch (e) {
    progress.stop();
    await res.body.dump().catch(() => {});
    throw fsError(e, partial, dirname(final));
  }
  // Flowing 'data' events, not an async iterator: a Readable that errors drops what it buffered, and
  // those bytes (received before a cut) belong in the partial file. Reading pauses only when the
  // disk falls far behind.
  await new Promise<void>((done) => {
    const body = res.body;
    body.on("data", (chunk: Buffer) => {
      hash.update(chunk);
      received += chunk.length;
      out.write(chunk);
      if (out.writableLength > WRITE_BACKLOG && !body.isPaused()) {
        body.pause();
        out.once("drain", () => body.resume());
      }
    });
    body.once("end", done);
    body.once("error", (e) => {
      cut = e;
      done();
    });
    out.once("error", () => {
      body.destroy();
      done();
    });
  });
  // Whatever arrived is flushed to the partial file, so a resume starts after it.
  out.end();
  await finished(out).catch((e) => (diskError ??= e));
  if (!diskError && cut === null && (total === null || received === total)) {
    // Durable before the rename makes it visible under the final name.
    try {
      const fh = await open(partial, "r+");
      await fh.datasync().finally(() => fh.close());
    } catch (e) {
      diskError = e;
    }
  }
  progress.stop();
  res.body.destroy();
  if (diskError) {
    throw fsError(diskError, partial, dirname(final));
  }
  o.signal?.throwIfAborted();
  if (cut !== null || (total !== null && received !== total)) {
    const why = cut === null ? "" : ` (${errCode(cut) ?? oneLine(String((cut as Error).message ?? cut))})`;
    throw new Cut(`the download of ${url} was cut off after ${received} of ${total ?? "?"} bytes${why}`);
  }
  return { digest: hash.digest("hex"), resumedFrom: start };
}

/** Calls onProgress on a timer (not per chunk), with the rate over the last ~3 seconds. */
function progressReporter(o: FetchOptions, received: () => number, total: number | null): { stop(): void } {
  const cb = o.onProgress;
  if (!cb) return { stop() {} };
  const samples: { t: number; bytes: number }[] = [];
  const emit = () => {
    const t = performance.now();
    const bytes = received();
    samples.push({ t, bytes });
    while (samples.length > 2 && t - samples[1].t >= 3000) samples.shift();
    const first = samples[0];
    const bytesPerSecond = t > first.t ? ((bytes - first.bytes) * 1000) / (t - first.t) : 0;
    cb({ received: bytes, total, bytesPerSecond });
  };
  emit();
  const timer = setInterval(emit, o.progressIntervalMs ?? 250);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      emit();
    },
  };
}

// ---------------------------------------------------------------- messages

function networkError(e: unknown, url: string, final: string, proxy: string): WeightsError {
  const code = errCode(e);
  const host = new URL(url).host;
  const reasons: Record<string, string> = {
    ENOTFOUND: `host ${host} not found`,
    EAI_AGAIN: `host ${host} could not be resolved`,
    ECONNREFUSED: `connection refused`,
    ECONNRESET: `connection reset`,
    ETIMEDOUT: `connection timed out`,
    ENETUNREACH: `network unreachable`,
    EHOSTUNREACH: `host unreachable`,
    UND_ERR_CONNECT_TIMEOUT: `connection timed out`,
    UND_ERR_HEADERS_TIMEOUT: `no answer within ${TIMEOUT_MS / 1000} s`,
  };
  const reason = (code && reasons[code]) ?? oneLine((e as Error)?.message ?? String(e));
  const via = proxy ? ` via the proxy ${proxy}` : "";
  return new WeightsError(
    `cannot download ${url}${via}: ${reason}${code ? ` (${code})` : ""}; without network access, fetch it by hand and place it at ${final}`,
  );
}

function fsError(e: unknown, path: string, dir: string): ConvzooError {
  const code = errCode(e) ?? "";
  if (code === "ENOSPC" || code === "EDQUOT") {
    return new ConvzooError(`disk full writing ${path} (${code}): free some space, or set CONVZOO_HOME to another disk, and run again`);
  }
  if (["EACCES", "EPERM", "EROFS", "ENOTDIR", "EEXIST", "EISDIR"].includes(code)) {
    return new ConvzooError(`the weights cache ${dir} is not writable (${code}): set CONVZOO_HOME to a writable directory`);
  }
  return new ConvzooError(`cannot write ${path}: ${oneLine((e as Error)?.message ?? String(e))}`);
}
