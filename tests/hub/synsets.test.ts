/** ImageNet's WordNet ids: derived from Debian's WordNet 3.0 and torchvision's names, equal to ours. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { IMAGENET_CLASSES, IMAGENET_SYNSETS } from "../../src/data/imagenet_classes.js";
import { PYTHON, requirePython } from "../helpers/python.js";

const SCRIPT = fileURLToPath(new URL("./imagenet_synsets.py", import.meta.url));
const WORDNET = "/usr/share/wordnet/data.noun";

test("IMAGENET_SYNSETS are WordNet 3.0's ids for torchvision's 1000 classes, sorted as ImageNet's outputs", (t) => {
  assert.equal(IMAGENET_SYNSETS.length, IMAGENET_CLASSES.length);
  assert.deepEqual([...IMAGENET_SYNSETS].sort(), [...IMAGENET_SYNSETS], "output order is the ids' sorted order");
  assert.equal(new Set(IMAGENET_SYNSETS).size, 1000);
  assert.equal(IMAGENET_SYNSETS[0], "n01440764", "tench");
  if (!requirePython(t, "torchvision")) return;
  if (!existsSync(WORDNET)) {
    if (process.env.CONVZOO_REQUIRE_TORCH === "1") assert.fail(`${WORDNET} is missing: apt-get install wordnet-base`);
    t.skip(`${WORDNET} is missing (Debian's wordnet-base)`);
    return;
  }
  const r = spawnSync(PYTHON, [SCRIPT], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), [...IMAGENET_SYNSETS]);
});
