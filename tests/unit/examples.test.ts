/** The README's library tour runs as a user would run it (importing "convzoo"). */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

test("examples/quickstart.ts runs and prints what the README says", () => {
  const script = fileURLToPath(new URL("../../examples/quickstart.ts", import.meta.url));
  const r = spawnSync(process.execPath, ["--import", "tsx", script], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /mobilenet_v2 α=0\.5 at 160: 1968680 parameters, 50184000 MACs/);
  assert.match(r.stdout, /^(cat|dog|fox): 0\.\d{4}$/m);
  assert.match(r.stdout, /predict: \[2, 3\], row 0 sums to 1\.0000/);
  assert.match(r.stdout, /exported .*resnet18-pets\.onnx/);
});
