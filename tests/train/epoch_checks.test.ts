/** The end-of-epoch checks that stop a run before anything of the epoch is saved (src/train/epoch_checks.ts). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createModel, initializeWeights } from "../../src/index.js";
import { checkEpochFinite, checkEpochTrained, nonFiniteTensors } from "../../src/train/epoch_checks.js";

test("non-finite weights or BatchNorm statistics, or a non-finite validation loss, stop the run naming the tensors", () => {
  const model = createModel("mobilenet_v3_small", { numClasses: 2 });
  initializeWeights(model, 0);
  assert.deepEqual(nonFiniteTensors(model), []);
  checkEpochFinite(model, 1, 0.7);
  checkEpochFinite(model, 1, null);
  assert.throws(() => checkEpochFinite(model, 3, Number.NaN), {
    name: "OptionError",
    message: "training diverged in epoch 3: validation loss is NaN; nothing from this epoch was saved (lower --lr?)",
  });
  const params = new Map(model.net.namedParameters());
  (params.get("classifier.3.weight")!.tensor.data as Float32Array)[5] = Number.NaN;
  (params.get("features.0.1.running_var")!.tensor.data as Float32Array)[0] = Number.POSITIVE_INFINITY;
  assert.deepEqual(nonFiniteTensors(model), ["features.0.1.running_var", "classifier.3.weight"]);
  assert.throws(() => checkEpochFinite(model, 2, 0.5), {
    message:
      "training diverged in epoch 2: the weights hold NaN or infinite values (features.0.1.running_var, classifier.3.weight); " +
      "nothing from this epoch was saved (lower --lr?)",
  });
});

test("an epoch in which no image was trained on stops the run", () => {
  checkEpochTrained(1, 3, 3);
  assert.throws(() => checkEpochTrained(1, 0, 1), {
    name: "OptionError",
    message:
      "no image of epoch 1 could be trained on (1 training image: every batch was unreadable or left out; see the warnings above): " +
      "nothing was saved; add images or lower --batch-size",
  });
});
