/**
 * Dynamic batching, as Triton's dynamic batcher does it: requests queue per model; a batch is run as
 * soon as the queued rows reach the maximum batch size, or when the oldest request has waited the
 * maximum queue delay, or (delay 0) as soon as the model is free. Requests are never split: a batch
 * takes whole requests in arrival order, and each request gets back exactly its own rows.
 * Without dynamic batching every request runs alone. As many batches run at once as the model has
 * instances (one by default: the session already uses every core it was given).
 */
import { HttpError } from "./protocol.js";
import type { ModelSource } from "./model_source.js";

export interface BatchingOptions {
  /** Rows per run (and the most a single request may carry). */
  maxBatchSize: number;
  /** How long the oldest queued request may wait for others to join it. */
  maxQueueDelayMs: number;
  /** false: each request runs alone (batch-1 serving when clients send one image). */
  dynamic: boolean;
  /** A request still queued after this long is answered 503. */
  queueTimeoutMs: number;
}

export interface BatchResult {
  /** The request's rows of the source's output, [n, classes]. */
  rows: Float32Array;
  queueMicros: number;
  computeMicros: number;
  /** Rows in the batch this request ran in. */
  batchRows: number;
}

/** What one executed batch reports (for metrics). */
export interface BatchRecord {
  rows: number;
  requests: number;
  computeMicros: number;
}

interface Pending {
  data: Float32Array;
  rows: number;
  enqueued: number;
  resolve: (r: BatchResult) => void;
  reject: (e: Error) => void;
}

const nowMicros = () => Number(process.hrtime.bigint() / 1000n);

export class Batcher {
  private readonly queue: Pending[] = [];
  /** Batches taken and not yet finished (at most the source's instances). */
  private running = 0;
  private timer: NodeJS.Timeout | null = null;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly source: ModelSource,
    private readonly options: BatchingOptions,
    private readonly onBatch: (record: BatchRecord) => void = () => {},
  ) {}

  /** Queues `rows` images (a normalised [rows, 3, R, R] buffer) and resolves with their output rows. */
  submit(data: Float32Array, rows: number): Promise<BatchResult> {
    if (rows < 1) return Promise.reject(new HttpError(400, "a request must carry at least one image"));
    if (rows > this.options.maxBatchSize) {
      return Promise.reject(
        new HttpError(400, `batch of ${rows} exceeds model ${this.source.name}'s max_batch_size ${this.options.maxBatchSize}`),
      );
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ data, rows, enqueued: nowMicros(), resolve, reject });
      this.schedule();
    });
  }

  /** Resolves once nothing is queued or running. */
  idle(): Promise<void> {
    if (this.running === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private queuedRows(): number {
    return this.queue.reduce((n, p) => n + p.rows, 0);
  }

  private schedule(): void {
    if (this.running >= this.source.instances || this.queue.length === 0) return;
    const { dynamic, maxBatchSize, maxQueueDelayMs } = this.options;
    if (!dynamic || this.queuedRows() >= maxBatchSize || maxQueueDelayMs <= 0) {
      this.clearTimer();
      // setImmediate: requests whose bytes are already here are parsed and queued first (poll phase).
      this.running++;
      setImmediate(() => void this.dispatch());
      return;
    }
    if (this.timer) return;
    const waitedMs = (nowMicros() - this.queue[0].enqueued) / 1000;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        if (this.running >= this.source.instances || this.queue.length === 0) return;
        this.running++;
        void this.dispatch();
      },
      Math.max(0, maxQueueDelayMs - waitedMs),
    );
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private take(): Pending[] {
    const batch: Pending[] = [];
    let rows = 0;
    const limit = this.options.dynamic ? this.options.maxBatchSize : 0;
    const now = nowMicros();
    while (this.queue.length > 0) {
      const next = this.queue[0];
      if ((now - next.enqueued) / 1000 > this.options.queueTimeoutMs) {
        this.queue.shift();
        next.reject(new HttpError(503, `request waited over ${this.options.queueTimeoutMs} ms in model ${this.source.name}'s queue`));
        continue;
      }
      if (batch.length > 0 && rows + next.rows > limit) break;
      batch.push(this.queue.shift()!);
      rows += next.rows;
    }
    return batch;
  }

  private async dispatch(): Promise<void> {
    const batch = this.take();
    try {
      if (batch.length > 0) await this.runBatch(batch);
    } finally {
      this.running--;
      if (this.queue.length > 0) this.schedule();
      else if (this.running === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  private async runBatch(batch: Pending[]): Promise<void> {
    const r = this.source.resolution;
    const size = 3 * r * r;
    const rows = batch.reduce((n, p) => n + p.rows, 0);
    let input: Float32Array;
    if (batch.length === 1) input = batch[0].data;
    else {
      input = new Float32Array(rows * size);
      let at = 0;
      for (const p of batch) {
        input.set(p.data, at);
        at += p.data.length;
      }
    }
    const start = nowMicros();
    let output: Float32Array;
    try {
      const out = await this.source.run({ dtype: "float32", shape: [rows, 3, r, r], data: input });
      output = out.data;
    } catch (e) {
      for (const p of batch) p.reject(e as Error);
      return;
    }
    const computeMicros = nowMicros() - start;
    this.onBatch({ rows, requests: batch.length, computeMicros });
    const width = output.length / rows;
    let row = 0;
    for (const p of batch) {
      // A copy, so a request's rows do not keep the whole batch's output alive.
      const own = output.slice(row * width, (row + p.rows) * width);
      row += p.rows;
      p.resolve({ rows: own, queueMicros: start - p.enqueued, computeMicros, batchRows: rows });
    }
  }
}
