/**
 * The BMP decoder against Pillow (the loader torchvision opens files with): every variant Pillow reads decodes
 * to Pillow's pixels, and every damaged file Pillow refuses is refused, truncated or corrupt as it should be.
 * Files PIL cannot write (RLE, 4-bit, bit fields, top-down, V5) are built byte by byte in Python.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM_PYTHON } from '../../scripts/lib/caffe.js';
import { decodeBmp } from '../../src/decode/bmp.js';
import { decodeImage, sniffImage } from '../../src/decode/image.js';

const GEN = String.raw`
import json, os, struct, sys
import numpy as np
from PIL import Image
os.chdir(sys.argv[1])
rng = np.random.default_rng(5)
def bmp(w, h, bpp, comp, pixels, palette=(), masks=None, hdr=40, topdown=False):
    pal = b''.join(bytes([b, g, r, 0]) for (r, g, b) in palette)
    extra = b''.join(struct.pack('<I', m) for m in masks) if hdr == 40 and comp == 3 else b''
    info = struct.pack('<IiiHHIIiiII', hdr, w, -h if topdown else h, 1, bpp, comp, len(pixels), 2835, 2835, len(palette), 0)
    if hdr > 40:
        info += struct.pack('<IIII', *(masks or [0, 0, 0, 0])) + b'sRGB' + bytes(48)
        info = (info + bytes(16))[:hdr]
    off = 14 + len(info) + len(extra) + len(pal)
    return b'BM' + struct.pack('<IHHI', off + len(pixels), 0, 0, off) + info + extra + pal + pixels
def pad(b): return b + bytes((-len(b)) % 4)
w, h = 8, 5
pal16 = [(i * 16, 255 - i * 16, (i * 37) % 256) for i in range(16)]
pal256 = [(i, (i * 3) % 256, (i * 7) % 256) for i in range(256)]
idx4 = [[(x + 2 * y) % 16 for x in range(w)] for y in range(h)]
idx8 = [[(x * 11 + y * 29) % 256 for x in range(w)] for y in range(h)]
files = {}
# PIL-written variants.
im = Image.fromarray(rng.integers(0, 256, (13, 17, 3), dtype=np.uint8), 'RGB')
for name, src in [('rgb24', im), ('l8', im.convert('L')), ('p8', im.convert('P')), ('b1', im.convert('1')),
                  ('rgbx32', Image.fromarray(rng.integers(0, 256, (13, 17, 4), dtype=np.uint8), 'RGBA'))]:
    src.save(name + '.bmp')
# Hand-built variants.
rows4 = [pad(bytes((r[i] << 4) | r[i + 1] for i in range(0, w, 2))) for r in idx4]
files['p4'] = bmp(w, h, 4, 0, b''.join(reversed(rows4)), pal16)
files['p8-topdown'] = bmp(w, h, 8, 0, b''.join(pad(bytes(r)) for r in idx8), pal256, topdown=True)
def rle8(rows):
    out = b''
    for r in rows:
        out += bytes([3, r[0]]) + bytes([0, w - 3]) + bytes(r[3:]) + bytes(len(r[3:]) % 2) + b'\0\0'
    return out + b'\0\1'
rle_rows = [[r[0]] * 3 + r[3:] for r in idx8]
files['rle8'] = bmp(w, h, 8, 1, rle8(list(reversed(rle_rows))), pal256)
def rle4(rows):
    out = b''
    for r in rows:
        data = bytes((r[i] << 4) | r[i + 1] for i in range(0, w, 2))
        out += bytes([0, w]) + data + bytes(len(data) % 2) + b'\0\0'
    return out + b'\0\1'
files['rle4'] = bmp(w, h, 4, 2, rle4(list(reversed(idx4))), pal16)
px16 = rng.integers(0, 65536, (h, w), dtype=np.uint16)
files['bf565'] = bmp(w, h, 16, 3, b''.join(pad(r.astype('<u2').tobytes()) for r in reversed(px16)), masks=[0xf800, 0x07e0, 0x001f])
files['rgb555'] = bmp(w, h, 16, 0, b''.join(pad(r.astype('<u2').tobytes()) for r in reversed(px16)))
px32 = rng.integers(0, 2**32, (h, w), dtype=np.uint32)
files['bf32-v5'] = bmp(w, h, 32, 3, b''.join(r.astype('<u4').tobytes() for r in reversed(px32)), masks=[0xff0000, 0xff00, 0xff, 0xff000000], hdr=124)
files['bf32'] = bmp(w, h, 32, 3, b''.join(r.astype('<u4').tobytes() for r in reversed(px32)), masks=[0xff0000, 0xff00, 0xff])
for k, v in files.items():
    open(k + '.bmp', 'wb').write(v)
# Damaged: (name, source, bytes) and the kind nanscan must report.
damaged = {}
def dmg(name, data, kind):
    open(name + '.bmp', 'wb').write(data); damaged[name] = kind
rgb = open('rgb24.bmp', 'rb').read()
dmg('rgb24-cut', rgb[:len(rgb) * 2 // 3], 'truncated_image')
dmg('rgb24-last-pixel-cut', rgb[:-2], 'truncated_image')   # 17 px: 51 bytes a row and 1 of padding
open('rgb24-no-last-pad.bmp', 'wb').write(rgb[:-1])         # only the last row's padding: Pillow reads it
dmg('header-cut', rgb[:40], 'truncated_image')
dmg('p4-one-short', files['p4'][:-1], 'truncated_image')
dmg('p8-palette-cut', open('p8.bmp', 'rb').read()[:300], 'truncated_image')
dmg('rle8-cut', files['rle8'][:-20], 'truncated_image')
dmg('rle4-cut', files['rle4'][:-12], 'truncated_image')
dmg('bf565-cut', files['bf565'][:-9], 'truncated_image')
dmg('rle8-overrun', bmp(w, h, 8, 1, bytes([50, 1]) + b'\0\0' * h + b'\0\1', pal256), 'corrupt_image')
dmg('rle8-delta-out', bmp(w, h, 8, 1, bytes([0, 2, 200, 200]) + b'\0\1', pal256), 'corrupt_image')
dmg('rle8-early-end', bmp(w, h, 8, 1, bytes([w, 1]) + b'\0\0' + b'\0\1', pal256), 'corrupt_image')
dmg('bpp7', bmp(w, h, 7, 0, bytes(100)), 'corrupt_image')
dmg('zero-width', bmp(0, h, 24, 0, b''), 'corrupt_image')
bad = bytearray(files['p4']); bad[14] = 33
dmg('header-size', bytes(bad), 'corrupt_image')
# Pillow's verdicts: pixels of what it reads, the error of what it refuses.
out = {'valid': {}, 'damaged': damaged, 'pil_refuses': []}
for f in sorted(os.listdir('.')):
    name = f[:-4]
    try:
        im = Image.open(f); im.load()
    except Exception:
        out['pil_refuses'].append(name)
        continue
    pal = im.getpalette() if im.mode == 'P' else None
    grey = im.mode in ('L', '1') or (pal is not None and all(pal[i] == pal[i + 1] == pal[i + 2] for i in range(0, len(pal), 3)))
    mode = 'L' if grey else 'RGBA' if im.mode == 'RGBA' else 'RGB'
    out['valid'][name] = {'mode': mode, 'w': im.size[0], 'h': im.size[1], 'px': np.asarray(im.convert(mode)).ravel().tolist()}
json.dump(out, sys.stdout)
`;

let dir: string;
let pil: {
  valid: Record<string, { mode: string; w: number; h: number; px: number[] }>;
  damaged: Record<string, 'truncated_image' | 'corrupt_image'>;
  pil_refuses: string[];
};

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'nanscan-bmp-'));
  const r = spawnSync(SYSTEM_PYTHON, ['-c', GEN, dir], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(r.stderr);
  pil = JSON.parse(r.stdout) as typeof pil;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const read = (name: string): Uint8Array => readFileSync(path.join(dir, `${name}.bmp`));

describe('BMP decoder', () => {
  it('reads every variant Pillow reads, to Pillow\'s pixels', () => {
    const names = Object.keys(pil.valid);
    expect(names.sort()).toEqual(['b1', 'bf32', 'bf32-v5', 'bf565', 'l8', 'p4', 'p8', 'p8-topdown', 'rgb24', 'rgb24-no-last-pad', 'rgb555', 'rgbx32', 'rle4', 'rle8']);
    for (const name of names) {
      const want = pil.valid[name]!;
      const r = decodeBmp(read(name), 50_000_000);
      expect(r.ok, name).toBe(true);
      if (!r.ok) continue;
      expect([r.width, r.height, r.channels], name).toEqual([want.w, want.h, { L: 1, RGB: 3, RGBA: 4 }[want.mode]]);
      expect(r.warning, name).toBeUndefined();
      // 5- and 6-bit channels are scaled by rounding where Pillow replicates bits: at most 1 apart.
      const tolerance = name === 'bf565' || name === 'rgb555' ? 1 : 0;
      let worst = 0;
      for (let i = 0; i < want.px.length; i++) worst = Math.max(worst, Math.abs(r.pixels[i]! - want.px[i]!));
      expect(worst, name).toBeLessThanOrEqual(tolerance);
    }
  });

  it('refuses every damaged file Pillow refuses, as truncated or corrupt', () => {
    for (const [name, kind] of Object.entries(pil.damaged)) {
      expect(pil.pil_refuses, name).toContain(name);
      const r = decodeBmp(read(name), 50_000_000);
      expect(r.ok ? 'ok' : r.kind, name).toBe(kind);
    }
  });

  it('reports a decompression bomb from its header without allocating it', () => {
    const b = Buffer.from(read('rgb24'));
    b.writeInt32LE(30_000, 18);
    b.writeInt32LE(30_000, 22);
    const r = decodeBmp(b, 50_000_000);
    expect(r.ok ? 'ok' : r.kind).toBe('oversized_image');
  });

  it('goes through decodeImage: a valid BMP is an image, a cut one is truncated, never an unsupported format', async () => {
    expect(sniffImage(read('rgb24'))).toBe('bmp');
    const ok = await decodeImage(read('rle8'), { limitInputPixels: 50_000_000 });
    expect(ok.ok && ok.format).toBe('bmp');
    const cut = await decodeImage(read('rgb24-cut'), { limitInputPixels: 50_000_000 });
    expect(cut.ok ? 'ok' : cut.kind).toBe('truncated_image');
  });

  it('calls an embedded-JPEG BMP unsupported, not corrupt', async () => {
    const b = Buffer.from(read('rgb24'));
    b.writeUInt32LE(4, 30); // BI_JPEG
    const r = await decodeImage(b, { limitInputPixels: 50_000_000 });
    expect(r.ok ? 'ok' : r.kind).toBe('unsupported');
  });
});
