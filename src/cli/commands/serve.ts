import { InvalidArgumentError, type Command } from "commander";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { InputFileError, OptionError } from "../../errors.js";
import { modelSource, onnxFileSource, type ModelSource } from "../../serve/model_source.js";
import { InferenceServer } from "../../serve/server.js";
import {
  type ArchFlags,
  addArchFlags,
  addWeightsFlags,
  loadForInference,
  nonNegativeNumber,
  positiveInt,
  positiveNumber,
  type WeightsFlags,
} from "../options.js";

interface ServeOptions extends ArchFlags, WeightsFlags {
  weights?: string;
  arch?: string;
  name?: string;
  model: string[];
  host: string;
  port: number;
  maxBatchSize: number;
  maxQueueDelayMs: number;
  dynamicBatching: boolean;
  threads?: number;
  instances: number;
  resolution?: number;
  maxBodyMb: number;
  maxPixels: number;
  requestTimeoutMs: number;
  apiKeyFile?: string;
  logJson?: boolean;
}

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

/** `--model name=weights`, repeatable. */
function collectModel(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function parseModelSpec(spec: string): { name: string; weights: string } {
  const eq = spec.indexOf("=");
  if (eq < 1 || eq === spec.length - 1)
    throw new OptionError(`--model ${spec}: expected name=weights (a file, a registry name or an .onnx file)`);
  return { name: spec.slice(0, eq), weights: spec.slice(eq + 1) };
}

async function loadSource(name: string | undefined, weights: string, opts: ServeOptions): Promise<ModelSource> {
  const sessions = { threads: opts.threads, instances: opts.instances };
  if (weights.toLowerCase().endsWith(".onnx")) return onnxFileSource(name, weights, sessions);
  const request = { arch: opts.arch, weights, widthMult: opts.widthMult, phi: opts.phi };
  const { loaded, preprocessing, resolution } = await loadForInference(request, opts, "serve");
  return modelSource(name ?? loaded.model.arch, loaded.model, {
    resolution,
    classes: loaded.classes,
    preprocessing,
    ...sessions,
  });
}

export function registerServe(program: Command): void {
  addWeightsFlags(addArchFlags(program.command("serve")))
    .description("serve models on the Open Inference Protocol (KServe v2 / Triton HTTP): /v2/models/{name}/infer, /metrics")
    .option("--weights <file|name>", "the model: a .pth or safetensors file, a registry name, or an .onnx file from `convzoo export`")
    .option("--arch <arch>", "architecture (optional for convzoo checkpoints)")
    .option("--name <N>", "the model's name in /v2/models/{N} (default: the architecture)")
    .option("--model <name=weights>", "another model to serve (repeatable)", collectModel, [])
    .option("--host <H>", "address to bind (loopback unless told otherwise)", "127.0.0.1")
    .option("--port <P>", "port (0: any free port)", (t) => portNumber(t), 8000)
    .option("--max-batch-size <B>", "rows per model run, and per request", positiveInt("--max-batch-size"), 8)
    .option(
      "--max-queue-delay-ms <D>",
      "how long a request may wait for others to batch with (0, Triton's default: batch what queued while the model was busy)",
      nonNegativeNumber("--max-queue-delay-ms"),
      0,
    )
    .option("--no-dynamic-batching", "run every request alone")
    .option(
      "--instances <N>",
      "sessions per model, each running its own batches (Triton's instance_group count)",
      positiveInt("--instances"),
      1,
    )
    .option(
      "--threads <T>",
      "ONNX Runtime threads per instance (default: the cores shared out among the instances)",
      positiveInt("--threads"),
    )
    .option(
      "--resolution <N>",
      "input side (default: the checkpoint's, the weights' crop size, or the architecture's)",
      positiveInt("--resolution"),
    )
    .option("--max-body-mb <M>", "largest request body, in MiB (413 above)", positiveNumber("--max-body-mb"), 64)
    .option("--max-pixels <P>", "largest decoded image, width x height (413 above)", positiveInt("--max-pixels"), 40_000_000)
    .option(
      "--request-timeout-ms <T>",
      "time to receive a request, and to wait in the queue (503 after)",
      positiveInt("--request-timeout-ms"),
      30_000,
    )
    .option("--api-key-file <F>", "require Authorization: Bearer <the file's first line> (health probes excepted)")
    .option("--log-json", "one JSON line per request on stdout")
    .action(async (opts: ServeOptions) => {
      const specs = opts.model.map(parseModelSpec);
      if (opts.weights) specs.unshift({ name: opts.name ?? "", weights: opts.weights });
      else if (opts.name) throw new OptionError("--name names the --weights model: give --weights too (or use --model name=weights)");
      if (specs.length === 0) throw new OptionError("nothing to serve: give --weights F|NAME or --model name=weights");
      const apiKey = opts.apiKeyFile ? await readApiKey(opts.apiKeyFile) : undefined;
      if (!LOOPBACK.has(opts.host)) {
        console.error(
          `warning: binding ${opts.host}, reachable from other machines${apiKey ? "" : " without an API key (--api-key-file)"}`,
        );
      }
      const sources: ModelSource[] = [];
      try {
        for (const s of specs) sources.push(await loadSource(s.name || undefined, s.weights, opts));
      } catch (e) {
        for (const s of sources) await s.release();
        throw e;
      }
      const { version } = createRequire(import.meta.url)("../../../package.json") as { version: string };
      // Signals from here on stop the server gracefully, also one that comes while models warm up.
      let stopSignal: string | null = null;
      let onStop: (signal: string) => void = (signal) => (stopSignal = signal);
      process.once("SIGTERM", () => onStop("SIGTERM"));
      process.once("SIGINT", () => onStop("SIGINT"));
      const server = await InferenceServer.start(sources, {
        host: opts.host,
        port: opts.port,
        batching: {
          maxBatchSize: opts.maxBatchSize,
          maxQueueDelayMs: opts.maxQueueDelayMs,
          dynamic: opts.dynamicBatching,
          queueTimeoutMs: opts.requestTimeoutMs,
        },
        maxBodyBytes: Math.round(opts.maxBodyMb * 1024 * 1024),
        maxPixels: opts.maxPixels,
        requestTimeoutMs: opts.requestTimeoutMs,
        apiKey,
        log: opts.logJson ? (line) => console.log(line) : undefined,
        onListening: (url) => console.error(`listening on ${url}; warming up ${sources.map((s) => s.name).join(", ")}`),
        version,
      });
      const batching = opts.dynamicBatching
        ? `dynamic batching up to ${opts.maxBatchSize}, delay ${opts.maxQueueDelayMs} ms`
        : "no batching";
      for (const s of sources)
        console.error(
          `  ${server.url}/v2/models/${s.name}  (${s.arch} ${s.resolution}x${s.resolution}, ${s.classes.length} classes; ` +
            `${s.instances} instance${s.instances > 1 ? "s" : ""} of ${s.threads} thread${s.threads > 1 ? "s" : ""})`,
        );
      console.error(`ready: ${server.url} (${batching}; Ctrl-C or SIGTERM stops after the requests in flight)`);
      await new Promise<void>((resolve) => {
        onStop = (signal) => {
          console.error(`${signal}: draining (new requests get 503), then exiting`);
          server.close().then(resolve, resolve);
        };
        if (stopSignal) onStop(stopSignal);
      });
      console.error("stopped");
    });
}

function portNumber(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > 65535) throw new InvalidArgumentError(`--port must be an integer in [0, 65535], got ${text}`);
  return n;
}

async function readApiKey(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new InputFileError(`--api-key-file ${path}: cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const key = text.split(/\r?\n/)[0].trim();
  if (key === "") throw new InputFileError(`--api-key-file ${path}: the first line is empty (expected the token)`);
  return key;
}
