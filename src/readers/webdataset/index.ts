/**
 * WebDataset: samples stored in tar shards (github.com/webdataset/webdataset). A dataset is a folder of shards
 * (`*.tar`, `*.tar.gz`, `*.tgz`), one shard named on its own, or a brace pattern as WebDataset takes it
 * (`shards-{000000..000099}.tar`; a shard the pattern names that does not exist is a `missing_file`).
 *
 * Each shard is parsed by our strict tar parser (tar.ts) and its members grouped into samples as WebDataset groups
 * them (samples.ts). Plain shards are read with `readSync` into one reused buffer, jumping over members nothing
 * checks; gzipped shards are inflated as a stream (gzip.ts; offsets in findings are then offsets in the
 * decompressed tar). Damage stops the shard it is in (a tar cannot
 * be resynchronised reliably: see tar.ts) and is reported as `corrupt_file` at the shard, with the byte offset;
 * every sample before it is read and checked.
 *
 * Partitions are runs of whole shards, so two workers read two shards at once; with fewer than 4 shards, plain
 * shards of 64 MiB or more are split into parts at sample boundaries (found by a walk over the headers), so two
 * workers can read one big shard.
 */
import { closeSync, fstatSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import { invalidPartition, ScanError } from '../../errors.js';
import type { Damage } from '../../records.js';
import { OPEN_FLAGS } from '../files.js';
import type { Partition, Reader, ReaderModule, RecordBatch, Source, SourceInfo } from '../types.js';
import { gunzipMembers } from './gzip.js';
import { SampleGrouper, splitKey } from './samples.js';
import { expandBraces, GZIP_NAME, hasBraces, isShardName } from './shards.js';
import { BLOCK, TarParser, type TarSink } from './tar.js';

/** One shard (or a part of one): absolute path for I/O, display path for findings. */
interface Shard {
  abs: string;
  shown: string;
  /** A part of a plain shard: from the first header of a sample at `start` to the sample starting at `end`. */
  start?: number;
  end?: number;
  /** Bytes (for planning). */
  size?: number;
}

interface WdsPartition {
  shards: Shard[];
}

interface Listing {
  shards: Shard[];
  bytes: number;
  findings: Damage[];
}

/** Read size of plain shards (one reused buffer per reader). */
const CHUNK = 1 << 20;

/**
 * With fewer shards than this, plain shards of at least SPLIT_BYTES are split into parts at sample boundaries, so
 * that two workers can read one big shard. Each part is then judged on its own (a sample missing a member is
 * compared with its part's samples; a key repeated in another part is not seen).
 */
const SPLIT_BELOW_SHARDS = 4;
export const SPLIT_BYTES = 64 * 1024 * 1024;

/**
 * Offsets of the first sample starting at or after each target offset, found by walking the shard's headers
 * (512-byte reads, data skipped). Empty when the shard cannot be split: damaged, or holding a global pax header
 * (whose values a later part would not see).
 */
export function sampleStarts(abs: string, targets: readonly number[]): number[] {
  const out: number[] = [];
  let t = 0;
  let lastKey: string | null = null;
  const sink: TarSink = {
    want: () => 'skip',
    member: (m) => {
      const key = splitKey(m.name)?.key ?? null;
      if (key === null || key === lastKey) return;
      lastKey = key;
      if (t < targets.length && m.offset >= targets[t]!) {
        out.push(m.offset);
        while (t < targets.length && targets[t]! <= m.offset) t++;
      }
    },
    damage: () => { out.length = 0; t = targets.length; },
  };
  let fd: number;
  try {
    fd = openSync(abs, OPEN_FLAGS);
  } catch {
    return [];
  }
  try {
    const size = fstatSync(fd).size;
    const parser = new TarParser(sink, size);
    const block = Buffer.allocUnsafe(BLOCK);
    let pos = 0;
    while (!parser.done && t < targets.length) {
      const skip = Math.min(parser.skippable(), size - pos);
      if (skip > 0) {
        parser.skipped(skip);
        pos += skip;
        continue;
      }
      const n = readSync(fd, block, 0, BLOCK, pos);
      if (n === 0) break;
      parser.push(block.subarray(0, n));
      pos += n;
    }
    return parser.sawGlobalHeader ? [] : out;
  } catch {
    return [];
  } finally {
    closeSync(fd);
  }
}

/** Shards, the big plain ones split into parts when there are few shards. */
export function splitShards(shards: readonly Shard[], maxPartitions: number, splitBytes = SPLIT_BYTES): Shard[] {
  if (shards.length >= SPLIT_BELOW_SHARDS) return [...shards];
  const perShard = Math.max(1, Math.floor(maxPartitions / shards.length));
  return shards.flatMap((sh): Shard[] => {
    const size = sh.size ?? 0;
    const parts = Math.min(perShard, Math.floor(size / splitBytes));
    if (parts < 2 || GZIP_NAME.test(sh.abs)) return [sh];
    const targets = Array.from({ length: parts - 1 }, (_, k) => Math.floor(((k + 1) * size) / parts));
    const starts = sampleStarts(sh.abs, targets);
    if (starts.length === 0) return [sh];
    const bounds = [0, ...starts];
    return bounds.map((start, k) => {
      const part: Shard = { abs: sh.abs, shown: sh.shown, start };
      const end = bounds[k + 1];
      if (end !== undefined) part.end = end;
      return part;
    });
  });
}

/** The shards of a source: a brace pattern's existing shards, a folder's shard files (sorted), or the file itself. */
export function listShards(source: Source): Listing {
  const out: Listing = { shards: [], bytes: 0, findings: [] };
  const add = (abs: string, shown: string): void => {
    try {
      const st = statSync(abs);
      if (!st.isFile()) return;
      out.bytes += st.size;
      out.shards.push({ abs, shown, size: st.size });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        out.findings.push({ kind: 'missing_file', file: shown,
          message: `Shard '${shown}' named by '${source.path}' does not exist.` });
      } else {
        out.findings.push({ kind: 'io_error', file: shown,
          message: `Cannot read shard '${shown}': ${(e as Error).message}` });
      }
    }
  };
  let st;
  try {
    st = statSync(source.absPath);
  } catch {
    st = null;
  }
  if (st === null && hasBraces(source.absPath)) {
    const abs = expandBraces(source.absPath) ?? [];
    const shown = expandBraces(source.path) ?? [];
    abs.forEach((a, i) => add(a, shown.length === abs.length ? shown[i]! : a));
    return out;
  }
  if (st?.isDirectory() === true) {
    let names: string[];
    try {
      names = readdirSync(source.absPath);
    } catch (e) {
      out.findings.push({ kind: 'io_error', file: source.path,
        message: `Folder '${source.path}' cannot be listed: ${(e as Error).message}` });
      return out;
    }
    // Byte order of the names: shard numbers are zero-padded, so this is their order.
    for (const name of names.filter(isShardName).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))) {
      add(path.join(source.absPath, name), path.join(source.path, name));
    }
    return out;
  }
  add(source.absPath, source.path);
  return out;
}

class WebDatasetReader implements Reader {
  private listed: Listing | undefined;
  private readonly buf = Buffer.allocUnsafe(CHUNK);

  constructor(private readonly source: Source, private readonly splitBytes = SPLIT_BYTES) {}

  get listing(): Listing {
    return (this.listed ??= listShards(this.source));
  }

  info(): SourceInfo {
    return { bytes: this.listing.bytes, findings: [...this.listing.findings] };
  }

  plan(maxPartitions: number): Partition[] {
    const shards = splitShards(this.listing.shards, maxPartitions, this.splitBytes).map(({ size: _, ...sh }) => sh);
    const n = Math.max(1, Math.min(maxPartitions, shards.length));
    const out: Partition[] = [];
    for (let i = 0; i < n; i++) {
      const spec: WdsPartition = { shards: shards.slice(Math.floor((i * shards.length) / n), Math.floor(((i + 1) * shards.length) / n)) };
      out.push({ index: i, spec: spec as unknown as Partition['spec'] });
    }
    return out;
  }

  async *read(p: Partition): AsyncIterable<RecordBatch> {
    const spec = parseSpec(p.spec);
    let index = 0;
    for (const shard of spec.shards) {
      const grouper = new SampleGrouper(shard.shown, index);
      yield* this.readShard(shard, grouper);
      grouper.finish();
      const rest = grouper.take();
      if (rest.records.length > 0 || (rest.damage?.length ?? 0) > 0 || rest.unchecked !== undefined) yield rest;
      index = grouper.index;
    }
  }

  private async *readShard(shard: Shard, grouper: SampleGrouper): AsyncGenerator<RecordBatch> {
    let fd: number;
    try {
      fd = openSync(shard.abs, OPEN_FLAGS);
    } catch (e) {
      const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
      yield { records: [], damage: [{ kind: missing ? 'missing_file' : 'io_error', file: shard.shown, message: missing ? `Shard '${shard.shown}' does not exist.` : `Cannot open shard '${shard.shown}': ${(e as Error).message}` }] };
      return;
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) {
        yield { records: [], damage: [{ kind: 'io_error', file: shard.shown, message: `Shard '${shard.shown}' is not a regular file.` }] };
        return;
      }
      if (st.size === 0) {
        yield { records: [], damage: [{ kind: 'corrupt_file', file: shard.shown, offset: 0,
          message: `Shard '${shard.shown}' is empty (0 bytes): not a tar archive.` }] };
        return;
      }
      if (GZIP_NAME.test(shard.abs)) yield* this.readGzip(fd, grouper);
      else yield* this.readPlain(fd, st.size, grouper, shard);
    } finally {
      closeSync(fd);
    }
  }

  /** A plain shard: chunks into the reused buffer; members nothing reads are jumped over, not read. */
  private *readPlain(fd: number, size: number, grouper: SampleGrouper, shard: Shard): Generator<RecordBatch> {
    const start = shard.start ?? 0;
    const parser = new TarParser(grouper, size, shard.end === undefined ? { start } : { start, end: shard.end });
    let pos = start;
    while (!parser.done) {
      const skip = Math.min(parser.skippable(), size - pos);
      if (skip > CHUNK) {
        parser.skipped(skip);
        pos += skip;
        continue;
      }
      let n: number;
      try {
        n = readSync(fd, this.buf, 0, CHUNK, pos);
      } catch (e) {
        parser.end(`reading failed (${(e as Error).message})`);
        break;
      }
      if (n === 0) {
        parser.end();
        break;
      }
      parser.push(this.buf.subarray(0, n));
      pos += n;
      if (grouper.ready) yield grouper.take();
    }
  }

  /** A gzipped shard: decompressed member by member (gzip.ts), parsed as it comes. */
  private async *readGzip(fd: number, grouper: SampleGrouper): AsyncGenerator<RecordBatch> {
    const parser = new TarParser(grouper);
    const members = gunzipMembers(fd, (chunk) => parser.push(chunk), () => !parser.done);
    let stopped: string | null;
    try {
      for (;;) {
        const r = await members.next();
        if (r.done === true) {
          stopped = r.value;
          break;
        }
        if (grouper.ready) yield grouper.take();
      }
    } catch (e) {
      stopped = `reading failed (${(e as Error).message})`;
    }
    // Damage after the tar's end (a bad CRC of the last member) still says the shard is damaged.
    if (parser.done && stopped !== null) grouper.damage({ offset: parser.offset, message: stopped });
    else parser.end(stopped === null ? undefined : stopped);
  }

  close(): void {}
}

/** The spec crossed a thread boundary: check its shape before trusting it. */
function parseSpec(v: Partition['spec']): WdsPartition {
  const s = v as Partial<WdsPartition> | null;
  if (
    s === null || typeof s !== 'object' || Array.isArray(s) || !Array.isArray(s.shards) ||
    !s.shards.every((x) => x !== null && typeof x === 'object' && typeof (x as Shard).abs === 'string' && typeof (x as Shard).shown === 'string' &&
      ((x as Shard).start === undefined || Number.isSafeInteger((x as Shard).start)) && ((x as Shard).end === undefined || Number.isSafeInteger((x as Shard).end)))
  ) {
    throw invalidPartition('webdataset', 'not made by this reader\'s plan()');
  }
  return s as WdsPartition;
}

/** The reader with another split size (tests split small shards). */
export function createWebDatasetReader(source: Source, splitBytes: number): Reader {
  return new WebDatasetReader(source, splitBytes);
}

export const webdatasetReader: ReaderModule = {
  // Image members go to native decoders (libjpeg, libvips), which a hostile file can crash.
  isolated: true,
  format: 'webdataset',
  open: async (source, purpose = 'plan') => {
    const reader = new WebDatasetReader(source);
    if (purpose === 'plan') {
      const { shards, findings } = reader.listing;
      if (shards.length === 0) {
        const why = findings.length > 0 ? findings.map((f) => f.message).slice(0, 3).join(' ') : 'it holds no .tar, .tar.gz or .tgz shard.';
        throw new ScanError('SCAN_CORRUPT_SOURCE', `No shard of WebDataset '${source.path}' can be read: ${why}`, { data: { file: source.path } });
      }
    }
    return reader;
  },
};
