/**
 * A small pool of data worker threads (Node only; the browser build never imports this file).
 * Each job is one sample: decode + augment + normalise in a worker (worker.ts), the CHW float32
 * result transferred back. Jobs run in submission order, a few in flight per worker so that one
 * image's decode (on libuv's pool) overlaps another's transform. Idle workers are unref'd, so a pool
 * nobody closes does not keep the process alive; close() terminates them.
 */
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { TrainTransform } from "./augment.js";

/** Main thread → worker. */
export interface WorkerJob {
  id: number;
  path: string;
  /** `Random.getState()` of the generator forked for this sample. */
  rngState: number[];
  transform: TrainTransform;
}

/** Worker → main thread. */
export type WorkerReply =
  | { kind: "ready" }
  | { kind: "image"; id: number; data: Float32Array }
  | { kind: "bad"; id: number; reason: string }
  | { kind: "error"; id: number; message: string };

/** A job's outcome: the image, or why the file could not be decoded. */
export type SampleResult = { data: Float32Array } | { bad: string };

/**
 * Default number of data workers: one core is left to the main thread and ONNX Runtime's step, at
 * least one worker, at most 4 (beyond that the step, not the data, is the bottleneck on a CPU).
 */
export function defaultDataWorkers(): number {
  return Math.max(1, Math.min(4, availableParallelism() - 1));
}

/** Samples in flight per worker: one decoding while another is transformed. */
const IN_FLIGHT = 2;

/**
 * The worker entry beside this file: worker.js in dist/, worker.ts under `node --import tsx`
 * (a worker inherits process.execArgv, so tsx's loader is there to compile it).
 */
export function workerEntry(): URL {
  const here = import.meta.url;
  return new URL(here.endsWith(".ts") ? "./worker.ts" : "./worker.js", here);
}

/**
 * Plain-JS code that loads the TypeScript entry in a worker. Workers inherit `--import tsx`, but on
 * Node 20 tsx registers its hooks on the main thread only (newer Node runs them in workers too), so
 * when the first import fails for the ".ts" extension the bootstrap registers tsx's API and retries.
 */
export function tsBootstrap(entry: URL): string {
  let tsxApi: string | null = null;
  try {
    tsxApi = import.meta.resolve("tsx/esm/api");
  } catch {
    // not running under tsx: the first import either works (another loader) or reports the error
  }
  return `
    const entry = ${JSON.stringify(entry.href)};
    const tsxApi = ${JSON.stringify(tsxApi)};
    import(entry).catch(async (e) => {
      if (e?.code !== "ERR_UNKNOWN_FILE_EXTENSION" || !tsxApi) throw e;
      (await import(tsxApi)).register();
      await import(entry + "?tsx"); // a new URL: the failed load stays cached under the first
    });`;
}

interface Pending {
  job: WorkerJob;
  owner: object;
  resolve: (r: SampleResult) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  inFlight: Map<number, Pending>;
}

export class DataWorkerPool {
  readonly size: number;
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private nextId = 0;
  private failure: Error | null = null;
  private closed = false;
  private referenced = true;

  constructor(size: number = defaultDataWorkers()) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`a data worker pool needs a whole number of workers ≥ 1, got ${size}`);
    this.size = size;
    const entry = workerEntry();
    if (!existsSync(fileURLToPath(entry)))
      throw new Error(`data worker entry ${fileURLToPath(entry)} is missing (a bundled build? use workers: 0)`);
    for (let i = 0; i < size; i++) this.slots.push(this.spawn(entry));
    this.setRef(false);
  }

  private spawn(entry: URL): Slot {
    const worker = entry.pathname.endsWith(".ts") ? new Worker(tsBootstrap(entry), { eval: true }) : new Worker(entry);
    const slot: Slot = { worker, ready: false, inFlight: new Map() };
    worker.on("message", (m: WorkerReply) => {
      if (m.kind === "ready") {
        slot.ready = true;
        this.pump();
        return;
      }
      const p = slot.inFlight.get(m.id);
      if (!p) return;
      slot.inFlight.delete(m.id);
      if (m.kind === "image") p.resolve({ data: m.data });
      else if (m.kind === "bad") p.resolve({ bad: m.reason });
      else p.reject(new Error(`data worker failed on ${p.job.path}: ${m.message}`));
      this.pump(); // also drops the process reference when this was the last job
    });
    worker.on("error", (e) =>
      this.fail(new Error(`data worker ${slot.ready ? "crashed" : `could not start (${fileURLToPath(entry)})`}: ${e.message}`)),
    );
    worker.on("exit", (code) => {
      if (!this.closed) this.fail(new Error(`data worker exited unexpectedly (code ${code})`));
    });
    return slot;
  }

  /** False once a worker has crashed or the pool was closed: its jobs then fail at once. */
  get usable(): boolean {
    return !this.failure && !this.closed;
  }

  /** Work queued or in flight keeps the process alive (a caller is waiting for it); idle workers do not. */
  private setRef(busy: boolean): void {
    if (busy === this.referenced) return;
    this.referenced = busy;
    for (const s of this.slots) {
      if (busy) s.worker.ref();
      else s.worker.unref();
    }
  }

  /** Every queued and in-flight job fails, and so does every later run(): the pool is unusable. */
  private fail(e: Error): void {
    if (this.failure || this.closed) return;
    this.failure = e;
    const all = [...this.queue.splice(0), ...this.slots.flatMap((s) => [...s.inFlight.values()])];
    for (const s of this.slots) s.inFlight.clear();
    for (const p of all) p.reject(e);
    void this.close();
  }

  private pump(): void {
    this.setRef(this.queue.length > 0 || this.slots.some((s) => s.inFlight.size > 0));
    for (const slot of this.slots) {
      while (slot.ready && slot.inFlight.size < IN_FLIGHT && this.queue.length) {
        const p = this.queue.shift()!;
        slot.inFlight.set(p.job.id, p);
        slot.worker.postMessage(p.job);
      }
    }
  }

  /**
   * Queues one sample; the promise gives its normalised CHW pixels or the reason it could not be
   * decoded. `owner` tags the job so cancel(owner) can drop it while it still waits in the queue.
   */
  run(path: string, rngState: number[], transform: TrainTransform, owner: object): Promise<SampleResult> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error("the data worker pool is closed"));
    return new Promise((resolve, reject) => {
      this.queue.push({ job: { id: this.nextId++, path, rngState, transform }, owner, resolve, reject });
      this.pump();
    });
  }

  /** Drops `owner`'s jobs that have not started (their promises reject); running ones finish. */
  cancel(owner: object): void {
    const dropped = new Error("cancelled");
    for (let i = this.queue.length - 1; i >= 0; i--) {
      if (this.queue[i].owner === owner) this.queue.splice(i, 1)[0].reject(dropped);
    }
    this.pump();
  }

  /** Terminates the workers; jobs not finished reject. Safe to call more than once. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const gone = new Error("the data worker pool was closed");
    const all = [...this.queue.splice(0), ...this.slots.flatMap((s) => [...s.inFlight.values()])];
    for (const s of this.slots) s.inFlight.clear();
    for (const p of all) p.reject(gone);
    // Whoever awaits close() waits for the workers' exit: idle workers are unref'd, and an unref'd worker's
    // exit does not keep the event loop alive, so the loop could end with this promise pending.
    this.setRef(true);
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
