/**
 * Worker entry: one ONNX Runtime session off the main thread. onnxruntime-node's `run` holds the
 * thread that calls it for the whole run (measured: 0 timer ticks during a 261 ms mobilenet_v2
 * batch), so a server running it on the main thread stops reading requests while a batch computes;
 * here it does not (worker_session.ts is the main-thread side).
 */
import { parentPort } from "node:worker_threads";
import { Session } from "../runtime/session.js";
import type { WorkerReply, WorkerRequest } from "./worker_session.js";

let session: Session | null = null;
const port = parentPort!;

function reply(message: WorkerReply, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

port.on("message", async (m: WorkerRequest) => {
  try {
    if (m.type === "init") {
      session = await Session.create(m.onnx, m.options);
      reply({ type: "ready", id: m.id, threads: session.threads });
    } else if (m.type === "run") {
      const out = (await session!.run({ input: { dtype: "float32", shape: m.shape, data: m.data } }))[m.output];
      // A copy that owns its buffer, so the buffer can move to the main thread without copying again.
      const data = out.data.byteOffset === 0 && out.data.byteLength === out.data.buffer.byteLength ? out.data : out.data.slice();
      reply({ type: "result", id: m.id, shape: [...out.shape], data }, [data.buffer as ArrayBuffer]);
    } else {
      await session?.release();
      session = null;
      reply({ type: "released", id: m.id });
    }
  } catch (e) {
    reply({ type: "error", id: m.id, message: (e as Error).message });
  }
});
