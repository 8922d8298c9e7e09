/**
 * A strict, read-only tar parser: the members of a tar archive as Python's `tarfile` (which WebDataset reads shards
 * with) lists them, and the first damage met, where `tarfile` would silently end the archive or raise.
 *
 * Formats: POSIX ustar (name + prefix), GNU (`L` long name, `K` long link name), pax (`x` per-member headers with
 * `path` and `size`, `g` global headers, and Solaris `X`), numbers in octal or GNU base-256. Every header's checksum
 * is verified (tarfile accepts the unsigned and the signed sum; so do we). Only regular files are passed on with
 * their data; directories, links, devices and FIFOs are skipped. The archive ends at the first zero block.
 *
 * Damage (a bad checksum, a field that is not a number, a member running past the end, an archive that ends without
 * its end-of-archive blocks) stops the parse: a tar has no sync marker, and a header found by scanning for a valid
 * checksum after damage could as well be a tar inside a member's data, so nothing after damage is trusted.
 *
 * Hand-written on purpose: the npm tar parsers (tar, tar-stream) run on Node streams, allocate per member, and
 * report damage as an error event without the offset or the member it hit; nanscan needs a synchronous parser it
 * can feed from `readSync` (plain shards, with skips over members it does not read) or from a gunzip stream, that
 * says where the damage is. The format: POSIX.1-2017 `pax` (ustar and pax headers), GNU tar's manual (Basic Tar
 * Format, `L`/`K`/`S`), and CPython's Lib/tarfile.py for what the reader WebDataset uses accepts.
 */

export const BLOCK = 512;

/** Pax/GNU long-name payloads read at most this large: a path longer than this is damage, not a name. */
const MAX_META_BYTES = 1 << 20;

/** Initial buffer of a member read from an input of unknown length (gzip): grown as its data arrives. */
const GROW_START = 1 << 20;

/** A buffer grown to hold `need` bytes, doubling up to `max` (the member's declared size). */
function grow(buf: Uint8Array, max: number, need: number): Uint8Array {
  const out = Buffer.allocUnsafe(Math.min(max, Math.max(need, buf.length * 2)));
  out.set(buf);
  return out;
}

/** A regular file of the archive. */
export interface TarMember {
  /** The member's path as raw bytes (latin1 string: one char a byte, exact for any name). */
  name: string;
  /** Offset of the member's first header (its pax or GNU long-name header when it has one). */
  offset: number;
  /** Offset of its data. */
  dataOffset: number;
  size: number;
}

export interface TarDamage {
  /** Offset of the header or data where the archive goes wrong (uncompressed offset for gzip shards). */
  offset: number;
  message: string;
  /** Set when the damage is a member cut short: the member, and the bytes of it that were there. */
  member?: TarMember;
  /** Damage that leaves every member readable (a missing end-of-archive marker). */
  warning?: boolean;
}

/**
 * What the parser's user does with each regular file: `'read'` its data (passed to `onMember` whole, or as far as
 * the archive has it when it is cut short), or `'skip'` it (no copy).
 */
export type Want = 'read' | 'skip';

export interface TarSink {
  want(m: TarMember): Want;
  /** A regular file; `data` is its bytes for 'read' members (a fresh buffer the sink may keep), else null. */
  member(m: TarMember, data: Uint8Array | null): void;
  damage(d: TarDamage): void;
}

type State =
  | { t: 'header' }
  /** Payload of a pax, GNU long-name or skipped member, then its padding. */
  | { t: 'data'; member: TarMember | null; meta: 'pax' | 'gpax' | 'L' | 'K' | null; left: number; pad: number; buf: Uint8Array | null; at: number }
  | { t: 'done' };

const ascii = (b: Uint8Array, from: number, to: number): string => Buffer.from(b.buffer, b.byteOffset + from, to - from).toString('latin1');

/** A NUL-terminated field as raw bytes (latin1 string). */
function nts(b: Uint8Array, from: number, len: number): string {
  let end = from;
  while (end < from + len && b[end] !== 0) end++;
  return ascii(b, from, end);
}

/**
 * A numeric field as tarfile's `nti` reads it: GNU base-256 when the first byte is 0x80 (0xff: negative), else
 * octal digits up to the first NUL, spaces around them ignored. NaN when it is not a number.
 */
export function readNumber(b: Uint8Array, from: number, len: number): number {
  const first = b[from]!;
  if (first === 0x80 || first === 0xff) {
    let n = 0;
    for (let i = from + 1; i < from + len; i++) n = n * 256 + b[i]!;
    if (first === 0xff) n -= 256 ** (len - 1);
    return Number.isSafeInteger(n) ? n : NaN;
  }
  const s = nts(b, from, len).trim();
  if (s === '') return 0;
  return /^[0-7]+$/.test(s) ? parseInt(s, 8) : NaN;
}

/** Whether a 512-byte block is a tar header by its checksum (both sums tarfile accepts). */
export function checksumOk(b: Uint8Array): boolean {
  const want = readNumber(b, 148, 8);
  if (Number.isNaN(want)) return false;
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const v = i >= 148 && i < 156 ? 0x20 : b[i]!;
    unsigned += v;
    signed += v > 127 ? v - 256 : v;
  }
  return want === unsigned || want === signed;
}

function isZero(b: Uint8Array): boolean {
  for (let i = 0; i < BLOCK; i++) if (b[i] !== 0) return false;
  return true;
}

/** Pax records `"%d %s=%s\n"`; null when malformed. Keys and values as raw bytes (latin1 strings). */
export function parsePax(data: Uint8Array): Map<string, string> | null {
  const out = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    if (data[at] === 0) break; // tarfile stops at a NUL (padding some writers leave)
    let sp = at;
    while (sp < data.length && data[sp] !== 0x20) sp++;
    const lenText = ascii(data, at, Math.min(sp, data.length));
    if (!/^[0-9]+$/.test(lenText)) return null;
    const len = parseInt(lenText, 10);
    if (len <= sp - at + 1 || at + len > data.length || data[at + len - 1] !== 0x0a) return null;
    const rec = ascii(data, sp + 1, at + len - 1);
    const eq = rec.indexOf('=');
    if (eq <= 0) return null;
    out.set(rec.slice(0, eq), rec.slice(eq + 1));
    at += len;
  }
  return out;
}

const paxDecimal = (v: string): number => (/^[0-9]+$/.test(v) ? Number(v) : NaN);

/**
 * The parser. Push bytes in order (`push`), then call `end()` at the end of the input. `skippable()` says how many
 * bytes from the current position the parser would discard anyway, so a seekable input can jump over them
 * (`skipped(n)` then tells the parser).
 */
export class TarParser {
  private state: State = { t: 'header' };
  /** Offset of the next byte pushed. */
  private pos = 0;
  private readonly header = new Uint8Array(BLOCK);
  private headerFill = 0;
  /** Pending pax/GNU values for the next header, and global pax values. */
  private longName: string | null = null;
  private pax: Map<string, string> | null = null;
  private readonly globalPax = new Map<string, string>();
  /** Offset of the first header of the member being assembled (its pax or long-name header). */
  private memberStart = -1;

  /**
   * `size`: the input's total length when known (plain files): read buffers are never allocated past it.
   * `range`: parse a part of the archive: from `start` (a member's first header; bytes pushed begin there) to the
   * first member starting at or after `end` (the next part's start), where the part ends without damage.
   */
  constructor(private readonly sink: TarSink, private readonly size?: number, private readonly range?: { start: number; end?: number }) {
    this.pos = range?.start ?? 0;
  }

  /** Whether a global pax header was met (its values apply to every later member: a part cannot start later). */
  get sawGlobalHeader(): boolean {
    return this.globalPax.size > 0;
  }

  get done(): boolean {
    return this.state.t === 'done';
  }

  get offset(): number {
    return this.pos;
  }

  /** Bytes the parser would discard from here (a skipped member's data and padding): the input may seek past. */
  skippable(): number {
    const s = this.state;
    return s.t === 'data' && s.buf === null ? s.left + s.pad : 0;
  }

  skipped(n: number): void {
    const s = this.state;
    if (s.t !== 'data' || s.buf !== null || n > s.left + s.pad) throw new Error('TarParser.skipped: not skippable');
    this.pos += n;
    const fromData = Math.min(n, s.left);
    s.left -= fromData;
    s.pad -= n - fromData;
    if (s.left === 0 && s.pad === 0) this.finishData(s);
  }

  push(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length && this.state.t !== 'done') {
      const s = this.state;
      if (s.t === 'header') {
        const end = this.range?.end;
        if (end !== undefined && this.headerFill === 0 && this.memberStart < 0 && this.pos >= end) {
          this.state = { t: 'done' };
          return;
        }
        const n = Math.min(BLOCK - this.headerFill, chunk.length - i);
        this.header.set(chunk.subarray(i, i + n), this.headerFill);
        this.headerFill += n;
        i += n;
        this.pos += n;
        if (this.headerFill === BLOCK) {
          this.headerFill = 0;
          this.onHeader(this.pos - BLOCK);
        }
      } else if (s.t === 'data') {
        if (s.left > 0) {
          const n = Math.min(s.left, chunk.length - i);
          if (s.buf !== null) {
            if (s.at + n > s.buf.length) s.buf = grow(s.buf, s.at + s.left, s.at + n);
            s.buf.set(chunk.subarray(i, i + n), s.at);
          }
          s.at += n;
          s.left -= n;
          i += n;
          this.pos += n;
        }
        if (s.left === 0) {
          const n = Math.min(s.pad, chunk.length - i);
          s.pad -= n;
          i += n;
          this.pos += n;
          if (s.pad === 0) this.finishData(s);
        }
      }
    }
  }

  /** The input ended (or could not be read further: pass the reason). */
  end(reason?: string): void {
    const s = this.state;
    if (s.t === 'done') return;
    this.state = { t: 'done' };
    const why = reason ?? 'the file ends';
    if (s.t === 'header' && this.headerFill === 0 && this.memberStart < 0 && reason !== undefined) {
      this.sink.damage({ offset: this.pos, message: `${reason}, at byte ${this.pos} of the tar, between members` });
      return;
    }
    if (s.t === 'header' && this.headerFill === 0 && this.memberStart < 0) {
      // Every member is whole, but the end-of-archive blocks are missing: written by a writer that was stopped,
      // or cut at a member boundary. tarfile reads it without a word.
      this.sink.damage({ offset: this.pos, warning: true,
        message: `${why} at byte ${this.pos} without the end-of-archive blocks (cut at a member boundary, or never finished)` });
      return;
    }
    if (s.t === 'header') {
      this.sink.damage({ offset: this.pos - this.headerFill,
        message: `${why} inside a header at byte ${this.pos - this.headerFill} (${this.headerFill} of ${BLOCK} bytes)` });
      return;
    }
    const m = s.member;
    if (m !== null && s.left > 0) {
      const have = s.at;
      if (s.buf !== null) this.sink.member(m, s.buf.subarray(0, have));
      this.sink.damage({ offset: m.offset, member: m,
        message: `${why} at byte ${this.pos}, inside member '${m.name}' (header at byte ${m.offset}): ${have} of its ${m.size} bytes are there` });
      return;
    }
    // Cut in the padding after a member's data: the member is whole.
    if (m !== null) this.sink.member(m, s.buf);
    this.sink.damage({ offset: this.pos, message: `${why} at byte ${this.pos}, inside ${s.meta !== null ? 'an extended header' : 'the padding of a member'}` });
  }

  private stop(offset: number, message: string): void {
    this.state = { t: 'done' };
    this.sink.damage({ offset, message });
  }

  private onHeader(at: number): void {
    const h = this.header;
    if (isZero(h)) {
      // End of archive (tarfile stops at the first zero block; the second is not required).
      if (this.memberStart >= 0) this.stop(at, `the archive ends at byte ${at} between an extended header and its member`);
      else this.state = { t: 'done' };
      return;
    }
    if (!checksumOk(h)) {
      this.stop(at, `bad header checksum at byte ${at}: not a tar header (the archive cannot be read past it)`);
      return;
    }
    const type = String.fromCharCode(h[156]!);
    let size = readNumber(h, 124, 12);
    if (this.memberStart < 0) this.memberStart = at;
    if (Number.isNaN(size) || size < 0) {
      this.stop(at, `header at byte ${at} has a size field that is not a number`);
      return;
    }
    const pax = this.pax;
    const paxSize = pax?.get('size') ?? this.globalPax.get('size');
    const isMeta = type === 'x' || type === 'X' || type === 'g' || type === 'L' || type === 'K';
    if (paxSize !== undefined && !isMeta) {
      size = paxDecimal(paxSize);
      if (Number.isNaN(size)) {
        this.stop(this.memberStart, `pax header at byte ${this.memberStart} has a size that is not a number`);
        return;
      }
    }
    const dataOffset = at + BLOCK;
    const pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if (isMeta) {
      if (size > MAX_META_BYTES) {
        this.stop(at, `extended header at byte ${at} declares ${size} bytes (more than ${MAX_META_BYTES})`);
        return;
      }
      const meta = type === 'g' ? 'gpax' : type === 'L' ? 'L' : type === 'K' ? 'K' : 'pax';
      this.state = { t: 'data', member: null, meta, left: size, pad, buf: new Uint8Array(size), at: 0 };
      if (size === 0) this.finishData(this.state);
      return;
    }
    if (type === 'S') {
      // GNU sparse members carry a sparse map (and extension blocks) that tarfile expands; WebDataset shards never
      // hold them, and skipping by the header's size could land inside the map.
      this.stop(at, `member at byte ${at} is a GNU sparse file, which nanscan does not read (the rest of the archive is not read)`);
      return;
    }
    const name = this.nameOf(h, type);
    this.longName = null;
    this.pax = null;
    // tarfile's regular types: '0', '\0', '7' (contiguous); an 'A'-type (AREGTYPE) name ending in '/' is a folder.
    const regular = type === '0' || type === '7' || (type === '\0' && !name.endsWith('/'));
    const member: TarMember = { name, offset: this.memberStart, dataOffset, size };
    this.memberStart = -1;
    // Other types (links, folders, devices, unknown ones) are skipped by their size, as tarfile does.
    const dataSize = type === '1' || type === '2' || type === '3' || type === '4' || type === '5' || type === '6' ? 0 : size;
    if (dataSize !== size) {
      // Links and devices have no data whatever their size field says (tarfile skips none).
      this.state = { t: 'header' };
      return;
    }
    const want = regular ? this.sink.want(member) : 'skip';
    // Allocated for what the input can hold, and grown as data comes (a header may declare any size).
    const buf = want === 'read' ? Buffer.allocUnsafe(Math.min(size, this.size === undefined ? GROW_START : Math.max(0, this.size - dataOffset))) : null;
    this.state = { t: 'data', member: regular ? member : null, meta: null, left: size, pad, buf, at: 0 };
    if (size === 0 && pad === 0) this.finishData(this.state);
  }

  private nameOf(h: Uint8Array, type: string): string {
    const pathValue = this.pax?.get('path') ?? this.globalPax.get('path');
    if (pathValue !== undefined) return pathValue; // UTF-8 text, kept as its raw bytes like every name
    if (this.longName !== null) return this.longName;
    const name = nts(h, 0, 100);
    // ustar's prefix field (tarfile applies it to every non-GNU type, whatever the magic).
    const prefix = type === 'L' || type === 'K' || type === 'S' ? '' : nts(h, 345, 155);
    return prefix !== '' ? `${prefix}/${name}` : name;
  }

  private finishData(s: Extract<State, { t: 'data' }>): void {
    this.state = { t: 'header' };
    if (s.meta !== null) {
      const data = s.buf!;
      if (s.meta === 'L') this.longName = nts(data, 0, data.length);
      else if (s.meta === 'pax' || s.meta === 'gpax') {
        const recs = parsePax(data);
        if (recs === null) {
          this.stop(this.memberStart, `malformed pax header at byte ${this.memberStart}`);
          return;
        }
        if (s.meta === 'gpax') {
          for (const [k, v] of recs) this.globalPax.set(k, v);
          this.memberStart = -1;
        } else {
          this.pax = new Map([...(this.pax ?? []), ...recs]);
        }
      }
      return;
    }
    if (s.member !== null) this.sink.member(s.member, s.buf);
  }
}
