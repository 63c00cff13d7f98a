/** The browser entry bundles for the browser platform: no Node built-in, sharp or onnxruntime-node. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

test("src/browser.ts bundles for the browser with no Node-only import", async () => {
  const entry = fileURLToPath(new URL("../../src/browser.ts", import.meta.url));
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    platform: "browser",
    format: "esm",
    write: false,
    metafile: true,
    logLevel: "silent",
  });
  const inputs = Object.keys(result.metafile.inputs);
  const forbidden = inputs.filter((p) => /node_modules\/(sharp|onnxruntime-node)\b|^node:/.test(p));
  assert.deepEqual(forbidden, []);
  assert.ok(
    inputs.some((p) => p.endsWith("src/models/resnet.ts")),
    "the model code is in the bundle",
  );
  assert.ok(
    inputs.some((p) => p.endsWith("src/train/web_trainer.ts")) && inputs.some((p) => p.endsWith("src/autodiff/gradients.ts")),
    "the training graph and WebTrainer are in the bundle",
  );
  assert.ok(result.outputFiles[0].contents.length > 10_000);
});
