/** bench infer's memory check (src/tools/batch_memory.ts), with the available memory given. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createModel } from "../../src/index.js";
import { asOutOfMemory, checkBatchFits, inferenceBytesPerImage, trainingBytes } from "../../src/tools/batch_memory.js";

test("per image: the input plus 3x the largest activation; a batch over the memory given is one clear error", () => {
  const model = createModel("resnet18");
  // resnet18 at 224: the stem's 64x112x112 output is the largest activation.
  assert.equal(inferenceBytesPerImage(model, 224), 4 * (3 * 224 * 224 + 3 * 64 * 112 * 112));
  const perImage = inferenceBytesPerImage(model, 224);
  checkBatchFits(model, 100, 224, { available: 100 * perImage });
  assert.throws(
    () => checkBatchFits(model, 101, 224, { available: 100 * perImage }),
    (e: Error) =>
      e.name === "OptionError" &&
      e.message ===
        "--batch-size 101: resnet18 at 224x224 needs about 1 GB (10.2 MB per image), more than the 1 GB of memory available; " +
          "try --batch-size 100 or less",
  );
});

test("training: the parameters eight times over, and per image the input plus twice every layer's output", () => {
  const model = createModel("resnet18");
  const { fixed, perImage } = trainingBytes(model, 224);
  assert.equal(fixed, 4 * 8 * 11_689_512, "resnet18's 11,689,512 parameters (torchvision's count)");
  // Within the measured range: peak RSS grew 54.6 MB per image from batch 8 to 32 (bench train, 2026-12-05).
  assert.ok(perImage > 54.6e6 && perImage < 1.5 * 54.6e6, `${perImage}`);
  checkBatchFits(model, 10, 224, { training: true, available: fixed + 10 * perImage });
  assert.throws(
    () => checkBatchFits(model, 11, 224, { training: true, available: fixed + 10 * perImage }),
    (e: Error) => e.name === "OptionError" && /^--batch-size 11: training resnet18 .* try --batch-size 10 or less$/.test(e.message),
  );
});

test("an allocation that fails anyway becomes the same kind of one-line error; other errors pass through", () => {
  const ort = asOutOfMemory(new Error("Failed to allocate memory for requested buffer of size 123456789\nat ..."), 512) as Error;
  assert.equal(ort.name, "OptionError");
  assert.equal(
    ort.message,
    "--batch-size 512: out of memory (Failed to allocate memory for requested buffer of size 123456789); try a smaller --batch-size",
  );
  assert.equal((asOutOfMemory(new RangeError("Invalid typed array length: 15052800000"), 100000) as Error).name, "OptionError");
  const other = new Error("something else");
  assert.equal(asOutOfMemory(other, 1), other);
});
