/**
 * The central directory of a `.npz` (a zip archive, as Python's `zipfile` writes it for `np.savez` and
 * `np.savez_compressed`): member names, methods, sizes, CRCs and where each member's data starts, zip64
 * included (numpy opens every member with `force_zip64=True`). Our own reader rather than an npm one: the
 * project takes no dependency for ~150 lines of a documented format (PKWARE APPNOTE 4.3), and we need what
 * streaming zip libraries hide: a member's exact data offset for pread, and damage reported per member rather
 * than thrown for the archive. Every length read from the file is bounded by the file size before it is used.
 */
import { readFully } from '../files.js';

export interface ZipMember {
  name: string;
  /** 0 stored, 8 deflated; anything else is not read. */
  method: number;
  /** Bit 0: encrypted. */
  flags: number;
  crc: number;
  compSize: number;
  size: number;
  /** Offset of the member's local header. */
  localOffset: number;
}

const EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
/** A central directory larger than this is refused (a million members take ~100 MiB at most). */
const MAX_CENTRAL_BYTES = 256 * 1024 * 1024;

/** The members of the zip open at `fd` (`size` bytes), in central-directory order, or why they cannot be read. */
export function readCentralDirectory(fd: number, size: number): ZipMember[] | { error: string; offset: number } {
  const tailLen = Math.min(size, 22 + 0xffff);
  const tail = readFully(fd, Buffer.alloc(tailLen), size - tailLen);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === EOCD_SIG && i + 22 + tail.readUInt16LE(i + 20) <= tail.length) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) return { error: 'no end-of-central-directory record (the archive is truncated or not a zip)', offset: size };
  const eocdAt = size - tailLen + eocd;
  let entries = tail.readUInt16LE(eocd + 10);
  let cdSize = tail.readUInt32LE(eocd + 12);
  let cdOffset = tail.readUInt32LE(eocd + 16);
  if (eocd >= 20 && tail.readUInt32LE(eocd - 20) === ZIP64_LOCATOR_SIG) {
    const at = Number(tail.readBigUInt64LE(eocd - 12));
    if (!Number.isSafeInteger(at) || at + 56 > eocdAt) return { error: 'zip64 end-of-central-directory locator points outside the file', offset: eocdAt - 20 };
    const z = readFully(fd, Buffer.alloc(56), at);
    if (z.length < 56 || z.readUInt32LE(0) !== ZIP64_EOCD_SIG) return { error: 'no zip64 end-of-central-directory record where its locator points', offset: at };
    entries = Number(z.readBigUInt64LE(32));
    cdSize = Number(z.readBigUInt64LE(40));
    cdOffset = Number(z.readBigUInt64LE(48));
  }
  if (!Number.isSafeInteger(cdOffset) || !Number.isSafeInteger(cdSize) || cdOffset + cdSize > eocdAt || cdSize > MAX_CENTRAL_BYTES) {
    return { error: `central directory (${cdSize} bytes at offset ${cdOffset}) lies outside the file`, offset: eocdAt };
  }
  if (entries > cdSize / 46) return { error: `central directory of ${cdSize} bytes cannot hold ${entries} members`, offset: cdOffset };
  const cd = readFully(fd, Buffer.alloc(cdSize), cdOffset);
  const members: ZipMember[] = [];
  let p = 0;
  for (let k = 0; k < entries; k++) {
    if (p + 46 > cd.length || cd.readUInt32LE(p) !== CENTRAL_SIG) {
      return { error: `central directory entry ${k} is damaged`, offset: cdOffset + p };
    }
    const nameLen = cd.readUInt16LE(p + 28);
    const extraLen = cd.readUInt16LE(p + 30);
    const commentLen = cd.readUInt16LE(p + 32);
    const end = p + 46 + nameLen + extraLen + commentLen;
    if (end > cd.length) return { error: `central directory entry ${k} runs past the directory`, offset: cdOffset + p };
    const m: ZipMember = {
      name: cd.toString('utf8', p + 46, p + 46 + nameLen),
      flags: cd.readUInt16LE(p + 8),
      method: cd.readUInt16LE(p + 10),
      crc: cd.readUInt32LE(p + 16),
      compSize: cd.readUInt32LE(p + 20),
      size: cd.readUInt32LE(p + 24),
      localOffset: cd.readUInt32LE(p + 42),
    };
    zip64Extra(cd.subarray(p + 46 + nameLen, p + 46 + nameLen + extraLen), m);
    members.push(m);
    p = end;
  }
  return members;
}

/** Applies a zip64 extended-information extra field: the 64-bit values of the fields set to 0xFFFFFFFF. */
function zip64Extra(extra: Buffer, m: ZipMember): void {
  for (let q = 0; q + 4 <= extra.length;) {
    const id = extra.readUInt16LE(q);
    const len = extra.readUInt16LE(q + 2);
    const body = extra.subarray(q + 4, Math.min(extra.length, q + 4 + len));
    if (id === 0x0001) {
      let at = 0;
      const next = (): number => {
        if (at + 8 > body.length) return NaN;
        const v = Number(body.readBigUInt64LE(at));
        at += 8;
        return v;
      };
      if (m.size === 0xffffffff) m.size = next();
      if (m.compSize === 0xffffffff) m.compSize = next();
      if (m.localOffset === 0xffffffff) m.localOffset = next();
      return;
    }
    q += 4 + len;
  }
}

/**
 * Where a member's data starts, from its local header (whose name and extra lengths may differ from the
 * central directory's), or what is wrong with it.
 */
export function memberDataOffset(fd: number, size: number, m: ZipMember): number | { error: string; offset: number } {
  if (!Number.isSafeInteger(m.localOffset) || m.localOffset + 30 > size) {
    return { error: 'local header lies outside the file', offset: m.localOffset };
  }
  const h = readFully(fd, Buffer.alloc(30), m.localOffset);
  if (h.length < 30 || h.readUInt32LE(0) !== LOCAL_SIG) return { error: 'no local header where the central directory points', offset: m.localOffset };
  const start = m.localOffset + 30 + h.readUInt16LE(26) + h.readUInt16LE(28);
  if (!Number.isSafeInteger(m.compSize) || !Number.isSafeInteger(m.size)) return { error: 'member sizes are invalid', offset: m.localOffset };
  if (start + m.compSize > size) {
    return { error: `member data (${m.compSize} bytes from offset ${start}) runs past the end of the file (${size} bytes)`, offset: size };
  }
  return start;
}

/** Members found by walking local headers, at most this many (a real .npz holds a handful). */
const MAX_LOCAL_MEMBERS = 100_000;

/**
 * The members of an archive whose central directory is lost (a file cut short: the directory is at its end),
 * found by walking the local headers from the start, as Python's zipfile writes them to a file (sizes in the
 * local header or its zip64 extra, no data descriptor). The walk stops at the first thing that is not a local
 * header; a member whose data runs past the end of the file is kept with `compSize` cut to what is there.
 */
export function readLocalHeaders(fd: number, size: number): ZipMember[] {
  const out: ZipMember[] = [];
  let at = 0;
  while (at + 30 <= size && out.length < MAX_LOCAL_MEMBERS) {
    const h = readFully(fd, Buffer.alloc(30), at);
    if (h.length < 30 || h.readUInt32LE(0) !== LOCAL_SIG) break;
    const nameLen = h.readUInt16LE(26);
    const extraLen = h.readUInt16LE(28);
    const flags = h.readUInt16LE(6);
    const tail = readFully(fd, Buffer.alloc(nameLen + extraLen), at + 30);
    if (tail.length < nameLen + extraLen || (flags & 0x08) !== 0) break; // cut in the header, or sizes not in it
    const m: ZipMember = {
      name: tail.toString('utf8', 0, nameLen), flags, method: h.readUInt16LE(8), crc: h.readUInt32LE(14),
      compSize: h.readUInt32LE(18), size: h.readUInt32LE(22), localOffset: at,
    };
    zip64Extra(tail.subarray(nameLen), m);
    if (!Number.isSafeInteger(m.compSize) || !Number.isSafeInteger(m.size)) break;
    const start = at + 30 + nameLen + extraLen;
    if (start + m.compSize > size) {
      m.compSize = size - start;
      out.push(m);
      break;
    }
    out.push(m);
    at = start + m.compSize;
  }
  return out;
}
