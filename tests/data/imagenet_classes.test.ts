import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { IMAGENET_CLASSES } from "../../src/data/imagenet_classes.js";

test("IMAGENET_CLASSES: 1000 distinct names in torchvision's order", () => {
  assert.equal(IMAGENET_CLASSES.length, 1000);
  assert.equal(new Set(IMAGENET_CLASSES).size, 1000);
  assert.equal(IMAGENET_CLASSES[0], "tench");
  assert.equal(IMAGENET_CLASSES[1], "goldfish");
  assert.equal(IMAGENET_CLASSES[281], "tabby");
  assert.equal(IMAGENET_CLASSES[417], "balloon");
  assert.equal(IMAGENET_CLASSES[607], "jack-o'-lantern");
  assert.equal(IMAGENET_CLASSES[999], "toilet tissue");
  assert.ok(Object.isFrozen(IMAGENET_CLASSES));
});

// Same skip rule as the other torchvision tests: skip without it unless CONVZOO_REQUIRE_TORCH=1.
const PYTHON = "/usr/bin/python3";
const script = "import json; from torchvision.models._meta import _IMAGENET_CATEGORIES as c; print(json.dumps(c))";
const run = spawnSync(PYTHON, ["-c", script], { encoding: "utf8" });
const missing =
  run.status === 0 ? "" : `${PYTHON} cannot import torchvision (${run.error?.message ?? run.stderr.trim().split("\n").pop()})`;
const skip = missing && process.env.CONVZOO_REQUIRE_TORCH !== "1" ? `${missing}; CONVZOO_REQUIRE_TORCH=1 makes this a failure` : false;

test("IMAGENET_CLASSES equals torchvision's _IMAGENET_CATEGORIES", { skip }, () => {
  if (missing) assert.fail(`CONVZOO_REQUIRE_TORCH=1 but ${missing}`);
  assert.deepEqual([...IMAGENET_CLASSES], JSON.parse(run.stdout));
});
