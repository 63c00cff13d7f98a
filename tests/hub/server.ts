/**
 * Loopback servers for the download tests: a file server with the faults a real one shows (cut
 * connections, no Range support, error statuses, redirects, slowness), and a forward proxy.
 */
import { createHash, randomBytes } from "node:crypto";
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface ServedFile {
  bytes: Buffer;
  /** Destroy the socket after this many body bytes, in each of the first `cuts` responses (default 1). */
  cutAfter?: number;
  cuts?: number;
  /** Answer Range requests with a plain 200. */
  ignoreRange?: boolean;
  /** Body written in chunks of this size, `delayMs` apart (default: one write). */
  chunk?: number;
  delayMs?: number;
}

/** Random bytes under a torch.hub-style name carrying their real hash prefix. */
export function checkpoint(stem: string, size: number): { file: string; bytes: Buffer } {
  const bytes = randomBytes(size);
  return { file: `${stem}-${createHash("sha256").update(bytes).digest("hex").slice(0, 8)}.pth`, bytes };
}

export interface Seen {
  method: string;
  url: string;
  range: string | undefined;
}

/**
 * Routes: `/files/<name>` (the served files), `/redirect/<name>` (302 to /files/<name>),
 * `/mirror/<name>` (the same files, for a mirror base URL), `/status/<code>/<name>`.
 */
export class FileServer {
  readonly files = new Map<string, ServedFile>();
  readonly seen: Seen[] = [];
  /** Complete 200 responses per file name: the number of full downloads. */
  readonly full = new Map<string, number>();
  private server: Server = createServer((req, res) => void this.handle(req, res));
  base = "";

  async start(): Promise<this> {
    await new Promise<void>((ok) => this.server.listen(0, "127.0.0.1", ok));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  add(file: string, spec: Omit<ServedFile, "bytes"> & { bytes: Buffer }): string {
    this.files.set(file, spec);
    return `${this.base}/files/${file}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((ok) => this.server.close(ok));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.seen.push({ method: req.method ?? "", url: req.url ?? "", range: req.headers.range });
    const [, route, ...rest] = (req.url ?? "").split("/");
    if (route === "redirect") {
      res.writeHead(302, { location: `/files/${rest.join("/")}` }).end();
      return;
    }
    if (route === "status") {
      res.writeHead(Number(rest[0]), { "content-type": "text/plain" }).end("no");
      return;
    }
    const spec = route === "files" || route === "mirror" ? this.files.get(decodeURIComponent(rest.join("/"))) : undefined;
    if (!spec) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
      return;
    }
    const size = spec.bytes.length;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    let start = 0;
    if (m && !spec.ignoreRange) {
      start = Number(m[1]);
      if (start >= size) {
        res.writeHead(416, { "content-range": `bytes */${size}` }).end();
        return;
      }
      res.writeHead(206, { "content-length": size - start, "content-range": `bytes ${start}-${size - 1}/${size}` });
    } else {
      res.writeHead(200, { "content-length": size, "content-type": "application/octet-stream" });
    }
    const cut = spec.cutAfter !== undefined && (spec.cuts ?? 1) > 0 ? Math.min(size, start + spec.cutAfter) : null;
    if (cut !== null) spec.cuts = (spec.cuts ?? 1) - 1;
    const end = cut ?? size;
    const step = spec.chunk ?? size;
    for (let at = start; at < end; at += step) {
      if (spec.delayMs && at > start) await new Promise((ok) => setTimeout(ok, spec.delayMs));
      if (res.destroyed) return;
      const piece = spec.bytes.subarray(at, Math.min(end, at + step));
      if (!res.write(piece)) await new Promise((ok) => res.once("drain", ok));
    }
    if (cut !== null) {
      // Everything up to the cut reaches the client, then the connection drops mid-body.
      await new Promise<void>((ok) => res.write("", () => ok()));
      res.socket?.destroy();
      return;
    }
    if (start === 0) {
      const name = decodeURIComponent(rest.join("/"));
      this.full.set(name, (this.full.get(name) ?? 0) + 1);
    }
    res.end();
  }
}

/**
 * A forward proxy for plain HTTP (absolute-URI requests), recording what it forwards. Hosts in
 * `hosts` are sent to the given origin, so a URL only the proxy can resolve proves the route.
 */
export class ForwardProxy {
  readonly seen: string[] = [];
  private server: Server;
  url = "";

  constructor(hosts: Record<string, string> = {}) {
    this.server = createServer((req, res) => {
      this.seen.push(req.url ?? "");
      const target = new URL(req.url ?? "");
      const origin = hosts[target.host] ?? target.origin;
      const upstream = request(new URL(target.pathname + target.search, origin), { method: req.method, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
        up.on("error", () => res.destroy());
        up.on("aborted", () => res.destroy());
      });
      upstream.on("error", () => res.destroy());
      req.pipe(upstream);
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((ok) => this.server.listen(0, "127.0.0.1", ok));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((ok) => this.server.close(ok));
  }
}
