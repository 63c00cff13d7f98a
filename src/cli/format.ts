/** Terminal formatting shared by the commands: aligned tables and human-readable counts. */
import Table from "cli-table3";
import { printable } from "../text.js";

/** An aligned, borderless table (numbers right-aligned). */
export function table(head: string[], rows: (string | number)[][], align?: ("left" | "right")[]): string {
  const t = new Table({
    head: head.map(printable),
    chars: {
      top: "",
      "top-mid": "",
      "top-left": "",
      "top-right": "",
      bottom: "",
      "bottom-mid": "",
      "bottom-left": "",
      "bottom-right": "",
      left: "",
      "left-mid": "",
      mid: "",
      "mid-mid": "",
      right: "",
      "right-mid": "",
      middle: "  ",
    },
    style: { head: [], border: [], "padding-left": 0, "padding-right": 0 },
    colAligns: align ?? head.map((_, i) => (typeof rows[0]?.[i] === "number" ? "right" : "left")),
  });
  // Cells may hold class names from a file: printable, so a table cannot drive the terminal.
  t.push(...rows.map((r) => r.map((c) => (typeof c === "number" ? c.toLocaleString("en-US") : printable(c)))));
  return t
    .toString()
    .split("\n")
    .map((line) => line.trimEnd())
    .join("\n");
}

/** 25557032 → "25.56M"; 4.1e9 → "4.11G". */
export function humanCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}

export function shapeText(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}
