/**
 * Gzipped shards (`.tar.gz`, `.tgz`), decompressed as a stream, member by member (RFC 1952): our code reads each
 * member's header and trailer, zlib's raw inflate the deflate data between them. Node's gunzip stream is not used
 * because an error at the end of the input (bytes after the last member, which Python's tarfile never reads since
 * the tar ends first) makes it drop the output it had not yet delivered, so a shard WebDataset reads in full would
 * read as empty. Each member's CRC-32 and length are checked against its trailer.
 *
 * Output is consumed as it comes (memory stays bounded whatever a member inflates to); time is bounded by
 * deflate's maximum ratio (~1032:1) over the compressed size.
 */
import { readSync } from 'node:fs';
import { pipeline, Readable } from 'node:stream';
import { createInflateRaw } from 'node:zlib';
import { crc32 } from '@node-rs/crc32';

/** Compressed bytes read at a time. */
const CHUNK = 256 * 1024;
/** A gzip header longer than this (its file name and comment fields) is damage. */
const MAX_HEADER = 64 * 1024;

const FHCRC = 2;
const FEXTRA = 4;
const FNAME = 8;
const FCOMMENT = 16;

/** The length of the gzip member header at `pos`; null at the end of the file; an error when it is not one. */
export function gzipHeaderLength(fd: number, pos: number): number | null | { error: string } {
  const b = Buffer.allocUnsafe(MAX_HEADER);
  const n = readSync(fd, b, 0, b.length, pos);
  if (n === 0) return null;
  const h = b.subarray(0, n);
  if (h.length < 10) return { error: `${h.length} bytes, shorter than a gzip header` };
  if (h[0] !== 0x1f || h[1] !== 0x8b) return { error: 'no gzip magic (1f 8b)' };
  if (h[2] !== 8) return { error: `compression method ${h[2]!}, not deflate` };
  const flags = h[3]!;
  let at = 10;
  if (flags & FEXTRA) {
    if (at + 2 > h.length) return { error: 'header cut short' };
    at += 2 + h.readUInt16LE(at);
  }
  for (const f of [FNAME, FCOMMENT]) {
    if (!(flags & f)) continue;
    const nul = h.indexOf(0, at);
    if (nul < 0) return { error: `header field longer than ${MAX_HEADER} bytes` };
    at = nul + 1;
  }
  if (flags & FHCRC) at += 2;
  return at <= h.length ? at : { error: 'header cut short' };
}

/**
 * Inflates the members of the gzip file open on `fd`, passing the output to `onData` while `wantMore()` (the rest
 * of a member is still inflated, for its CRC); yields after each chunk passed on, so the caller can hand batches
 * out. Returns why it stopped short, or null when every member was whole and checked.
 */
export async function* gunzipMembers(fd: number, onData: (chunk: Buffer) => void, wantMore: () => boolean): AsyncGenerator<void, string | null> {
  let pos = 0;
  for (let member = 0; ; member++) {
    const head = gzipHeaderLength(fd, pos);
    if (head === null) return member === 0 ? 'the file is empty' : null;
    if (typeof head !== 'number') {
      // Bytes after the last member: harmless once the tar has ended (tarfile never reads them).
      if (member > 0 && !wantMore()) return null;
      return member === 0 ? `not a gzip file (${head.error})` : `byte ${pos} of the file, after gzip member ${member}, is not a gzip member (${head.error})`;
    }
    const start = pos + head;
    const inflater = createInflateRaw({ chunkSize: CHUNK });
    let fed = 0;
    // Compressed bytes from readSync in a generator: nothing is left in flight on a descriptor the caller closes.
    // zlib consumes all of a chunk unless the deflate stream ended in it: then stop reading.
    function* input(): Generator<Buffer> {
      for (;;) {
        if (fed > 0 && inflater.bytesWritten < fed) return;
        const b = Buffer.allocUnsafe(CHUNK);
        const n = readSync(fd, b, 0, b.length, start + fed);
        if (n === 0) return;
        fed += n;
        yield b.subarray(0, n);
      }
    }
    const out = pipeline(Readable.from(input()), inflater, () => { /* errors surface in the loop */ });
    let crc = 0;
    let size = 0;
    try {
      for await (const chunk of out as AsyncIterable<Buffer>) {
        crc = crc32(chunk, crc);
        size += chunk.length;
        if (wantMore()) {
          onData(chunk);
          yield;
        }
      }
    } catch (e) {
      return `gzip member ${member + 1} (at byte ${pos}) is damaged: ${(e as Error).message}`;
    } finally {
      inflater.destroy();
    }
    const end = start + inflater.bytesWritten;
    const trailer = Buffer.alloc(8);
    if (readSync(fd, trailer, 0, 8, end) < 8) return `gzip member ${member + 1} (at byte ${pos}) is cut short: no trailer after its data`;
    if (trailer.readUInt32LE(0) !== crc >>> 0 || trailer.readUInt32LE(4) !== size % 2 ** 32) {
      return `gzip member ${member + 1} (at byte ${pos}) fails its CRC-32 or length check: its decompressed data is damaged`;
    }
    pos = end + 8;
  }
}
