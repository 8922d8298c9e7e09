/**
 * Where a dataset's rows lie in its file, read from HDF5's own metadata, so that plain (unfiltered) data can be
 * read with `pread` straight into the scan kernel's memory instead of through h5wasm.
 *
 * Why not h5wasm for these reads: HDF5 reads every chunk up to 1 MiB whole into its chunk cache and copies it
 * out, and h5wasm gives no way to size that cache (`H5Pset_chunk_cache` and `H5Dget_chunk_info` are not
 * exported). Measured on this VM, reading a 2 GiB file from the page cache into one reused buffer runs at
 * 9.7 GB/s when the buffer is 128 KiB (it stays in L2) and at 2.2–2.4 GB/s when it is 192 KiB to 4 MiB or a
 * chunk of 768 KiB (every byte goes out to DRAM and back): the chunk cache's buffer is the slow case whatever
 * we do after it. Reading row runs of ~224 KiB ourselves (DIRECT_READ_BYTES) and scanning them while they are
 * in L2 is what gets past 3 GB/s.
 *
 * Scope: what h5py and h5wasm write for numeric arrays. Superblocks v0–v3 (after a user block too);
 * object headers v1 and v2 with continuation blocks; contiguous layouts; chunked layouts whose chunks span
 * whole rows (chunk dims equal the dataset's past the first), indexed by a v1 B-tree (layout v3, every file
 * written with h5py's default `libver`), or a single chunk, implicit or fixed-array index (layout v4/v5). The
 * datatype must be little-endian IEEE float or two's-complement integer as h5wasm reported it, with no
 * filters, no external storage, and every chunk allocated. Anything else (gzip, big-endian, extensible-array
 * or v2 B-tree indexes, unallocated chunks, sub-row chunks, anything that does not add up) is `unsupported`
 * with the reason, and the reader reads that dataset through h5wasm as before: this module only ever says
 * where bytes are, never what they mean, and any doubt sends the dataset back to HDF5 itself.
 *
 * Checks made on the way, as HDF5 makes them: signatures and versions of every structure, metadata checksums
 * (Jenkins lookup3, as H5_checksum_metadata) where the format has them, B-tree node types, levels and keys on
 * the chunk grid, chunks looked up in a v1 B-tree the way HDF5 looks them up (so a damaged tree reads as it
 * would in HDF5), and every chunk of the dataset present once, with the size an unfiltered chunk must have,
 * inside the file. A differential test reads damaged files both ways and must get the same bytes. Reads are
 * bounded: each structure is read once into a buffer of its own declared size (capped), and node and block
 * counts are capped, so a damaged file cannot loop or allocate without bound.
 */
import { fstatSync } from 'node:fs';
import { readFully } from '../files.js';
import type { Dtype } from './h5.js';

/** Rows [row, row + rows) lie back to back in the file from byte `offset` (absolute). */
export interface RawRun {
  row: number;
  rows: number;
  offset: number;
}

export type RawLocation = { runs: RawRun[] } | { unsupported: string };

/** What the locator needs to know of a dataset (as h5wasm described it). */
export interface RawTarget {
  /** Compound datasets are never read directly (their fields are sliced out of HDF5's reads). */
  dtype: Dtype | 'compound';
  elemBytes: number;
  rows: number;
  rowShape: readonly number[];
  rowBytes: number;
  /** Rows per chunk as HDF5 reported the layout (0: not chunked); the layout message must say the same. */
  chunkRows: number;
  /** Whether the maximum extent equals the current one (indexes sized by the maximum are read only then). */
  fixedExtent: boolean;
}

/** The superblock facts addresses need: where address 0 is (the superblock's offset), and field widths. */
export interface Superblock {
  base: number;
  offsetSize: number;
  lengthSize: number;
  /**
   * Where HDF5's address space ends (absolute): the stored end-of-file address, less the stored base address
   * (H5F__super_read rebases both on the superblock's position). HDF5 reads nothing past it ("addr overflow"),
   * so neither do direct reads, even where the file goes on.
   */
  end: number;
}

/** Thrown inside the locator; becomes `{ unsupported }`. */
export class Unsupported extends Error {}

export function bail(why: string): never {
  throw new Unsupported(why);
}

/** Metadata structures (headers, B-tree nodes, array blocks) read at once; a bigger one is not followed. */
const MAX_STRUCTURE_BYTES = 16 * 1024 * 1024;
/** Object header blocks (the first and its continuations) followed per dataset. */
const MAX_HEADER_BLOCKS = 256;
/** B-tree depth: a v1 B-tree of 2^64 chunks is < 20 levels deep even at the smallest fan-out. */
const MAX_BTREE_LEVEL = 64;

const SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Positional reads of one open file, bounded by its size. */
export class FileBytes {
  constructor(readonly fd: number, readonly size: number) {}

  /** Exactly `length` bytes at absolute `offset`, or Unsupported. */
  read(offset: number, length: number, what: string): Buffer {
    if (!Number.isSafeInteger(offset) || offset < 0 || length < 0 || offset + length > this.size) {
      bail(`${what} at byte ${offset} lies outside the file (${this.size} bytes)`);
    }
    if (length > MAX_STRUCTURE_BYTES) bail(`${what} of ${length} bytes is implausibly large`);
    let buf: Buffer;
    try {
      buf = readFully(this.fd, Buffer.allocUnsafe(length), offset);
    } catch (e) {
      // An I/O error is the file's, not ours: the dataset goes to h5wasm, which reports it.
      return bail(`${what} at byte ${offset} could not be read: ${(e as Error).message}`);
    }
    if (buf.length < length) bail(`${what} at byte ${offset} could not be read`);
    return buf;
  }
}

/** Little-endian field reader over one structure's bytes, in file-format widths. */
export class Fields {
  pos = 0;
  constructor(readonly buf: Buffer, private readonly sb: Pick<Superblock, 'offsetSize' | 'lengthSize'>) {}

  private need(n: number): void {
    if (this.pos + n > this.buf.length) bail('a structure ends before its fields do');
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++] as number;
  }

  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  /** An unsigned integer of `n` bytes (1–8); Unsupported above 2^53. */
  uint(n: number): number {
    this.need(n);
    let v = 0;
    for (let i = n - 1; i >= 0; i--) v = v * 256 + (this.buf[this.pos + i] as number);
    this.pos += n;
    if (!Number.isSafeInteger(v)) bail('a size or offset beyond 2^53');
    return v;
  }

  /** A file address (relative to the base); undefined for HDF5's "undefined address" (all bits set). */
  addr(): number | undefined {
    const n = this.sb.offsetSize;
    this.need(n);
    let allOnes = true;
    for (let i = 0; i < n; i++) if (this.buf[this.pos + i] !== 0xff) allOnes = false;
    if (allOnes) {
      this.pos += n;
      return undefined;
    }
    return this.uint(n);
  }

  length(): number {
    return this.uint(this.sb.lengthSize);
  }

  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }

  signature(sig: string, what: string): void {
    this.need(4);
    if (this.buf.toString('latin1', this.pos, this.pos + 4) !== sig) bail(`${what} has no '${sig}' signature`);
    this.pos += 4;
  }
}

/**
 * Jenkins' lookup3 `hashlittle` with initval 0: HDF5's metadata checksum (H5_checksum_metadata). Written out
 * here because no maintained npm package implements this exact variant; verified against real files by the
 * reader tests (every v2 object header and fixed array h5py writes must check out, or those tests fail).
 */
export function lookup3(buf: Uint8Array, initval = 0): number {
  let length = buf.length;
  let a = (0xdeadbeef + length + initval) >>> 0;
  let b = a;
  let c = a;
  let k = 0;
  const rot = (x: number, r: number): number => ((x << r) | (x >>> (32 - r))) >>> 0;
  const word = (i: number): number =>
    ((buf[i] as number) | ((buf[i + 1] as number) << 8) | ((buf[i + 2] as number) << 16) | ((buf[i + 3] as number) << 24)) >>> 0;
  while (length > 12) {
    a = (a + word(k)) >>> 0;
    b = (b + word(k + 4)) >>> 0;
    c = (c + word(k + 8)) >>> 0;
    // mix(a, b, c)
    a = (a - c) >>> 0; a ^= rot(c, 4); c = (c + b) >>> 0;
    b = (b - a) >>> 0; b ^= rot(a, 6); a = (a + c) >>> 0;
    c = (c - b) >>> 0; c ^= rot(b, 8); b = (b + a) >>> 0;
    a = (a - c) >>> 0; a ^= rot(c, 16); c = (c + b) >>> 0;
    b = (b - a) >>> 0; b ^= rot(a, 19); a = (a + c) >>> 0;
    c = (c - b) >>> 0; c ^= rot(b, 4); b = (b + a) >>> 0;
    a >>>= 0; b >>>= 0; c >>>= 0;
    length -= 12;
    k += 12;
  }
  if (length === 0) return c >>> 0;
  // The last 1–12 bytes, zero-padded (the byte-wise tail of hashlittle).
  const tail = new Uint8Array(12);
  tail.set(buf.subarray(k, k + length));
  const t = (i: number): number =>
    ((tail[i] as number) | ((tail[i + 1] as number) << 8) | ((tail[i + 2] as number) << 16) | ((tail[i + 3] as number) << 24)) >>> 0;
  a = (a + t(0)) >>> 0;
  b = (b + t(4)) >>> 0;
  c = (c + t(8)) >>> 0;
  // final(a, b, c)
  c ^= b; c = (c - rot(b, 14)) >>> 0;
  a ^= c; a = (a - rot(c, 11)) >>> 0;
  b ^= a; b = (b - rot(a, 25)) >>> 0;
  c ^= b; c = (c - rot(b, 16)) >>> 0;
  a ^= c; a = (a - rot(c, 4)) >>> 0;
  b ^= a; b = (b - rot(a, 14)) >>> 0;
  c ^= b; c = (c - rot(b, 24)) >>> 0;
  return c >>> 0;
}

/** Checks the 4-byte checksum that ends `buf` (it covers everything before it). */
export function checkChecksum(buf: Buffer, what: string): void {
  if (buf.length < 4) bail(`${what} is too short for its checksum`);
  const stored = buf.readUInt32LE(buf.length - 4);
  if (lookup3(buf.subarray(0, buf.length - 4)) !== stored) bail(`${what} fails its checksum`);
}

/** Finds the superblock (at 0, 512, 1024, … as the spec allows) and reads what addresses need. */
export function readSuperblock(fd: number, fileSize = fstatSync(fd).size): Superblock | { unsupported: string } {
  try {
    const file = new FileBytes(fd, fileSize);
    for (let at = 0; at + 48 <= fileSize; at = at === 0 ? 512 : at * 2) {
      const head = file.read(at, Math.min(64, fileSize - at), 'superblock');
      if (!head.subarray(0, 8).equals(SIGNATURE)) continue;
      const version = head[8] as number;
      if (version > 3) return { unsupported: `superblock version ${version}` };
      const offsetSize = head[version <= 1 ? 13 : 9] as number;
      const lengthSize = head[version <= 1 ? 14 : 10] as number;
      if (![2, 4, 8].includes(offsetSize) || ![2, 4, 8].includes(lengthSize)) {
        return { unsupported: `address width ${offsetSize}/${lengthSize}` };
      }
      // Addresses count from the superblock, whatever its base address field says: HDF5 itself rebases on
      // the superblock's position when they differ (H5F__super_read), so this is what it reads too.
      const f = new Fields(head, { offsetSize, lengthSize });
      f.pos = version === 0 ? 24 : version === 1 ? 28 : 12;
      const storedBase = f.addr();
      f.addr(); // superblock extension (v2+), free-space info (v0/v1)
      const storedEof = f.addr();
      if (storedBase === undefined || storedEof === undefined || storedEof < storedBase) {
        return { unsupported: 'no base or end-of-file address' };
      }
      return { base: at, offsetSize, lengthSize, end: at + storedEof - storedBase };
    }
    return { unsupported: 'no superblock' };
  } catch (e) {
    if (e instanceof Unsupported) return { unsupported: e.message };
    throw e;
  }
}

/** One object header message. */
export interface Message {
  type: number;
  flags: number;
  data: Buffer;
}

const MSG_DATATYPE = 0x03;
const MSG_EXTERNAL = 0x07;
const MSG_LAYOUT = 0x08;
const MSG_PIPELINE = 0x0b;
const MSG_CONTINUATION = 0x10;
const MSG_FLAG_SHARED = 0x02;

/** What headerMessages saw of a header besides its messages (for quick.ts's checks). */
export interface HeaderFacts {
  version: number;
  /** v1: the message count the prefix declares; v2: -1. */
  declared: number;
  /** Messages found, continuation and null messages included. */
  counted: number;
  /** Bytes left over at the ends of blocks, too few for a message. */
  gaps: number;
}

/** Every message of the object header at absolute `at` (v1 or v2), following continuation blocks. */
export function headerMessages(file: FileBytes, sb: Superblock, at: number, facts?: HeaderFacts): Message[] {
  const out: Message[] = [];
  const prefix = file.read(at, 16, 'object header');
  const blocks: { start: number; length: number; first: boolean }[] = [];
  let v2 = false;
  let v2Flags = 0;
  if (prefix.toString('latin1', 0, 4) === 'OHDR') {
    v2 = true;
    if (facts !== undefined) Object.assign(facts, { version: 2, declared: -1, counted: 0, gaps: 0 });
    if (prefix[4] !== 2) bail(`object header version ${prefix[4]}`);
    v2Flags = prefix[5] as number;
    let pos = 6 + ((v2Flags & 0x20) !== 0 ? 16 : 0) + ((v2Flags & 0x10) !== 0 ? 4 : 0);
    const sizeBytes = 1 << (v2Flags & 3);
    const head = file.read(at, pos + sizeBytes, 'object header');
    const f = new Fields(head, sb);
    f.pos = pos;
    const chunk0 = f.uint(sizeBytes);
    pos += sizeBytes;
    // The first block: prefix, messages, checksum, all covered by the checksum.
    const whole = file.read(at, pos + chunk0 + 4, 'object header');
    checkChecksum(whole, 'object header');
    blocks.push({ start: at + pos, length: chunk0, first: true });
  } else {
    if (prefix[0] !== 1) bail(`object header version ${prefix[0]}`);
    if (facts !== undefined) Object.assign(facts, { version: 1, declared: prefix.readUInt16LE(2), counted: 0, gaps: 0 });
    const headerSize = prefix.readUInt32LE(8);
    blocks.push({ start: at + 16, length: headerSize, first: true });
  }
  for (let i = 0; i < blocks.length; i++) {
    if (i >= MAX_HEADER_BLOCKS) bail('too many object header blocks');
    const block = blocks[i] as (typeof blocks)[number];
    let bytes: Buffer;
    if (v2 && !block.first) {
      const whole = file.read(block.start, block.length, 'object header continuation');
      checkChecksum(whole, 'object header continuation');
      const f = new Fields(whole, sb);
      f.signature('OCHK', 'object header continuation');
      bytes = whole.subarray(4, whole.length - 4);
    } else {
      bytes = file.read(block.start, block.length, 'object header');
    }
    const f = new Fields(bytes, sb);
    const headerLen = v2 ? 4 + ((v2Flags & 0x04) !== 0 ? 2 : 0) : 8;
    while (f.pos + headerLen <= bytes.length) {
      const type = v2 ? f.u8() : f.u16();
      const size = f.u16();
      const flags = f.u8();
      if (v2) f.skip((v2Flags & 0x04) !== 0 ? 2 : 0);
      else f.skip(3);
      if (f.pos + size > bytes.length) bail('an object header message overruns its block');
      const data = bytes.subarray(f.pos, f.pos + size);
      f.pos += size;
      if (facts !== undefined) facts.counted++;
      if (type === MSG_CONTINUATION) {
        const c = new Fields(data, sb);
        const addr = c.addr();
        const length = c.length();
        if (addr === undefined || length === 0) bail('a continuation message with no address or length');
        blocks.push({ start: sb.base + (addr as number), length, first: false });
        continue;
      }
      out.push({ type, flags, data });
    }
    if (facts !== undefined) facts.gaps += bytes.length - f.pos;
  }
  return out;
}

/** Standard IEEE layouts of float16/32/64: exponent location and size, mantissa size, bias, sign bit. */
const IEEE: Record<number, [number, number, number, number, number]> = {
  2: [10, 5, 10, 15, 15],
  4: [23, 8, 23, 127, 31],
  8: [52, 11, 52, 1023, 63],
};

/**
 * A float datatype's properties after its bit offset and precision: exponent and mantissa fields and bias must be
 * the standard IEEE layout of `size` bytes, with the sign bit (`signBit`, from the class bits) where IEEE has it.
 */
export function checkIeeeFields(f: Fields, size: number, signBit: number): void {
  const expLoc = f.u8();
  const expSize = f.u8();
  const mantLoc = f.u8();
  const mantSize = f.u8();
  const bias = f.u32();
  const ieee = IEEE[size];
  if (ieee === undefined || mantLoc !== 0 || signBit !== ieee[4] || expLoc !== ieee[0] || expSize !== ieee[1] ||
    mantSize !== ieee[2] || bias !== ieee[3]) {
    bail('non-IEEE float layout');
  }
}

/** Whether the stored type is exactly the little-endian type h5wasm reported (else Unsupported). */
function checkDatatype(m: Message, target: RawTarget): void {
  if ((m.flags & MSG_FLAG_SHARED) !== 0) bail('shared (committed) datatype');
  const f = new Fields(m.data, { offsetSize: 8, lengthSize: 8 });
  const classVersion = f.u8();
  const cls = classVersion & 0x0f;
  const b0 = f.u8();
  const b1 = f.u8();
  f.u8();
  const size = f.u32();
  if (size !== target.elemBytes) bail(`stored element size ${size}, expected ${target.elemBytes}`);
  const float = target.dtype === 'f16' || target.dtype === 'f32' || target.dtype === 'f64';
  if (float) {
    if (cls !== 1) bail(`datatype class ${cls} for float data`);
    // Byte order: bits 0 and 6 (0/0 little-endian); padding bits 1-3 zero; normalization 2 (implied bit).
    if ((b0 & 0x41) !== 0) bail('big-endian or VAX float');
    if ((b0 & 0x0e) !== 0 || ((b0 >> 4) & 3) !== 2) bail('non-IEEE float padding or normalization');
    const offset = f.u16();
    const precision = f.u16();
    if (offset !== 0 || precision !== size * 8) bail('non-IEEE float layout');
    checkIeeeFields(f, size, b1);
    return;
  }
  if (cls !== 0) bail(`datatype class ${cls} for integer data`);
  if ((b0 & 0x01) !== 0) bail('big-endian integer');
  if ((b0 & 0x06) !== 0) bail('integer padding bits');
  const signed = (b0 & 0x08) !== 0;
  if (signed !== target.dtype.startsWith('i')) bail('integer signedness differs from the reported type');
  const offset = f.u16();
  const precision = f.u16();
  if (offset !== 0 || precision !== size * 8) bail('integer with a partial bit precision');
}

/** Where a chunk index says one chunk is: its index along the first dimension, and its relative address. */
interface ChunkEntry {
  index: number;
  addr: number | undefined;
  size: number;
}

/**
 * Locates the rows of the dataset whose object header is at relative address `objectAddress`. Never throws
 * for anything the file contains: what it cannot vouch for comes back as `{ unsupported: reason }`.
 */
export function locateRows(fd: number, fileSize: number, sb: Superblock, objectAddress: number, target: RawTarget): RawLocation {
  try {
    if (target.rows === 0 || target.rowBytes === 0) return { runs: [] };
    if (target.dtype === 'compound') return { unsupported: 'compound type' };
    const file = new FileBytes(fd, Math.min(fileSize, sb.end));
    const messages = headerMessages(file, sb, sb.base + objectAddress);
    const datatype = messages.find((m) => m.type === MSG_DATATYPE);
    const layout = messages.find((m) => m.type === MSG_LAYOUT);
    if (datatype === undefined || layout === undefined) bail('no datatype or layout message');
    if (messages.some((m) => m.type === MSG_EXTERNAL)) bail('external storage');
    const pipeline = messages.find((m) => m.type === MSG_PIPELINE);
    if (pipeline !== undefined && pipeline.data.length >= 2 && (pipeline.data[1] as number) > 0) bail('filtered (compressed) data');
    checkDatatype(datatype as Message, target);
    return { runs: layoutRuns(file, sb, (layout as Message).data, target) };
  } catch (e) {
    if (e instanceof Unsupported) return { unsupported: e.message };
    throw e;
  }
}

const LAYOUT_COMPACT = 0;
const LAYOUT_CONTIGUOUS = 1;
const LAYOUT_CHUNKED = 2;
const INDEX_SINGLE = 1;
const INDEX_IMPLICIT = 2;
const INDEX_FIXED_ARRAY = 3;
const INDEX_NAMES: Record<number, string> = { 4: 'extensible array', 5: 'v2 B-tree' };

function layoutRuns(file: FileBytes, sb: Superblock, data: Buffer, target: RawTarget): RawRun[] {
  const f = new Fields(data, sb);
  const version = f.u8();
  if (version < 3 || version > 5) bail(`layout message version ${version}`);
  const cls = f.u8();
  const needed = target.rows * target.rowBytes;
  if (cls === LAYOUT_CONTIGUOUS) {
    const addr = f.addr();
    const size = f.length();
    if (target.chunkRows !== 0) bail('HDF5 reported a chunked layout');
    if (addr === undefined) bail('contiguous data never written');
    if (size < needed) bail(`contiguous storage of ${size} bytes for ${needed} bytes of rows`);
    const offset = sb.base + (addr as number);
    if (offset + needed > file.size) bail('contiguous data extends past the end of the file');
    return [{ row: 0, rows: target.rows, offset }];
  }
  if (cls === LAYOUT_COMPACT) bail('compact layout');
  if (cls !== LAYOUT_CHUNKED) bail(`layout class ${cls}`);
  let dims: number[];
  let indexType: number;
  let indexAddr: number | undefined;
  if (version === 3) {
    const ndims = f.u8();
    indexAddr = f.addr();
    dims = Array.from({ length: ndims }, () => f.u32());
    indexType = 0; // v1 B-tree
  } else {
    const flags = f.u8();
    const ndims = f.u8();
    const width = f.u8();
    if (width < 1 || width > 8) bail(`chunk dimension width ${width}`);
    dims = Array.from({ length: ndims }, () => f.uint(width));
    indexType = f.u8();
    if (indexType === INDEX_SINGLE && (flags & 0x02) !== 0) bail('filtered single chunk');
    if (indexType === INDEX_FIXED_ARRAY) f.skip(1);
    else if (indexType !== INDEX_SINGLE && indexType !== INDEX_IMPLICIT) bail(`${INDEX_NAMES[indexType] ?? `type ${indexType}`} chunk index`);
    indexAddr = f.addr();
  }
  // Chunk dims are the dataset's rank plus one (the element size), and must cover whole rows.
  const rank = 1 + target.rowShape.length;
  if (dims.length !== rank + 1 || dims[rank] !== target.elemBytes) bail('chunk dimensions do not match the dataset');
  for (let i = 1; i < rank; i++) if (dims[i] !== target.rowShape[i - 1]) bail('chunks split rows');
  const chunkRows = dims[0] as number;
  if (chunkRows < 1 || chunkRows !== target.chunkRows) bail('chunk rows differ from what HDF5 reported');
  if (indexAddr === undefined) bail('chunked data never written');
  const chunkBytes = chunkRows * target.rowBytes;
  const chunks = Math.ceil(target.rows / chunkRows);
  const at = sb.base + (indexAddr as number);
  let entries: ChunkEntry[];
  if (indexType === 0) {
    entries = btreeChunks(file, sb, at, dims, chunks);
  } else if (!target.fixedExtent) {
    // Single-chunk, implicit and fixed-array indexes are laid out over the maximum extent.
    bail('chunk index sized by a maximum extent larger than the dataset');
  } else if (indexType === INDEX_SINGLE) {
    entries = [{ index: 0, addr: indexAddr, size: chunkBytes }];
  } else if (indexType === INDEX_IMPLICIT) {
    entries = Array.from({ length: chunks }, (_, i) => ({ index: i, addr: (indexAddr as number) + i * chunkBytes, size: chunkBytes }));
  } else {
    entries = fixedArrayChunks(file, sb, at, chunks, chunkBytes);
  }
  return chunkRuns(file, sb, entries, target, chunkRows, chunkBytes, chunks);
}

/** One node of a v1 B-tree of raw-data chunks (node type 1): keys in chunk units (offsets / chunk dims). */
interface ChunkNode {
  level: number;
  /** `children.length + 1` keys. */
  keys: number[][];
  /** Chunk size of each child's left key (meaningful at level 0). */
  sizes: number[];
  children: number[];
}

/**
 * Chunk addresses from a v1 B-tree (layout v3), found the way HDF5 finds them: for each chunk, a descent from
 * the root that picks, in each node, the child whose key range holds the chunk (H5B_find's binary search with
 * H5D__btree_cmp3), and at the leaf an exact match of the left key (H5D__btree_found). So a damaged tree gives
 * what HDF5 would give: a chunk it would not find is "unallocated" here (and the dataset goes to h5wasm, which
 * reads it as the fill value), a chunk it would find in the wrong place is found there too. Nodes are read
 * once each (cached) and must be of the chunk type, on the levels their parents say, with every key on the
 * chunk grid (HDF5 refuses the dataset otherwise: "bad coordinate offset").
 */
function btreeChunks(file: FileBytes, sb: Superblock, root: number, dims: readonly number[], chunks: number): ChunkEntry[] {
  const nodes = new Map<number, ChunkNode>();
  const load = (at: number, level: number): ChunkNode => {
    const cached = nodes.get(at);
    if (cached !== undefined) {
      if (level >= 0 && cached.level !== level) bail('B-tree levels do not descend');
      return cached;
    }
    if (nodes.size > 2 * chunks + 64) bail('more B-tree nodes than the dataset has chunks');
    const headBytes = 8 + 2 * sb.offsetSize;
    const head = new Fields(file.read(at, headBytes, 'chunk B-tree node'), sb);
    head.signature('TREE', 'chunk B-tree node');
    if (head.u8() !== 1) bail('B-tree node of another type where chunks are indexed');
    const nodeLevel = head.u8();
    const used = head.u16();
    if (nodeLevel > MAX_BTREE_LEVEL || (level >= 0 && nodeLevel !== level)) bail('B-tree levels do not descend');
    if (used === 0) bail('an empty B-tree node');
    const keyBytes = 8 + 8 * dims.length;
    const f = new Fields(file.read(at + headBytes, used * (keyBytes + sb.offsetSize) + keyBytes, 'chunk B-tree node'), sb);
    const node: ChunkNode = { level: nodeLevel, keys: [], sizes: [], children: [] };
    for (let i = 0; i <= used; i++) {
      node.sizes.push(f.u32());
      f.u32(); // filter mask: no filters, nothing to skip
      node.keys.push(dims.map((d) => {
        const o = f.uint(8);
        if (o % d !== 0) bail('a B-tree key off the chunk grid');
        return o / d;
      }));
      if (i === used) break;
      const child = f.addr();
      if (child === undefined) bail('B-tree child with no address');
      node.children.push(child as number);
    }
    nodes.set(at, node);
    return node;
  };
  const n = dims.length;
  // H5D__btree_cmp3, tests in its order: 1 when the chunk lies at or right of the right key, -1 when left of
  // the left key, else 0. One-dimensional datasets (n = 2 with the element size) compare as HDF5's special
  // case does, on the first coordinate with the second breaking a tie at the right key.
  const cmp3 = (lt: number[], c: number, rt: number[]): number => {
    if (n === 2) {
      if (c > (rt[0] as number) || (c === rt[0] && 0 >= (rt[1] as number))) return 1;
      if (c < (lt[0] as number)) return -1;
      return 0;
    }
    // The chunk's key is [c, 0, ..., 0]: compared in place (this runs ~10 times a chunk, for every chunk).
    if (!targetBefore(c, rt)) return 1;
    if (targetBefore(c, lt)) return -1;
    return 0;
  };
  /** Whether [c, 0, ..., 0] sorts before `key` (lexicographic; keys are non-negative). */
  const targetBefore = (c: number, key: number[]): boolean => {
    if (c !== key[0]) return c < (key[0] as number);
    for (let i = 1; i < n; i++) if (key[i] !== 0) return true;
    return false;
  };
  const rootNode = load(root, -1);
  const out: ChunkEntry[] = [];
  for (let c = 0; c < chunks; c++) {
    let node = rootNode;
    for (;;) {
      // H5B_find: binary search for the child whose [key[i], key[i+1]) holds the chunk.
      let lt = 0;
      let rt = node.children.length;
      let idx = 0;
      let cmp = 1;
      while (lt < rt && cmp !== 0) {
        idx = Math.floor((lt + rt) / 2);
        cmp = cmp3(node.keys[idx] as number[], c, node.keys[idx + 1] as number[]);
        if (cmp < 0) rt = idx;
        else lt = idx + 1;
      }
      if (cmp !== 0) bail('unallocated chunks');
      const child = node.children[idx] as number;
      if (node.level > 0) {
        node = load(sb.base + child, node.level - 1);
        continue;
      }
      // H5D__btree_found: the chunk must be the entry's left key (HDF5 lets a one-dimensional key's element
      // offset be anything; a non-zero one is left to HDF5 here).
      const key = node.keys[idx] as number[];
      if (key[0] !== c || key.some((k, i) => i > 0 && k !== 0)) bail('unallocated chunks');
      out.push({ index: c, addr: child, size: node.sizes[idx] as number });
      break;
    }
  }
  return out;
}

/** Chunk addresses from a fixed array (FAHD header, FADB data block, paged when large). */
function fixedArrayChunks(file: FileBytes, sb: Superblock, at: number, chunks: number, chunkBytes: number): ChunkEntry[] {
  const headBytes = 4 + 1 + 1 + 1 + 1 + sb.lengthSize + sb.offsetSize + 4;
  const headBuf = file.read(at, headBytes, 'fixed array header');
  checkChecksum(headBuf, 'fixed array header');
  const h = new Fields(headBuf, sb);
  h.signature('FAHD', 'fixed array header');
  if (h.u8() !== 0) bail('fixed array header version');
  if (h.u8() !== 0) bail('fixed array of filtered chunks');
  const entrySize = h.u8();
  const pageBits = h.u8();
  const count = h.length();
  const dblock = h.addr();
  if (entrySize !== sb.offsetSize || pageBits > 32) bail('fixed array entry layout');
  if (count !== chunks) bail(`fixed array of ${count} chunks where the dataset has ${chunks}`);
  if (dblock === undefined) bail('fixed array with no data block');
  const perPage = 2 ** pageBits;
  const pages = count > perPage ? Math.ceil(count / perPage) : 0;
  const prefixBytes = 4 + 1 + 1 + sb.offsetSize + (pages > 0 ? Math.ceil(pages / 8) : 0);
  const start = sb.base + (dblock as number);
  const entries: ChunkEntry[] = [];
  const take = (f: Fields, from: number, n: number): void => {
    for (let i = 0; i < n; i++) entries.push({ index: from + i, addr: f.addr(), size: chunkBytes });
  };
  const checkPrefix = (f: Fields): void => {
    f.signature('FADB', 'fixed array data block');
    if (f.u8() !== 0 || f.u8() !== 0) bail('fixed array data block version or class');
    if (f.addr() !== at - sb.base) bail('fixed array data block of another array');
  };
  if (pages === 0) {
    const buf = file.read(start, prefixBytes + count * entrySize + 4, 'fixed array data block');
    checkChecksum(buf, 'fixed array data block');
    const f = new Fields(buf, sb);
    checkPrefix(f);
    take(f, 0, count);
    return entries;
  }
  const prefix = file.read(start, prefixBytes + 4, 'fixed array data block');
  checkChecksum(prefix, 'fixed array data block');
  const f = new Fields(prefix, sb);
  checkPrefix(f);
  const pageBytes = perPage * entrySize + 4;
  for (let p = 0; p < pages; p++) {
    // An uninitialised page holds no chunk addresses: chunks never written.
    if (((prefix[prefixBytes - Math.ceil(pages / 8) + (p >> 3)] as number) & (0x80 >> (p & 7))) === 0) bail('unallocated chunks');
    const n = Math.min(perPage, count - p * perPage);
    const page = file.read(start + prefixBytes + 4 + p * pageBytes, n * entrySize + 4, 'fixed array page');
    checkChecksum(page, 'fixed array page');
    take(new Fields(page, sb), p * perPage, n);
  }
  return entries;
}

/** Turns chunk entries into row runs, checking that every chunk is there once, whole and inside the file. */
function chunkRuns(file: FileBytes, sb: Superblock, entries: ChunkEntry[], target: RawTarget, chunkRows: number,
  chunkBytes: number, chunks: number): RawRun[] {
  const byIndex = new Array<number | undefined>(chunks);
  for (const e of entries) {
    if (e.addr === undefined) bail('unallocated chunks');
    if (e.size !== chunkBytes) bail(`a chunk of ${e.size} bytes where unfiltered chunks have ${chunkBytes}`);
    if (byIndex[e.index] !== undefined) bail('a chunk indexed twice');
    byIndex[e.index] = sb.base + (e.addr as number);
  }
  const runs: RawRun[] = [];
  for (let i = 0; i < chunks; i++) {
    const offset = byIndex[i];
    if (offset === undefined) bail('unallocated chunks');
    const row = i * chunkRows;
    const rows = Math.min(chunkRows, target.rows - row);
    if ((offset as number) + rows * target.rowBytes > file.size) bail('a chunk extends past the end of the file');
    const last = runs[runs.length - 1];
    // Chunks stored back to back (as h5py writes them) make one run.
    if (last !== undefined && last.offset + last.rows * target.rowBytes === offset && last.row + last.rows === row) {
      last.rows += rows;
    } else {
      runs.push({ row, rows, offset: offset as number });
    }
  }
  return runs;
}
