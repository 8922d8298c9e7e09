/**
 * CRC-32C and LevelDB's checksum mask (LEVELDB.md §1.3), also TFRecord's. The CRC itself comes from
 * `@node-rs/crc32` (native, about 3 GB/s here, measured on these machines), loaded on the first CRC: discovery
 * imports this module (the TFRecord sniffer checks a length CRC) and loading the addon costs ~9 ms of start-up.
 */
import { createRequire } from 'node:module';

type Crc32Module = typeof import('@node-rs/crc32');
let native: Crc32Module | undefined;
const load = (): Crc32Module => (native ??= createRequire(import.meta.url)('@node-rs/crc32') as Crc32Module);

/** §1.3 `util/crc32c.h` — `kMaskDelta`. */
const MASK_DELTA = 0xa282ead8;
/** §1.3: the mask rotates by 15 bits. */
const MASK_ROTATION = 15;

/** CRC-32C of `data`, optionally continuing from a previous CRC (§1.3 "extendable"). */
export function crc32cOf(data: Uint8Array, previous?: number): number {
  return load().crc32c(data, previous);
}

/** §1.3 `Unmask`: `rotl32(m − kMaskDelta, 15)`. */
export function unmask(masked: number): number {
  const r = (masked - MASK_DELTA) >>> 0;
  return ((r >>> (32 - MASK_ROTATION)) | (r << MASK_ROTATION)) >>> 0;
}

/** §1.3 `Mask`: `rotr32(c, 15) + kMaskDelta`. Used by tests that forge CRC-valid damage. */
export function mask(crc: number): number {
  return ((((crc >>> MASK_ROTATION) | (crc << (32 - MASK_ROTATION))) >>> 0) + MASK_DELTA) >>> 0;
}
