/** CSV lists (`path,label`) read into the ImageFolder shape, and their errors naming file and line. */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { parseCsv, readCsvList } from "../../src/data/csv.js";
import { InputFileError } from "../../src/errors.js";

let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), "convzoo-csv-"));
  mkdirSync(join(dir, "img", "sub"), { recursive: true });
  mkdirSync(join(dir, "img", "dir.jpg"));
  for (const f of ["a.jpg", "b.png", "c, with comma.jpg", "d.JPEG", "sub/e.webp", "notes.txt", "ü.jpg"])
    writeFileSync(join(dir, "img", f), "x");
});

after(() => rmSync(dir, { recursive: true, force: true }));

function csv(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

test("parseCsv: quoted fields with commas, quotes and line breaks; CRLF; BOM; blank lines; line numbers", () => {
  const records = parseCsv(
    '\ufeffpath,label\r\n"a, b.jpg",cat\r\n\r\n  x.jpg , dog \n"say ""hi"".jpg","two\nlines"\nlast.jpg,fox',
    "t.csv",
  );
  assert.deepEqual(records, [
    { line: 1, fields: ["path", "label"] },
    { line: 2, fields: ["a, b.jpg", "cat"] },
    { line: 4, fields: ["x.jpg", "dog"] },
    { line: 5, fields: ['say "hi".jpg', "two\nlines"] },
    { line: 7, fields: ["last.jpg", "fox"] },
  ]);
  assert.throws(() => parseCsv('a.jpg,cat\n"b.jpg,dog\n', "t.csv"), /t\.csv: line 2: a quoted field is never closed/);
  assert.throws(() => parseCsv('"a.jpg"x,cat\n', "t.csv"), /t\.csv: line 1: unexpected "x" after a closing quote/);
});

test("readCsvList: header detected, paths relative to the CSV's folder, classes sorted like ImageFolder, row order kept", async () => {
  const path = csv(
    "list.csv",
    [
      "label,path",
      "dog,img/a.jpg",
      'cat,"img/c, with comma.jpg"',
      "Zebra,img/sub/e.webp",
      "cat,img/b.png",
      "ünicorn,img/ü.jpg",
      "dog,img/notes.txt",
      "dog,img/d.JPEG",
    ].join("\n"),
  );
  const f = await readCsvList(path);
  assert.equal(f.root, dir);
  // Code-point order, as Python sorts: upper case before lower, ü after z.
  assert.deepEqual(f.classes, ["Zebra", "cat", "dog", "ünicorn"]);
  assert.deepEqual(f.samples, [
    { path: join(dir, "img/a.jpg"), label: 2 },
    { path: join(dir, "img/c, with comma.jpg"), label: 1 },
    { path: join(dir, "img/sub/e.webp"), label: 0 },
    { path: join(dir, "img/b.png"), label: 1 },
    { path: join(dir, "img/ü.jpg"), label: 3 },
    { path: join(dir, "img/d.JPEG"), label: 2 },
  ]);
  assert.deepEqual(f.skipped, ["img/notes.txt"]);
  // Without a header: path, label; absolute paths stay as they are.
  const g = await readCsvList(csv("plain.csv", `img/a.jpg,x\n${join(dir, "img/b.png")},y\n`));
  assert.deepEqual(g.classes, ["x", "y"]);
  assert.deepEqual(
    g.samples.map((s) => s.path),
    [join(dir, "img/a.jpg"), join(dir, "img/b.png")],
  );
  // A header with extra columns, in another order.
  const h = await readCsvList(csv("extra.csv", "id,Label,Path,split\n1,cat,img/a.jpg,train\n"));
  assert.deepEqual(h.samples, [{ path: join(dir, "img/a.jpg"), label: 0 }]);
});

test("readCsvList: every problem collected into one error naming the CSV and the lines, first few and the count", async () => {
  const lines = [
    "path,label",
    "img/a.jpg",
    "img/b.png,",
    ",cat",
    ...Array.from({ length: 6 }, (_, i) => `img/missing${i}.jpg,cat`),
    "img/sub,cat",
    "img/a.jpg,cat",
  ];
  const path = csv("bad.csv", lines.join("\n"));
  await assert.rejects(readCsvList(path), (e: Error) => {
    assert.ok(e instanceof InputFileError);
    assert.match(e.message, new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: 9 problems: `));
    assert.match(e.message, /line 2: no label column \(expected 2 columns as the header names them, found 1\)/);
    assert.match(e.message, /line 3: empty label for img\/b\.png/);
    assert.match(e.message, /line 4: empty path/);
    assert.match(e.message, /line 5: no such file .*img\/missing0\.jpg/);
    assert.match(e.message, /line 6: no such file .*missing1\.jpg; … and 4 more$/);
    assert.doesNotMatch(e.message, /missing2/);
    return true;
  });
  await assert.rejects(
    readCsvList(csv("one.csv", "img/a.jpg,cat\nimg/nope.png,dog\n")),
    /one\.csv: line 2: no such file .*img\/nope\.png$/,
  );
  await assert.rejects(
    readCsvList(csv("dir.csv", "img/a.jpg,cat\nimg/dir.jpg,cat\n")),
    /dir\.csv: line 2: .*img\/dir\.jpg is a folder, not an image$/,
  );
  // A folder path has no image extension: skipped like any non-image, so its class has nothing.
  await assert.rejects(readCsvList(csv("folder.csv", "img/a.jpg,cat\nimg/sub,dog\n")), /folder\.csv: class "dog" has no image rows/);
});

test("readCsvList: a class whose rows are all non-images, an empty list, a header not naming path/label, a missing CSV", async () => {
  await assert.rejects(
    readCsvList(csv("txt.csv", "img/a.jpg,cat\nimg/notes.txt,dog\n")),
    /txt\.csv: class "dog" has no image rows \(\.jpg .*\)/,
  );
  await assert.rejects(
    readCsvList(csv("hdr2.csv", "file.jpg,class\nimg/a.jpg,cat\n")),
    /hdr2\.csv: line 1: no such file .*file\.jpg \(line 1 was read as data/,
  );
  await assert.rejects(readCsvList(csv("empty.csv", "path,label\n\n")), /empty\.csv: no rows \(expected one path,label row per image\)/);
  await assert.rejects(
    readCsvList(csv("hdr.csv", "file,class\nimg/a.jpg,cat\n")),
    /hdr\.csv: class "class" has no image rows .* \(line 1 was read as data: a header row must name its columns path and label\)$/,
  );
  await assert.rejects(readCsvList(join(dir, "absent.csv")), /absent\.csv: no such file \(expected a CSV list of path,label rows\)/);
});
