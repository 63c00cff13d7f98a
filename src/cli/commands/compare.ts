import type { Command } from "commander";
import { compare, COMPARE_PRESETS, parseCompareEntry } from "../../tools/compare.js";
import { OptionError } from "../../errors.js";
import { humanCount, table } from "../format.js";
import { positiveInt } from "../options.js";

interface CompareFlags {
  preset?: string;
  resolution?: number;
  latency: boolean;
  runs: number;
  threads?: number;
  json?: boolean;
}

export function registerCompare(program: Command): void {
  program
    .command("compare [entries...]")
    .description("architectures side by side: params, MACs, batch-1 latency here, published top-1. ENTRY = ARCH[:alpha=A][,res=N][,phi=P]")
    .option("--preset <name>", `a comparison from the lecture: ${Object.keys(COMPARE_PRESETS).join(", ")}`)
    .option("--resolution <N>", "input side for entries without res= (default: each arch's own)", positiveInt("--resolution"))
    .option("--no-latency", "skip the latency measurement")
    .option("--runs <R>", "timed runs per model", positiveInt("--runs"), 10)
    .option("--threads <T>", "ONNX Runtime threads (default: all cores)", positiveInt("--threads"))
    .option("--json", "print JSON")
    .action(async (texts: string[], opts: CompareFlags) => {
      if (opts.preset && !COMPARE_PRESETS[opts.preset]) {
        throw new OptionError(`unknown preset "${opts.preset}"; presets: ${Object.keys(COMPARE_PRESETS).join(", ")}`);
      }
      const all = [...(opts.preset ? COMPARE_PRESETS[opts.preset].entries : []), ...texts];
      if (all.length === 0) throw new OptionError("name at least one architecture, or --preset (see --help)");
      const entries = all.map(parseCompareEntry);
      const rows = await compare(entries, {
        resolution: opts.resolution,
        latency: opts.latency,
        runs: opts.runs,
        threads: opts.threads,
        onProgress: opts.json ? undefined : (i, n, name) => process.stderr.write(`measuring ${name} (${i + 1}/${n})…\n`),
      });
      if (opts.json) {
        console.log(JSON.stringify(rows, null, 2));
        return;
      }
      const pct = (v?: number) => (v === undefined ? "—" : `${v.toFixed(1)}%`);
      console.log(
        table(
          ["model", "input", "params", "MACs", "latency (ms)", "paper top-1", "torchvision top-1", "paper source"],
          rows.map((r) => [
            r.name,
            String(r.resolution),
            humanCount(r.params),
            humanCount(r.macs),
            r.latencyMs === undefined ? "—" : r.latencyMs.toFixed(1),
            pct(r.paperTop1),
            pct(r.torchvisionTop1),
            r.paperSource ?? "",
          ]),
          ["left", "right", "right", "right", "right", "right", "right", "left"],
        ),
      );
    });
}
