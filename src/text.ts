/**
 * Text that came from a file (class names from folders, CSV lists or checkpoint metadata, arch names,
 * tensor keys, paths) made safe to print. A terminal acts on control characters: ESC starts a
 * sequence that can clear the screen or move the cursor, CR and LF can fake output lines, and the
 * Unicode bidirectional controls reorder what is shown ("Trojan Source", CVE-2021-42574). Such
 * characters are written as escapes instead; long values are shortened so one 10 MB name cannot
 * flood a message. The CLI prints every line through `printable` (errors, notes, warnings, results);
 * messages that quote a value from a file quote it with `shown`.
 */

/**
 * C0 controls (tab, CR and LF included), DEL, C1 controls (U+0080–U+009F: 8-bit CSI and friends),
 * and the bidi and zero-width format controls (U+200B–U+200F, U+202A–U+202E, U+2066–U+2069, U+FEFF).
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/gu;

function escape(c: string): string {
  const code = c.codePointAt(0)!;
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
}

/** `s` with every control character written as an escape (ESC → `\x1b`, RLO → `\u202e`). */
export function printable(s: string): string {
  return s.replace(CONTROL, escape);
}

/** Characters of a value kept in a message by default. */
export const SHOWN_LENGTH = 120;

/**
 * A value from a file as a message quotes it: printable, and at most `max` characters plus a note of
 * what was cut ("resnet…(10,485,760 characters)"). Non-strings are shown as JSON.
 */
export function shown(value: unknown, max = SHOWN_LENGTH): string {
  const s = typeof value === "string" ? value : (JSON.stringify(value) ?? String(value));
  if (s.length <= max) return printable(s);
  // Cut in UTF-16 units (a 10 MB string is not split into code points), never inside a surrogate pair.
  const end = /[\ud800-\udbff]/.test(s[max - 1]) ? max - 1 : max;
  return `${printable(s.slice(0, end))}…(${s.length.toLocaleString("en-US")} characters)`;
}

/** `printable` line by line: a multi-line message keeps its own line breaks, and only those. */
export function printableLines(s: string): string {
  return s.split("\n").map(printable).join("\n");
}

/** Names from a file as a message lists them: each `shown` (shortened to 40), at most `max` of them, then the count. */
export function shownList(names: readonly string[], max = 12): string {
  const listed = names.slice(0, max).map((n) => shown(n, 40));
  return names.length > max ? `${listed.join(", ")}, … (${names.length})` : listed.join(", ");
}

/** The characters printable() escapes that JSON.stringify leaves raw: DEL, C1 and the format controls. */
const JSON_RAW_CONTROL = /[\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/gu;

/**
 * JSON.stringify, with the control characters it leaves raw written as `\uXXXX` too (C0 it escapes
 * itself): the same JSON value, safe on a terminal. They can only occur inside strings, where a
 * `\u` escape means the same character.
 */
export function printableJson(value: unknown, space?: number): string {
  return JSON.stringify(value, null, space).replace(JSON_RAW_CONTROL, (c) => `\\u${c.codePointAt(0)!.toString(16).padStart(4, "0")}`);
}
