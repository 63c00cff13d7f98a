/**
 * Builds the studio web app (src/studio_app/) into static files with esbuild: `index.html`, the page's
 * script `app.js`, the engine worker `engine.js` (ONNX Runtime, the model, training: everything that
 * computes) and onnxruntime-web's WebAssembly runtime (`ort-wasm-simd-threaded.{mjs,wasm}`), so the
 * page needs nothing beyond its own origin. Runs from the TypeScript sources (tsx) or from dist/.
 */
import { existsSync } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { InputFileError } from "../errors.js";
import { studioHtml } from "./page.js";

/** onnxruntime-web's threaded SIMD WebAssembly build: its loader (also the pthread workers' script) and binary. */
export const ORT_RUNTIME_FILES = ["ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"] as const;

export interface StudioBuild {
  /** File name (no folder) → bytes. */
  files: Map<string, Uint8Array>;
}

/** The app's entry modules, as .ts under tsx or as compiled .js under dist/. */
function entry(name: string): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const ext of [".ts", ".js"]) {
    const path = join(here, "..", "studio_app", `${name}${ext}`);
    if (existsSync(path)) return path;
  }
  throw new Error(`studio: the app's ${name} module is missing from ${join(here, "..", "studio_app")}`);
}

/** Bundles the app in memory. */
export async function buildStudio(options: { minify?: boolean } = {}): Promise<StudioBuild> {
  const result = await build({
    entryPoints: { app: entry("main"), engine: entry("engine") },
    bundle: true,
    platform: "browser",
    format: "esm",
    target: "es2022",
    // onnxruntime-web's build that loads its WebAssembly from files next to it rather than embedding it.
    conditions: ["onnxruntime-web-use-extern-wasm"],
    minify: options.minify ?? true,
    write: false,
    outdir: "/studio",
    logLevel: "silent",
  });
  const files = new Map<string, Uint8Array>();
  for (const f of result.outputFiles) files.set(f.path.slice("/studio/".length), f.contents);
  files.set("index.html", new TextEncoder().encode(studioHtml()));
  const require = createRequire(import.meta.url);
  const ortDist = dirname(require.resolve("onnxruntime-web/ort-wasm-simd-threaded.wasm"));
  for (const name of ORT_RUNTIME_FILES) files.set(name, new Uint8Array(await readFile(join(ortDist, name))));
  return { files };
}

/**
 * `convzoo studio --build DIR`: the app as plain static files. Written into a temporary sibling folder that
 * replaces DIR's studio files only when complete (no half-written app); DIR may exist (its other files stay).
 */
export async function writeStudio(dir: string): Promise<string[]> {
  const out = resolve(dir);
  const { files } = await buildStudio();
  const temp = `${out}.${process.pid}.tmp`;
  try {
    await mkdir(temp, { recursive: true });
    for (const [name, bytes] of files) await writeFile(join(temp, name), bytes);
    await mkdir(out, { recursive: true });
    for (const name of files.keys()) await rename(join(temp, name), join(out, name));
  } catch (e) {
    throw new InputFileError(`${out}: cannot write the studio (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
  return [...files.keys()].map((n) => join(out, n));
}
