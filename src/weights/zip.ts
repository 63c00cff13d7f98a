/**
 * A zip reader for PyTorch checkpoints that inflates only what is asked for and trusts nothing. Browser-safe.
 * Why not fflate's unzipSync: it inflates every entry (a deflate bomb that is never used still costs its
 * declared size, up to 4 GB per entry), allocates whatever an entry declares, and checks no CRC. Here the
 * central directory is listed first, an entry is read only on demand, its declared size is bounded by what
 * deflate can produce from its compressed bytes (at most 1032:1, RFC 1951's longest match per 2 bits) and
 * all inflated entries together by a sane multiple of the archive's size, and every entry's CRC-32 is
 * checked (torch's own reader does not: a flipped bit in a stored tensor would load silently).
 * Layout: PKWARE APPNOTE 6.3.10, sections 4.3.7 (local header), 4.3.12 (central directory), 4.3.14-16 (zip64).
 */
import { inflateSync } from "fflate";
import { WeightsError } from "../errors.js";

export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflate (the only methods read). */
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

/**
 * Inflated bytes of all deflated entries together, as a multiple of the archive's size (plus 1 MiB).
 * torch.save writes stored entries only; a re-zipped checkpoint of weights deflates by ~1.1:1, so 100:1
 * leaves room for tensors of zeros while a few hundred bytes can no longer claim gigabytes.
 */
export const MAX_INFLATE_RATIO = 100;
const INFLATE_SLACK = 1 << 20;
/** Deflate's best case: a 258-byte match costs at least 2 bits (RFC 1951 3.2.5), so ≤ 1032 bytes out per byte in. */
const DEFLATE_MAX_RATIO = 1032;

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

/** A CRC-32 implementation: ours (portable) or a native one (Node's zlib.crc32, ~5x faster). */
export type Crc32 = (bytes: Uint8Array) => number;

export class ZipArchive {
  readonly entries = new Map<string, ZipEntry>();
  private inflated = 0;
  private readonly view: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly source: string,
    private readonly checksum: Crc32 = crc32,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.readCentralDirectory();
  }

  private fail(what: string): never {
    throw new WeightsError(`${this.source}: ${what}`);
  }

  private corrupt(what: string): never {
    this.fail(`truncated or corrupt zip archive (${what}); the file is ${this.bytes.length} bytes`);
  }

  private u16(at: number): number {
    if (at + 2 > this.bytes.length) this.corrupt(`a record at byte ${at} runs past the end`);
    return this.view.getUint16(at, true);
  }

  private u32(at: number): number {
    if (at + 4 > this.bytes.length) this.corrupt(`a record at byte ${at} runs past the end`);
    return this.view.getUint32(at, true);
  }

  private u64(at: number): number {
    if (at + 8 > this.bytes.length) this.corrupt(`a record at byte ${at} runs past the end`);
    const v = this.view.getBigUint64(at, true);
    // No offset or size inside this archive can exceed its length; anything larger is corrupt.
    return v > BigInt(this.bytes.length) * BigInt(DEFLATE_MAX_RATIO) ? Number.MAX_SAFE_INTEGER : Number(v);
  }

  private readCentralDirectory(): void {
    // The end-of-central-directory record is in the last 22 + 65535 (comment) bytes.
    let eocd = -1;
    for (let at = this.bytes.length - 22; at >= Math.max(0, this.bytes.length - 22 - 0xffff); at--) {
      if (this.view.getUint32(at, true) === EOCD) {
        eocd = at;
        break;
      }
    }
    if (eocd < 0) this.corrupt("no end-of-central-directory record");
    let count = this.u16(eocd + 10);
    let offset = this.u32(eocd + 16);
    if (eocd >= 20 && this.u32(eocd - 20) === ZIP64_LOCATOR) {
      const zip64 = this.u64(eocd - 12);
      if (zip64 + 56 > this.bytes.length || this.u32(zip64) !== ZIP64_EOCD) this.corrupt("bad zip64 end-of-central-directory record");
      count = this.u64(zip64 + 32);
      offset = this.u64(zip64 + 48);
    }
    // Each central record is at least 46 bytes: a count beyond that cannot be honest.
    if (count * 46 > this.bytes.length) this.corrupt(`it declares ${count} entries, more than the file can hold`);
    let at = offset;
    for (let i = 0; i < count; i++) {
      if (this.u32(at) !== CENTRAL) this.corrupt(`central directory entry ${i} at byte ${at} has a bad signature`);
      const method = this.u16(at + 10);
      const crc32 = this.u32(at + 16);
      let compressedSize = this.u32(at + 20);
      let size = this.u32(at + 24);
      const nameLength = this.u16(at + 28);
      const extraLength = this.u16(at + 30);
      const commentLength = this.u16(at + 32);
      let localHeaderOffset = this.u32(at + 42);
      const nameEnd = at + 46 + nameLength;
      if (nameEnd > this.bytes.length) this.corrupt(`central directory entry ${i} runs past the end`);
      const name = new TextDecoder().decode(this.bytes.subarray(at + 46, nameEnd));
      // Zip64 extended information (header 0x0001): the 64-bit values of the fields set to 0xffffffff, in order.
      let extra = nameEnd;
      const extraEnd = nameEnd + extraLength;
      while (extra + 4 <= extraEnd) {
        const id = this.u16(extra);
        const length = this.u16(extra + 2);
        if (id === 1) {
          let field = extra + 4;
          if (size === 0xffffffff) {
            size = this.u64(field);
            field += 8;
          }
          if (compressedSize === 0xffffffff) {
            compressedSize = this.u64(field);
            field += 8;
          }
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = this.u64(field);
        }
        extra += 4 + length;
      }
      if (this.entries.has(name)) this.corrupt(`entry "${name}" appears twice`);
      this.entries.set(name, { name, method, crc32, compressedSize, size, localHeaderOffset });
      at = extraEnd + commentLength;
    }
  }

  /** The bytes of one entry, checked against its size and CRC-32; stored entries are views, not copies. */
  read(name: string): Uint8Array {
    const e = this.entries.get(name);
    if (e === undefined) this.fail(`zip entry "${name}" is missing`);
    const what = `zip entry "${name}"`;
    if (this.u32(e.localHeaderOffset) !== LOCAL) this.corrupt(`${what} has no local header at byte ${e.localHeaderOffset}`);
    const start = e.localHeaderOffset + 30 + this.u16(e.localHeaderOffset + 26) + this.u16(e.localHeaderOffset + 28);
    if (start + e.compressedSize > this.bytes.length) {
      this.corrupt(`${what} needs bytes ${start} to ${start + e.compressedSize}, past the end`);
    }
    const raw = this.bytes.subarray(start, start + e.compressedSize);
    let out: Uint8Array;
    if (e.method === 0) {
      if (e.size !== e.compressedSize) this.corrupt(`${what} is stored, but declares ${e.size} bytes in ${e.compressedSize}`);
      out = raw;
    } else if (e.method === 8) {
      out = this.inflate(e, raw, what);
    } else {
      this.fail(`${what} uses compression method ${e.method}; only stored (0) and deflate (8) are read`);
    }
    const actual = this.checksum(out);
    if (actual !== e.crc32) {
      this.fail(
        `corrupt checkpoint: ${what} fails its CRC-32 check (stored 0x${hex(e.crc32)}, computed 0x${hex(actual)}); ` +
          `the file is damaged`,
      );
    }
    return out;
  }

  private inflate(e: ZipEntry, raw: Uint8Array, what: string): Uint8Array {
    if (e.size > raw.length * DEFLATE_MAX_RATIO + 64) {
      this.fail(`${what} declares ${e.size} bytes inflated from ${raw.length}: more than deflate can produce (a zip bomb?)`);
    }
    const budget = MAX_INFLATE_RATIO * this.bytes.length + INFLATE_SLACK;
    if (this.inflated + e.size > budget) {
      this.fail(
        `${what} would inflate to ${e.size} bytes, bringing the archive's inflated total past ${MAX_INFLATE_RATIO}× its ` +
          `${this.bytes.length} bytes (a zip bomb?)`,
      );
    }
    this.inflated += e.size;
    // With an output buffer given, fflate writes no further than its end: the declared size bounds memory.
    const out = new Uint8Array(e.size);
    let result: Uint8Array;
    try {
      result = inflateSync(raw, { out });
    } catch (err) {
      this.corrupt(`${what} does not inflate: ${(err as Error).message}`);
    }
    if (result.length !== e.size) this.corrupt(`${what} inflates to ${result.length} bytes, it declares ${e.size}`);
    return result;
  }
}

function hex(n: number): string {
  return n.toString(16).padStart(8, "0");
}

/** CRC-32 (ISO 3309, the zip polynomial 0xEDB88320), slicing by 8 for speed on large stored tensors. */
const CRC_TABLES: Uint32Array[] = (() => {
  const tables = Array.from({ length: 8 }, () => new Uint32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    tables[0][n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    for (let t = 1; t < 8; t++) tables[t][n] = (tables[0][tables[t - 1][n] & 0xff] ^ (tables[t - 1][n] >>> 8)) >>> 0;
  }
  return tables;
})();

export function crc32(bytes: Uint8Array): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = CRC_TABLES;
  let c = 0xffffffff;
  let i = 0;
  const n8 = bytes.length - (bytes.length % 8);
  for (; i < n8; i += 8) {
    const a = c ^ (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
    c =
      t7[a & 0xff] ^
      t6[(a >>> 8) & 0xff] ^
      t5[(a >>> 16) & 0xff] ^
      t4[a >>> 24] ^
      t3[bytes[i + 4]] ^
      t2[bytes[i + 5]] ^
      t1[bytes[i + 6]] ^
      t0[bytes[i + 7]];
  }
  for (; i < bytes.length; i++) c = t0[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
