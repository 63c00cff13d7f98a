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
