import type { Command } from "commander";
import { createModel, globMatcher, listArchs } from "../../models/registry.js";
import { table } from "../format.js";

export function registerModels(program: Command): void {
  program
    .command("models [patterns...]")
    .description(
      "list the architectures convzoo can build; patterns filter names as globs ('resnet*', '*_bn'; a plain word matches anywhere)",
    )
    .option("--json", "print JSON")
    .action((patterns: string[], opts: { json?: boolean }) => {
      const matchers = patterns.map(globMatcher);
      const archs = listArchs().filter((a) => matchers.length === 0 || matchers.some((m) => m(a.name)));
      if (archs.length === 0) {
        console.error(`no architecture matches ${patterns.map((p) => JSON.stringify(p)).join(" or ")}; \`convzoo models\` lists them all`);
      }
      const rows = archs.map((a) => ({
        arch: a.name,
        family: a.family,
        defaultResolution: createModel(a.name).defaultResolution,
        minResolution: a.minResolution,
        widthMult: a.accepts?.widthMult
          ? { min: a.accepts.widthMult.min, max: a.accepts.widthMult.max, default: a.accepts.widthMult.default }
          : null,
        description: a.description,
      }));
      if (opts.json) console.log(JSON.stringify(rows, null, 2));
      else if (rows.length) {
        const cells = rows.map((r) => [r.arch, r.family, String(r.defaultResolution), r.description]);
        console.log(table(["arch", "family", "resolution", "description"], cells));
      }
    });
}
