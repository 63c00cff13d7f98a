/**
 * Small synthetic image folders for end-to-end tests: each class is a colour and stripe pattern
 * with per-image noise and jitter, so a network can learn them in a few epochs at 32–64 px.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { Random } from "../../src/random.js";

export interface SyntheticFolderOptions {
  classes: number;
  perClass: number;
  size?: number;
  seed?: number;
  /** Class names (default `c0`, `c1` …). */
  names?: string[];
}

/** Writes `root/<class>/<i>.png`; returns the class names in sorted (label) order. */
export async function writeSyntheticFolder(root: string, o: SyntheticFolderOptions): Promise<string[]> {
  const size = o.size ?? 40;
  const rng = new Random(o.seed ?? 0);
  const names = o.names ?? Array.from({ length: o.classes }, (_, c) => `c${c}`);
  for (const [c, name] of names.entries()) {
    mkdirSync(join(root, name), { recursive: true });
    // A class: a base colour and a stripe period and direction.
    const base = [(c * 97) % 256, (c * 53 + 80) % 256, (c * 181 + 30) % 256];
    const period = 3 + (c % 4);
    const vertical = c % 2 === 0;
    for (let i = 0; i < o.perClass; i++) {
      const pixels = Buffer.alloc(size * size * 3);
      const phase = rng.int(period);
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          const stripe = Math.floor(((vertical ? x : y) + phase) / period) % 2 === 0 ? 60 : -60;
          for (let ch = 0; ch < 3; ch++) {
            const v = base[ch] + stripe + (rng.uniform() - 0.5) * 40;
            pixels[(y * size + x) * 3 + ch] = Math.max(0, Math.min(255, Math.round(v)));
          }
        }
      }
      await sharp(pixels, { raw: { width: size, height: size, channels: 3 } })
        .png()
        .toFile(join(root, name, `${String(i).padStart(3, "0")}.png`));
    }
  }
  return [...names].sort();
}
