/** Dynamic batching with a model that records its batches: rows go back to their own requests. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Batcher, type BatchingOptions } from "../../src/serve/batcher.js";
import type { ModelSource } from "../../src/serve/model_source.js";
import { HttpError } from "../../src/serve/protocol.js";

/**
 * A 1x1-pixel "model" whose output row is (first channel value, batch size), after `delayMs`; it
 * records each batch's size and the most batches it ran at once.
 */
function recordingSource(delayMs: number, instances = 1): { source: ModelSource; batches: number[]; mostAtOnce: () => number } {
  const batches: number[] = [];
  let running = 0;
  let most = 0;
  const source: ModelSource = {
    name: "rec",
    platform: "test",
    arch: "test",
    resolution: 1,
    classes: ["value", "batch"],
    preprocessing: { resizeSize: 1, cropSize: 1, mean: [0, 0, 0], std: [1, 1, 1], interpolation: "bilinear" },
    output: "logits",
    instances,
    threads: 1,
    async run(batch) {
      const n = batch.shape[0];
      batches.push(n);
      most = Math.max(most, ++running);
      await new Promise((r) => setTimeout(r, delayMs));
      running--;
      const out = new Float32Array(n * 2);
      for (let i = 0; i < n; i++) {
        out[i * 2] = batch.data[i * 3];
        out[i * 2 + 1] = n;
      }
      return { dtype: "float32", shape: [n, 2], data: out };
    },
    release: async () => {},
  };
  return { source, batches, mostAtOnce: () => most };
}

const rows = (first: number, n: number) => {
  const d = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) d[i * 3] = first + i;
  return d;
};

const options = (o: Partial<BatchingOptions>): BatchingOptions => ({
  maxBatchSize: 8,
  maxQueueDelayMs: 0,
  dynamic: true,
  queueTimeoutMs: 10_000,
  ...o,
});

test("concurrent requests of mixed sizes run together up to the batch size, each gets its own rows", async () => {
  const { source, batches } = recordingSource(5);
  const batcher = new Batcher(source, options({ maxBatchSize: 8, maxQueueDelayMs: 2 }));
  const sizes = Array.from({ length: 60 }, (_, i) => 1 + ((i * 7) % 4));
  let next = 0;
  const firsts = sizes.map((n) => ((next += n), next - n));
  const results = await Promise.all(sizes.map((n, i) => batcher.submit(rows(firsts[i] * 10, n), n)));
  results.forEach((r, i) => {
    const values = Array.from({ length: sizes[i] }, (_, j) => r.rows[j * 2]);
    assert.deepEqual(
      values,
      Array.from({ length: sizes[i] }, (_, j) => firsts[i] * 10 + j),
    );
    assert.equal(r.rows.length, sizes[i] * 2);
    assert.equal(r.batchRows, r.rows[1]);
  });
  assert.ok(
    batches.every((n) => n <= 8),
    `a batch exceeded 8: ${batches}`,
  );
  assert.equal(
    batches.reduce((a, b) => a + b, 0),
    sizes.reduce((a, b) => a + b, 0),
  );
  // 150 rows in batches of at most 8: batching happened (19 runs at best, 60 without).
  assert.ok(batches.length < 30, `expected batching, got ${batches.length} runs: ${batches}`);
  await batcher.idle();
});

test("one batch at a time per instance: two instances run two batches at once, rows still their own", async () => {
  for (const instances of [1, 2]) {
    const { source, batches, mostAtOnce } = recordingSource(5, instances);
    const batcher = new Batcher(source, options({ maxBatchSize: 4 }));
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => batcher.submit(rows(i * 10, 1), 1)));
    results.forEach((r, i) => assert.equal(r.rows[0], i * 10));
    assert.equal(mostAtOnce(), instances, `${instances} instance(s): at most ${mostAtOnce()} batches ran at once`);
    assert.equal(
      batches.reduce((a, b) => a + b, 0),
      40,
    );
    await batcher.idle();
  }
});

test("without dynamic batching every request runs alone", async () => {
  const { source, batches } = recordingSource(1);
  const batcher = new Batcher(source, options({ dynamic: false }));
  await Promise.all([1, 2, 3, 1].map((n, i) => batcher.submit(rows(i, n), n)));
  assert.deepEqual(batches, [1, 2, 3, 1]);
});

test("the delay lets a lone request wait for company; a full batch does not wait", async () => {
  const { source, batches } = recordingSource(0);
  const batcher = new Batcher(source, options({ maxBatchSize: 4, maxQueueDelayMs: 50 }));
  const t0 = performance.now();
  const first = batcher.submit(rows(0, 1), 1);
  await new Promise((r) => setTimeout(r, 10));
  const second = batcher.submit(rows(1, 1), 1);
  await Promise.all([first, second]);
  const waited = performance.now() - t0;
  assert.deepEqual(batches, [2]);
  assert.ok(waited >= 45, `ran after ${waited} ms, before the 50 ms delay`);
  const t1 = performance.now();
  await batcher.submit(rows(0, 4), 4);
  assert.ok(performance.now() - t1 < 40, "a full batch waited for the delay");
});

test("a request larger than the batch size is refused; model errors reach every request of the batch", async () => {
  const { source } = recordingSource(0);
  const batcher = new Batcher(source, options({ maxBatchSize: 2 }));
  await assert.rejects(
    batcher.submit(rows(0, 3), 3),
    (e: unknown) => e instanceof HttpError && e.status === 400 && /max_batch_size 2/.test(e.message),
  );
  const failing: ModelSource = { ...source, run: async () => Promise.reject(new Error("boom")) };
  const b2 = new Batcher(failing, options({ maxBatchSize: 4 }));
  const results = await Promise.allSettled([b2.submit(rows(0, 1), 1), b2.submit(rows(1, 1), 1)]);
  assert.deepEqual(
    results.map((r) => r.status === "rejected" && (r.reason as Error).message),
    ["boom", "boom"],
  );
});
