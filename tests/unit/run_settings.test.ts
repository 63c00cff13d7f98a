/** The run options table (run/settings.ts): defaults filled in, and a library caller's values checked as flags are. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { OptionError } from "../../src/errors.js";
import { withDefaults, type RunRequest } from "../../src/run/settings.js";

const base: RunRequest = { data: "folder", save: "out.safetensors" };

test("withDefaults fills the table's defaults and leaves sized fields to the run", () => {
  const r = withDefaults(base);
  assert.equal(r.strategy, "full");
  assert.equal(r.seed, 0);
  assert.equal(r.batchSize, undefined, "sized from the data");
  assert.equal(r.saveEpoch, undefined, "sized from the validation set");
  assert.equal(withDefaults({ ...base, saveEpoch: "last", lr: "auto", batchSize: 8 }).saveEpoch, "last");
});

test("a library request's values are checked as the CLI checks its flags, naming the field", () => {
  const refused = (req: Partial<RunRequest>, message: string) =>
    assert.throws(
      () => withDefaults({ ...base, ...req } as RunRequest),
      (e: unknown) => e instanceof OptionError && e.message === message,
    );
  refused({ saveEpoch: "Last" as "last" }, 'saveEpoch expects one of best, last, got "Last"');
  refused({ batchSize: 0 }, 'batchSize expects a positive integer, got "0"');
  refused({ lr: -1 }, 'lr expects a positive number or auto, got "-1"');
  refused({ valSplit: 1 }, 'valSplit expects a number in [0, 1), got "1"');
  refused({ optimizer: "adam" as "adamw" }, 'optimizer expects one of sgd, adamw, got "adam"');
  refused({ epochs: "10" as unknown as number }, 'epochs expects a number, got "10"');
  refused({ mean: [0.5, 0.5] as unknown as [number, number, number] }, 'mean expects 3 comma-separated numbers (R,G,B), got "0.5,0.5"');
});
