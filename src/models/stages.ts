/**
 * Stage outputs recorded while a net is built (timm's feature_info): the builder notes each trunk module with the
 * stride it adds; the deepest module at each reduction 2, 4, … 32 is that stage's output (`Model.stages`).
 */
export class StageRecorder {
  private reduction = 1;
  private readonly deepest = new Map<number, string>();

  /** `path`'s output is `stride` times smaller than the previously recorded one's (the input's, for the first). */
  add(path: string, stride = 1): this {
    this.reduction *= stride;
    this.deepest.set(this.reduction, path);
    return this;
  }

  /** The stage outputs, shallow to deep; each stage halves the previous one's resolution. */
  get stages(): string[] {
    const reductions = [...this.deepest.keys()].sort((a, b) => a - b);
    reductions.forEach((r, i) => {
      if (r !== 2 ** (i + 1)) throw new Error(`stage reductions must be 2, 4, 8 …, got ${reductions.join(", ")}`);
    });
    return reductions.map((r) => this.deepest.get(r)!);
  }
}
