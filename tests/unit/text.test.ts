/** Text from files made safe to print (src/text.ts). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { printable, printableJson, printableLines, shown, shownList } from "../../src/text.js";

test("printable: C0, DEL, C1 and bidi/zero-width controls become escapes; other text is kept", () => {
  assert.equal(printable("\x1b[2Jcat"), "\\x1b[2Jcat");
  assert.equal(printable("a\r\nb\tc\x7f\x9bd"), "a\\x0d\\x0ab\\x09c\\x7f\\x9bd");
  assert.equal(printable("evil\u202etxt.exe\u200b\ufeff"), "evil\\u202etxt.exe\\u200b\\ufeff");
  assert.equal(printable("chat noir é 猫 🐈 C:\\dir"), "chat noir é 猫 🐈 C:\\dir");
  assert.equal(printableLines("one\x1b[A\ntwo\r"), "one\\x1b[A\ntwo\\x0d");
});

test("shown: shortens long values with the full length, never inside a surrogate pair", () => {
  const long = "x".repeat(10 * 1024 * 1024);
  const s = shown(long);
  assert.equal(s, `${"x".repeat(120)}…(10,485,760 characters)`);
  assert.equal(shown("ab🐈cd", 3), "ab…(6 characters)");
  assert.equal(shown("short"), "short");
  assert.equal(shown({ arch: 1 }), '{"arch":1}');
  assert.equal(shown(`\x1b]0;title\x07${"y".repeat(200)}`, 10), "\\x1b]0;title\\x07…(210 characters)");
});

test("shownList: each name shown, at most 12, then the count", () => {
  assert.equal(shownList(["a\nb", "c"]), "a\\x0ab, c");
  const many = Array.from({ length: 20 }, (_, i) => `c${i}`);
  assert.equal(shownList(many), `${many.slice(0, 12).join(", ")}, … (20)`);
});

test("printableJson: the same JSON value, with C1 and bidi controls escaped as JSON escapes", () => {
  const value = { label: "\x1b[2J\u009b31m\u202ecat", n: 1 };
  const text = printableJson(value);
  assert.equal(text, '{"label":"\\u001b[2J\\u009b31m\\u202ecat","n":1}');
  assert.deepEqual(JSON.parse(text), value);
});
