import type { Command } from "commander";
import { existsSync } from "node:fs";
import { basename, resolve } from "node:path";
import { OptionError } from "../../errors.js";
import { fetchWeights } from "../../hub/download.js";
import { findWeights, weightsForFile } from "../../hub/registry.js";
import { writeStudio, buildStudio } from "../../studio/build.js";
import { startStudioServer, type ServedWeights } from "../../studio/server.js";
import { downloadOptions, positiveInt } from "../options.js";

interface StudioOptions {
  host: string;
  port: number;
  weights?: string;
  build?: string;
  offline?: boolean;
}

/** `--weights NAME|FILE` as the file the page fetches: a name is downloaded once (verified) into the cache. */
async function servedWeights(spec: string, opts: StudioOptions): Promise<ServedWeights> {
  const named = existsSync(spec) ? undefined : findWeights(spec);
  if (!named && !existsSync(spec))
    throw new OptionError(`--weights ${spec}: no such file, and no weights of that name (convzoo weights list)`);
  const path = named ? await fetchWeights(named, downloadOptions(opts, spec)) : resolve(spec);
  const entry = named ?? weightsForFile(basename(path)) ?? null;
  if (entry?.format === "keras-mobilenet-v1")
    throw new OptionError(`--weights ${spec}: Keras HDF5 weights do not load in the page; convert them with convzoo train or export first`);
  return { path, file: basename(path), name: named?.name ?? null, arch: entry?.arch ?? null, preprocessing: entry?.transforms ?? null };
}

export function registerStudio(program: Command): void {
  program
    .command("studio")
    .description("the browser app: make classes, add images (files, folders, webcam), train, test and export, all in the page")
    .option("--host <host>", "address to bind (loopback only: 127.0.0.1, ::1 or localhost)", "127.0.0.1")
    .option("--port <N>", "port (0: any free port)", (v: string) => (v === "0" ? 0 : positiveInt("--port")(v)), 8080)
    .option(
      "--weights <name|file>",
      "starting weights the page offers: a .pth / convzoo safetensors file or a name (mobilenet_v3_small.DEFAULT)",
    )
    .option("--offline", "never use the network: named weights must already be cached")
    .option("--build <DIR>", "write the app as static files into DIR (for any web host) and exit")
    .action(async (opts: StudioOptions) => {
      if (opts.build) {
        const files = await writeStudio(opts.build);
        for (const f of files) console.log(f);
        console.error("serve DIR with the headers Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp");
        return;
      }
      const weights = opts.weights ? await servedWeights(opts.weights, opts) : null;
      const app = await buildStudio();
      const studio = await startStudioServer({ host: opts.host, port: opts.port, app, weights });
      console.log(`convzoo studio: ${studio.url}${weights ? ` (weights: ${weights.name ?? weights.path})` : ""}; Ctrl-C stops it`);
      await new Promise<void>((resolve) => {
        const stop = () => void studio.close().then(resolve);
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
    });
}
