/**
 * A small client of the Open Inference Protocol (HTTP/REST): the same calls work against
 * `convzoo serve`, Triton and KServe (tensors with the binary-data extension, top-K with the
 * classification extension); `classifyImages` sends encoded images as the BYTES input `image`,
 * which only `convzoo serve` decodes (Triton would need a preprocessing model in front).
 */
import { ConvzooError } from "../errors.js";
import { bytesElements } from "./protocol.js";

export interface ClientOptions {
  /** Sent as `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Per request; default 60 s. */
  timeoutMs?: number;
}

export interface TopClass {
  label: string;
  index: number;
  /** The output's value: a probability for `probabilities`, a logit for `logits`. */
  score: number;
}

export interface ModelMetadata {
  name: string;
  platform: string;
  inputs: { name: string; datatype: string; shape: number[] }[];
  outputs: { name: string; datatype: string; shape: number[] }[];
  parameters?: Record<string, unknown>;
}

interface InferOutput {
  name: string;
  datatype: string;
  shape: number[];
  data?: unknown[];
  parameters?: { binary_data_size?: number };
}

export class InferenceClient {
  private readonly base: string;
  constructor(
    url: string,
    private readonly options: ClientOptions = {},
  ) {
    this.base = url.replace(/\/+$/, "");
  }

  async live(): Promise<boolean> {
    return (await this.fetch("GET", "/v2/health/live")).ok;
  }

  async ready(model?: string): Promise<boolean> {
    return (await this.fetch("GET", model ? `/v2/models/${encodeURIComponent(model)}/ready` : "/v2/health/ready")).ok;
  }

  async metadata(model: string): Promise<ModelMetadata> {
    return (await this.json(await this.fetch("GET", `/v2/models/${encodeURIComponent(model)}`))) as ModelMetadata;
  }

  /**
   * Runs a normalised batch [N, 3, R, R] (FP32, sent in binary); returns the output [N, K] values.
   * Works against Triton and KServe as well (input `input`, output `probabilities` or `logits`).
   */
  async inferTensor(model: string, data: Float32Array, shape: readonly number[], output = "probabilities"): Promise<Float32Array> {
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const outputs = await this.infer(model, { name: "input", datatype: "FP32", shape, bytes }, [
      { name: output, parameters: { binary_data: true } },
    ]);
    const raw = outputs.get(output);
    if (!raw || !(raw.data instanceof Uint8Array)) throw new ConvzooError(`${this.base}: the response has no binary output ${output}`);
    const out = new Float32Array(raw.data.length / 4);
    new Uint8Array(out.buffer).set(raw.data);
    return out;
  }

  /** Top-K of a normalised batch through the classification extension (any v2 server with labels). */
  async classifyTensor(
    model: string,
    data: Float32Array,
    shape: readonly number[],
    topk: number,
    output = "probabilities",
  ): Promise<TopClass[][]> {
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    return this.classify(model, { name: "input", datatype: "FP32", shape, bytes }, topk, output);
  }

  /** Top-K of encoded images (JPEG, PNG, WebP …), decoded and preprocessed by `convzoo serve`. */
  async classifyImages(model: string, images: readonly Uint8Array[], topk: number, output = "probabilities"): Promise<TopClass[][]> {
    return this.classify(model, { name: "image", datatype: "BYTES", shape: [images.length], bytes: bytesElements(images) }, topk, output);
  }

  private async classify(model: string, input: BinaryInput, topk: number, output: string): Promise<TopClass[][]> {
    const outputs = await this.infer(model, input, [{ name: output, parameters: { classification: topk } }]);
    const raw = outputs.get(output);
    if (!raw || !Array.isArray(raw.data)) throw new ConvzooError(`${this.base}: the response has no classification output ${output}`);
    const [n, k] = raw.shape;
    const rows: TopClass[][] = [];
    for (let r = 0; r < n; r++) rows.push((raw.data as string[]).slice(r * k, (r + 1) * k).map(parseClassification));
    return rows;
  }

  private async infer(model: string, input: BinaryInput, outputs: unknown[]): Promise<Map<string, { shape: number[]; data: unknown }>> {
    const header = Buffer.from(
      JSON.stringify({
        inputs: [{ name: input.name, datatype: input.datatype, shape: input.shape, parameters: { binary_data_size: input.bytes.length } }],
        outputs,
      }),
    );
    const res = await this.fetch("POST", `/v2/models/${encodeURIComponent(model)}/infer`, Buffer.concat([header, input.bytes]), {
      "Content-Type": "application/octet-stream",
      "Inference-Header-Content-Length": String(header.length),
    });
    const body = Buffer.from(await res.arrayBuffer());
    if (!res.ok) throw new ConvzooError(`${this.base}: ${res.status} ${errorText(body)}`);
    const length = res.headers.get("inference-header-content-length");
    const jsonEnd = length === null ? body.length : Number(length);
    const parsed = JSON.parse(body.subarray(0, jsonEnd).toString("utf8")) as { outputs: InferOutput[] };
    const out = new Map<string, { shape: number[]; data: unknown }>();
    let at = jsonEnd;
    for (const o of parsed.outputs) {
      const size = o.parameters?.binary_data_size;
      if (size === undefined) out.set(o.name, { shape: o.shape, data: o.data });
      else {
        out.set(o.name, { shape: o.shape, data: new Uint8Array(body.subarray(at, at + size)) });
        at += size;
      }
    }
    return out;
  }

  private async json(res: Response): Promise<unknown> {
    const body = Buffer.from(await res.arrayBuffer());
    if (!res.ok) throw new ConvzooError(`${this.base}: ${res.status} ${errorText(body)}`);
    return JSON.parse(body.toString("utf8"));
  }

  private async fetch(method: string, path: string, body?: Buffer, headers: Record<string, string> = {}): Promise<Response> {
    const auth: Record<string, string> = this.options.apiKey ? { Authorization: `Bearer ${this.options.apiKey}` } : {};
    try {
      return await fetch(`${this.base}${path}`, {
        method,
        body: body === undefined ? undefined : new Uint8Array(body), // a copy typed on ArrayBuffer, as fetch wants
        headers: { ...headers, ...auth },
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 60_000),
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
      throw new ConvzooError(`${this.base}${path}: cannot reach the server (${cause})`);
    }
  }
}

interface BinaryInput {
  name: string;
  datatype: "FP32" | "BYTES";
  shape: readonly number[];
  bytes: Buffer;
}

/** "<value>:<index>:<label>"; the label may itself contain colons. */
export function parseClassification(s: string): TopClass {
  const first = s.indexOf(":");
  const second = s.indexOf(":", first + 1);
  const score = Number(s.slice(0, first));
  const index = Number(second < 0 ? s.slice(first + 1) : s.slice(first + 1, second));
  return { score, index, label: second < 0 ? String(index) : s.slice(second + 1) };
}

function errorText(body: Buffer): string {
  try {
    const e = JSON.parse(body.toString("utf8")) as { error?: string };
    return e.error ?? body.toString("utf8");
  } catch {
    return body.toString("utf8").slice(0, 200);
  }
}
