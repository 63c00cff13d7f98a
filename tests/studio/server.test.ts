/**
 * The studio's server and `convzoo studio` (no browser): every response carries the cross-origin isolation
 * headers; the app's files, /config.json and the `--weights` file are served byte for byte; unknown paths are 404,
 * other methods 405; only loopback addresses are accepted; `--build DIR` writes the same files; bad flags end with
 * one line and exit 1.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { buildStudio, ORT_RUNTIME_FILES, type StudioBuild } from "../../src/studio/build.js";
import { ISOLATION_HEADERS, startStudioServer } from "../../src/studio/server.js";
import { CLI, convzoo } from "../helpers/cli.js";

let dir = "";
let app: StudioBuild;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "convzoo-studio-server-"));
  app = await buildStudio();
});
after(() => rmSync(dir, { recursive: true, force: true }));

function assertIsolated(res: Response, what: string): void {
  for (const [name, value] of Object.entries(ISOLATION_HEADERS)) assert.equal(res.headers.get(name), value, `${what}: ${name}`);
}

describe("studio server", () => {
  test("serves the app, its config and the weights file with COOP/COEP on every response", async () => {
    const weights = join(dir, "w.safetensors");
    const bytes = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251));
    writeFileSync(weights, bytes);
    const server = await startStudioServer({
      host: "127.0.0.1",
      port: 0,
      app,
      weights: { path: weights, file: "w.safetensors", name: null, arch: "resnet18", preprocessing: null },
    });
    try {
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      const index = await fetch(server.url);
      assert.equal(index.status, 200);
      assertIsolated(index, "/");
      assert.match(index.headers.get("content-type")!, /^text\/html/);
      assert.match(await index.text(), /<script type="module" src="app\.js"><\/script>/);
      for (const name of ["app.js", "engine.js", ...ORT_RUNTIME_FILES]) {
        const res = await fetch(new URL(name, server.url));
        assert.equal(res.status, 200, name);
        assertIsolated(res, name);
        assert.deepEqual(new Uint8Array(await res.arrayBuffer()), app.files.get(name), name);
      }
      assert.equal((await fetch(new URL("ort-wasm-simd-threaded.wasm", server.url))).headers.get("content-type"), "application/wasm");
      const config = await fetch(new URL("config.json", server.url));
      assertIsolated(config, "config.json");
      assert.deepEqual(await config.json(), {
        weights: { file: "w.safetensors", url: "weights/w.safetensors", name: null, arch: "resnet18", preprocessing: null },
      });
      const served = await fetch(new URL("weights/w.safetensors", server.url));
      assertIsolated(served, "weights");
      assert.deepEqual(Buffer.from(await served.arrayBuffer()), bytes);
      const missing = await fetch(new URL("nope.js", server.url));
      assert.equal(missing.status, 404);
      assertIsolated(missing, "404");
      assert.equal((await fetch(new URL("../../etc/passwd", server.url))).status, 404);
      assert.equal((await fetch(server.url, { method: "POST", body: "x" })).status, 405);
    } finally {
      await server.close();
    }
  });

  test("binds loopback addresses only", async () => {
    await assert.rejects(
      startStudioServer({ host: "0.0.0.0", port: 0, app }),
      /--host 0\.0\.0\.0: the studio binds a loopback address only/,
    );
    const v6 = await startStudioServer({ host: "::1", port: 0, app }).catch(() => null);
    if (v6) {
      assert.match(v6.url, /^http:\/\/\[::1\]:\d+\/$/);
      await v6.close();
    }
  });
});

test("the web app imports only convzoo/browser (src/browser.ts) and its own modules", () => {
  const appDir = fileURLToPath(new URL("../../src/studio_app/", import.meta.url));
  const outside: string[] = [];
  for (const file of readdirSync(appDir)) {
    const text = readFileSync(join(appDir, file), "utf8");
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g))
      if (!m[1].startsWith("./") && m[1] !== "../browser.js") outside.push(`${file}: ${m[1]}`);
  }
  assert.deepEqual(outside, []);
});

describe("convzoo studio", () => {
  test("--build DIR writes the app as static files", () => {
    const out = join(dir, "site");
    const r = convzoo("studio", "--build", out);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(readdirSync(out).sort(), [...app.files.keys()].sort());
    assert.deepEqual(new Uint8Array(readFileSync(join(out, "ort-wasm-simd-threaded.wasm"))), app.files.get("ort-wasm-simd-threaded.wasm"));
    assert.match(r.stderr, /Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp/);
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.endsWith(".tmp")),
      [],
      "no temporary folder left",
    );
  });

  test("bad flags: one line, exit 1", () => {
    const host = convzoo("studio", "--host", "0.0.0.0", "--port", "0");
    assert.equal(host.status, 1);
    assert.equal(
      host.stderr.trim(),
      "convzoo: error: --host 0.0.0.0: the studio binds a loopback address only (127.0.0.1, ::1, localhost)",
    );
    const weights = convzoo("studio", "--weights", join(dir, "missing.pth"), "--port", "0");
    assert.equal(weights.status, 1);
    assert.match(weights.stderr, /^convzoo: error: --weights .*missing\.pth: no such file, and no weights of that name/);
  });

  test("serves until SIGTERM, printing its URL", async () => {
    const child = spawn(process.execPath, [CLI, "studio", "--port", "0"], { stdio: ["ignore", "pipe", "pipe"] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = "";
        child.stdout.on("data", (d) => {
          out += d;
          const m = out.match(/convzoo studio: (http:\/\/127\.0\.0\.1:\d+\/)/);
          if (m) resolve(m[1]);
        });
        child.once("exit", (code) => reject(new Error(`exited ${code} before serving`)));
      });
      const res = await fetch(url);
      assert.equal(res.status, 200);
      assertIsolated(res, "CLI server");
    } finally {
      child.kill("SIGTERM");
    }
    const code = await new Promise((resolve) => child.once("exit", resolve));
    assert.equal(code, 0);
  });
});
