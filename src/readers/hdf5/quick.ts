/**
 * The survey of an HDF5 file without HDF5: its groups walked and its datasets described from the file's own
 * metadata (superblock, object headers, symbol tables and link messages), for files whose every dataset is read
 * directly (direct.ts) anyway. Then h5wasm is never loaded: loading it costs ~140–190 ms of the main thread (a ~30 ms
 * compile, then HDF5's library initialisation as unoptimised wasm), which was most of a small HDF5 scan.
 *
 * It gives an answer only when it is sure the answer is HDF5's: the common layouts h5py writes (superblocks
 * v0–v3, old-style groups with a symbol table, new-style compact groups with link messages, hard links, numeric
 * little-endian datasets with at least one dimension and values, each located by direct.ts). Anything else
 * (soft and external links, dense link storage, strings, compounds, scalars, empty datasets, filters,
 * big-endian types, damage of any kind, an object reached twice) declines the whole file (`{ unsupported }`),
 * and the caller surveys it with h5wasm as before. A differential test holds the two to the same result on every fixture
 * and on damaged copies of them.
 *
 * Names are walked as h5wasm's recursive `get_names` (H5Lvisit by name, increasing) walks them: each group's
 * links in byte order of their names, a group's members right after the group.
 */
import { closeSync, fstatSync, openSync } from 'node:fs';
import { OPEN_FLAGS } from '../files.js';
import {
  bail, checkChecksum, checkIeeeFields, Fields, FileBytes, headerMessages, locateRows, readSuperblock, Unsupported,
  type HeaderFacts, type Message, type RawRun, type Superblock,
} from './direct.js';
import { describe, pickLabels, type DatasetInfo, type Walk } from './h5.js';

/** A file's walk as h5wasm would give it, and where each dataset's rows lie. */
export interface QuickWalk {
  walk: Walk;
  runs: Map<DatasetInfo, RawRun[]>;
}

/** Objects (groups and datasets) walked in one file at most; more go to h5wasm. */
const MAX_OBJECTS = 100_000;
/** Group nesting followed at most. */
const MAX_DEPTH = 64;

const MSG_DATASPACE = 0x01;
const MSG_LINK_INFO = 0x02;
const MSG_DATATYPE = 0x03;
const MSG_LINK = 0x06;
const MSG_FILL_OLD = 0x04;
const MSG_FILL = 0x05;
const MSG_EXTERNAL = 0x07;
const MSG_LAYOUT = 0x08;
const MSG_PIPELINE = 0x0b;
const MSG_MTIME_OLD = 0x0e;
const MSG_MTIME = 0x12;
const MSG_SYMBOL_TABLE = 0x11;
/** Highest message type of the format (0x18, the reference count message); a higher one is not understood. */
const MSG_LAST_KNOWN = 0x18;

/**
 * Walks `absPath` and locates its datasets' rows, or says why h5wasm must do it (see the module comment).
 * Never throws for anything in the file.
 */
export function quickWalk(absPath: string, labelNames: readonly string[]): QuickWalk | { unsupported: string } {
  let fd: number;
  try {
    fd = openSync(absPath, OPEN_FLAGS);
  } catch (e) {
    return { unsupported: (e as Error).message };
  }
  try {
    const size = fstatSync(fd).size;
    const sb = readSuperblock(fd, size);
    if ('unsupported' in sb) return sb;
    const root = rootGroup(new FileBytes(fd, size), sb);
    // HDF5 reads no metadata past its end of file ("addr overflow"), even where the file goes on.
    const walker = new Walker(new FileBytes(fd, sb.end), sb, labelNames, root);
    walker.root();
    const datasets = walker.found.map((f) => f.info);
    pickLabels(datasets, labelNames);
    const runs = new Map<DatasetInfo, RawRun[]>();
    for (const f of walker.found) {
      const where = locateRows(fd, size, sb, f.addr, f.info);
      if (!('runs' in where)) return { unsupported: `${f.info.name}: ${where.unsupported}` };
      runs.set(f.info, where.runs);
    }
    return { walk: { datasets, skipped: [], unsupported: [], problems: [] }, runs };
  } catch (e) {
    if (e instanceof Unsupported) return { unsupported: e.message };
    throw e;
  } finally {
    closeSync(fd);
  }
}

/** The root group as the superblock gives it: its object header, and the symbol table cached in its entry, if any. */
interface Root {
  addr: number;
  cached?: StabAddresses;
  /** Symbol table leaf and internal node K (sizes of symbol nodes and group B-tree nodes). */
  leafK: number;
  internalK: number;
}

/** A symbol table message's B-tree and local heap addresses (also cached in symbol table entries). */
interface StabAddresses {
  btree: number | undefined;
  heap: number | undefined;
}

/**
 * The root group, after the checks HDF5 makes on open that could fail: the v0/v1 superblock's format versions
 * and node sizes, the v2/v3 superblock checksum, the end-of-file address within the file (else "truncated
 * file"), the root entry's cache type; and no driver information, superblock extension or file consistency
 * flags (left to HDF5).
 */
function rootGroup(file: FileBytes, sb: Superblock): Root {
  const o = sb.offsetSize;
  const head = file.read(sb.base, Math.min(file.size - sb.base, 48 + 6 * o), 'superblock');
  const version = head[8] as number;
  const f = new Fields(head, sb);
  let root: number | undefined;
  let cached: StabAddresses | undefined;
  // HDF5's defaults, which v2/v3 superblocks do not store (they would be in the superblock extension).
  let leafK = 4;
  let internalK = 16;
  if (version <= 1) {
    if (head[9] !== 0 || head[10] !== 0 || head[12] !== 0) bail('superblock component versions');
    f.pos = 16;
    leafK = f.u16();
    internalK = f.u16();
    if (leafK === 0 || internalK === 0) bail('symbol table node sizes');
    if (f.u32() !== 0) bail('file consistency flags set');
    if (version === 1 && f.u16() === 0) bail('chunk B-tree node size');
    f.pos = version === 1 ? 28 : 24;
    // HDF5 counts the stored end of file from the stored base address; one elsewhere than the superblock
    // (where readSuperblock takes addresses from) is left to it.
    if (f.addr() !== sb.base) bail('a base address other than the superblock\'s');
    // The free-space address, read by HDF5 as the superblock extension's, which only v2+ may have.
    if (f.addr() !== undefined) bail('a superblock extension address in a v0/v1 superblock');
    f.addr(); // end of file (readSuperblock's sb.end)
    if (f.addr() !== undefined) bail('driver information block');
    f.addr(); // root entry: link name offset
    root = f.addr();
    const cache = f.u32();
    f.skip(4);
    if (cache === 1) cached = { btree: f.addr(), heap: f.addr() };
    else if (cache !== 0) bail(`root entry cache type ${cache}`);
  } else {
    f.pos = 11;
    if (f.u8() !== 0) bail('file consistency flags set');
    if (f.addr() !== sb.base) bail('a base address other than the superblock\'s');
    if (f.addr() !== undefined) bail('superblock extension');
    f.addr(); // end of file (readSuperblock's sb.end)
    root = f.addr();
    checkChecksum(head.subarray(0, f.pos + 4), 'superblock');
  }
  // HDF5 compares the stored end of file with the file's whole size, a user block included (H5F__super_read).
  if (sb.end > file.size) bail('end-of-file address beyond the file');
  if (root === undefined) bail('no root group');
  const r: Root = { addr: root as number, leafK, internalK };
  if (cached !== undefined) r.cached = cached;
  return r;
}

/** A dataset found, with its object header's relative address. */
interface Found {
  info: DatasetInfo;
  addr: number;
}

/** A hard link: the name's bytes, the object, and the symbol table its entry caches (old-style groups). */
interface Link {
  name: Buffer;
  addr: number;
  cached?: StabAddresses;
}

/** Message flags seen in what HDF5 writes for these objects: none, constant, constant + do-not-share. */
const PLAIN_FLAGS = new Set([0x00, 0x01, 0x04, 0x05]);

class Walker {
  readonly found: Found[] = [];
  private readonly seen = new Set<number>();

  constructor(private readonly file: FileBytes, private readonly sb: Superblock, private readonly labelNames: readonly string[],
    private readonly rootGroup: Root) {}

  /** Walks the root group. */
  root(): void {
    const messages = this.messages(this.rootGroup.addr);
    this.group(messages, '', 0, this.rootGroup.cached);
  }

  /** Walks the group of `messages`, its links named under `prefix`. */
  private group(messages: Message[], prefix: string, depth: number, cached: StabAddresses | undefined): void {
    if (depth > MAX_DEPTH) bail('groups nested too deep');
    const links = this.links(messages, cached);
    for (const link of links) {
      const name = prefix === '' ? link.name.toString('utf8') : `${prefix}/${link.name.toString('utf8')}`;
      const child = this.messages(link.addr);
      const has = (t: number): boolean => child.some((m) => m.type === t);
      const isGroup = has(MSG_SYMBOL_TABLE) || has(MSG_LINK_INFO);
      const isDataset = has(MSG_DATATYPE) && has(MSG_DATASPACE) && has(MSG_LAYOUT);
      const isType = has(MSG_DATATYPE) && !has(MSG_DATASPACE) && !has(MSG_LAYOUT);
      if (link.cached !== undefined && !isGroup) bail(`'${name}' caches a symbol table it does not have`);
      if (isGroup && !has(MSG_DATATYPE) && !has(MSG_DATASPACE) && !has(MSG_LAYOUT)) this.group(child, name, depth + 1, link.cached);
      else if (isDataset && !isGroup) this.found.push({ info: this.dataset(name, child), addr: link.addr });
      else if (isType && !isGroup) continue; // a named datatype: h5wasm's walk passes over it too
      else bail(`object '${name}' is neither a plain group, a dataset nor a named datatype`);
    }
  }

  /**
   * An object's messages, once per object (an object reached twice, or too many, goes to h5wasm), with the
   * checks HDF5 makes when it loads a header: known message types, flag combinations (only the plain ones are
   * taken), and in v1 headers the declared message count and 8-byte message alignment.
   */
  private messages(addr: number): Message[] {
    if (this.seen.has(addr)) bail('an object reached twice');
    if (this.seen.size >= MAX_OBJECTS) bail('too many objects');
    this.seen.add(addr);
    const facts: HeaderFacts = { version: 0, declared: -1, counted: 0, gaps: 0 };
    const messages = headerMessages(this.file, this.sb, this.sb.base + addr, facts);
    if (facts.version === 1 && (facts.declared !== facts.counted || facts.gaps !== 0)) bail('object header message count or gap');
    for (const m of messages) {
      if (m.type > MSG_LAST_KNOWN) bail(`object header message type ${m.type}`);
      if (!PLAIN_FLAGS.has(m.flags)) bail(`object header message flags ${m.flags}`);
      if (facts.version === 1 && m.data.length % 8 !== 0) bail('unaligned object header message');
    }
    return messages;
  }

  /** A group's hard links in name order (byte order, as HDF5 compares names). */
  private links(messages: Message[], cached: StabAddresses | undefined): Link[] {
    const stab = messages.filter((m) => m.type === MSG_SYMBOL_TABLE);
    const linfo = messages.filter((m) => m.type === MSG_LINK_INFO);
    let links: Link[];
    if (stab.length === 1 && linfo.length === 0) {
      links = this.symbolTable(stab[0] as Message, cached);
    } else if (stab.length === 0 && linfo.length === 1 && cached === undefined) {
      links = this.compactLinks(linfo[0] as Message, messages.filter((m) => m.type === MSG_LINK));
      links.sort((a, b) => Buffer.compare(a.name, b.name));
    } else {
      bail('a group with both or several kinds of link storage');
    }
    for (let i = 0; i < links.length; i++) {
      const l = links[i] as Link;
      if (i > 0 && Buffer.compare((links[i - 1] as Link).name, l.name) >= 0) bail('links out of order or repeated');
      // Names as h5wasm hands them over (UTF-8); one that does not round-trip is left to it.
      const name = l.name.toString('utf8');
      if (name === '' || name.includes('/') || !Buffer.from(name, 'utf8').equals(l.name)) bail('a link name h5wasm may spell otherwise');
    }
    return links;
  }

  /**
   * Old-style group: a v1 B-tree of symbol nodes, names in a local heap. Every name must lie where HDF5's
   * lookups look for it (each child's names between its keys, H5G__node_cmp3), in order.
   */
  private symbolTable(m: Message, cached: StabAddresses | undefined): Link[] {
    const f = new Fields(m.data, this.sb);
    const btree = f.addr();
    const heapAddr = f.addr();
    if (btree === undefined || heapAddr === undefined) bail('a symbol table with no B-tree or heap');
    if (cached !== undefined && (cached.btree !== btree || cached.heap !== heapAddr)) bail('a cached symbol table that differs');
    const heap = this.localHeap(heapAddr as number);
    const out: Link[] = [];
    this.groupNode(btree as number, -1, heap, out, new Set());
    return out;
  }

  /** A local heap's data segment, its free list checked as HDF5 checks it (H5HL__fl_deserialize). */
  private localHeap(addr: number): Buffer {
    const o = this.sb.offsetSize;
    const l = this.sb.lengthSize;
    const head = this.file.read(this.sb.base + addr, 8 + 2 * l + o, 'local heap');
    const f = new Fields(head, this.sb);
    f.signature('HEAP', 'local heap');
    if (f.u8() !== 0) bail('local heap version');
    f.skip(3);
    const size = f.length();
    let free = f.uint(l);
    const dataAddr = f.addr();
    if (dataAddr === undefined || size === 0) bail('local heap with no data segment');
    const data = this.file.read(this.sb.base + (dataAddr as number), size, 'local heap data');
    const FREE_NULL = 1;
    for (let n = 0; free !== FREE_NULL; n++) {
      if (n > size || free >= size || free + 2 * l > size) bail('local heap free list');
      const b = new Fields(data, this.sb);
      b.pos = free;
      const next = b.uint(l);
      const blockSize = b.uint(l);
      if (next === 0 || free + blockSize > size) bail('local heap free list');
      free = next;
    }
    return data;
  }

  /**
   * One node of a group B-tree (node type 0); symbol nodes at level 0. Returns the names below it, after
   * checking that each child's lie between its keys (left key < name <= right key), as lookups require.
   */
  private groupNode(addr: number, level: number, heap: Buffer, out: Link[], nodes: Set<number>): void {
    if (nodes.has(addr)) bail('a B-tree node reached twice');
    nodes.add(addr);
    const o = this.sb.offsetSize;
    const l = this.sb.lengthSize;
    const head = this.file.read(this.sb.base + addr, 8 + 2 * o, 'group B-tree node');
    const f = new Fields(head, this.sb);
    f.signature('TREE', 'group B-tree node');
    if (f.u8() !== 0) bail('B-tree node of another type in a group');
    const nodeLevel = f.u8();
    const entries = f.u16();
    const twoK = 2 * this.rootGroup.internalK;
    if ((level >= 0 && nodeLevel !== level) || nodeLevel > 64 || entries > twoK) bail('group B-tree levels or size');
    if (entries === 0 && level >= 0) bail('an empty B-tree node below the root');
    // HDF5 reads the whole node, as sized for 2K entries.
    const body = this.file.read(this.sb.base + addr + 8 + 2 * o, twoK * (l + o) + l, 'group B-tree node');
    const b = new Fields(body, this.sb);
    let left = heapString(heap, b.uint(l));
    for (let i = 0; i < entries; i++) {
      const child = b.addr();
      const right = heapString(heap, b.uint(l));
      if (child === undefined) bail('a group B-tree child with no address');
      const first = out.length;
      if (nodeLevel > 0) this.groupNode(child as number, nodeLevel - 1, heap, out, nodes);
      else this.symbolNode(child as number, heap, out);
      for (let k = first; k < out.length; k++) {
        const name = (out[k] as Link).name;
        if (Buffer.compare(name, left) <= 0 || Buffer.compare(name, right) > 0) bail('a name outside its B-tree keys');
      }
      left = right;
    }
  }

  private symbolNode(addr: number, heap: Buffer, out: Link[]): void {
    const o = this.sb.offsetSize;
    const head = this.file.read(this.sb.base + addr, 8, 'symbol node');
    const f = new Fields(head, this.sb);
    f.signature('SNOD', 'symbol node');
    if (f.u8() !== 1) bail('symbol node version');
    f.skip(1);
    const count = f.u16();
    const twoK = 2 * this.rootGroup.leafK;
    if (count === 0 || count > twoK) bail('symbol node size');
    const entrySize = 2 * o + 24;
    // HDF5 reads the whole node, as sized for 2K entries.
    const body = new Fields(this.file.read(this.sb.base + addr + 8, twoK * entrySize, 'symbol node'), this.sb);
    for (let i = 0; i < count; i++) {
      const start = body.pos;
      const nameOffset = body.uint(o);
      const objAddr = body.addr();
      const cache = body.u32();
      body.skip(4);
      if (cache === 2) bail('soft link');
      if (cache > 2 || objAddr === undefined) bail('a symbol table entry with no object');
      const link: Link = { name: heapString(heap, nameOffset), addr: objAddr as number };
      if (cache === 1) link.cached = { btree: body.addr(), heap: body.addr() };
      body.pos = start + entrySize;
      out.push(link);
    }
  }

  /** New-style group with its links in the object header (dense storage goes to h5wasm). */
  private compactLinks(info: Message, links: Message[]): Link[] {
    const f = new Fields(info.data, this.sb);
    if (f.u8() !== 0) bail('link info version');
    const flags = f.u8();
    if ((flags & ~0x03) !== 0) bail('link info flags');
    if ((flags & 0x01) !== 0) f.skip(8);
    if (f.addr() !== undefined) bail('dense link storage');
    return links.map((m) => {
      const l = new Fields(m.data, this.sb);
      if (l.u8() !== 1) bail('link message version');
      const lf = l.u8();
      if ((lf & ~0x1f) !== 0) bail('link message flags');
      if ((lf & 0x08) !== 0 && l.u8() !== 0) bail('soft or external link');
      if ((lf & 0x04) !== 0) l.skip(8);
      if ((lf & 0x10) !== 0 && l.u8() > 1) bail('link name character set');
      const length = l.uint(1 << (lf & 0x03));
      if (length === 0) bail('an empty link name');
      l.skip(length);
      const name = m.data.subarray(l.pos - length, l.pos);
      const addr = l.addr();
      if (addr === undefined) bail('a hard link with no address');
      return { name: Buffer.from(name), addr: addr as number };
    });
  }

  /** A dataset as h5wasm's metadata would describe it; anything describe() does not scan goes to h5wasm. */
  private dataset(name: string, messages: Message[]): DatasetInfo {
    const one = (t: number): Message => {
      const found = messages.filter((m) => m.type === t);
      // Shared (committed) messages are not among PLAIN_FLAGS: messages() has refused them.
      if (found.length !== 1) bail('a dataset message missing or repeated');
      return found[0] as Message;
    };
    const type = datatype(one(MSG_DATATYPE));
    const { shape, maxshape } = dataspace(one(MSG_DATASPACE), this.sb.lengthSize);
    const chunks = chunkShape(one(MSG_LAYOUT), shape, maxshape, type.size, this.sb);
    // Other messages HDF5 decodes when it opens a dataset: the fill value (new or old form), times.
    for (const m of messages) {
      if (m.type === MSG_FILL_OLD || m.type === MSG_FILL) fillValue(m, type.size);
      else if (m.type === MSG_MTIME) mtime(m);
      else if (m.type === MSG_MTIME_OLD || m.type === MSG_PIPELINE || m.type === MSG_EXTERNAL) bail(`message type ${m.type}`);
    }
    const d = describe(name, { ...type, shape, maxshape, chunks } as Parameters<typeof describe>[1], this.labelNames);
    if (d.info === undefined || d.problem !== undefined || d.unsupported.length > 0) bail('a dataset h5wasm describes');
    return d.info as DatasetInfo;
  }
}

/**
 * A fill value message as HDF5 decodes it (H5O_fill_decode, H5O_fill_old_decode), in the forms it writes: a
 * value, if any, of the element's size, inside the message. Else Unsupported.
 */
function fillValue(m: Message, elemBytes: number): void {
  const f = new Fields(m.data, { offsetSize: 8, lengthSize: 8 });
  let defined = true;
  if (m.type === MSG_FILL) {
    const version = f.u8();
    if (version === 1 || version === 2) {
      const alloc = f.u8();
      const write = f.u8();
      const d = f.u8();
      if (alloc < 1 || alloc > 3 || write > 2 || d > 1) bail('fill value message fields');
      defined = d === 1;
    } else if (version === 3) {
      const flags = f.u8();
      if ((flags & 0xc0) !== 0 || (flags & 0x03) === 0 || ((flags >> 2) & 0x03) > 2 || (flags & 0x30) === 0x30) bail('fill value message flags');
      defined = (flags & 0x20) !== 0;
    } else {
      bail(`fill value message version ${version}`);
    }
  }
  if (!defined) return;
  const size = f.u32();
  if (size !== 0 && size !== elemBytes) bail('a fill value of another size than the element');
  f.skip(size);
}

/** A modification time message (H5O__mtime_new_decode): version 1, then the time. */
function mtime(m: Message): void {
  const f = new Fields(m.data, { offsetSize: 8, lengthSize: 8 });
  if (f.u8() !== 1) bail('modification time message version');
  f.skip(7);
}

/** The NUL-terminated name at `offset` of a local heap's data. */
function heapString(heap: Buffer, offset: number): Buffer {
  const end = offset < heap.length ? heap.indexOf(0, offset) : -1;
  if (end < 0) bail('a name outside its heap');
  return Buffer.from(heap.subarray(offset, end));
}

/** h5wasm's `type`, `size`, `signed` for the little-endian IEEE floats and whole-byte integers; else Unsupported. */
function datatype(m: Message): { type: number; size: number; signed: boolean; littleEndian: boolean } {
  const f = new Fields(m.data, { offsetSize: 8, lengthSize: 8 });
  const classVersion = f.u8();
  const version = classVersion >> 4;
  const cls = classVersion & 0x0f;
  const b0 = f.u8();
  const b1 = f.u8();
  const b2 = f.u8();
  const size = f.u32();
  if (version < 1 || version > 3) bail(`datatype version ${version}`);
  if (cls !== 0 && cls !== 1) bail(`datatype class ${cls}`);
  const offset = f.u16();
  const precision = f.u16();
  if (offset !== 0 || precision !== size * 8) bail('partial bit precision');
  if (cls === 0) {
    if ((b0 & ~0x08) !== 0 || b1 !== 0 || b2 !== 0) bail('integer byte order or padding');
    if (![1, 2, 4, 8].includes(size)) bail('integer size');
    return { type: 0, size, signed: (b0 & 0x08) !== 0, littleEndian: true };
  }
  // Little-endian, no padding, implied mantissa bit (normalization 2), nothing else.
  if (b0 !== 0x20 || b2 !== 0) bail('float byte order, padding or normalization');
  checkIeeeFields(f, size, b1);
  return { type: 1, size, signed: true, littleEndian: true };
}

/** A simple dataspace's dimensions and maximum dimensions (Infinity where unlimited). */
function dataspace(m: Message, lengthSize: number): { shape: number[]; maxshape: number[] } {
  const f = new Fields(m.data, { offsetSize: 8, lengthSize });
  const version = f.u8();
  const rank = f.u8();
  const flags = f.u8();
  if (version === 1) {
    f.skip(5);
  } else if (version === 2) {
    if (f.u8() !== 1) bail('scalar or null dataspace');
  } else {
    bail(`dataspace version ${version}`);
  }
  if (rank < 1 || rank > 32 || (flags & ~0x01) !== 0) bail('dataspace rank or flags');
  const dim = (): number => {
    let ones = true;
    for (let i = 0; i < lengthSize; i++) if (m.data[f.pos + i] !== 0xff) ones = false;
    if (ones) {
      f.skip(lengthSize);
      return Infinity;
    }
    return f.length();
  };
  const shape = Array.from({ length: rank }, dim);
  if (shape.some((d) => !Number.isFinite(d))) bail('unlimited current extent');
  const maxshape = (flags & 0x01) !== 0 ? Array.from({ length: rank }, dim) : [...shape];
  // H5S decoding refuses a dimension above its maximum.
  if (maxshape.some((m, i) => m < (shape[i] as number))) bail('a dimension above its maximum');
  return { shape, maxshape };
}

/**
 * Chunk dimensions from a layout message (null when contiguous), after the checks HDF5 makes on open
 * (H5D__contig_check, H5D__chunk_init): contiguous storage of exactly the dataset's size, inside the stored end of
 * file; chunk dimensions above 0 and, where the maximum extent is fixed, within it. direct.ts checks the rest.
 */
function chunkShape(m: Message, shape: readonly number[], maxshape: readonly number[], elemBytes: number, sb: Superblock): number[] | null {
  const rank = shape.length;
  const f = new Fields(m.data, sb);
  const version = f.u8();
  const cls = f.u8();
  if (version < 3 || version > 5) bail(`layout message version ${version}`);
  if (cls === 1) {
    const addr = f.addr();
    const size = f.length();
    if (size !== shape.reduce((a, b) => a * b, elemBytes)) bail('contiguous storage of another size than the dataset');
    if (addr === undefined || sb.base + addr + size > sb.end) bail('contiguous storage unwritten or past the end of file');
    return null;
  }
  if (cls !== 2) bail(`layout class ${cls}`);
  let dims: number[];
  if (version === 3) {
    const ndims = f.u8();
    f.addr();
    dims = Array.from({ length: ndims }, () => f.u32());
  } else {
    f.u8(); // flags
    const ndims = f.u8();
    const width = f.u8();
    if (width < 1 || width > 8) bail('chunk dimension width');
    dims = Array.from({ length: ndims }, () => f.uint(width));
  }
  // The chunk's rank is the dataset's plus one (the element size).
  if (dims.length !== rank + 1) bail('chunk rank');
  const chunks = dims.slice(0, rank);
  if (chunks.some((c, i) => c === 0 || c > (maxshape[i] as number))) bail('chunk dimensions of 0 or above the maximum extent');
  return chunks;
}
