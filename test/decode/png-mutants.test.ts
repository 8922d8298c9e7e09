/**
 * The differential test behind the native PNG fast path: over thousands of mutated PNGs (bit flips, truncations,
 * byte runs, chunk CRC damage, chunk edits with their CRCs fixed so that the parser sees them, IDAT split and
 * merge, recompression with other zlib windows, rewritten filter types, inserted, dropped and swapped chunks),
 * decodeImage() with the addon must classify and decode every file exactly as without it (sharp only): the same
 * kind and reason, the same pixels. The addon only ever says "clean", so a difference would be a file it took
 * that sharp does not decode cleanly to the same pixels.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync, inflateSync } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImage } from '../../src/decode/image.js';
import { loadNativePng } from '../../src/decode/png-native.js';
import { decodeWithSharp, outcome } from '../helpers/png.js';
import { PYTHON } from '../helpers/python.js';

/** Mutants in all: at least 5,000, as the performance issue asks. */
const MUTANTS = 6000;
const OPTIONS = { limitInputPixels: 50e6 };

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Chunk { type: string; data: Buffer }

function parse(b: Buffer): Chunk[] | null {
  const out: Chunk[] = [];
  for (let at = 8; at + 12 <= b.length;) {
    const n = b.readUInt32BE(at);
    if (n > b.length - at - 12) return null;
    out.push({ type: b.toString('latin1', at + 4, at + 8), data: b.subarray(at + 8, at + 8 + n) });
    at += 12 + n;
  }
  return out;
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0);
  return Buffer.concat([head, data, crc]);
}

function serialise(chunks: Chunk[]): Buffer {
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), ...chunks.map((c) => chunk(c.type, c.data))]);
}

/** Sources: PIL and sharp writes of every colour type the addon takes, single and multiple IDATs, stored blocks. */
async function sources(dir: string): Promise<Buffer[]> {
  const script = String.raw`
import sys, numpy as np
from PIL import Image, PngImagePlugin
d = sys.argv[1]
rng = np.random.default_rng(5)
def noisy(h, w, c):
    y, x = np.mgrid[0:h, 0:w]
    return (((x * 3 + y * 2)[..., None] + np.arange(c) * 40 + rng.integers(0, 30, (h, w, c))) & 255).astype(np.uint8)
a = noisy(48, 64, 4)
Image.fromarray(a[..., :3], 'RGB').save(d + '/0.png')
Image.fromarray(a, 'RGBA').save(d + '/1.png', optimize=True)
Image.fromarray(a[..., 0], 'L').save(d + '/2.png', compress_level=0)
Image.fromarray(a[..., :2], 'LA').save(d + '/3.png')
p = Image.fromarray(a[..., :3], 'RGB').quantize(200)
p.save(d + '/4.png', transparency=bytes(range(0, 250, 3)))
info = PngImagePlugin.PngInfo()
info.add_text('Comment', 'x' * 30)
info.add(b'gAMA', (45455).to_bytes(4, 'big'))
p.save(d + '/5.png', pnginfo=info, compress_level=9)
Image.fromarray(noisy(20, 700, 3), 'RGB').save(d + '/6.png')
`;
  const r = spawnSync(PYTHON, ['-c', script, dir], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`PIL sources failed: ${r.stderr}`);
  const out = [0, 1, 2, 3, 4, 5, 6].map((i) => readFileSync(join(dir, `${i}.png`)));
  const px = Buffer.alloc(90 * 70 * 3);
  for (let i = 0; i < px.length; i++) px[i] = (i * 7 + (i >> 5)) & 0xff;
  // sharp (libpng) splits IDAT into 8 KiB chunks.
  out.push(await sharp(px, { raw: { width: 90, height: 70, channels: 3 } }).png({ adaptiveFiltering: true }).toBuffer());
  out.push(await sharp(px, { raw: { width: 90, height: 70, channels: 3 } }).png({ palette: true }).toBuffer());
  out.push(await sharp(px.subarray(0, 90 * 70), { raw: { width: 90, height: 70, channels: 1 } }).toColourspace('b-w').png().toBuffer());
  return out;
}

const ANCILLARY = ['gAMA', 'sRGB', 'cHRM', 'pHYs', 'tEXt', 'zTXt', 'iTXt', 'tIME', 'bKGD', 'sBIT', 'hIST', 'sPLT', 'iCCP', 'eXIf', 'cICP', 'prVt', 'acTL'];
const CRITICAL = ['IHDR', 'PLTE', 'tRNS', 'IDAT', 'IEND', 'ABCD', 'IDAt'];

/** One mutant of `src`; `ops` records what was done, for the failure message. */
function mutate(src: Buffer, next: () => number, ops: string[]): Buffer {
  const int = (n: number): number => Math.floor(next() * n);
  const b = Buffer.from(src);
  const chunks = parse(src)!;
  const idats = (): number[] => chunks.flatMap((c, i) => (c.type === 'IDAT' ? [i] : []));
  const op = int(17);
  ops.push(`op ${op}`);
  switch (op) {
    case 0: { // bit flips anywhere, CRCs left as they are
      for (let i = 1 + int(4); i > 0; i--) b[int(b.length)]! ^= 1 << int(8);
      return b;
    }
    case 1: // truncation
      return b.subarray(0, int(b.length));
    case 2: { // a run of random bytes, or of zeros
      const start = int(b.length);
      const zero = next() < 0.5;
      for (let i = start; i < Math.min(b.length, start + 1 + int(64)); i++) b[i] = zero ? 0 : int(256);
      return b;
    }
    case 3: { // a slice cut out or duplicated
      const start = int(b.length);
      const end = Math.min(b.length, start + 1 + int(256));
      return next() < 0.5 ? Buffer.concat([b.subarray(0, start), b.subarray(end)]) : Buffer.concat([b.subarray(0, end), b.subarray(start)]);
    }
    case 4: { // one chunk's CRC damaged
      const i = int(chunks.length);
      const c = chunks[i]!;
      const out = serialise(chunks);
      let at = 8;
      for (let k = 0; k < i; k++) at += 12 + chunks[k]!.data.length;
      out[at + 8 + c.data.length + int(4)]! ^= 1 << int(8);
      ops.push(`crc of ${c.type}`);
      return out;
    }
    case 5: { // bytes of one chunk's data changed, CRC fixed: the parser and decoders see the damage
      const i = int(chunks.length);
      const c = chunks[i]!;
      if (c.data.length === 0) return serialise(chunks);
      const data = Buffer.from(c.data);
      for (let k = 1 + int(3); k > 0; k--) data[int(data.length)] = next() < 0.5 ? int(256) : data[int(data.length)]! ^ (1 << int(8));
      chunks[i] = { type: c.type, data };
      ops.push(`data of ${c.type}`);
      return serialise(chunks);
    }
    case 6: { // IDAT split at random points: still a valid file
      const all = Buffer.concat(idats().map((i) => chunks[i]!.data));
      const parts: Chunk[] = [];
      for (let at = 0; at < all.length;) {
        const n = next() < 0.1 ? 0 : 1 + int(Math.max(1, all.length / 3));
        parts.push({ type: 'IDAT', data: all.subarray(at, at + n) });
        at += n;
      }
      const first = idats()[0]!;
      ops.push(`split into ${parts.length}`);
      return serialise([...chunks.slice(0, first), ...parts, ...chunks.filter((c, i) => i > first && c.type !== 'IDAT')]);
    }
    case 7: { // IDATs merged into one
      const all = Buffer.concat(idats().map((i) => chunks[i]!.data));
      const first = idats()[0]!;
      return serialise([...chunks.slice(0, first), { type: 'IDAT', data: all }, ...chunks.filter((c, i) => i > first && c.type !== 'IDAT')]);
    }
    case 8: { // recompressed: another level, window (zlib header CINFO) and strategy; sometimes cut or extended
      const first = idats()[0]!;
      const raw = inflateSync(Buffer.concat(idats().map((i) => chunks[i]!.data)));
      const windowBits = 8 + int(8);
      let z = deflateSync(raw, { level: int(10), windowBits, memLevel: 1 + int(9), strategy: int(5) });
      const end = next();
      if (end < 0.1) z = z.subarray(0, z.length - 1 - int(6));
      else if (end < 0.2) z = Buffer.concat([z, Buffer.from([int(256)])]);
      ops.push(`window ${windowBits} end ${end.toFixed(2)}`);
      return serialise([...chunks.slice(0, first), { type: 'IDAT', data: z }, ...chunks.filter((c, i) => i > first && c.type !== 'IDAT')]);
    }
    case 9: { // filter types rewritten (to another valid one, or to an invalid one), recompressed
      const ihdr = chunks[0]!.data;
      const channels = [1, 0, 3, 1, 2, 0, 4][ihdr[9]!] ?? 1;
      const stride = ihdr.readUInt32BE(0) * channels * (ihdr[8]! / 8) + 1;
      const first = idats()[0]!;
      const raw = Buffer.from(inflateSync(Buffer.concat(idats().map((i) => chunks[i]!.data))));
      for (let k = 1 + int(8); k > 0; k--) raw[int(raw.length / stride) * stride] = next() < 0.9 ? int(5) : 5 + int(251);
      return serialise([...chunks.slice(0, first), { type: 'IDAT', data: deflateSync(raw) }, ...chunks.filter((c, i) => i > first && c.type !== 'IDAT')]);
    }
    case 10: { // a chunk inserted (known, unknown, critical or not; plausible or random contents)
      const type = next() < 0.7 ? ANCILLARY[int(ANCILLARY.length)]! : CRITICAL[int(CRITICAL.length)]!;
      const data = Buffer.alloc(int(3) === 0 ? int(40) : [0, 1, 4, 6, 7, 9, 13, 32][int(8)]!);
      for (let i = 0; i < data.length; i++) data[i] = next() < 0.5 ? 0 : int(256);
      const at = 1 + int(chunks.length - 1);
      ops.push(`insert ${type}[${data.length}] at ${at}`);
      chunks.splice(at, 0, { type, data });
      return serialise(chunks);
    }
    case 11: { // a chunk dropped
      const i = int(chunks.length);
      ops.push(`drop ${chunks[i]!.type}`);
      chunks.splice(i, 1);
      return serialise(chunks);
    }
    case 12: { // two neighbouring chunks swapped
      const i = int(chunks.length - 1);
      ops.push(`swap ${chunks[i]!.type} ${chunks[i + 1]!.type}`);
      [chunks[i], chunks[i + 1]] = [chunks[i + 1]!, chunks[i]!];
      return serialise(chunks);
    }
    case 13: { // an IHDR field changed (size, depth, colour type, methods), CRC fixed
      const ihdr = Buffer.from(chunks[0]!.data);
      const field = int(7);
      if (field < 2) ihdr.writeUInt32BE(Math.max(0, ihdr.readUInt32BE(field * 4) + [-1, 1, -3, 5, 1 << 20, 1 << 31][int(6)]!) >>> 0, field * 4);
      else ihdr[6 + field] = next() < 0.7 ? [0, 1, 2, 3, 4, 6, 8, 16][int(8)]! : int(256);
      chunks[0] = { type: 'IHDR', data: ihdr };
      ops.push(`IHDR field ${field}`);
      return serialise(chunks);
    }
    case 14: { // bytes after IEND, or a second IEND
      return Buffer.concat([b, next() < 0.5 ? Buffer.from([0, 0, 0, 0]) : chunk('IEND', Buffer.alloc(0))]);
    }
    case 15: { // the zlib header's window size (CINFO) changed, its check bits fixed: libdeflate ignores the
      // window, libpng inflates with it, so matches reaching further back fail only there
      const first = idats()[0]!;
      const z = Buffer.concat(idats().map((i) => chunks[i]!.data));
      if (z.length < 2) return b;
      const cinfo = int(8);
      z[0] = (cinfo << 4) | 8;
      z[1] = z[1]! & 0xc0;
      z[1] = z[1]! + (31 - ((z[0] * 256 + z[1]!) % 31)) % 31;
      ops.push(`CINFO ${cinfo}`);
      return serialise([...chunks.slice(0, first), { type: 'IDAT', data: z }, ...chunks.filter((c, i) => i > first && c.type !== 'IDAT')]);
    }
    default: { // PLTE or tRNS resized, around each other's size and the indices used; CRC fixed
      const p = chunks.findIndex((c) => c.type === 'PLTE');
      const t = chunks.findIndex((c) => c.type === 'tRNS');
      if (p < 0) return serialise(chunks);
      const entries = chunks[p]!.data.length / 3;
      const alphas = t < 0 ? 0 : chunks[t]!.data.length;
      const resizeTrns = t >= 0 && next() < 0.5;
      const i = resizeTrns ? t : p;
      const n = resizeTrns
        ? Math.max(0, [entries - 1, entries, entries + 1, entries + 2, 0, 256, 257][int(7)]!)
        : 3 * Math.max(0, [alphas - 1, alphas, alphas + 1, entries - 1, entries - 20, 256, 257][int(7)]!) + (next() < 0.1 ? 1 : 0);
      const data = Buffer.alloc(n);
      chunks[i]!.data.copy(data, 0, 0, Math.min(n, chunks[i]!.data.length));
      ops.push(`${chunks[i]!.type} to ${n} bytes`);
      chunks[i] = { type: chunks[i]!.type, data };
      return serialise(chunks);
    }
  }
}

let dir: string;
let srcs: Buffer[];
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'nanscan-png-mutants-'));
  srcs = await sources(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const native = loadNativePng();

describe('native PNG fast path on damaged PNGs', () => {
  it(`classifies ${MUTANTS} mutated PNGs exactly as sharp alone`, async () => {
    expect(native).not.toBeNull();
    const next = rng(20261205);
    const statuses: Record<string, number> = {};
    const kinds: Record<string, number> = {};
    const differences: string[] = [];
    const arena = new Uint8Array(16384);
    for (let i = 0; i < MUTANTS; i++) {
      const ops: string[] = [];
      const buf = mutate(srcs[i % srcs.length]!, next, ops);
      const r = native!.decode(buf, OPTIONS.limitInputPixels);
      const status = r.status;
      if (r.status === 'ok') {
        // Decoded into a caller's buffer (inflated in place when the filtered rows fit), the same pixels.
        const into = native!.decode(buf, OPTIONS.limitInputPixels, arena);
        if (into.status !== 'ok' || !Buffer.from(into.pixels).equals(Buffer.from(r.pixels))) differences.push(`mutant ${i}: decoded into a buffer, other pixels`);
      }
      statuses[status] = (statuses[status] ?? 0) + 1;
      const withNative = outcome(await decodeImage(buf, OPTIONS));
      const withSharp = outcome(await decodeWithSharp(buf));
      kinds[withSharp.replace(/[:\s].*/s, '')] = (kinds[withSharp.replace(/[:\s].*/s, '')] ?? 0) + 1;
      if (withNative !== withSharp) differences.push(`mutant ${i} of source ${i % srcs.length} (${ops.join(', ')}; native ${status}): ${withNative} / sharp ${withSharp}`);
    }
    expect(differences).toEqual([]);
    // The mutants exercise every outcome, or the comparison proves little: many files the addon takes (valid
    // rewrites: split, merged, recompressed, refiltered, harmless chunks added), and every kind of damage.
    expect(statuses.ok).toBeGreaterThan(MUTANTS / 5);
    expect(statuses.invalid).toBeGreaterThan(MUTANTS / 5);
    expect(statuses.unsupported).toBeGreaterThan(MUTANTS / 100);
    expect(statuses.oversized).toBeGreaterThan(0);
    for (const kind of ['ok', 'corrupt_image', 'truncated_image']) expect(kinds[kind], kind).toBeGreaterThan(MUTANTS / 100);
    expect(kinds.oversized_image).toBeGreaterThan(10);
  }, 600_000);
});
