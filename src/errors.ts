/**
 * Every error convzoo raises on bad input is a ConvzooError: the CLI prints its message alone
 * (no stack) and exits non-zero. Messages name the thing (file, key, layer) and what was expected.
 */
export class ConvzooError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A shape or dtype mismatch found while building a graph; the message names the layer. */
export class ShapeError extends ConvzooError {}

/** A weights file that cannot be read, or whose tensors do not fit the model. */
export class WeightsError extends ConvzooError {}

/** A file that is missing, unreadable or not an image. */
export class InputFileError extends ConvzooError {}

/** An unknown architecture or an option out of its allowed range. */
export class OptionError extends ConvzooError {}

/**
 * A short rendering of a value read from a file, for error messages: at most two levels deep, four items per
 * level and 40 characters per scalar. JSON.stringify (or String) of a hostile value recurses without bound
 * (200,000 nested arrays overflow the stack) and echoes megabytes.
 */
export function previewValue(v: unknown, depth = 0): string {
  if (Array.isArray(v)) {
    if (depth >= 2) return v.length ? "[…]" : "[]";
    const items = v.slice(0, 4).map((x) => previewValue(x, depth + 1));
    return `[${items.join(", ")}${v.length > 4 ? ", …" : ""}]`;
  }
  if (typeof v === "object" && v !== null) {
    const keys = Object.keys(v);
    if (depth >= 2) return keys.length ? "{…}" : "{}";
    const items = keys.slice(0, 4).map((k) => `${previewValue(k, 2)}: ${previewValue((v as Record<string, unknown>)[k], depth + 1)}`);
    return `{${items.join(", ")}${keys.length > 4 ? ", …" : ""}}`;
  }
  const text = typeof v === "string" ? JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v) : String(v);
  return text.length > 42 ? `${text.slice(0, 40)}…` : text;
}
