/** readDataset: image folders, CSV lists, a separate validation set mapped by class name, the train/val layout. */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { detectTrainValLayout, mapClassesByName, readDataset } from "../../src/data/dataset.js";
import { readImageFolder } from "../../src/data/folder.js";

let dir: string;

function files(root: string, layout: Record<string, string[]>): void {
  for (const [cls, names] of Object.entries(layout)) {
    mkdirSync(join(root, cls), { recursive: true });
    for (const n of names) writeFileSync(join(root, cls, n), "x");
  }
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), "convzoo-dataset-"));
  // DIR/train + DIR/val, val missing one class and holding a non-image.
  files(join(dir, "split", "train"), { cat: ["1.jpg", "2.jpg"], dog: ["1.jpg"], fox: ["1.png", "readme.md"] });
  files(join(dir, "split", "val"), { dog: ["9.jpg", "list.txt"], cat: ["8.jpg"] });
  files(join(dir, "split", "test"), { cat: ["7.jpg"] });
  // DIR/train + DIR/validation
  files(join(dir, "long", "train"), { a: ["1.jpg"], b: ["1.jpg"] });
  files(join(dir, "long", "validation"), { b: ["2.jpg"] });
  // A plain image folder whose classes happen to be called train and val (images directly inside).
  files(join(dir, "named"), { train: ["1.jpg"], val: ["1.jpg"] });
  // A validation folder with a class training does not have.
  files(join(dir, "other"), { cat: ["1.jpg"], wolf: ["1.jpg"], zebra: ["1.jpg"] });
  writeFileSync(join(dir, "val.csv"), "path,label\nsplit/val/dog/9.jpg,dog\nsplit/val/cat/8.jpg,cat\n");
  writeFileSync(
    join(dir, "train.csv"),
    "split/train/fox/1.png,fox\nsplit/train/cat/1.jpg,cat\nsplit/train/fox/readme.md,fox\nsplit/train/dog/1.jpg,dog\n",
  );
});

after(() => rmSync(dir, { recursive: true, force: true }));

test("DIR/train + DIR/val is detected: training classes from train/, validation mapped onto them by name", async () => {
  const d = await readDataset({ path: join(dir, "split") });
  assert.deepEqual(d.classes, ["cat", "dog", "fox"]);
  assert.equal(d.trainSource, join(dir, "split", "train"));
  assert.equal(d.valSource, join(dir, "split", "val"));
  assert.equal(d.valDetected, true);
  assert.deepEqual(
    d.train.map((s) => [s.path.slice(dir.length + 1), s.label]),
    [
      ["split/train/cat/1.jpg", 0],
      ["split/train/cat/2.jpg", 0],
      ["split/train/dog/1.jpg", 1],
      ["split/train/fox/1.png", 2],
    ],
  );
  // val/ has classes [cat, dog] (labels 0, 1 there); the training indices are used.
  assert.deepEqual(
    d.val!.map((s) => [s.path.slice(dir.length + 1), s.label]),
    [
      ["split/val/cat/8.jpg", 0],
      ["split/val/dog/9.jpg", 1],
    ],
  );
  assert.deepEqual(d.missingInVal, ["fox"]);
  assert.deepEqual(d.skipped, [join(dir, "split/train/fox/readme.md"), join(dir, "split/val/dog/list.txt")]);
  assert.equal(
    d.description,
    `image folder ${join(dir, "split", "train")}: 3 classes, 4 images; validation (found beside it): image folder ${join(dir, "split", "val")}, 2 images (no images of "fox")`,
  );
  assert.deepEqual(await detectTrainValLayout(join(dir, "long")), {
    train: join(dir, "long", "train"),
    val: join(dir, "long", "validation"),
  });
});

test("a plain image folder is not mistaken for the layout; no val means val: null", async () => {
  assert.equal(await detectTrainValLayout(join(dir, "named")), null);
  const d = await readDataset({ path: join(dir, "named") });
  assert.deepEqual(d.classes, ["train", "val"]);
  assert.equal(d.val, null);
  assert.equal(d.valSource, null);
  assert.equal(d.valDetected, false);
  assert.equal(d.description, `image folder ${join(dir, "named")}: 2 classes, 2 images`);
  assert.equal(await detectTrainValLayout(join(dir, "split", "train")), null);
});

test("an explicit val (folder or CSV) is used as given; CSV training lists work the same way", async () => {
  const d = await readDataset({ path: join(dir, "split", "train"), val: join(dir, "val.csv") });
  assert.equal(d.valDetected, false);
  assert.deepEqual(
    d.val!.map((s) => s.label),
    [1, 0],
  ); // CSV row order: dog, cat
  assert.match(d.description, /validation: CSV list .*val\.csv, 2 images \(no images of "fox"\)$/);
  // Given DIR with the layout and an explicit val: train/ still trains, the given val validates.
  const e = await readDataset({ path: join(dir, "split"), val: join(dir, "val.csv") });
  assert.equal(e.trainSource, join(dir, "split", "train"));
  assert.equal(e.valSource, join(dir, "val.csv"));
  const c = await readDataset({ path: join(dir, "train.csv"), val: join(dir, "split", "val") });
  assert.deepEqual(c.classes, ["cat", "dog", "fox"]);
  assert.deepEqual(
    c.train.map((s) => s.label),
    [2, 0, 1],
  );
  assert.deepEqual(c.skipped, [join(dir, "split/train/fox/readme.md"), join(dir, "split/val/dog/list.txt")]);
  assert.equal(
    c.description,
    `CSV list ${join(dir, "train.csv")}: 3 classes, 3 images; validation: image folder ${join(dir, "split", "val")}, 2 images (no images of "fox")`,
  );
});

test("a validation class unknown to training is an error naming the val source and both class lists", async () => {
  await assert.rejects(
    readDataset({ path: join(dir, "split", "train"), val: join(dir, "other") }),
    new RegExp(
      `^InputFileError: ${join(dir, "other")}: validation classes "wolf", "zebra" are not among the training classes \\("cat", "dog", "fox"\\)$`,
    ),
  );
  const val = await readImageFolder(join(dir, "other"));
  assert.throws(
    () => mapClassesByName(val, ["cat", "wolf"], "v"),
    /^InputFileError: v: validation class "zebra" is not among the training classes \("cat", "wolf"\)$/,
  );
  await assert.rejects(
    readDataset({ path: join(dir, "nowhere") }),
    /nowhere: no such folder or file \(expected an image folder with one sub-folder per class, or a path,label CSV list\)/,
  );
});
