import type { Command } from "commander";
import { createModel } from "../../models/registry.js";
import { summarize, type LayerSummary } from "../../models/summary.js";
import { humanCount, shapeText, table } from "../format.js";
import { type ArchFlags, addArchFlags, positiveInt } from "../options.js";

export function registerSummary(program: Command): void {
  addArchFlags(program.command("summary <arch>"))
    .description("parameters, multiply-accumulates and per-layer output shapes of an architecture")
    .option("--resolution <N>", "input side in pixels (default: the architecture's)", positiveInt("--resolution"))
    .option("--num-classes <K>", "classifier outputs", positiveInt("--num-classes"), 1000)
    .option("--layers", "list every layer instead of the structure by block")
    .option("--json", "print JSON")
    .action((arch: string, opts: ArchFlags & { resolution?: number; numClasses: number; layers?: boolean; json?: boolean }) => {
      const model = createModel(arch, { widthMult: opts.widthMult, phi: opts.phi, numClasses: opts.numClasses });
      const s = summarize(model, opts.resolution ?? model.defaultResolution);
      const stages = stageRows(model.stages, [...s.blocks, ...s.layers]);
      if (opts.json) {
        console.log(JSON.stringify({ ...s, stages }, null, 2));
        return;
      }
      const rows = opts.layers ? s.layers.map((l) => ({ ...l, depth: 0 })) : s.blocks;
      console.log(
        table(
          [opts.layers ? "layer" : "block", "type", "output", "params", "MACs"],
          rows.map((l) => ["  ".repeat(l.depth) + l.name, l.type, shapeText(l.outputShape), l.params, l.macs]),
        ),
      );
      console.log();
      console.log("stages, shallow to deep (--unfreeze-stages K trains those numbered K and below, and the head; 0: the head only)");
      const stageCells = stages.map((st) => [st.unfreezeStages, st.name, st.outputShape ? shapeText(st.outputShape) : ""]);
      console.log(table(["K", "stage", "output"], stageCells));
      console.log();
      const alpha = s.options.widthMult !== undefined ? `, α = ${s.options.widthMult}` : "";
      const details = Object.entries(s.details).map(([k, v]) => `${k} ${typeof v === "number" ? +v.toFixed(4) : v}`);
      if (details.length) console.log(details.join(", "));
      console.log(
        `${s.arch} at ${s.resolution}x${s.resolution}${alpha}: ${s.params.toLocaleString("en-US")} parameters ` +
          `(${humanCount(s.params)}), ${s.macs.toLocaleString("en-US")} MACs (${humanCount(s.macs)})`,
      );
    });
}

/**
 * The model's stages (its feature info, shallow to deep) with the `--unfreeze-stages` count from
 * which each trains: the deepest is 1, the shallowest the stage count.
 */
function stageRows(stages: readonly string[], rows: readonly LayerSummary[]) {
  return stages.map((name, i) => ({
    name,
    unfreezeStages: stages.length - i,
    outputShape: rows.find((r) => r.name === name)?.outputShape ?? null,
  }));
}
