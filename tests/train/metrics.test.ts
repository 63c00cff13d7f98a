/** Classification metrics on small examples computed by hand. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ConvzooError } from "../../src/errors.js";
import { classificationMetrics, LOSS_FLOOR } from "../../src/train/metrics.js";

const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a} vs ${b}`);

test("three classes: accuracy, confusion, a tie, a never-predicted class, K < 5", () => {
  // prettier-ignore
  const probs = [
    0.7,
    0.2,
    0.1, // 0: true 0, predicted 0
    0.2,
    0.5,
    0.3, // 1: true 0, predicted 1 (0.5)
    0.1,
    0.8,
    0.1, // 2: true 1, predicted 1
    0.6,
    0.3,
    0.1, // 3: true 1, predicted 0 (0.6)
    0.4,
    0.4,
    0.2, // 4: true 0, a tie of 0 and 1: the lower index wins, so correct
    0.5,
    0.25,
    0.25, // 5: true 2, predicted 0 (0.5); class 2 is never predicted
  ];
  const m = classificationMetrics(probs, [0, 0, 1, 1, 0, 2], ["cat", "dog", "fox"]);
  assert.equal(m.images, 6);
  assert.deepEqual(m.classes, ["cat", "dog", "fox"]);
  close(m.top1, 3 / 6, "top1");
  // K = 3 < 5: top-k takes k = 3, every label is within it.
  assert.equal(m.topK, 3);
  close(m.top5, 1, "top5");
  close(m.loss, -(Math.log(0.7) + Math.log(0.2) + Math.log(0.8) + Math.log(0.3) + Math.log(0.4) + Math.log(0.25)) / 6, "loss");
  assert.deepEqual(m.confusion, [
    [2, 1, 0],
    [1, 1, 0],
    [1, 0, 0],
  ]);
  const byClass = Object.fromEntries(m.perClass.map((c) => [c.class, c]));
  close(byClass.cat.precision, 2 / 4, "cat precision");
  close(byClass.cat.recall, 2 / 3, "cat recall");
  close(byClass.dog.precision, 1 / 2, "dog precision");
  close(byClass.dog.recall, 1 / 2, "dog recall");
  assert.deepEqual(byClass.fox, { class: "fox", precision: 0, recall: 0, support: 1, predicted: 0 }); // never predicted: precision 0 by definition
  assert.deepEqual(
    m.perClass.map((c) => c.support),
    [3, 2, 1],
  );
  assert.deepEqual(
    m.perClass.map((c) => c.predicted),
    [4, 2, 0],
  );
  // Most confident first; the two at 0.5 in sample order.
  assert.deepEqual(m.misclassified, [
    { index: 3, label: 1, predicted: 0, probability: 0.6 },
    { index: 1, label: 0, predicted: 1, probability: 0.5 },
    { index: 5, label: 2, predicted: 0, probability: 0.5 },
  ]);
});

test("six classes: top-5 with ties at the boundary", () => {
  const tied = [0.2, 0.2, 0.2, 0.2, 0.1, 0.1];
  // prettier-ignore
  const probs = [
    ...tied, // true 5: four classes above it, class 4 ties it with a lower index -> rank 6, outside the top 5
    ...tied, // true 3: tied with classes 0-2 above it by index -> rank 4, inside
    0.5,
    0.1,
    0.1,
    0.1,
    0.1,
    0.1, // true 0: top-1
  ];
  const m = classificationMetrics(probs, [5, 3, 0], 6);
  assert.equal(m.topK, 5);
  close(m.top5, 2 / 3, "top5");
  close(m.top1, 1 / 3, "top1");
  assert.deepEqual(m.classes, ["class_0", "class_1", "class_2", "class_3", "class_4", "class_5"]);
  // The four-way tie at 0.2 predicts class 0.
  assert.deepEqual(
    m.confusion.map((r) => r[0]),
    [1, 0, 0, 1, 0, 1],
  );
  assert.deepEqual(
    m.misclassified.map((x) => x.index),
    [0, 1],
  );
  // A class with no samples and no predictions: support 0, precision and recall 0.
  assert.deepEqual(m.perClass[2], { class: "class_2", precision: 0, recall: 0, support: 0, predicted: 0 });
});

test("a zero probability of the true class is floored, not infinite", () => {
  const m = classificationMetrics([1, 0], [1], ["a", "b"]);
  close(m.loss, -Math.log(LOSS_FLOOR), "loss");
  assert.equal(m.top1, 0);
  assert.equal(m.top5, 1);
});

test("no samples: rates are NaN, counts are zero", () => {
  const m = classificationMetrics([], [], ["a", "b"]);
  assert.equal(m.images, 0);
  assert.ok(Number.isNaN(m.top1) && Number.isNaN(m.loss));
  assert.deepEqual(m.confusion, [
    [0, 0],
    [0, 0],
  ]);
});

test("bad input is named", () => {
  assert.throws(
    () => classificationMetrics([0.5, 0.5, 1], [0, 1], ["a", "b"]),
    (e: Error) => e instanceof ConvzooError && /expected probabilities \[2, 2\] \(4 values\).*got 3/.test(e.message),
  );
  assert.throws(
    () => classificationMetrics([0.5, 0.5], [2], ["a", "b"]),
    (e: Error) => e instanceof ConvzooError && /label 2 of sample 0 is not a class index in \[0, 2\)/.test(e.message),
  );
  assert.throws(() => classificationMetrics([], [], []), /at least one class/);
});
