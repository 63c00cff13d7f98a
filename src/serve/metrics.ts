/**
 * `/metrics` in Prometheus's text format (prom-client), under Triton's names where one fits
 * (docs/user_guide/metrics.md of Triton: nv_inference_request_success, _failure, nv_inference_count,
 * nv_inference_exec_count, and cumulative microseconds nv_inference_request_duration_us,
 * nv_inference_queue_duration_us, nv_inference_compute_infer_duration_us), plus what Triton has no name
 * for: the batch-size histogram, HTTP responses by status, and the process's memory and CPU.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

const MODEL = ["model", "version"] as const;

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly success = new Counter({
    name: "nv_inference_request_success",
    help: "Number of successful inference requests, all batch sizes",
    labelNames: MODEL,
    registers: [this.registry],
  });
  private readonly failure = new Counter({
    name: "nv_inference_request_failure",
    help: "Number of failed inference requests, all batch sizes",
    labelNames: [...MODEL, "reason"],
    registers: [this.registry],
  });
  private readonly inferences = new Counter({
    name: "nv_inference_count",
    help: "Number of inferences performed (a batch of N images counts N)",
    labelNames: MODEL,
    registers: [this.registry],
  });
  private readonly executions = new Counter({
    name: "nv_inference_exec_count",
    help: "Number of model executions performed (dynamic batching runs several requests as one)",
    labelNames: MODEL,
    registers: [this.registry],
  });
  private readonly requestMicros = new Counter({
    name: "nv_inference_request_duration_us",
    help: "Cumulative inference request duration in microseconds (body received to response ready)",
    labelNames: MODEL,
    registers: [this.registry],
  });
  private readonly queueMicros = new Counter({
    name: "nv_inference_queue_duration_us",
    help: "Cumulative inference queuing duration in microseconds",
    labelNames: MODEL,
    registers: [this.registry],
  });
  private readonly computeMicros = new Counter({
    name: "nv_inference_compute_infer_duration_us",
    help: "Cumulative compute inference duration in microseconds (per request: the run of the batch it was in)",
    labelNames: MODEL,
    registers: [this.registry],
  });
  private readonly batchSize = new Histogram({
    name: "convzoo_batch_size",
    help: "Rows per model execution",
    labelNames: MODEL,
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [this.registry],
  });
  private readonly responses = new Counter({
    name: "convzoo_http_responses",
    help: "HTTP responses by status code",
    labelNames: ["code"],
    registers: [this.registry],
  });

  /** Requests received and not yet answered (this scrape included). */
  readonly inFlight = new Gauge({
    name: "convzoo_requests_in_flight",
    help: "HTTP requests received and not yet answered",
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  requestDone(model: string, ok: boolean, totalMicros: number, queueMicros: number, computeMicros: number, reason = ""): void {
    const labels = { model, version: "1" };
    if (ok) this.success.inc(labels);
    else this.failure.inc({ ...labels, reason });
    this.requestMicros.inc(labels, totalMicros);
    this.queueMicros.inc(labels, queueMicros);
    this.computeMicros.inc(labels, computeMicros);
  }

  batchRun(model: string, rows: number): void {
    const labels = { model, version: "1" };
    this.inferences.inc(labels, rows);
    this.executions.inc(labels);
    this.batchSize.observe(labels, rows);
  }

  response(status: number): void {
    this.responses.inc({ code: String(status) });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
