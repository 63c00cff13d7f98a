/**
 * A zip of labelled images taken as is (data/zip_folder.ts): the studio's project layout
 * (`<class>/<file>`) reads as the folder would, and an entry that would land outside the unpacked
 * folder ("zip slip") is refused by name with nothing unpacked.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { zipSync } from "fflate";
import { readDataset } from "../../src/data/dataset.js";
import { writeSyntheticFolder } from "../helpers/datasets.js";
import { convzoo } from "../helpers/cli.js";

let dir = "";
let zip = "";
before(async () => {
  dir = mkdtempSync(join(tmpdir(), "convzoo-zip-dataset-"));
  const names = await writeSyntheticFolder(join(dir, "folder"), { classes: 2, perClass: 4, size: 16, seed: 1, names: ["cat", "dog"] });
  const entries: Record<string, Uint8Array> = {};
  for (const name of names)
    for (const f of readdirSync(join(dir, "folder", name))) entries[`${name}/${f}`] = readFileSync(join(dir, "folder", name, f));
  entries["__MACOSX/cat/._000.png"] = new Uint8Array([0, 1, 2]);
  zip = join(dir, "project.zip");
  writeFileSync(zip, zipSync(entries, { level: 0 }));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test("a project zip reads as its folder: the same classes and images", async () => {
  const fromZip = await readDataset({ path: zip });
  const fromFolder = await readDataset({ path: join(dir, "folder") });
  assert.deepEqual(fromZip.classes, ["cat", "dog"]);
  assert.deepEqual(
    fromZip.train.map((s) => [s.label, s.path.split("/").slice(-2).join("/")]),
    fromFolder.train.map((s) => [s.label, s.path.split("/").slice(-2).join("/")]),
  );
  assert.match(fromZip.description, /^zip .*project\.zip, unpacked to /);
  assert.deepEqual(fromZip.skipped, [], "the __MACOSX resource fork is not an image of a class");
});

test("zip slip: an entry naming a path outside the folder is refused by name, nothing unpacked", async () => {
  const evil = join(dir, "evil.zip");
  writeFileSync(evil, zipSync({ "cat/000.png": new Uint8Array([1]), "../../escaped.png": new Uint8Array([2]) }, { level: 0 }));
  const before = readdirSync(tmpdir()).filter((f) => f.startsWith("convzoo-zip-")).length;
  await assert.rejects(readDataset({ path: evil }), /evil\.zip: entry "?\.\.\/\.\.\/escaped\.png"? would land outside the folder: refused/);
  assert.equal(readdirSync(tmpdir()).filter((f) => f.startsWith("convzoo-zip-")).length, before, "no folder unpacked");
  const r = convzoo("train", evil, "--arch", "resnet18", "--resolution", "32", "--save", join(dir, "m.safetensors"));
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^convzoo: error: .*evil\.zip: entry .* would land outside the folder: refused \(nothing unpacked\)\n$/);
  assert.ok(!readdirSync(dir).includes("m.safetensors"), "nothing written");
});

test("convzoo train takes the project zip as is", () => {
  const save = join(dir, "zip.safetensors");
  const r = convzoo("train", zip, "--arch", "resnet18", "--resolution", "32", "--epochs", "1", "--save", save, "--no-report");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /zip .*project\.zip, unpacked to .*: 2 classes, 8 images/);
  assert.ok(readdirSync(dir).includes("zip.safetensors"));
});

test("convzoo eval scores the project zip as it scores the folder it came from", () => {
  const save = join(dir, "zip.safetensors");
  if (!readdirSync(dir).includes("zip.safetensors")) {
    const r = convzoo("train", zip, "--arch", "resnet18", "--resolution", "32", "--epochs", "1", "--save", save, "--no-report");
    assert.equal(r.status, 0, r.stderr);
  }
  const scored = (data: string) => {
    const r = convzoo("eval", data, "--weights", save, "--json");
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as { images: number; top1: number; confusion: number[][]; misclassified: unknown[] };
  };
  const fromZip = scored(zip);
  const fromFolder = scored(join(dir, "folder"));
  assert.equal(fromZip.images, 8);
  assert.ok(fromZip.misclassified.length > 0, "the check below needs mistakes to name");
  // The same figures; a mistake is named inside the zip, not in the temp folder it was unpacked to.
  const inFolder = (text: string) => text.split(join(dir, "folder")).join(zip);
  assert.deepEqual(fromZip, JSON.parse(inFolder(JSON.stringify({ ...fromFolder, data: zip }))));
  assert.doesNotMatch(JSON.stringify(fromZip), /convzoo-zip-[A-Za-z0-9]{6}\//, "no path of the unpacked temp folder");
  // The summary names mistakes relative to the zip, and the report shows them with their thumbnails.
  const report = join(dir, "zip-eval.html");
  const text = convzoo("eval", zip, "--weights", save, "--report", report);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /\s(cat|dog)\/00\d\.png: (cat|dog) /);
  assert.doesNotMatch(text.stdout, /\.\.\/|convzoo-zip-[A-Za-z0-9]{6}\//);
  const html = readFileSync(report, "utf8");
  assert.doesNotMatch(html, /convzoo-zip-[A-Za-z0-9]{6}\//);
  assert.ok(html.includes(`${zip}/`), "mistakes named inside the zip");
  assert.ok((html.match(/src="data:image\//g) ?? []).length > 0, "thumbnails read from the unpacked files");
});
