/**
 * `convzoo serve`: the Open Inference Protocol over HTTP/REST (protocol.ts) for one or more model
 * sources, each behind its own dynamic batcher, on Node's http module. Routes (KServe v2 / Triton):
 *   GET  /v2                          server metadata (name, version, extensions)
 *   GET  /v2/health/live, /ready      200 when live / when every model is loaded and warmed up
 *   GET  /v2/models/{m}[/versions/1]  model metadata; .../ready its readiness
 *   POST /v2/models/{m}[/versions/1]/infer
 *   GET  /metrics                     Prometheus text (metrics.ts)
 * Errors are `{"error": "..."}` with 400 (malformed), 401 (bearer token), 404 (unknown model or path),
 * 405, 413 (body or image too large), 503 (loading, draining, queue timeout).
 */
import { timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { OptionError } from "../errors.js";
import { Batcher, type BatchingOptions } from "./batcher.js";
import { decodeImages } from "./images.js";
import { ServerMetrics } from "./metrics.js";
import type { ModelSource } from "./model_source.js";
import {
  badRequest,
  classificationStrings,
  encodeInferResponse,
  HttpError,
  parseInferRequest,
  type InferRequest,
  type ResponseOutput,
} from "./protocol.js";

export interface ServerOptions {
  host: string;
  /** 0: any free port (the bound one is in `url`). */
  port: number;
  batching: BatchingOptions;
  /** Request bodies above this are answered 413 without being read. */
  maxBodyBytes: number;
  /** Decoded pixels (width x height) allowed per image. */
  maxPixels: number;
  /** Time allowed to receive a request, and to wait in a model's queue. */
  requestTimeoutMs: number;
  /** Bearer token required on every route but the health probes. */
  apiKey?: string;
  /** One JSON line per request. */
  log?: (line: string) => void;
  /** Called once the port is bound, before the models are warmed up. */
  onListening?: (url: string) => void;
  /** Server name and version reported by `GET /v2`. */
  version?: string;
}

/** The image input every model takes besides the FP32 tensor `input`. */
export const IMAGE_INPUT = "image";
export const TENSOR_INPUT = "input";

type State = "loading" | "ready" | "draining" | "closed";

interface Served {
  source: ModelSource;
  batcher: Batcher;
  outputs: string[];
}

export class InferenceServer {
  private state: State = "loading";
  private inflight = 0;
  private inflightDone: (() => void)[] = [];
  readonly metrics = new ServerMetrics();
  private readonly models = new Map<string, Served>();
  private readonly server: Server;
  private constructor(
    sources: readonly ModelSource[],
    private readonly options: ServerOptions,
  ) {
    for (const source of sources) {
      if (this.models.has(source.name))
        throw new OptionError(`two models are named ${source.name}: give each its own name (--model name=weights)`);
      const batcher = new Batcher(source, options.batching, (b) => this.metrics.batchRun(source.name, b.rows));
      const outputs = source.output === "logits" ? ["probabilities", "logits"] : ["probabilities"];
      this.models.set(source.name, { source, batcher, outputs });
    }
    // Node checks the request timeout every connectionsCheckingInterval (30 s by default): check often
    // enough for the limit to mean what it says.
    const checkEvery = Math.max(50, Math.min(1000, Math.floor(options.requestTimeoutMs / 4)));
    this.server = createServer({ connectionsCheckingInterval: checkEvery }, (req, res) => void this.handle(req, res));
    this.server.requestTimeout = options.requestTimeoutMs;
    this.server.headersTimeout = Math.min(options.requestTimeoutMs, 60_000);
    this.server.keepAliveTimeout = 5_000;
  }

  /** Binds, warms every model's instances up (a run at the largest batch and at 1), then reports ready. */
  static async start(sources: readonly ModelSource[], options: ServerOptions): Promise<InferenceServer> {
    const s = new InferenceServer(sources, options);
    await new Promise<void>((resolve, reject) => {
      s.server.once("error", reject);
      s.server.listen(options.port, options.host, () => {
        s.server.off("error", reject);
        resolve();
      });
    });
    const url = s.url; // recorded here: the address is gone once the server closes
    options.onListening?.(url);
    for (const { source } of s.models.values()) {
      const r = source.resolution;
      for (const n of new Set([options.batching.maxBatchSize, 1])) {
        // Every instance at once: the pool gives each concurrent run its own session.
        const warm = () => source.run({ dtype: "float32", shape: [n, 3, r, r], data: new Float32Array(n * 3 * r * r) });
        await Promise.all(Array.from({ length: source.instances }, warm));
      }
    }
    if (s.state === "loading") s.state = "ready";
    return s;
  }

  private boundUrl = "";

  /** Where the server listens (kept after it closed). */
  get url(): string {
    const a = this.server.address() as AddressInfo | null;
    if (a) this.boundUrl = `http://${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}`;
    return this.boundUrl;
  }

  /** Requests received and not yet answered (those arriving while draining excepted). */
  get inFlight(): number {
    return this.inflight;
  }

  get ready(): boolean {
    return this.state === "ready";
  }

  /**
   * Graceful shutdown: from now on new requests get 503 (with `Connection: close`), requests in flight
   * (receiving, queued or running) finish and are answered; then the port closes, connections close
   * and the models are released.
   */
  async close(): Promise<void> {
    if (this.state === "closed" || this.state === "draining") return;
    this.state = "draining";
    // This call's own request is not in flight here; wait for the others.
    if (this.inflight > 0) await new Promise<void>((resolve) => this.inflightDone.push(resolve));
    await Promise.all([...this.models.values()].map((m) => m.batcher.idle()));
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
    this.state = "closed";
    for (const m of this.models.values()) await m.source.release();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    // Requests that arrive while draining are answered 503 at once and are not waited for.
    const counted = this.state !== "draining";
    if (counted) this.inflight++;
    this.metrics.inFlight.inc();
    const record: Record<string, unknown> = { method: req.method, path: req.url };
    let status = 500;
    try {
      status = await this.route(req, res, record);
    } catch (e) {
      status = e instanceof HttpError ? e.status : 500;
      const message = e instanceof HttpError ? e.message : `internal error: ${(e as Error).message}`;
      record.error = message;
      // Answer after the body is in (up to the limit), so the client is not reset mid-upload; a 413
      // is answered at once and the connection closed.
      if (status !== 413 && !req.complete) await this.discardBody(req);
      this.sendJson(res, status, { error: message });
    } finally {
      this.metrics.response(status);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      this.options.log?.(JSON.stringify({ time: new Date().toISOString(), ...record, status, ms: Number(ms.toFixed(3)) }));
      this.metrics.inFlight.dec();
      if (counted && --this.inflight === 0) for (const wake of this.inflightDone.splice(0)) wake();
    }
  }

  private async route(req: IncomingMessage, res: ServerResponse, record: Record<string, unknown>): Promise<number> {
    const path = (req.url ?? "/").split("?")[0];
    const method = req.method ?? "GET";
    if (path === "/v2/health/live") return this.reply(res, method, "GET", () => ({ live: true }));
    if (path === "/v2/health/ready") {
      return this.reply(res, method, "GET", () => {
        if (!this.ready) throw new HttpError(503, `server is not ready (${this.state})`);
        return { ready: true };
      });
    }
    this.authorize(req);
    if (this.state !== "ready" && this.state !== "loading" && path !== "/metrics") {
      throw new HttpError(503, "server is shutting down");
    }
    if (path === "/metrics") {
      if (method !== "GET") throw new HttpError(405, `${method} ${path}: only GET is allowed`);
      const text = await this.metrics.text();
      res.writeHead(200, { "Content-Type": this.metrics.contentType, ...this.connectionHeader() });
      res.end(text);
      return 200;
    }
    if (path === "/v2" || path === "/v2/") {
      return this.reply(res, method, "GET", () => ({
        name: "convzoo",
        version: this.options.version ?? "0",
        extensions: ["classification", "binary_tensor_data"],
      }));
    }
    const m = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?(\/ready|\/infer)?\/?$/.exec(path);
    if (!m) throw new HttpError(404, `no such endpoint: ${path}`);
    const name = decodeURIComponent(m[1]);
    record.model = name;
    const served = this.models.get(name);
    if (!served) throw new HttpError(404, `unknown model ${JSON.stringify(name)} (serving: ${[...this.models.keys()].join(", ")})`);
    if (m[2] !== undefined && m[2] !== "1") throw new HttpError(404, `model ${name} has no version ${m[2]} (only 1)`);
    if (m[3] === "/ready") {
      return this.reply(res, method, "GET", () => {
        if (!this.ready) throw new HttpError(503, `model ${name} is not ready (${this.state})`);
        return { name, ready: true };
      });
    }
    if (m[3] === undefined) return this.reply(res, method, "GET", () => this.modelMetadata(served));
    if (method !== "POST") throw new HttpError(405, `${method} ${path}: only POST is allowed`);
    if (this.state !== "ready") throw new HttpError(503, `server is not ready (${this.state})`);
    return this.infer(req, res, served, record);
  }

  private reply(res: ServerResponse, method: string, allowed: string, body: () => unknown): number {
    if (method !== allowed) throw new HttpError(405, `${method}: only ${allowed} is allowed here`);
    this.sendJson(res, 200, body());
    return 200;
  }

  private connectionHeader(): Record<string, string> {
    return this.state === "draining" ? { Connection: "close" } : {};
  }

  private sendJson(res: ServerResponse, status: number, body: unknown): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const text = JSON.stringify(body);
    const close = status === 413 || this.state === "draining";
    res.writeHead(status, {
      "Content-Type": "application/json",
      "Content-Length": Buffer.byteLength(text),
      ...(close ? { Connection: "close" } : {}),
      ...(status === 401 ? { "WWW-Authenticate": "Bearer" } : {}),
    });
    res.end(text);
  }

  private authorize(req: IncomingMessage): void {
    const key = this.options.apiKey;
    if (key === undefined) return;
    const given = /^Bearer (.+)$/i.exec(req.headers.authorization ?? "")?.[1] ?? "";
    const a = Buffer.from(given);
    const b = Buffer.from(key);
    if (a.length !== b.length || !timingSafeEqual(a, b))
      throw new HttpError(401, "missing or wrong bearer token (Authorization: Bearer <key>)");
  }

  private modelMetadata({ source, outputs }: Served) {
    const r = source.resolution;
    const k = source.classes.length;
    return {
      name: source.name,
      versions: ["1"],
      platform: source.platform,
      inputs: [
        { name: TENSOR_INPUT, datatype: "FP32", shape: [-1, 3, r, r] },
        { name: IMAGE_INPUT, datatype: "BYTES", shape: [-1] },
      ],
      outputs: outputs.map((name) => ({ name, datatype: "FP32", shape: [-1, k] })),
      // Not in the protocol's metadata schema: how to make the FP32 input, the batching limits, the instances.
      parameters: {
        arch: source.arch,
        preprocessing: source.preprocessing,
        max_batch_size: this.options.batching.maxBatchSize,
        instance_count: source.instances,
        classes: k,
        note:
          `send either ${TENSOR_INPUT} (normalised as "preprocessing" says) ` +
          `or ${IMAGE_INPUT} (encoded images, decoded and preprocessed here)`,
      },
    };
  }

  private async readBody(req: IncomingMessage): Promise<Buffer> {
    const limit = this.options.maxBodyBytes;
    const declared = Number(req.headers["content-length"] ?? NaN);
    if (declared > limit) throw new HttpError(413, `request body of ${declared} bytes exceeds the limit of ${limit} bytes (--max-body-mb)`);
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of req) {
      total += (chunk as Buffer).length;
      if (total > limit) throw new HttpError(413, `request body exceeds the limit of ${limit} bytes (--max-body-mb)`);
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }

  /** Reads and drops what is left of a request body, up to the body limit. */
  private async discardBody(req: IncomingMessage): Promise<void> {
    let total = 0;
    try {
      for await (const chunk of req) {
        total += (chunk as Buffer).length;
        if (total > this.options.maxBodyBytes) break;
      }
    } catch {
      // The client went away: nothing to answer.
    }
  }

  private async infer(req: IncomingMessage, res: ServerResponse, served: Served, record: Record<string, unknown>): Promise<number> {
    const received = process.hrtime.bigint();
    const name = served.source.name;
    let queueMicros = 0;
    let computeMicros = 0;
    try {
      const body = await this.readBody(req);
      const headerLength = req.headers["inference-header-content-length"];
      const request = parseInferRequest(body, headerLength === undefined ? undefined : Number(headerLength));
      const { batch, rows } = await this.inputBatch(request, served);
      record.rows = rows;
      const result = await served.batcher.submit(batch, rows);
      queueMicros = result.queueMicros;
      computeMicros = result.computeMicros;
      record.batch = result.batchRows;
      const outputs = this.outputs(request, served, result.rows, rows);
      const { body: out, headerLength: outHeader } = encodeInferResponse(name, request.id, outputs);
      res.writeHead(200, {
        "Content-Type": outHeader === undefined ? "application/json" : "application/octet-stream",
        "Content-Length": out.length,
        ...(outHeader === undefined ? {} : { "Inference-Header-Content-Length": outHeader }),
        ...this.connectionHeader(),
      });
      res.end(out);
      const total = Number(process.hrtime.bigint() - received) / 1000;
      this.metrics.requestDone(name, true, total, queueMicros, computeMicros);
      return 200;
    } catch (e) {
      const total = Number(process.hrtime.bigint() - received) / 1000;
      const status = e instanceof HttpError ? e.status : 500;
      this.metrics.requestDone(name, false, total, queueMicros, computeMicros, status === 400 || status === 413 ? "REJECTED" : "OTHER");
      throw e;
    }
  }

  private async inputBatch(request: InferRequest, { source }: Served): Promise<{ batch: Float32Array; rows: number }> {
    if (request.inputs.length !== 1) {
      throw badRequest(`expected one input, ${TENSOR_INPUT} (FP32) or ${IMAGE_INPUT} (BYTES), got ${request.inputs.length}`);
    }
    const input = request.inputs[0];
    const r = source.resolution;
    const max = this.options.batching.maxBatchSize;
    if (input.name === TENSOR_INPUT) {
      const s = input.shape;
      if (input.datatype !== "FP32") throw badRequest(`input ${TENSOR_INPUT} must be FP32, got ${input.datatype}`);
      if (s.length !== 4 || s[1] !== 3 || s[2] !== r || s[3] !== r) {
        throw badRequest(`input ${TENSOR_INPUT} must have shape [N, 3, ${r}, ${r}] for model ${source.name}, got ${JSON.stringify(s)}`);
      }
      return { batch: input.data, rows: s[0] };
    }
    if (input.name === IMAGE_INPUT) {
      if (input.datatype !== "BYTES") throw badRequest(`input ${IMAGE_INPUT} must be BYTES (encoded images), got ${input.datatype}`);
      const s = input.shape;
      if (!(s.length === 1 || (s.length === 2 && s[1] === 1))) {
        throw badRequest(`input ${IMAGE_INPUT} must have shape [N] or [N, 1], got ${JSON.stringify(s)}`);
      }
      const images = input.data as Uint8Array[];
      if (images.length > max) throw badRequest(`batch of ${images.length} exceeds model ${source.name}'s max_batch_size ${max}`);
      return { batch: await decodeImages(images, source.preprocessing, this.options.maxPixels), rows: images.length };
    }
    throw badRequest(
      `unknown input ${JSON.stringify(input.name)}: model ${source.name} takes ${TENSOR_INPUT} (FP32) or ${IMAGE_INPUT} (BYTES)`,
    );
  }

  private outputs(request: InferRequest, { source, outputs: names }: Served, rows: Float32Array, n: number): ResponseOutput[] {
    const k = source.classes.length;
    const wanted = request.outputs.length > 0 ? request.outputs : names.map((name) => ({ name, binary: false, classification: undefined }));
    let probabilities: Float32Array | null = null;
    const values = (name: string): Float32Array => {
      if (name === source.output) return rows;
      probabilities ??= softmaxRows(rows, n, k);
      return probabilities;
    };
    return wanted.map((o) => {
      if (!names.includes(o.name))
        throw badRequest(`unknown output ${JSON.stringify(o.name)}: model ${source.name} has ${names.join(", ")}`);
      if (o.classification !== undefined) {
        const strings = classificationStrings(values(o.name), n, k, o.classification, source.classes);
        return { name: o.name, datatype: "BYTES", shape: [n, Math.min(o.classification, k)], data: strings, binary: o.binary };
      }
      return { name: o.name, datatype: "FP32", shape: [n, k], data: values(o.name), binary: o.binary };
    });
  }
}

/** Softmax per row, in float64 (as Predictor's), for a logits source's `probabilities` output. */
function softmaxRows(x: Float32Array, n: number, k: number): Float32Array {
  const out = new Float32Array(n * k);
  for (let r = 0; r < n; r++) {
    let max = -Infinity;
    for (let j = 0; j < k; j++) max = Math.max(max, x[r * k + j]);
    let sum = 0;
    for (let j = 0; j < k; j++) sum += out[r * k + j] = Math.exp(x[r * k + j] - max);
    for (let j = 0; j < k; j++) out[r * k + j] /= sum;
  }
  return out;
}
