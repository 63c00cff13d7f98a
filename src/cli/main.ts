#!/usr/bin/env node
/**
 * The `convzoo` command. Bad input ends with one line, `convzoo: error: <message>`, and exit
 * code 1; an unexpected failure (a bug) prints its stack and exits 2.
 */
import { Command, CommanderError } from "commander";
import { createRequire } from "node:module";
import { ConvzooError } from "../errors.js";
import "../models/index.js";
import { registerBench } from "./commands/bench.js";
import { registerClassify } from "./commands/classify.js";
import { registerCompare } from "./commands/compare.js";
import { registerDemo } from "./commands/demo.js";
import { registerEval } from "./commands/eval.js";
import { registerExport } from "./commands/export.js";
import { registerModels } from "./commands/models.js";
import { registerSummary } from "./commands/summary.js";
import { registerTrain } from "./commands/train.js";

const { version } = createRequire(import.meta.url)("../../package.json") as { version: string };

export function buildProgram(): Command {
  const program = new Command("convzoo")
    .description("Build, inspect, run, train and transfer-learn classic convolutional image classifiers")
    .version(version)
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  registerModels(program);
  registerSummary(program);
  registerClassify(program);
  registerExport(program);
  registerCompare(program);
  registerTrain(program);
  registerEval(program);
  registerBench(program);
  registerDemo(program);
  return program;
}

async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 1; // commander printed the message
    if (e instanceof ConvzooError) {
      console.error(`convzoo: error: ${e.message}`);
      return 1;
    }
    console.error(e);
    return 2;
  }
}

const code = await main(process.argv);
// A command may set its own exit code (train: 130 after Ctrl-C saved the run).
if (code !== 0 || process.exitCode === undefined) process.exitCode = code;
