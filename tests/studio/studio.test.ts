/**
 * The studio end to end in a real browser: Debian's Chromium, headless, driven by puppeteer-core (no browser is
 * downloaded), against `convzoo studio`'s server on 127.0.0.1 serving a random-initialised mobilenet_v3_small
 * checkpoint as `--weights`. Through the page's own controls: three classes of synthetic images (colour + stripes,
 * tests/helpers/datasets.ts) added through the file inputs; a file that is not an image and an unreadable checkpoint
 * are refused with a message and nothing collected is lost; a class without images cannot train; the head trains on
 * cached embeddings and then the whole network trains (full), each scoring well above chance (1/3) on held-out images
 * the page never saw; the fake webcam (--use-fake-device-for-media-stream) records frames into a class and runs the
 * live test; a denied camera gets a message; the checkpoint the page exports gives, in `convzoo classify`, the page's
 * top-1 on every held-out image; the project zip is a class-per-folder tree; the project survives a reload.
 * Screenshots of each step go to $CONVZOO_STUDIO_SHOTS (default: a temporary folder, named in the diagnostics).
 * Without Chromium the test skips, except under CI, where it fails.
 */
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { unzipSync } from "fflate";
import puppeteer, { type Browser, type ElementHandle, type Page } from "puppeteer-core";
import * as ort from "onnxruntime-node";
import { readImageFolder } from "../../src/data/folder.js";
import { loadImageBatch } from "../../src/data/image.js";
import { initializeWeights } from "../../src/models/bind.js";
import { preprocessingForResolution } from "../../src/models/preprocessing.js";
import { recalibrateBatchNorm } from "../../src/train/recalibrate.js";
import { createModel } from "../../src/models/index.js";
import { buildStudio } from "../../src/studio/build.js";
import { startStudioServer, type StudioServer } from "../../src/studio/server.js";
import { readWeightsFile, saveCheckpoint } from "../../src/weights/files.js";
import { stateDict } from "../../src/weights/load.js";
import { convzoo } from "../helpers/cli.js";
import { probePython, runPython } from "../helpers/python.js";
import { writeSyntheticFolder } from "../helpers/datasets.js";

const CHROMIUM = process.env.CONVZOO_CHROMIUM ?? "/usr/bin/chromium";
const NAMES = ["amber", "moss", "slate"];
const RESOLUTION = 64;

let dir = "";
let shots = "";
let downloads = "";
let server: StudioServer | null = null;
let browser: Browser | null = null;
const trainFiles: string[][] = [];
const heldOut: { path: string; label: string }[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "convzoo-studio-"));
  shots = process.env.CONVZOO_STUDIO_SHOTS ?? join(dir, "screenshots");
  downloads = join(dir, "downloads");
  mkdirSync(shots, { recursive: true });
  mkdirSync(downloads, { recursive: true });
  // Training and held-out images from different seeds: the held-out ones are never shown to the page before testing.
  await writeSyntheticFolder(join(dir, "train"), { classes: 3, perClass: 12, size: 64, seed: 0, names: NAMES });
  await writeSyntheticFolder(join(dir, "heldout"), { classes: 3, perClass: 5, size: 64, seed: 1, names: NAMES });
  for (const name of NAMES) {
    trainFiles.push(
      readdirSync(join(dir, "train", name))
        .sort()
        .map((f) => join(dir, "train", name, f)),
    );
    // Flat, with unique names (the page knows a file by its name only).
    mkdirSync(join(dir, "unseen"), { recursive: true });
    for (const f of readdirSync(join(dir, "heldout", name)).sort()) {
      const path = join(dir, "unseen", `${name}-${f}`);
      copyFileSync(join(dir, "heldout", name, f), path);
      heldOut.push({ path, label: name });
    }
  }
  // The served starting weights. No pretrained weights can be fetched here, and a random initialisation's eval-mode
  // features are ~1e-9 (BatchNorm statistics 0 / 1 under shrinking activations): useless for a frozen backbone. So the
  // start is random convolutions whose BatchNorm statistics are recalibrated on other synthetic images (six other
  // colour/stripe classes): well-scaled random features, the weakest backbone that is still a backbone.
  await writeSyntheticFolder(join(dir, "other"), { classes: 9, perClass: 8, size: 64, seed: 5 });
  const start = initializeWeights(createModel("mobilenet_v3_small", { numClasses: 10 }), 1);
  const other = (await readImageFolder(join(dir, "other"))).samples.filter((s) => !["c0", "c1", "c2"].includes(s.path.split("/").at(-2)!));
  const preprocessing = preprocessingForResolution(start.preprocessing, RESOLUTION);
  await recalibrateBatchNorm(start, other, { batchSize: 16, resolution: RESOLUTION, preprocessing, frozen: [] });
  const weights = join(dir, "start.safetensors");
  await saveCheckpoint(weights, stateDict(start), { arch: "mobilenet_v3_small", options: start.options });
  const app = await buildStudio();
  server = await startStudioServer({
    host: "127.0.0.1",
    port: 0,
    app,
    weights: { path: weights, file: "start.safetensors", name: null, arch: "mobilenet_v3_small", preprocessing: null },
  });
});

after(async () => {
  await browser?.close();
  await server?.close();
  if (!process.env.CONVZOO_STUDIO_SHOTS) rmSync(dir, { recursive: true, force: true });
});

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(shots, `${name}.png`) as `${string}.png`, fullPage: true });
}

async function counts(page: Page): Promise<number[]> {
  return page.$$eval(".class-card .count", (els) => els.map((e) => Number((e as HTMLElement).dataset.count)));
}

async function messages(page: Page): Promise<string[]> {
  return page.$$eval("#messages .message.error", (els) => els.map((e) => e.textContent ?? ""));
}

async function waitState(page: Page, state: string, timeout = 120_000): Promise<void> {
  await page.waitForFunction((s) => document.body.dataset.state === s, { timeout, polling: 100 }, state);
}

async function setValue(page: Page, selector: string, value: string): Promise<void> {
  await page.$eval(
    selector,
    (el, v) => {
      (el as HTMLInputElement).value = v;
      el.dispatchEvent(new Event("change"));
    },
    value,
  );
}

/** Trains with the page's controls; returns the held-out accuracy the page reports. */
async function trainIn(page: Page, strategy: string, epochs: number, batch: number, lr: number): Promise<number> {
  await page.select("#strategy", strategy);
  await page.$eval("#strategy", (el) => el.dispatchEvent(new Event("change")));
  await setValue(page, "#epochs", String(epochs));
  await setValue(page, "#batch", String(batch));
  await setValue(page, "#lr", String(lr));
  await page.click("#train");
  await waitState(page, "training", 10_000);
  await waitState(page, "trained");
  const status = await page.$eval("#train-status", (e) => e.textContent!);
  const chosen = strategy === "auto" ? "(head|partial|full)" : strategy;
  assert.match(status, new RegExp(`^done: ${epochs} epochs of ${chosen}`), status);
  return Number(await page.$eval("body", (b) => b.dataset.valAccuracy));
}

/** Uploads the held-out images to the test input; returns the page's top-1 per file name. */
async function testHeldOut(page: Page): Promise<Map<string, string>> {
  await page.$eval("#predictions", (el) => el.replaceChildren());
  const input = (await page.$("#test-input")) as ElementHandle<HTMLInputElement>;
  await input.uploadFile(...heldOut.map((h) => h.path));
  await page.waitForFunction((n) => document.querySelectorAll(".prediction[data-file]").length === n, { timeout: 60_000 }, heldOut.length);
  const rows = await page.$$eval(".prediction[data-file]", (els) =>
    els.map((e) => [(e as HTMLElement).dataset.file!, (e.querySelector(".bars") as HTMLElement).dataset.top1!] as const),
  );
  return new Map(rows);
}

function accuracy(top1: Map<string, string>): number {
  let right = 0;
  for (const h of heldOut) if (top1.get(basename(h.path)) === h.label) right++;
  return right / heldOut.length;
}

test("convzoo studio: classes, head and full training, webcam, export, classify parity, reload", { timeout: 300_000 }, async (t) => {
  if (!existsSync(CHROMIUM)) {
    if (process.env.CI) assert.fail("Chromium is required under CI (apt-get install chromium; .ci/run installs it)");
    t.skip(`no Chromium at ${CHROMIUM}: apt-get install chromium to run this test`);
    return;
  }
  t.diagnostic(`screenshots: ${shots}`);
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir: join(dir, "profile"),
    args: ["--no-sandbox", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", "--window-size=1400,1000"],
    defaultViewport: { width: 1400, height: 1000 },
    downloadBehavior: { policy: "allow", downloadPath: downloads },
  });
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  const t0 = Date.now();
  await page.goto(server!.url);
  await waitState(page, "ready", 30_000);
  const loadMs = Date.now() - t0;
  const isolated = await page.evaluate(() => crossOriginIsolated);
  const threads = Number(await page.$eval("body", (b) => b.dataset.threads));
  t.diagnostic(`page ready in ${loadMs} ms; cross-origin isolated ${isolated}; ${threads} wasm threads`);
  assert.equal(isolated, true, "the server's COOP/COEP headers make the page cross-origin isolated");
  await shot(page, "01-loaded");

  // Classes: the page starts with two; a third, and names.
  await page.click("#add-class");
  const names = await page.$$(".class-name");
  assert.equal(names.length, 3);
  for (const [i, name] of NAMES.entries()) await setValue(page, `.class-card:nth-child(${i + 1}) .class-name`, name);
  for (const [i, files] of trainFiles.entries()) {
    const input = (await page.$(`.class-card:nth-child(${i + 1}) .file-input`)) as ElementHandle<HTMLInputElement>;
    await input.uploadFile(...files);
    await page.waitForFunction(
      (k, n) => Number((document.querySelectorAll(".class-card .count")[k] as HTMLElement).dataset.count) === n,
      {},
      i,
      files.length,
    );
  }
  assert.deepEqual(await counts(page), [12, 12, 12]);

  // Bad input: a text file named like an image is refused by name; what was collected stays.
  const fake = join(dir, "notes.png");
  writeFileSync(fake, "not an image at all\n");
  await ((await page.$(".class-card:nth-child(1) .file-input")) as ElementHandle<HTMLInputElement>).uploadFile(fake);
  await page.waitForFunction(() => document.querySelectorAll("#messages .message.error").length > 0, { timeout: 10_000 });
  const refused = await messages(page);
  assert.match(refused.at(-1)!, /notes\.png: not an image the browser can decode.*skipped, nothing else changed/);
  assert.deepEqual(await counts(page), [12, 12, 12]);
  // An unreadable checkpoint: a message, and the starting weights stay the served ones.
  const garbage = join(dir, "broken.safetensors");
  writeFileSync(garbage, Buffer.alloc(64, 7));
  await ((await page.$("#weights-file")) as ElementHandle<HTMLInputElement>).uploadFile(garbage);
  await page.waitForFunction(
    () => Array.from(document.querySelectorAll("#messages .message.error")).some((m) => m.textContent!.includes("broken")),
    {
      timeout: 10_000,
    },
  );
  assert.match((await messages(page)).at(-1)!, /broken\.safetensors: not a weights file.*starting weights are unchanged/);
  assert.equal(await page.$eval("#weights-source", (s) => (s as HTMLSelectElement).value), "served");
  await shot(page, "02-images");

  // A class with no images cannot train.
  await page.click("#add-class");
  await page.click("#train");
  await page.waitForFunction(
    () => Array.from(document.querySelectorAll("#messages .message.error")).some((m) => m.textContent!.includes("has no images")),
    {
      timeout: 10_000,
    },
  );
  assert.equal(await page.$eval("body", (b) => b.dataset.state), "ready");
  await page.click(".class-card:nth-child(4) .remove-class"); // empty: removed without a question
  await page.waitForFunction(() => document.querySelectorAll(".class-card").length === 3);
  assert.deepEqual(await counts(page), [12, 12, 12]);

  // Head on cached embeddings.
  assert.equal(await page.$eval("#arch", (s) => (s as HTMLSelectElement).value), "mobilenet_v3_small");
  await setValue(page, "#resolution", String(RESOLUTION));
  const headStart = Date.now();
  const headVal = await trainIn(page, "head", 30, 8, 0.003);
  const headSeconds = (Date.now() - headStart) / 1000;
  const headTop1 = await testHeldOut(page);
  const headAccuracy = accuracy(headTop1);
  await shot(page, "03-head-trained");
  t.diagnostic(`head: ${headSeconds.toFixed(1)} s; page's held-out ${headVal}; unseen images ${headAccuracy}`);
  t.diagnostic(`head: ${await page.$eval("#train-status", (e) => e.textContent)}`);
  assert.equal(await page.$eval("body", (b) => b.dataset.strategy), "head");
  assert.ok(headAccuracy >= 0.8, `head accuracy on unseen images ${headAccuracy} (chance 1/3)`);
  const confusion = await page.$$eval("#confusion-matrix td.cell", (els) => els.map((e) => Number(e.textContent)));
  assert.equal(confusion.length, 9, "a 3×3 confusion matrix");

  // The exported checkpoint gives the page's top-1 in `convzoo classify`.
  await page.click("#export-checkpoint");
  const checkpoint = join(downloads, "mobilenet_v3_small-studio.safetensors");
  for (let i = 0; i < 100 && !existsSync(checkpoint); i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(
    existsSync(checkpoint),
    `the checkpoint was downloaded; ${readdirSync(downloads)}; page errors ${errors}; ${await messages(page)}`,
  );
  const r = convzoo("classify", ...heldOut.map((h) => h.path), "--weights", checkpoint, "--topk", "1", "--json");
  assert.equal(r.status, 0, r.stderr);
  const cli = JSON.parse(r.stdout) as { file: string; top: { label: string }[] }[];
  const mismatches = cli.filter((c) => headTop1.get(basename(c.file)) !== c.top[0].label);
  assert.deepEqual(mismatches, [], "convzoo classify on the exported checkpoint gives the page's top-1");
  // … and in PyTorch: torchvision's mobilenet_v3_small loads it strictly and gives the same top-1.
  const torchMissing = probePython("import torch, torchvision");
  if (torchMissing === null) {
    const script = fileURLToPath(new URL("torch_classify.py", import.meta.url));
    const torch = JSON.parse(runPython([script, checkpoint, ...heldOut.map((h) => h.path)])) as { file: string; label: string }[];
    const differ = torch.filter((c) => headTop1.get(basename(c.file)) !== c.label);
    assert.deepEqual(differ, [], "torchvision with the exported state_dict gives the page's top-1");
  } else if (process.env.CONVZOO_REQUIRE_TORCH === "1") assert.fail(`PyTorch is required (CONVZOO_REQUIRE_TORCH=1): ${torchMissing}`);
  else t.diagnostic(`PyTorch check skipped: ${torchMissing}`);
  await shot(page, "04-tested");

  // The ONNX export: onnxruntime-node on torchvision's eval transform of each file gives the page's top-1 too.
  await page.click("#export-onnx");
  const onnxPath = join(downloads, "mobilenet_v3_small-studio.onnx");
  for (let i = 0; i < 100 && !existsSync(onnxPath); i++) await new Promise((r) => setTimeout(r, 100));
  const onnx = await ort.InferenceSession.create(onnxPath);
  const p = (await readWeightsFile(checkpoint)).metadata!.preprocessing!;
  const batch = await loadImageBatch(
    heldOut.map((h) => h.path),
    p,
  );
  const probs = (await onnx.run({ input: new ort.Tensor("float32", batch.data, batch.shape) })).probabilities.data as Float32Array;
  const onnxDiffer = heldOut.filter((h, i) => {
    const row = [...probs.subarray(i * 3, i * 3 + 3)];
    return NAMES[row.indexOf(Math.max(...row))] !== headTop1.get(basename(h.path));
  });
  assert.deepEqual(onnxDiffer, [], "the exported ONNX model gives the page's top-1");
  await onnx.release();

  // Full fine-tuning (in the engine worker) of the whole network.
  const fullStart = Date.now();
  const fullVal = await trainIn(page, "full", 4, 8, 0.002);
  const fullSeconds = (Date.now() - fullStart) / 1000;
  const fullAccuracy = accuracy(await testHeldOut(page));
  await shot(page, "05-full-trained");
  t.diagnostic(`full: ${fullSeconds.toFixed(1)} s; page's held-out ${fullVal}; unseen images ${fullAccuracy}`);
  t.diagnostic(`full: ${await page.$eval("#train-status", (e) => e.textContent)}`);
  assert.equal(await page.$eval("body", (b) => b.dataset.strategy), "full");
  assert.ok(fullAccuracy >= 0.6, `full accuracy on unseen images ${fullAccuracy} (chance 1/3)`);

  // Another architecture: the served mobilenet_v3_small checkpoint is refused for resnet18 (a message, nothing
  // changes), and resnet18 from random weights builds, embeds and trains in the page (head: cheap; from a random
  // backbone it learns little, and the page says so).
  await page.select("#arch", "resnet18");
  await page.select("#strategy", "full");
  await page.click("#train");
  await page.waitForFunction(
    () => /^failed: .*mobilenet_v3_small checkpoint, but resnet18 is selected/.test(document.getElementById("train-status")!.textContent!),
    {
      timeout: 30_000,
    },
  );
  await page.select("#weights-source", "random");
  await trainIn(page, "head", 1, 8, 0.002);
  assert.ok(
    (await page.$$eval("#messages .message", (els) => els.map((e) => e.textContent!))).some((m) =>
      m.startsWith("head on a random backbone"),
    ),
    "head on a random backbone is flagged",
  );
  t.diagnostic(`resnet18: ${await page.$eval("#train-status", (e) => e.textContent)}`);
  await page.select("#arch", "mobilenet_v3_small");
  await page.select("#weights-source", "served");

  // The fake webcam: hold to record into a class, then the live test.
  await page.click(".class-card:nth-child(1) .webcam-button");
  await page.waitForSelector(".class-card:nth-child(1) .hold-button:not([hidden])", { timeout: 10_000 });
  const hold = (await page.$(".class-card:nth-child(1) .hold-button"))!;
  const box = (await hold.boundingBox())!;
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  await new Promise((r) => setTimeout(r, 2000));
  await page.mouse.up();
  await new Promise((r) => setTimeout(r, 500));
  const recorded = (await counts(page))[0] - 12;
  t.diagnostic(`webcam: ${recorded} frames recorded in 2 s`);
  assert.ok(recorded >= 3, `frames recorded while held: ${recorded}`);
  await page.click("#test-webcam");
  await page.waitForFunction(() => Number((document.querySelector(".prediction.live") as HTMLElement | null)?.dataset.frames ?? 0) >= 3, {
    timeout: 30_000,
  });
  await shot(page, "06-webcam");
  await page.click("#test-webcam");

  // Partial (the last 2 stages and the head), auto (the CLI's rule, measured in the page), and a cancelled run.
  await setValue(page, "#unfreeze", "2");
  await trainIn(page, "partial", 1, 8, 0.002);
  assert.equal(await page.$eval("body", (b) => b.dataset.strategy), "partial");
  await trainIn(page, "auto", 2, 8, 0.003);
  const autoStatus = await page.$eval("#train-status", (e) => e.textContent!);
  t.diagnostic(`auto: ${autoStatus}`);
  assert.match(autoStatus, /auto: small \+ (similar|different) \(probe [\d.]+\) → (head|partial|full)/);
  await page.select("#strategy", "full");
  await setValue(page, "#epochs", "50");
  await page.click("#train");
  await page.waitForFunction(() => /step 1\//.test(document.getElementById("train-status")!.textContent!), {
    timeout: 60_000,
    polling: 50,
  });
  await page.click("#cancel");
  await waitState(page, "trained");
  assert.match(await page.$eval("#train-status", (e) => e.textContent!), /^cancelled after 1 epochs of full/);

  // The project zip: one folder per class, every image.
  await page.click("#export-zip");
  const zip = join(downloads, "studio-project.zip");
  for (let i = 0; i < 100 && !existsSync(zip); i++) await new Promise((r) => setTimeout(r, 100));
  const entries = Object.keys(unzipSync(new Uint8Array(readFileSync(zip)))).filter((p) => p.endsWith(".png"));
  const finalCounts = await counts(page);
  for (const [i, name] of NAMES.entries())
    assert.equal(entries.filter((p) => p.startsWith(`${name}/`)).length, finalCounts[i], `zip entries of ${name}: ${entries}`);
  // Unpacked, it is the folder `convzoo train` reads: the classes in order, every image.
  const unpacked = join(dir, "project");
  for (const [path, bytes] of Object.entries(unzipSync(new Uint8Array(readFileSync(zip))))) {
    if (path.endsWith("/")) continue;
    mkdirSync(dirname(join(unpacked, path)), { recursive: true });
    writeFileSync(join(unpacked, path), bytes);
  }
  const folder = await readImageFolder(unpacked);
  assert.deepEqual(folder.classes, NAMES);
  assert.deepEqual(
    NAMES.map((_, i) => folder.samples.filter((s) => s.label === i).length),
    finalCounts,
  );

  // The project survives a reload (IndexedDB).
  await page.reload();
  await waitState(page, "ready", 30_000);
  assert.deepEqual(await counts(page), finalCounts);
  assert.deepEqual(await page.$$eval(".class-name", (els) => els.map((e) => (e as HTMLInputElement).value)), NAMES);
  await shot(page, "07-reloaded");

  // "Clear project", then "Open project" with the zip: the same classes, in order, and every image.
  page.once("dialog", (d) => void d.accept());
  await page.click("#clear-project");
  await page.waitForFunction(() => document.querySelectorAll(".class-card").length === 2);
  assert.deepEqual(await counts(page), [0, 0]);
  await ((await page.$("#import-zip")) as ElementHandle<HTMLInputElement>).uploadFile(zip);
  await page.waitForFunction(
    (n) =>
      Array.from(document.querySelectorAll(".class-card .count"))
        .map((e) => (e as HTMLElement).dataset.count)
        .join() === n,
    {
      timeout: 30_000,
    },
    finalCounts.join(),
  );
  assert.deepEqual(await page.$$eval(".class-name", (els) => els.map((e) => (e as HTMLInputElement).value)), NAMES);

  assert.deepEqual(errors, [], "no uncaught errors in the page");

  // A denied camera (a browser whose camera prompt answers "deny"): a message, and the images stay. One browser at a
  // time on the profile (the project is in its IndexedDB).
  await browser.close();
  browser = null;
  const denying = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir: join(dir, "profile"),
    args: ["--no-sandbox", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream=deny"],
  });
  try {
    const second = await denying.newPage();
    await second.goto(server!.url);
    await waitState(second, "ready", 30_000);
    await second.click(".class-card:nth-child(2) .webcam-button");
    await second.waitForFunction(
      () => Array.from(document.querySelectorAll("#messages .message.error")).some((m) => m.textContent!.includes("denied")),
      {
        timeout: 10_000,
      },
    );
    assert.match((await messages(second)).at(-1)!, /webcam: access was denied.*Your images are kept/);
    assert.deepEqual(await counts(second), finalCounts);
    await shot(second, "08-camera-denied");
  } finally {
    await denying.close();
  }
});
