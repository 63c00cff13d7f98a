/**
 * Property and fuzz tests of every reader of untrusted bytes (CI-sized: a few hundred inputs each, seconds):
 * the .pth zip + pickle reader, safetensors, ONNX, CSV, checkpoint metadata and resume files. Each input
 * must end in a result or a ConvzooError, and a result must hold at most a small multiple of the input's
 * size (targets.ts). Long runs: bench/fuzz.ts. A failure prints fast-check's seed and the shrunk input;
 * CONVZOO_FUZZ_SEED picks another seed.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import fc from "fast-check";
import { parseCsv } from "../../src/data/csv.js";
import {
  csvTarget,
  judge,
  metadataTarget,
  onnxTarget,
  pthTarget,
  resumeSeed,
  resumeTarget,
  safetensorsTarget,
  type FuzzTarget,
} from "./targets.js";

const seed = Number(process.env.CONVZOO_FUZZ_SEED ?? 20261205);
const dir = mkdtempSync(join(tmpdir(), "convzoo-fuzz-"));
after(() => rmSync(dir, { recursive: true, force: true }));

async function outcomeOf(target: FuzzTarget, input: Uint8Array): Promise<{ bytes: number } | { error: unknown }> {
  try {
    return { bytes: await target.read(input) };
  } catch (error) {
    return { error };
  }
}

async function holds(target: FuzzTarget, numRuns: number): Promise<void> {
  await fc.assert(
    fc.asyncProperty(target.inputs, async (input) => {
      const problem = judge(input, await outcomeOf(target, input));
      assert.equal(problem, undefined, `${target.name}: ${problem}`);
    }),
    { numRuns, seed },
  );
}

for (const [target, runs] of [
  [pthTarget, 1500],
  [safetensorsTarget, 1500],
  [onnxTarget, 1500],
  [csvTarget, 1500],
  [metadataTarget, 1500],
] as const) {
  test(`${target.name}: every input ends in a result or a ConvzooError, results bounded by the input's size`, async () => {
    await holds(target, runs);
  });
}

test("resume file: mutated fields and headers end in a result or a ConvzooError", async () => {
  await holds(resumeTarget(await resumeSeed(dir), dir), 150);
});

test("the oracle catches what it should: a TypeError, and a result far larger than its input", () => {
  const input = new Uint8Array(10);
  assert.match(judge(input, { error: new TypeError("x is undefined") }) ?? "", /^TypeError: x is undefined$/);
  assert.match(judge(input, { bytes: 64 << 20 }) ?? "", /returned 67108864 bytes of tensors from a 10-byte input/);
  assert.equal(judge(input, { bytes: 100 }), undefined);
});

/** RFC 4180 quoting, written independently of the parser: every field quoted, quotes doubled. */
const quote = (field: string) => `"${field.replaceAll('"', '""')}"`;

test("CSV: any table of fields written with RFC 4180 quoting parses back to the same fields", () => {
  const field = fc.string({ unit: fc.constantFrom(...'ab ,"\n\r\té😀'), maxLength: 12 });
  fc.assert(
    fc.property(fc.array(fc.array(field, { minLength: 2, maxLength: 4 }), { minLength: 1, maxLength: 6 }), fc.boolean(), (rows, crlf) => {
      const text = rows.map((r) => r.map(quote).join(",")).join(crlf ? "\r\n" : "\n");
      assert.deepEqual(
        parseCsv(text, "t.csv").map((r) => r.fields),
        rows,
      );
    }),
    { numRuns: 500, seed },
  );
});
