/**
 * Positional page reader over data.mdb with adaptive read-ahead and a tiny block cache.
 *
 * Why blocks: a syscall per 4 KiB page is too slow, and trees written in key order (py-lmdb, Caffe) lay their
 * leaves and overflow runs out nearly sequentially, so one read of up to 256 KiB serves dozens of pages. Trees
 * grown by random inserts scatter their leaves; there a big block would be mostly wasted, so the read-ahead
 * grows while misses are sequential and falls back to one page when they are not (like the kernel's).
 *
 * Record keys and values are views into blocks (zero copy). A block's buffer is recycled only after it has left
 * the cache *and* the consumer has moved past every batch that could point into it: the record emitter calls
 * `advance()` when it resumes after a yield (the `Reader` contract: views live until the iterator advances),
 * naming the buffers it still reads from (the current leaf). Fresh 256 KiB buffers per read cost page faults and
 * GC time (measured 70–550 ms vs 75 ms for 400 MB), hence the recycling.
 *
 * Each `read()` works on its own `fork()` (own cache and recycling state, shared descriptor and buffer pool), so
 * two partitions read at once from one reader cannot recycle each other's buffers.
 */
import fs from 'node:fs';
import { readFully } from '../files.js';

export interface Block {
  /** First page number held. */
  readonly first: number;
  /** Number of whole pages held. */
  readonly count: number;
  readonly buf: Buffer;
}

/**
 * Read-ahead bounds in bytes. Random misses read one page: a random 4 KiB pread costs 3.4 µs, 16 KiB 8.6 µs,
 * 256 KiB 148 µs (page cache, measured); sequential misses double the read up to 256 KiB.
 */
const MAX_READ_BYTES = 256 * 1024;
/** Blocks kept: enough for a leaf, its overflow runs and the next leaf without thrashing. */
const CACHE_BLOCKS = 4;
/** Recycled buffers kept for reuse (shared by the forks of one file). */
const MAX_FREE = 32;
/**
 * Evicted-but-maybe-referenced blocks beyond which the emitter should end its batch, so that they can be
 * recycled: on scattered leaves every leaf is a miss, and without this a 1024-record batch would pin hundreds
 * of buffers and allocate fresh ones all the time.
 */
const RETIRED_SOFT_LIMIT = 24;

interface Shared {
  fd: number;
  free: Buffer[];
}

export class PageFile {
  /** Whole pages physically present in the file. */
  readonly pages: number;
  /** Pages worth reading ahead into (`mm_last_pg + 1` once a meta is chosen: never read past the DB). */
  private limit: number;
  private readonly maxPages: number;
  private ra = 1;
  private lastMissEnd = -1;
  private readonly cache: Block[] = [];
  /** Evicted blocks whose views may still be alive (until the consumer next advances). */
  private retired: Buffer[] = [];
  private readonly blockBytes: number;
  private readonly shared: Shared;
  private readonly root: boolean;
  /** Statistics, for tests and benchmarks. */
  reads = 0;
  bytesRead = 0;

  constructor(
    fd: number,
    readonly size: number,
    readonly psize: number,
    shared?: Shared,
  ) {
    this.shared = shared ?? { fd, free: [] };
    this.root = shared === undefined;
    this.pages = Math.floor(size / psize);
    this.limit = this.pages;
    this.maxPages = Math.max(1, Math.floor(MAX_READ_BYTES / psize));
    this.blockBytes = this.maxPages * psize;
  }

  /** A reader of the same file with its own cache and recycling state (one per `read()`). */
  fork(): PageFile {
    const f = new PageFile(this.shared.fd, this.size, this.psize, this.shared);
    f.limit = this.limit;
    return f;
  }

  /** Largest run `block()` serves from the cache; bigger runs are read on their own. */
  get blockPages(): number {
    return this.maxPages;
  }

  /** True when enough evicted blocks wait for the consumer that the current batch should be yielded. */
  get wantsYield(): boolean {
    return this.retired.length >= RETIRED_SOFT_LIMIT;
  }

  /** Never read ahead past page `lastPgno` (pre-extended files, §3). */
  setLastPage(lastPgno: number): void {
    this.limit = Math.max(1, Math.min(this.pages, lastPgno + 1));
  }

  /**
   * The block holding pages `[pgno, pgno + n)`. The caller has checked `pgno + n <= this.pages` and
   * `n <= blockPages`. `stream` reads (leaves, overflow runs) drive the read-ahead; other reads (branch pages,
   * which sit apart from the leaves) fetch just what was asked and leave the read-ahead state alone.
   * Throws on an I/O error or when the file shrank under us (short read); callers turn that into a finding.
   */
  block(pgno: number, n = 1, stream = true): Block {
    const cache = this.cache;
    for (let i = cache.length - 1; i >= 0; i--) {
      const b = cache[i] as Block;
      if (pgno >= b.first && pgno + n <= b.first + b.count) return b;
    }
    let want = n;
    if (stream) {
      // Sequential when the miss starts inside or just after the previous stream miss's block.
      if (pgno >= this.lastMissEnd - this.ra && pgno <= this.lastMissEnd + this.ra) {
        this.ra = Math.min(this.maxPages, this.ra * 2);
      } else {
        this.ra = 1;
      }
      want = Math.max(n, Math.min(this.ra, this.limit - pgno));
    }
    const count = Math.min(pgno + want, this.pages) - pgno;
    // Stream blocks use pooled full-size buffers; lone pages get a buffer of their own size.
    const buf = stream ? (this.shared.free.pop() ?? Buffer.allocUnsafeSlow(this.blockBytes)) : Buffer.allocUnsafeSlow(count * this.psize);
    const got = Math.floor(this.readInto(buf, pgno * this.psize, count * this.psize) / this.psize);
    if (got < n) {
      this.recycle(buf);
      throw new Error(`short read at page ${pgno}: the file shrank while it was being read`);
    }
    const b: Block = { first: pgno, count: got, buf };
    if (stream) this.lastMissEnd = pgno + got;
    if (cache.length >= CACHE_BLOCKS) {
      const old = cache.shift() as Block;
      this.retired.push(old.buf);
    }
    cache.push(b);
    return b;
  }

  /**
   * The consumer has moved past every batch yielded so far: evicted blocks become reusable, except those whose
   * memory `pinned` views still point into.
   */
  advance(pinned: readonly Uint8Array[]): void {
    const keep: Buffer[] = [];
    for (const buf of this.retired) {
      if (pinned.some((v) => v.buffer === buf.buffer)) keep.push(buf);
      else this.recycle(buf);
    }
    this.retired = keep;
  }

  /** No view into this fork's blocks is alive any more (its read has finished): give every buffer back. */
  release(): void {
    for (const buf of this.retired) this.recycle(buf);
    for (const b of this.cache) this.recycle(b.buf);
    this.retired = [];
    this.cache.length = 0;
  }

  /** Reads `len` bytes at `pos` into a fresh buffer (shorter if the file ends first). */
  readBytes(pos: number, len: number): Buffer {
    const buf = Buffer.allocUnsafeSlow(len);
    const done = this.readInto(buf, pos, len);
    return done === len ? buf : buf.subarray(0, done);
  }

  /** Closes the descriptor (root file only; forks just drop their buffers). */
  close(): void {
    this.release();
    if (this.root && this.shared.fd >= 0) {
      const fd = this.shared.fd;
      this.shared.fd = -1;
      this.shared.free.length = 0;
      fs.closeSync(fd);
    }
  }

  private recycle(buf: Buffer): void {
    if (this.shared.free.length < MAX_FREE && buf.length === this.blockBytes) this.shared.free.push(buf);
  }

  /** Positional read of up to `len` bytes into `buf`; returns the bytes read (fewer at the end of the file). */
  private readInto(buf: Buffer, pos: number, len: number): number {
    const fd = this.shared.fd;
    if (fd < 0) throw new Error('the file is closed');
    const done = readFully(fd, buf.subarray(0, len), pos).length;
    this.reads++;
    this.bytesRead += done;
    return done;
  }
}
