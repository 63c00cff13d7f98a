import type { Command } from "commander";
import { createModel, listArchs } from "../../models/registry.js";
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
        widthMult: a.accepts?.widthMult ? { min: a.accepts.widthMult.min, max: a.accepts.widthMult.max, default: a.accepts.widthMult.default } : null,
        description: a.description,
      }));
      if (opts.json) console.log(JSON.stringify(rows, null, 2));
      else if (rows.length) {
        const cells = rows.map((r) => [r.arch, r.family, String(r.defaultResolution), r.description]);
        console.log(table(["arch", "family", "resolution", "description"], cells));
      }
    });
}

/**
 * A name filter in the manner of timm's `list_models('*resnet*')`: shell-style `*`, `?` and `[...]`,
 * case-insensitive, matching the whole name; a pattern without wildcards matches anywhere in it.
 */
export function globMatcher(pattern: string): (name: string) => boolean {
  const glob = /[*?[]/.test(pattern) ? pattern : `*${pattern}*`;
  let source = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    const close = c === "[" ? glob.indexOf("]", i + 2) : -1;
    if (c === "*") source += ".*";
    else if (c === "?") source += ".";
    else if (close > 0) {
      const set = glob.slice(i + 1, close);
      source += `[${set.startsWith("!") ? `^${set.slice(1)}` : set}]`.replace(/\\/g, "\\\\");
      i = close;
    } else source += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  const re = new RegExp(`^${source}$`, "i");
  return (name) => re.test(name);
}
