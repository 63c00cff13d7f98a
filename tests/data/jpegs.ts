/**
 * Photo-sized JPEG folders for the data-pipeline tests and bench/data.ts: per class a colour,
 * with smooth gradients, a few soft blobs and fine noise, so the files decode like photographs
 * (a 400×300 one is ~30–60 kB at quality 85) rather than like flat test cards.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { Random } from "../../src/random.js";

export interface JpegFolderOptions {
  classes: number;
  perClass: number;
  width?: number;
  height?: number;
  seed?: number;
}

/** Writes `root/c<k>/<i>.jpg`; returns every path written, class by class. */
export async function writeJpegFolder(root: string, o: JpegFolderOptions): Promise<string[]> {
  const width = o.width ?? 400;
  const height = o.height ?? 300;
  const rng = new Random(o.seed ?? 0);
  const paths: string[] = [];
  for (let c = 0; c < o.classes; c++) {
    mkdirSync(join(root, `c${c}`), { recursive: true });
    const base = [(c * 97 + 40) % 256, (c * 53 + 80) % 256, (c * 181 + 30) % 256];
    for (let i = 0; i < o.perClass; i++) {
      const blobs = Array.from({ length: 4 }, () => ({
        x: rng.uniform() * width,
        y: rng.uniform() * height,
        r: 20 + rng.uniform() * 80,
        d: [rng.uniform(), rng.uniform(), rng.uniform()].map((v) => (v - 0.5) * 200),
      }));
      const gx = (rng.uniform() - 0.5) * 120;
      const gy = (rng.uniform() - 0.5) * 120;
      const pixels = Buffer.alloc(width * height * 3);
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          for (let ch = 0; ch < 3; ch++) {
            let v = base[ch] + (gx * x) / width + (gy * y) / height + (rng.uniform() - 0.5) * 30;
            for (const b of blobs) {
              const d2 = ((x - b.x) ** 2 + (y - b.y) ** 2) / (b.r * b.r);
              if (d2 < 4) v += b.d[ch] * Math.exp(-d2);
            }
            pixels[(y * width + x) * 3 + ch] = Math.max(0, Math.min(255, Math.round(v)));
          }
        }
      }
      const path = join(root, `c${c}`, `${String(i).padStart(4, "0")}.jpg`);
      await sharp(pixels, { raw: { width, height, channels: 3 } })
        .jpeg({ quality: 85 })
        .toFile(path);
      paths.push(path);
    }
  }
  return paths;
}
