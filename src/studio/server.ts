/**
 * The studio's web server (Node): serves the built app from memory, and the one weights file `--weights`
 * names, on a loopback address only. Every response carries the headers that make the page cross-origin
 * isolated (COOP same-origin + COEP require-corp), which browsers require before they give a page
 * SharedArrayBuffer, and so onnxruntime-web its threaded WebAssembly
 * (https://web.dev/articles/coop-coep). All computation happens in the page.
 */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { extname } from "node:path";
import { OptionError } from "../errors.js";
import type { StudioBuild } from "./build.js";

/** What the page learns from /config.json about the weights the server offers. */
export interface ServedWeights {
  /** The weights file on disk. */
  path: string;
  /** File name the page shows and fetches (`/weights/<file>`). */
  file: string;
  /** Registry name when given by name (`mobilenet_v3_small.DEFAULT`). */
  name: string | null;
  /** The architecture, when known before reading the file (named weights, a torchvision file name). */
  arch: string | null;
  /** The eval transform named weights bring (a convzoo checkpoint carries its own). */
  preprocessing: object | null;
}

export interface StudioServerOptions {
  host: string;
  port: number;
  app: StudioBuild;
  weights?: ServedWeights | null;
}

export interface StudioServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** Hosts the server may bind: loopback only (the studio is a local tool, not a public service). */
export const LOOPBACK_HOSTS = ["127.0.0.1", "::1", "localhost"] as const;

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".wasm": "application/wasm",
  ".json": "application/json; charset=utf-8",
  ".css": "text/css; charset=utf-8",
};

/** Headers on every response: cross-origin isolation, and nothing cached across rebuilds. */
export const ISOLATION_HEADERS = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
  "Cross-Origin-Resource-Policy": "same-origin",
  "X-Content-Type-Options": "nosniff",
  "Cache-Control": "no-cache",
} as const;

export async function startStudioServer(o: StudioServerOptions): Promise<StudioServer> {
  if (!(LOOPBACK_HOSTS as readonly string[]).includes(o.host))
    throw new OptionError(`--host ${o.host}: the studio binds a loopback address only (${LOOPBACK_HOSTS.join(", ")})`);
  const config = JSON.stringify({
    weights: o.weights
      ? {
          file: o.weights.file,
          url: `weights/${encodeURIComponent(o.weights.file)}`,
          name: o.weights.name,
          arch: o.weights.arch,
          preprocessing: o.weights.preprocessing,
        }
      : null,
  });
  const server = createServer((req, res) => {
    handle(req, res, o, config).catch((e: Error) => send(res, 500, "text/plain; charset=utf-8", `studio: ${e.message}\n`));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(
        new OptionError(
          `cannot listen on ${o.host}:${o.port} (${e.code ?? e.message})${e.code === "EADDRINUSE" ? ": pick another --port" : ""}`,
        ),
      ),
    );
    server.listen(o.port, o.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}/`,
    server,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function send(res: ServerResponse, status: number, type: string, body: string | Uint8Array, head = false): void {
  if (res.headersSent) return void res.destroy();
  const bytes = typeof body === "string" ? Buffer.from(body) : body;
  res.writeHead(status, { ...ISOLATION_HEADERS, "Content-Type": type, "Content-Length": bytes.length });
  res.end(head ? undefined : bytes);
}

async function handle(req: IncomingMessage, res: ServerResponse, o: StudioServerOptions, config: string): Promise<void> {
  const head = req.method === "HEAD";
  if (req.method !== "GET" && !head) return send(res, 405, "text/plain; charset=utf-8", "only GET and HEAD\n");
  const path = decodeURIComponent(new URL(req.url ?? "/", "http://studio").pathname);
  if (path === "/config.json") return send(res, 200, TYPES[".json"], config, head);
  if (o.weights && path === `/weights/${o.weights.file}`) {
    const size = (await stat(o.weights.path)).size;
    res.writeHead(200, { ...ISOLATION_HEADERS, "Content-Type": "application/octet-stream", "Content-Length": size });
    if (head) return void res.end();
    createReadStream(o.weights.path).pipe(res);
    return;
  }
  const name = path === "/" ? "index.html" : path.slice(1);
  const bytes = o.app.files.get(name);
  if (!bytes) return send(res, 404, "text/plain; charset=utf-8", `not found: ${path}\n`, head);
  send(res, 200, TYPES[extname(name)] ?? "application/octet-stream", bytes, head);
}
