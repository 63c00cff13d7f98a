/**
 * An ONNX Runtime session in a worker thread (session_worker.ts), so the main thread keeps
 * accepting and parsing requests while a batch runs. One run at a time (the batcher's rule); the
 * session's intra-op threads are the same as in process.
 */
import { Worker } from "node:worker_threads";
import { tsBootstrap } from "../data/workers.js";
import type { SessionOptions } from "../runtime/session.js";
import type { Tensor } from "../tensor.js";

export type WorkerRequest =
  | { type: "init"; id: number; onnx: Uint8Array; options: SessionOptions }
  | { type: "run"; id: number; shape: number[]; data: Float32Array; output: string }
  | { type: "release"; id: number };

export type WorkerReply =
  | { type: "ready"; id: number; threads: number }
  | { type: "result"; id: number; shape: number[]; data: Float32Array }
  | { type: "released"; id: number }
  | { type: "error"; id: number; message: string };

function entry(): URL {
  const here = import.meta.url;
  return new URL(here.endsWith(".ts") ? "./session_worker.ts" : "./session_worker.js", here);
}

export class WorkerSession {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (r: WorkerReply) => void; reject: (e: Error) => void }>();

  private constructor(
    private readonly worker: Worker,
    private threadCount = 0,
  ) {
    worker.on("message", (m: WorkerReply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.type === "error") p.reject(new Error(m.message));
      else p.resolve(m);
    });
    worker.on("error", (e) => this.failAll(e));
    worker.on("exit", (code) => this.failAll(new Error(`the ONNX Runtime worker exited (code ${code})`)));
  }

  static async create(onnx: Uint8Array, options: SessionOptions = {}): Promise<WorkerSession> {
    const e = entry();
    const worker = e.pathname.endsWith(".ts") ? new Worker(tsBootstrap(e), { eval: true }) : new Worker(e);
    const s = new WorkerSession(worker);
    const ready = (await s.call({ type: "init", id: 0, onnx, options })) as Extract<WorkerReply, { type: "ready" }>;
    s.threadCount = ready.threads;
    return s;
  }

  get threads(): number {
    return this.threadCount;
  }

  async run(batch: Tensor<"float32">, output: string): Promise<Tensor<"float32">> {
    const d = batch.data;
    // Move the input's buffer when the batch owns all of it; copy otherwise.
    const owned = d.byteOffset === 0 && d.byteLength === d.buffer.byteLength ? d : d.slice();
    const r = (await this.call({ type: "run", id: 0, shape: [...batch.shape], data: owned, output }, [
      owned.buffer as ArrayBuffer,
    ])) as Extract<WorkerReply, { type: "result" }>;
    return { dtype: "float32", shape: r.shape, data: r.data };
  }

  async release(): Promise<void> {
    await this.call({ type: "release", id: 0 }).catch(() => undefined);
    await this.worker.terminate();
  }

  private call(message: WorkerRequest, transfer: ArrayBuffer[] = []): Promise<WorkerReply> {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...message, id }, transfer);
    });
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }
}
