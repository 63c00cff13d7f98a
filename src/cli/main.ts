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
import { registerLrFind } from "./commands/lr_find.js";
import { registerModels } from "./commands/models.js";
import { registerQuantize } from "./commands/quantize.js";
import { registerServe } from "./commands/serve.js";
import { registerStudio } from "./commands/studio.js";
import { registerSummary } from "./commands/summary.js";
import { registerTrain } from "./commands/train.js";
import { registerWeights } from "./commands/weights.js";
import { printable, printableLines } from "../text.js";
import { addImageLimitFlag } from "./options.js";

const { version } = createRequire(import.meta.url)("../../package.json") as { version: string };

export function buildProgram(): Command {
  const program = new Command("convzoo")
    .description("Build, inspect, run, train and transfer-learn classic convolutional image classifiers")
    .version(version);
  addImageLimitFlag(program);
  registerModels(program);
  registerSummary(program);
  registerClassify(program);
  registerExport(program);
  registerCompare(program);
  registerTrain(program);
  registerLrFind(program);
  registerEval(program);
  registerBench(program);
  registerDemo(program);
  registerWeights(program);
  registerQuantize(program);
  registerServe(program);
  registerStudio(program);
  oneLineErrors(program);
  return program;
}

/**
 * Commander's own errors (a missing option or argument, an unknown option, too many arguments, a
 * bad value) in the documented form: one line `convzoo: error: …` and exit code 1. Applied to every
 * command after they are all registered, so a command added with `addCommand` gets it too.
 */
function oneLineErrors(command: Command): void {
  command
    .configureOutput({ outputError: (text, write) => write(`convzoo: error: ${printable(commanderMessage(text))}\n`) })
    .showHelpAfterError(false)
    .exitOverride();
  for (const sub of command.commands) oneLineErrors(sub);
}

/** "error: unknown command 'sumary'\n(Did you mean summary?)\n" → "unknown command 'sumary' (did you mean summary?)". */
function commanderMessage(text: string): string {
  return text
    .trim()
    .replace(/^error: /, "")
    .replace(/\s*\n\s*/g, " ")
    .replace(/\(Did you mean/, "(did you mean");
}

async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 1; // commander printed the message
    if (e instanceof ConvzooError) {
      // Messages quote paths, names and keys from files: never let those drive the terminal.
      console.error(`convzoo: error: ${printableLines(e.message)}`);
      return 1;
    }
    console.error(e);
    return 2;
  }
}

const code = await main(process.argv);
// A command may set its own exit code (train: 130 after Ctrl-C saved the run).
if (code !== 0 || process.exitCode === undefined) process.exitCode = code;
