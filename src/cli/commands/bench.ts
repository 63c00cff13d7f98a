import type { Command } from "commander";
import { benchInference } from "../../api/bench.js";
import { loadModel } from "../../api/load.js";
import { type ArchFlags, addArchFlags, positiveInt } from "../options.js";

interface BenchInferOptions extends ArchFlags {
  arch: string;
  weights?: string;
  batchSize: number;
  resolution?: number;
  runs: number;
  warmup: number;
  threads?: number;
  json?: boolean;
}

export function registerBench(program: Command): void {
  const bench = program.command("bench").description("measure speed on this machine");
  addArchFlags(bench.command("infer"))
    .description("inference latency and throughput (median of several runs)")
    .requiredOption("--arch <arch>", "architecture")
    .option("--weights <file>", "weights (default: seeded random init; speed does not depend on values)")
    .option("--batch-size <B>", "images per run", positiveInt("--batch-size"), 1)
    .option("--resolution <N>", "input side (default: the architecture's)", positiveInt("--resolution"))
    .option("--runs <R>", "timed runs", positiveInt("--runs"), 20)
    .option("--warmup <W>", "untimed warm-up runs", positiveInt("--warmup"), 3)
    .option("--threads <T>", "ONNX Runtime threads (default: all cores)", positiveInt("--threads"))
    .option("--json", "print JSON")
    .action(async (opts: BenchInferOptions) => {
      const { model } = await loadModel({ arch: opts.arch, weights: opts.weights, widthMult: opts.widthMult, phi: opts.phi });
      const r = await benchInference(model, opts);
      if (opts.json) console.log(JSON.stringify(r));
      else console.log(`${r.arch} ${r.resolution}x${r.resolution} batch ${r.batchSize}, ${r.threads} threads: median ${r.medianMs.toFixed(2)} ms (min ${r.minMs.toFixed(2)}), ${r.imagesPerSecond.toFixed(1)} images/s over ${r.runs} runs`);
    });
}
