/**
 * Cheap TFRecord recognition for discovery (no reader loaded): by name, and for a file the user named, by its
 * first record's length CRC. Also how a file is compressed (TFRecordOptions compression_type).
 */
import { closeSync, openSync, readdirSync, readSync } from 'node:fs';
import { unmask } from '../leveldb/crc32c.js';
import { OPEN_FLAGS } from '../files.js';
import { crc32c8, HEADER_BYTES } from './framing.js';

/**
 * Names TFRecord files go by: `.tfrecord`, `.tfrecords`, `.tfrec`, shards `x.tfrecord-00000-of-00010`, and the
 * same compressed (`.gz`, `.gzip`, `.zlib`, `.zz`).
 */
export const TFRECORD_NAME = /\.(tfrecords?|tfrec)(-\d+-of-\d+)?(\.(gz|gzip|zlib|zz))?$/i;

export type Codec = 'none' | 'gzip' | 'zlib';

/** Whether 12 bytes at `at` are a TFRecord header whose length CRC verifies. */
export function isFrameHeader(b: Uint8Array, at = 0): boolean {
  return b.length - at >= HEADER_BYTES && unmask(Buffer.from(b.buffer, b.byteOffset, b.byteLength).readUInt32LE(at + 8)) === crc32c8(b, at);
}

/**
 * How the stream is compressed, from its first bytes. A verified header wins: an uncompressed file whose first
 * length is 0x8b1f or 0x0178 starts with the gzip or a zlib magic. Anything else that is neither is taken as
 * uncompressed (its damage is then reported by the framing).
 */
export function codecOf(head: Uint8Array): Codec {
  if (head.length === 0 || isFrameHeader(head)) return 'none';
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  // RFC 1950: CM = 8 (deflate), CINFO <= 7, and (CMF * 256 + FLG) a multiple of 31.
  if (head.length >= 2 && (head[0]! & 0x0f) === 8 && head[0]! >> 4 <= 7 && ((head[0]! << 8) | head[1]!) % 31 === 0) return 'zlib';
  return 'none';
}

/** The first bytes of a file (empty when unreadable). */
export function headOf(file: string, n = HEADER_BYTES): Uint8Array {
  try {
    const fd = openSync(file, OPEN_FLAGS);
    try {
      const b = Buffer.alloc(n);
      return b.subarray(0, readSync(fd, b, 0, n, 0));
    } finally {
      closeSync(fd);
    }
  } catch {
    return new Uint8Array(0);
  }
}

/** A file named otherwise that starts with a verified TFRecord header (checked only for files the user named). */
export function isTfrecordFile(file: string): boolean {
  return isFrameHeader(headOf(file));
}

/** The TFRecord files directly in a folder, sorted by name (bytewise, as shard numbers sort). */
export function tfrecordFilesIn(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => !e.isDirectory() && TFRECORD_NAME.test(e.name))
    .map((e) => e.name)
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}
