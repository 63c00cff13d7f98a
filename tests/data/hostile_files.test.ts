/**
 * Images and lists that would hang or eat memory (issue 15, point 2): FIFOs and devices named as images or
 * CSV lists, images declaring huge dimensions (a PNG header, a 100-byte SVG). Each is refused with one
 * message naming the file, fast and without decoding.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, test } from "node:test";
import { zlibSync } from "fflate";
import sharp from "sharp";
import { readCsvList } from "../../src/data/csv.js";
import { closeDataWorkers, epochBatches } from "../../src/data/loader.js";
import { IMAGENET_EVAL } from "../../src/models/preprocessing.js";
import { Random } from "../../src/random.js";
import { DEFAULT_MAX_IMAGE_PIXELS, decodeImageRGB, maxImagePixels, setMaxImagePixels } from "../../src/data/image.js";
import { InputFileError } from "../../src/errors.js";
import { crc32 } from "../../src/weights/zip.js";

const dir = mkdtempSync(join(tmpdir(), "convzoo-hostile-data-"));
after(async () => {
  await closeDataWorkers();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(() => {
  delete process.env.CONVZOO_MAX_IMAGE_PIXELS;
});

async function rejectsWith(promise: Promise<unknown>, message: string | RegExp): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof InputFileError, `expected an InputFileError, got ${String(e)}`);
    if (typeof message === "string") assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

/** A PNG of a header declaring width × height (8-bit RGB) and the first few bytes of pixel data: ~80 bytes. */
function pngHeader(width: number, height: number): Uint8Array {
  const chunk = (type: string, data: Uint8Array) => {
    const body = new Uint8Array([...new TextEncoder().encode(type), ...data]);
    const out = new Uint8Array(12 + data.length);
    const view = new DataView(out.buffer);
    view.setUint32(0, data.length);
    out.set(body, 4);
    view.setUint32(8 + data.length, crc32(body));
    return out;
  };
  const ihdr = new Uint8Array(13);
  new DataView(ihdr.buffer).setUint32(0, width);
  new DataView(ihdr.buffer).setUint32(4, height);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return new Uint8Array([
    0x89,
    0x50,
    0x4e,
    0x47,
    0x0d,
    0x0a,
    0x1a,
    0x0a,
    ...chunk("IHDR", ihdr),
    ...chunk("IDAT", zlibSync(new Uint8Array(64))),
    ...chunk("IEND", new Uint8Array(0)),
  ]);
}

test("a FIFO or a character device named as an image is refused at once, without blocking on it", async () => {
  const fifo = join(dir, "cat.jpg");
  execFileSync("mkfifo", [fifo]);
  const start = performance.now();
  await rejectsWith(decodeImageRGB(fifo), `${fifo}: is a FIFO (named pipe), not a regular file; expected an image`);
  await rejectsWith(decodeImageRGB("/dev/zero"), "/dev/zero: is a character device, not a regular file; expected an image");
  assert.ok(performance.now() - start < 2000);
});

test("an 80-byte PNG declaring 16000 x 16000 is refused before decoding, naming its size and the flag", async () => {
  const path = join(dir, "huge.png");
  writeFileSync(path, pngHeader(16000, 16000));
  await rejectsWith(
    decodeImageRGB(path),
    `${path}: image too large: 16000×16000 = 256000000 pixels, more than the limit of ${DEFAULT_MAX_IMAGE_PIXELS} ` +
      "(raise it with --max-image-pixels N or CONVZOO_MAX_IMAGE_PIXELS=N)",
  );
});

test("a 100-byte SVG rendering 16000 x 16000 is refused", async () => {
  const path = join(dir, "huge.svg");
  writeFileSync(path, '<svg xmlns="http://www.w3.org/2000/svg" width="16000" height="16000"><rect width="9" height="9"/></svg>');
  const before = process.memoryUsage().rss;
  await rejectsWith(decodeImageRGB(path), new RegExp(`^${path}: image too large.*${DEFAULT_MAX_IMAGE_PIXELS}.*--max-image-pixels`));
  assert.ok(process.memoryUsage().rss - before < 200 << 20, "no 768 MB decode");
});

test("the limit can be raised (and lowered): setMaxImagePixels, or CONVZOO_MAX_IMAGE_PIXELS for worker threads", async () => {
  const path = join(dir, "small.png");
  await sharp({ create: { width: 120, height: 100, channels: 3, background: "#808080" } })
    .png()
    .toFile(path);
  assert.equal(maxImagePixels(), DEFAULT_MAX_IMAGE_PIXELS);
  setMaxImagePixels(11_999);
  assert.equal(process.env.CONVZOO_MAX_IMAGE_PIXELS, "11999");
  await rejectsWith(decodeImageRGB(path), new RegExp(`^${path}: image too large: 120×100 = 12000 pixels, more than the limit of 11999 `));
  setMaxImagePixels(12_000);
  assert.equal((await decodeImageRGB(path)).width, 120);
  process.env.CONVZOO_MAX_IMAGE_PIXELS = "not a number";
  assert.equal(maxImagePixels(), DEFAULT_MAX_IMAGE_PIXELS);
  assert.throws(() => setMaxImagePixels(0), /the image pixel limit must be a positive integer, got 0/);
});

test("CSV lists: a FIFO as the list itself, or named by a row, is refused naming it", async () => {
  const fifo = join(dir, "list.csv");
  execFileSync("mkfifo", [fifo]);
  await rejectsWith(readCsvList(fifo), `${fifo}: is a FIFO (named pipe), not a regular file; expected a CSV list`);
  const rowFifo = join(dir, "row.jpg");
  execFileSync("mkfifo", [rowFifo]);
  const csv = join(dir, "rows.csv");
  writeFileSync(csv, `path,label\n${rowFifo},cat\n/dev/null.jpg,dog\n`);
  await rejectsWith(
    readCsvList(csv),
    `${csv}: 2 problems: line 2: ${rowFifo} is a FIFO (named pipe), not an image file; line 3: no such file /dev/null.jpg`,
  );
});

test("training data: a FIFO, /dev/zero and a huge-header PNG are skipped with their reason, on this thread and in workers", async () => {
  const good = join(dir, "good.png");
  await sharp({ create: { width: 64, height: 48, channels: 3, background: "#a0a0a0" } })
    .png()
    .toFile(good);
  const fifo = join(dir, "train-fifo.jpg");
  execFileSync("mkfifo", [fifo]);
  const huge = join(dir, "train-huge.png");
  writeFileSync(huge, pngHeader(16000, 16000));
  const samples = [good, fifo, "/dev/zero", huge, good].map((path, i) => ({ path, label: i % 2 }));
  const transform = { resolution: 32, augment: false, preprocessing: IMAGENET_EVAL };
  const run = async (workers: number) => {
    const bad: string[] = [];
    let images = 0;
    const o = {
      batchSize: 8,
      shuffle: false,
      transform,
      workers,
      rng: new Random(1),
      onBadFile: (p: string, why: string) => bad.push(`${p}: ${why}`),
    };
    for await (const b of epochBatches(samples, o)) images += b.labels.length;
    return { images, bad };
  };
  for (const workers of [0, 1]) {
    const { images, bad } = await run(workers);
    assert.equal(images, 2, `workers ${workers}`);
    assert.equal(bad.length, 3);
    // Reports come as the files finish (decodes overlap), not in sample order.
    const about = (path: string) => bad.find((line) => line.startsWith(`${path}: `)) ?? `(no report for ${path}: ${bad.join(" | ")})`;
    assert.match(about(fifo), /train-fifo\.jpg: .*is a FIFO \(named pipe\), not a regular file; expected an image$/);
    assert.match(about("/dev/zero"), /^\/dev\/zero: .*is a character device, not a regular file; expected an image$/);
    assert.match(about(huge), /train-huge\.png: .*image too large: 16000×16000 = 256000000 pixels/);
  }
  // The limit reaches worker threads started after it is set (through CONVZOO_MAX_IMAGE_PIXELS).
  await closeDataWorkers();
  setMaxImagePixels(100);
  const limited = await run(1);
  assert.equal(limited.images, 0);
  assert.match(limited.bad[0], /good\.png: .*image too large: 64×48 = 3072 pixels, more than the limit of 100 /);
  await closeDataWorkers();
});
