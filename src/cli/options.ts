/** Flag parsers: each rejects a bad value with a message naming the flag and the expected form. */
import { InvalidArgumentError, type Command } from "commander";

export function positiveInt(flag: string) {
  return (text: string): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${flag} expects a positive integer, got "${text}"`);
    return n;
  };
}

export function nonNegativeInt(flag: string) {
  return (text: string): number => {
    const n = Number(text);
    if (text.trim() === "" || !Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${flag} expects an integer ≥ 0, got "${text}"`);
    return n;
  };
}

export function positiveNumber(flag: string) {
  return (text: string): number => {
    const n = Number(text);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${flag} expects a positive number, got "${text}"`);
    return n;
  };
}

export function nonNegativeNumber(flag: string) {
  return (text: string): number => {
    const n = Number(text);
    if (text.trim() === "" || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${flag} expects a number ≥ 0, got "${text}"`);
    return n;
  };
}

/** The architecture options every model-building command takes (α for MobileNets, φ for EfficientNet). */
export interface ArchFlags {
  widthMult?: number;
  phi?: number;
}

export function addArchFlags(command: Command): Command {
  return command
    .option("--width-mult <A>", "width multiplier α (MobileNets)", positiveNumber("--width-mult"))
    .option("--phi <φ>", "compound scaling coefficient φ (efficientnet)", nonNegativeNumber("--phi"));
}
