/**
 * A model's instances (Triton's `instance_group { count }`): N sessions, each in its own worker
 * thread, so N batches of one model run at once. A run takes a free instance or waits for one.
 *
 * Why more than one on a CPU: a session spreading one batch over every core stalls at each
 * parallel section's barrier whenever another thread (the server's own HTTP work) takes a core;
 * N sessions of fewer threads each do not wait for one another.
 */
import { availableParallelism } from "node:os";
import type { SessionOptions } from "../runtime/session.js";
import type { Tensor } from "../tensor.js";
import { WorkerSession } from "./worker_session.js";

export interface PoolOptions extends SessionOptions {
  /** Sessions (default 1). */
  instances?: number;
}

/** ONNX Runtime threads per instance: the cores shared out (at least 1), unless given. */
export function threadsPerInstance(instances: number, threads?: number): number {
  return threads ?? Math.max(1, Math.floor(availableParallelism() / instances));
}

export class SessionPool {
  private readonly free: WorkerSession[];
  private readonly waiting: ((s: WorkerSession) => void)[] = [];

  private constructor(private readonly sessions: WorkerSession[]) {
    this.free = [...sessions];
  }

  static async create(onnx: Uint8Array, options: PoolOptions = {}): Promise<SessionPool> {
    const instances = options.instances ?? 1;
    const threads = threadsPerInstance(instances, options.threads);
    const sessions: WorkerSession[] = [];
    try {
      for (let i = 0; i < instances; i++) sessions.push(await WorkerSession.create(onnx, { ...options, threads }));
    } catch (e) {
      await Promise.all(sessions.map((s) => s.release()));
      throw e;
    }
    return new SessionPool(sessions);
  }

  get instances(): number {
    return this.sessions.length;
  }

  /** Threads of each instance. */
  get threads(): number {
    return this.sessions[0].threads;
  }

  async run(batch: Tensor<"float32">, output: string): Promise<Tensor<"float32">> {
    const session = this.free.pop() ?? (await new Promise<WorkerSession>((resolve) => this.waiting.push(resolve)));
    try {
      return await session.run(batch, output);
    } finally {
      const next = this.waiting.shift();
      if (next) next(session);
      else this.free.push(session);
    }
  }

  async release(): Promise<void> {
    await Promise.all(this.sessions.map((s) => s.release()));
  }
}
