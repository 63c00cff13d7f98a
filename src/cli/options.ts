/**
 * Flag parsers and shared options. Every value kind is checked once, by run/settings.ts's
 * parseValue; here its errors become commander's InvalidArgumentError (one usage line).
 */
import { InvalidArgumentError, Option, type Command } from "commander";
import { parseValue, runOption, type RunOption, type ValueKind } from "../run/settings.js";

function parser(flag: string, kind: ValueKind) {
  return (text: string): number => parseValue({ flag, kind }, text, (m) => new InvalidArgumentError(m)) as number;
}

export const positiveInt = (flag: string) => parser(flag, "positiveInt");
export const nonNegativeInt = (flag: string) => parser(flag, "nonNegativeInt");
export const positiveNumber = (flag: string) => parser(flag, "positiveNumber");
export const nonNegativeNumber = (flag: string) => parser(flag, "nonNegativeNumber");

/** A commander option from a row of the run-settings table. */
export function optionFrom(row: RunOption): Option {
  const option = new Option(row.flag, row.help);
  if (typeof row.kind === "object") option.choices(row.kind.choices);
  else if (row.kind !== "boolean" && row.kind !== "negatable") option.argParser((text: string) => parseValue(row, text, (m) => new InvalidArgumentError(m)));
  // Negatable flags (--no-augment) carry their default themselves.
  if (row.default !== undefined && row.kind !== "negatable") option.default(row.default);
  return option;
}

/** The architecture options every model-building command takes (α for MobileNets, φ for EfficientNet). */
export interface ArchFlags {
  widthMult?: number;
  phi?: number;
}

export function addArchFlags(command: Command): Command {
  return command.addOption(optionFrom(runOption("widthMult"))).addOption(optionFrom(runOption("phi")));
}
