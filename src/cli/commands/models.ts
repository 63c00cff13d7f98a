import type { Command } from "commander";
import { createModel, listArchs } from "../../models/registry.js";
import { table } from "../format.js";

export function registerModels(program: Command): void {
  program
    .command("models")
    .description("list the architectures convzoo can build")
    .option("--json", "print JSON")
    .action((opts: { json?: boolean }) => {
      const rows = listArchs().map((a) => ({
        arch: a.name,
        family: a.family,
        defaultResolution: createModel(a.name).defaultResolution,
        minResolution: a.minResolution,
        widthMult: a.accepts?.widthMult ? { min: a.accepts.widthMult.min, max: a.accepts.widthMult.max, default: a.accepts.widthMult.default } : null,
        description: a.description,
      }));
      if (opts.json) console.log(JSON.stringify(rows, null, 2));
      else console.log(table(["arch", "family", "resolution", "description"], rows.map((r) => [r.arch, r.family, String(r.defaultResolution), r.description])));
    });
}
