/**
 * A strict BMP decoder. The prebuilt sharp (libvips without ImageMagick) does not read BMP, and of the npm
 * decoders measured (bmp-ts, decode-bmp, fast-bmp, bmpimagejs, @cwasm/nsbmp) none both reads every variant PIL
 * reads and refuses damaged files: bmp-ts decodes a file cut one byte short and RLE runs past the image,
 * decode-bmp passes truncated RLE data and fails valid top-down and 16-bit files, the others refuse valid RLE.
 *
 * What it reads: BITMAPCOREHEADER (OS/2 1.x) and BITMAPINFOHEADER to V5; 1/4/8-bit palettes, 16/24/32-bit;
 * BI_RGB, BI_RLE8, BI_RLE4, BI_BITFIELDS and BI_ALPHABITFIELDS; bottom-up and top-down. Pillow is the oracle
 * (it is what torchvision's loader opens files with), and the rules follow it: pixel data shorter than
 * height × stride (less the last row's padding, which Pillow does not need), or RLE data that ends before the image is filled, is truncated; an RLE run or delta
 * that leaves the image, an end-of-bitmap before the last row, an unknown compression or bit depth, or a
 * palette larger than the bit depth allows is corrupt. Embedded JPEG/PNG (BI_JPEG, BI_PNG) is a valid BMP
 * that no decoder here reads: unsupported, not corrupt.
 *
 * Output: interleaved 8-bit pixels, 1 channel for a palette of greys (Pillow's mode L), 3 for colour, 4 when
 * bit fields declare an alpha mask (Pillow's RGBA). A palette index beyond the palette decodes as black, as
 * in Pillow, with a warning.
 */

export type BmpResult =
  | { ok: true; width: number; height: number; channels: number; pixels: Uint8Array; warning?: string }
  | { ok: false; kind: 'truncated_image' | 'corrupt_image' | 'oversized_image' | 'unsupported'; reason: string };

const BI_RGB = 0;
const BI_RLE8 = 1;
const BI_RLE4 = 2;
const BI_BITFIELDS = 3;
const BI_JPEG = 4;
const BI_PNG = 5;
const BI_ALPHABITFIELDS = 6;

/** Header sizes Pillow accepts: OS/2 1.x core, INFO, the Adobe V2/V3 extensions, OS/2 2.x, V4, V5. */
const HEADER_SIZES = new Set([12, 40, 52, 56, 64, 108, 124]);

const fail = (kind: 'truncated_image' | 'corrupt_image' | 'oversized_image' | 'unsupported', reason: string): BmpResult => ({ ok: false, kind, reason });

/** Dimensions a BMP declares (for the pixel limit), or null when its header is not there. */
export function bmpSize(b: Uint8Array): { width: number; height: number } | null {
  if (b.length < 26) return null;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const hs = v.getUint32(14, true);
  if (hs === 12) return { width: v.getUint16(18, true), height: v.getUint16(20, true) };
  return { width: Math.abs(v.getInt32(18, true)), height: Math.abs(v.getInt32(22, true)) };
}

export function decodeBmp(b: Uint8Array, limitInputPixels: number): BmpResult {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length < 18) return fail('truncated_image', `BMP is truncated: ${b.length} bytes, shorter than its file header`);
  const dataOffset = v.getUint32(10, true);
  const hs = v.getUint32(14, true);
  if (!HEADER_SIZES.has(hs)) return fail('corrupt_image', `BMP header size ${hs} is not one of a BMP's (12, 40, 52, 56, 64, 108, 124)`);
  if (b.length < 14 + hs) return fail('truncated_image', `BMP is truncated: ${b.length} bytes, shorter than its ${hs}-byte info header`);
  let width: number;
  let rawHeight: number;
  let bpp: number;
  let compression = BI_RGB;
  let colorsUsed = 0;
  if (hs === 12) {
    width = v.getUint16(18, true);
    rawHeight = v.getInt16(20, true);
    bpp = v.getUint16(24, true);
  } else {
    width = v.getInt32(18, true);
    rawHeight = v.getInt32(22, true);
    bpp = v.getUint16(28, true);
    compression = v.getUint32(30, true);
    colorsUsed = v.getUint32(46, true);
  }
  const topDown = rawHeight < 0;
  const height = Math.abs(rawHeight);
  if (width <= 0 || height === 0) return fail('corrupt_image', `BMP declares ${width}×${rawHeight} pixels`);
  if (width * height > limitInputPixels) {
    return fail('oversized_image', `declares ${width}×${height} = ${width * height} pixels, above the limit of ${limitInputPixels} pixels; not decoded`);
  }
  if (compression === BI_JPEG || compression === BI_PNG) {
    return fail('unsupported', `BMP with embedded ${compression === BI_JPEG ? 'JPEG' : 'PNG'} data (compression ${compression})`);
  }
  if (![BI_RGB, BI_RLE8, BI_RLE4, BI_BITFIELDS, BI_ALPHABITFIELDS].includes(compression)) {
    return fail('corrupt_image', `BMP compression ${compression} is not a BMP compression`);
  }
  if (![1, 4, 8, 16, 24, 32].includes(bpp)) return fail('corrupt_image', `BMP bit depth ${bpp} is not supported (1, 4, 8, 16, 24, 32)`);
  if ((compression === BI_RLE8 && bpp !== 8) || (compression === BI_RLE4 && bpp !== 4) ||
      ((compression === BI_BITFIELDS || compression === BI_ALPHABITFIELDS) && bpp !== 16 && bpp !== 32)) {
    return fail('corrupt_image', `BMP compression ${compression} does not go with ${bpp} bits per pixel`);
  }
  if ((compression === BI_RLE8 || compression === BI_RLE4) && topDown) {
    return fail('corrupt_image', 'BMP is top-down and RLE-compressed, which the format does not allow');
  }

  // Bit masks: in the header from V2 (52 bytes) on, else right after a 40-byte header.
  let masks: number[] | null = null;
  let after = 14 + hs;
  if (compression === BI_BITFIELDS || compression === BI_ALPHABITFIELDS) {
    const n = compression === BI_ALPHABITFIELDS ? 4 : 3;
    if (hs >= 52) {
      masks = [v.getUint32(54, true), v.getUint32(58, true), v.getUint32(62, true), hs >= 56 ? v.getUint32(66, true) : 0];
    } else {
      if (b.length < after + 4 * n) return fail('truncated_image', 'BMP is truncated inside its colour masks');
      masks = [v.getUint32(after, true), v.getUint32(after + 4, true), v.getUint32(after + 8, true), n === 4 ? v.getUint32(after + 12, true) : 0];
      after += 4 * n;
    }
    for (const m of masks.slice(0, 3)) {
      if (m === 0 || !contiguous(m)) return fail('corrupt_image', `BMP colour mask 0x${m.toString(16)} is empty or not contiguous`);
    }
    if (masks[3] !== 0 && !contiguous(masks[3]!)) masks[3] = 0;
  } else if (bpp === 16) {
    masks = [0x7c00, 0x03e0, 0x001f, 0];
  }

  // Palette: 4 bytes an entry (3 in the OS/2 1.x core header).
  let palette: Uint8Array | null = null;
  let grey = false;
  if (bpp <= 8) {
    const max = 1 << bpp;
    const colors = colorsUsed === 0 ? max : colorsUsed;
    if (colors > max) return fail('corrupt_image', `BMP palette of ${colors} colours is larger than ${bpp} bits can index`);
    const entry = hs === 12 ? 3 : 4;
    if (b.length < after + colors * entry) return fail('truncated_image', 'BMP is truncated inside its palette');
    palette = new Uint8Array(colors * 3);
    grey = true;
    for (let i = 0; i < colors; i++) {
      const at = after + i * entry;
      const bl = b[at]!; const g = b[at + 1]!; const r = b[at + 2]!;
      palette[i * 3] = r; palette[i * 3 + 1] = g; palette[i * 3 + 2] = bl;
      if (r !== g || g !== bl) grey = false;
    }
  }
  if (dataOffset > b.length) return fail('truncated_image', `BMP is truncated: its pixel data starts at byte ${dataOffset} of ${b.length}`);

  const rle = compression === BI_RLE8 || compression === BI_RLE4;
  const stride = Math.floor((bpp * width + 31) / 32) * 4;
  // The last row's padding may be missing, as Pillow allows: its pixels are all there.
  const need = stride * (height - 1) + Math.ceil((bpp * width) / 8);
  // Checked before the pixels are allocated: a few bytes declaring 7000×7000 must not cost 196 MB.
  if (!rle && dataOffset + need > b.length) {
    return fail('truncated_image', `BMP is truncated: ${height} rows of ${stride} bytes need ${need} bytes from byte ${dataOffset}, the file has ${b.length - dataOffset}`);
  }
  const channels = palette !== null ? (grey ? 1 : 3) : masks !== null && masks[3] !== 0 ? 4 : 3;
  const out = new Uint8Array(width * height * channels);
  let badIndex = 0;
  // Rows are stored bottom-up unless the height is negative; `row` is the stored row number.
  const rowStart = (row: number): number => (topDown ? row : height - 1 - row) * width * channels;
  const putIndex = (o: number, idx: number): void => {
    if (palette === null) return;
    if (idx * 3 >= palette.length) { badIndex++; return; } // black: `out` starts zeroed
    if (channels === 1) out[o] = palette[idx * 3]!;
    else { out[o] = palette[idx * 3]!; out[o + 1] = palette[idx * 3 + 1]!; out[o + 2] = palette[idx * 3 + 2]!; }
  };

  if (rle) {
    const r = decodeRle(b, dataOffset, width, height, compression === BI_RLE4, (x, row, idx) => putIndex(rowStart(row) + x * channels, idx));
    if (r !== null) return r;
  } else {
    const shifts = masks?.map(maskShift) ?? [];
    const scales = masks?.map(maskScale) ?? [];
    for (let row = 0; row < height; row++) {
      const src = dataOffset + row * stride;
      let o = rowStart(row);
      if (bpp <= 8) {
        const perByte = 8 / bpp;
        const m = (1 << bpp) - 1;
        for (let x = 0; x < width; x++) {
          const byte = b[src + Math.floor(x / perByte)]!;
          const shift = 8 - bpp * (1 + (x % perByte));
          putIndex(o, (byte >> shift) & m);
          o += channels;
        }
      } else if (bpp === 24 || (bpp === 32 && masks === null)) {
        const step = bpp / 8;
        for (let x = 0, s = src; x < width; x++, s += step, o += 3) {
          out[o] = b[s + 2]!; out[o + 1] = b[s + 1]!; out[o + 2] = b[s]!;
        }
      } else {
        for (let x = 0; x < width; x++, o += channels) {
          const px = bpp === 16 ? v.getUint16(src + 2 * x, true) : v.getUint32(src + 4 * x, true);
          for (let c = 0; c < channels; c++) {
            const m = masks![c]!;
            out[o + c] = Math.round((((px & m) >>> 0) >>> shifts[c]!) * scales[c]!);
          }
        }
      }
    }
  }
  const ok: BmpResult = { ok: true, width, height, channels, pixels: out };
  if (badIndex > 0) {
    ok.warning = `BMP decodes only by tolerating ${badIndex} palette ${badIndex === 1 ? 'index' : 'indexes'} beyond its ${palette!.length / 3}-colour palette`;
  }
  return ok;
}

/**
 * Decodes RLE8/RLE4 data into `put(x, storedRow, index)`. Returns null when every pixel was written by the
 * data (an end-of-bitmap marker is then optional, as in Pillow), else the finding.
 */
function decodeRle(
  b: Uint8Array, start: number, width: number, height: number, four: boolean,
  put: (x: number, row: number, idx: number) => void,
): BmpResult | null {
  let i = start;
  let x = 0;
  let row = 0;
  const cut = (): BmpResult => fail('truncated_image', `BMP is truncated: its RLE data ends at row ${row + 1} of ${height}, before the end-of-bitmap marker`);
  const overrun = (what: string): BmpResult => fail('corrupt_image', `BMP RLE data is damaged: ${what} at row ${row + 1} leaves the ${width}×${height} image`);
  for (;;) {
    if (row >= height) return null;
    if (i + 2 > b.length) return cut();
    const n = b[i]!;
    const c = b[i + 1]!;
    i += 2;
    if (n > 0) {
      // Encoded run: n pixels of one index (RLE4: two alternating indexes).
      if (x + n > width) return overrun(`a run of ${n} pixels from column ${x + 1}`);
      for (let k = 0; k < n; k++) put(x + k, row, four ? (k % 2 === 0 ? c >> 4 : c & 15) : c);
      x += n;
    } else if (c === 0) {
      x = 0; row++; // end of line
    } else if (c === 1) {
      if (row < height - 1 || x < width) {
        return fail('corrupt_image', `BMP RLE data ends the bitmap at row ${row + 1} of ${height}, leaving pixels undefined`);
      }
      return null;
    } else if (c === 2) {
      if (i + 2 > b.length) return cut();
      const dx = b[i]!;
      const dy = b[i + 1]!;
      i += 2;
      if (x + dx > width || row + dy >= height) return overrun(`a move of (${dx}, ${dy})`);
      x += dx; row += dy;
    } else {
      // Absolute run: c literal pixels, padded to a 16-bit boundary.
      const bytes = four ? Math.ceil(c / 2) : c;
      if (x + c > width) return overrun(`a literal run of ${c} pixels from column ${x + 1}`);
      if (i + bytes > b.length) return cut();
      for (let k = 0; k < c; k++) put(x + k, row, four ? (k % 2 === 0 ? b[i + (k >> 1)]! >> 4 : b[i + (k >> 1)]! & 15) : b[i + k]!);
      x += c;
      i += bytes + (bytes % 2);
    }
    if (x === width && row === height - 1 && i >= b.length) return null;
  }
}

function contiguous(m: number): boolean {
  const shifted = m >>> maskShift(m);
  return (shifted & (shifted + 1)) === 0;
}

function maskShift(m: number): number {
  if (m === 0) return 0;
  let s = 0;
  while (((m >>> s) & 1) === 0) s++;
  return s;
}

/** Scale from a mask's width to 0..255. */
function maskScale(m: number): number {
  if (m === 0) return 0;
  const max = (m >>> 0) >>> maskShift(m);
  return 255 / max;
}
