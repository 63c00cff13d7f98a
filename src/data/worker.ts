/**
 * Entry of a data worker thread (started by workers.ts): decodes one image file and applies the
 * training transform with the generator state the main thread forked for that sample, so the result
 * is the one the in-thread path computes. Node only.
 */
import { parentPort } from "node:worker_threads";
import { InputFileError } from "../errors.js";
import { Random } from "../random.js";
import { trainTransformRGB } from "./augment.js";
import { decodeImageRGB } from "./image.js";
import type { WorkerJob, WorkerReply } from "./workers.js";

const port = parentPort;
if (!port) throw new Error("src/data/worker is a worker_threads entry, not a module to import");

port.on("message", (job: WorkerJob) => {
  void run(job).then(
    (reply) => port.postMessage(reply, reply.kind === "image" ? [reply.data.buffer as ArrayBuffer] : []),
    (e: unknown) =>
      port.postMessage({
        kind: "error",
        id: job.id,
        message: e instanceof Error ? (e.stack ?? e.message) : String(e),
      } satisfies WorkerReply),
  );
});
port.postMessage({ kind: "ready" } satisfies WorkerReply);

async function run(job: WorkerJob): Promise<WorkerReply> {
  let img;
  try {
    img = await decodeImageRGB(job.path);
  } catch (e) {
    // An undecodable file is data, not a failure: the main thread reports it and skips the sample.
    if (e instanceof InputFileError) return { kind: "bad", id: job.id, reason: e.message };
    throw e;
  }
  const rng = new Random();
  rng.setState(job.rngState);
  const r = job.transform.resolution;
  const data = new Float32Array(3 * r * r);
  trainTransformRGB(img.data, img.width, img.height, job.transform, rng, data, 0);
  return { kind: "image", id: job.id, data };
}
