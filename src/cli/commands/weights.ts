/**
 * `convzoo weights`: the registry of named pretrained weights — list, info, get (download into
 * the cache), path. Names are `<arch>.<tag>` or `<arch>.DEFAULT` (see hub/registry.ts).
 */
import type { Command } from "commander";
import { OptionError } from "../../errors.js";
import { findCachedWeights, fetchWeights } from "../../hub/download.js";
import type { WeightsEntry } from "../../hub/entry.js";
import { findWeights, listWeights } from "../../hub/registry.js";
import { downloadDisplay } from "../download_progress.js";
import { humanCount, table } from "../format.js";

/** `convzoo weights … --json`'s object for one entry. */
async function describe(e: WeightsEntry, offline: boolean) {
  return {
    name: e.name,
    arch: e.arch,
    url: e.url,
    file: e.file,
    default: e.isDefault,
    transforms: e.transforms,
    metrics: e.metrics,
    numParams: e.numParams,
    numClasses: e.numClasses,
    minSize: e.minSize,
    recipe: e.recipe,
    source: e.source,
    cached: await findCachedWeights(e, { offline }),
  };
}

function entryNamed(name: string): WeightsEntry {
  const e = findWeights(name);
  if (!e)
    throw new OptionError(`"${name}" is not a weights name (expected <arch>.<TAG> or <arch>.DEFAULT; \`convzoo weights list\` shows them)`);
  return e;
}

export function registerWeights(program: Command): void {
  const weights = program.command("weights").description("named pretrained weights: list, info, get (download into the cache), path");
  weights
    .command("list [pattern]")
    .description("list the named weights; a glob filters names ('resnet*', '*V2'; a plain word matches anywhere)")
    .option("--json", "print a JSON array")
    .action(async (pattern: string | undefined, opts: { json?: boolean }) => {
      const entries = listWeights(pattern);
      if (opts.json) {
        console.log(JSON.stringify(await Promise.all(entries.map((e) => describe(e, true))), null, 2));
        return;
      }
      if (entries.length === 0) {
        console.error(`no weights match "${pattern}"; \`convzoo weights list\` shows them all`);
        return;
      }
      const rows = await Promise.all(
        entries.map(async (e) => [
          e.isDefault ? `${e.name} (DEFAULT)` : e.name,
          e.metrics ? e.metrics.acc1.toFixed(2) : "-",
          humanCount(e.numParams),
          `${e.transforms.resizeSize}/${e.transforms.cropSize} ${e.transforms.interpolation}`,
          (await findCachedWeights(e, { offline: true })) ? "yes" : "",
        ]),
      );
      console.log(table(["name", "acc@1", "params", "resize/crop", "cached"], rows, ["left", "right", "right", "left", "left"]));
    });
  weights
    .command("info <name>")
    .description("everything about one set of weights: URL, file, transform, published accuracy, parameters, cache path")
    .option("--json", "print one JSON object")
    .action(async (name: string, opts: { json?: boolean }) => {
      const d = await describe(entryNamed(name), true);
      if (opts.json) {
        console.log(JSON.stringify(d, null, 2));
        return;
      }
      const t = d.transforms;
      const lines: [string, string][] = [
        ["name", `${d.name}${d.default ? ` (${d.arch}.DEFAULT)` : ""}`],
        ["arch", d.arch],
        ["url", d.url],
        ["file", d.file],
        ["transforms", `resize ${t.resizeSize}, crop ${t.cropSize}, ${t.interpolation}, mean ${t.mean.join(" ")}, std ${t.std.join(" ")}`],
        ["ImageNet-1k", d.metrics ? `acc@1 ${d.metrics.acc1}%, acc@5 ${d.metrics.acc5}%` : "not published (no classifier)"],
        ["parameters", d.numParams.toLocaleString("en-US")],
        ["classes", d.numClasses === null ? "none (a backbone: use it with `convzoo train`)" : String(d.numClasses)],
        ["recipe", d.recipe],
        ["source", d.source],
        ["cached", d.cached ?? "no (`convzoo weights get` downloads it)"],
      ];
      for (const [k, v] of lines) console.log(`${k.padEnd(12)}${v}`);
    });
  weights
    .command("get <names...>")
    .description("download weights into the cache (verified by their SHA-256 prefix); prints each file's path")
    .option("--offline", "never use the network: only report what is already cached")
    .action(async (names: string[], opts: { offline?: boolean }) => {
      for (const e of names.map(entryNamed)) {
        const display = downloadDisplay(e.file);
        try {
          console.log(await fetchWeights(e, { offline: opts.offline, onProgress: display.onProgress, onNote: (l) => console.error(l) }));
        } finally {
          display.stop();
        }
      }
    });
  weights
    .command("path <name>")
    .description("print the cached file of a set of weights (an error when it is not downloaded yet)")
    .action(async (name: string) => {
      const e = entryNamed(name);
      const path = await findCachedWeights(e, { offline: true });
      if (!path) throw new OptionError(`${e.name} is not in the cache yet: \`convzoo weights get ${e.name}\` downloads it`);
      console.log(path);
    });
}
