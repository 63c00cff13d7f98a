/**
 * The layout's one rule: imports in src/ point down. Folders sit in layers, lowest first; a file
 * may import from its own folder and from lower layers only (folders sharing a layer are siblings
 * and do not import each other), and no chain of imports comes back to where it started.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const SRC = fileURLToPath(new URL("../../src/", import.meta.url));

/** Lowest first. The library core, then the library, then the products on top of it. */
export const LAYERS: readonly (readonly string[])[] = [
  ["tensor.ts", "errors.ts", "random.ts", "text.ts"],
  ["graph"],
  ["nn", "onnx", "autodiff"],
  ["models"],
  ["runtime", "weights"],
  ["data"],
  ["hub"],
  ["inference"],
  ["train", "quantize"],
  ["transfer"],
  ["run"],
  ["tools", "demo", "serve", "studio"],
  ["cli"],
  ["index.ts", "browser.ts"],
  ["studio_app"],
];

/** Cycles that may stay: a type-only pair (the module tree and the context its forward receives). */
const ALLOWED_CYCLES = [["nn/context.ts", "nn/module.ts"]];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : name.endsWith(".ts") ? [relative(SRC, path)] : [];
  });
}

/** Relative imports of a file (static, re-exports and dynamic), as paths under src/. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(SRC, file), "utf8");
  const specs = [...text.matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g)].map((m) => m[1]);
  return specs.map((s) => normalize(join(dirname(file), s)).replace(/\.js$/, ".ts"));
}

/** The top-level entry a file belongs to: its folder, or the file itself at the root. */
const unit = (file: string) => file.split("/")[0];

function layerOf(u: string): number {
  const i = LAYERS.findIndex((layer) => layer.includes(u));
  if (i < 0) throw new Error(`src/${u} is in no layer: add it to LAYERS in tests/unit/layers.test.ts`);
  return i;
}

test("every import in src/ points down the layers", () => {
  const files = sourceFiles(SRC);
  const violations: string[] = [];
  for (const file of files) {
    for (const target of importsOf(file)) {
      const [from, to] = [unit(file), unit(target)];
      if (from === to) continue;
      if (layerOf(to) >= layerOf(from)) violations.push(`${file} → ${target} (layer ${layerOf(from)} → ${layerOf(to)})`);
    }
  }
  assert.deepEqual(violations, []);
  // The rule can fail: an import running up is reported.
  assert.ok(layerOf("models") < layerOf("data") && layerOf("train") < layerOf("run"));
});

test("no import cycle in src/ (beyond the allowed type-only pair)", () => {
  const files = sourceFiles(SRC);
  const edges = new Map(files.map((f) => [f, importsOf(f).filter((t) => files.includes(t))]));
  const allowed = (a: string, b: string) => ALLOWED_CYCLES.some(([x, y]) => (a === x && b === y) || (a === y && b === x));
  const cycles: string[] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (f: string) => {
    state.set(f, "open");
    stack.push(f);
    for (const t of edges.get(f)!) {
      if (allowed(f, t)) continue;
      if (state.get(t) === "open") cycles.push([...stack.slice(stack.indexOf(t)), t].join(" → "));
      else if (!state.has(t)) visit(t);
    }
    stack.pop();
    state.set(f, "done");
  };
  for (const f of files) if (!state.has(f)) visit(f);
  assert.deepEqual(cycles, []);
});
