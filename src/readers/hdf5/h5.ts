/**
 * The only module that talks to h5wasm (HDF5 2.0 compiled to wasm, Node build with NODERAWFS: host files are
 * read in place with pread, never loaded whole). It loads the library lazily, so discovery can sniff HDF5
 * files without paying for the 4 MB wasm module, and keeps HDF5's diagnostics off the user's terminal.
 *
 * Silencing: HDF5 prints its error stack (HDF5-DIAG) with fprintf(stderr), which Emscripten's NODERAWFS turns
 * into a synchronous `fs.writeSync(2, …)`; Emscripten's own warnings go to `console.error` (bound at load
 * time, so it ends in `process.stderr.write`). Every call into h5wasm is synchronous, so `quietly()` swaps
 * both sinks for a capture buffer for exactly the duration of the call: no other JavaScript can run in that
 * window, so nothing else is swallowed. The captured text becomes the message of a finding.
 *
 * Why not h5wasm's `activate_throwing_error_handler()`: its handler prints the stack into a `tmpfile()` (a
 * real file in the host's /tmp under NODERAWFS) and throws before closing it, leaking one host file
 * descriptor per HDF5 error (measured: 2000 failed opens left 2000 open fds), and the throw skips h5wasm's
 * cleanup (dataset, dataspace and type ids of a failed read stay open). HDF5's default handler with the
 * output captured leaks nothing, and is 3x faster per error. Set NANSCAN_HDF5_DIAG=1 to see the raw stacks.
 */
import fs from 'node:fs';
import type { Metadata } from 'h5wasm/node';
import { importEsm } from '../../bundle-host.js';
import { packageFile } from '../../package-root.js';
import { sharedModule, shareModule } from '../../wasm-share.js';
import { DEFAULT_LABEL_NAMES } from '../labels.js';

type H5Module = Awaited<(typeof import('h5wasm/node'))['ready']>;

export type Dtype = 'f16' | 'f32' | 'f64' | 'i8' | 'u8' | 'i16' | 'u16' | 'i32' | 'u32' | 'i64' | 'u64';

/**
 * A numeric field of a compound dataset: one member (or a member of a nested compound), scalar or an array
 * of numbers, at `offset` in each compound element.
 */
export interface FieldInfo {
  /** `<dataset>.<member>`: `meta.x`, and `meta.a.b` for a member of a nested compound. */
  name: string;
  dtype: Dtype;
  /** Byte offset in one compound element, as HDF5 lays the element out in memory. */
  offset: number;
  /** Bytes of one value (2 for float16). */
  elemBytes: number;
  /** Shape of an array member; [] for a scalar one. */
  shape: number[];
  /** Values per compound element (the product of `shape`). */
  elems: number;
  /** HDF5 keeps each member's byte order when it reads a compound: big-endian members are swapped here. */
  littleEndian: boolean;
}

/** How a compound dataset's elements are laid out, and which of its fields are scanned. */
export interface CompoundInfo {
  /** Bytes of one element in memory (variable-length members are pointers there). */
  size: number;
  /** The numeric fields, in member order (at least one). */
  fields: FieldInfo[];
  /**
   * Whether reading allocates memory for members (variable-length strings and sequences, references): HDF5
   * must then free it after every read (H5Treclaim), or each read leaks.
   */
  reclaim: boolean;
}

/**
 * A dataset with numeric content and at least one dimension: rows along the first dimension are records. A
 * compound dataset (dtype `'compound'`) is read whole, and each of its numeric fields is scanned as an array
 * of its own (`compound.fields`).
 */
export interface DatasetInfo {
  /** Path within the file, without the leading '/'. */
  name: string;
  dtype: Dtype | 'compound';
  /** Bytes per element as stored in memory by HDF5 (2 for float16: widened later; the element size for compounds). */
  elemBytes: number;
  rows: number;
  rowShape: number[];
  rowElems: number;
  rowBytes: number;
  /** Rows per chunk for chunked layouts, 0 for contiguous and compact ones. */
  chunkRows: number;
  /**
   * Holds class labels: named `label`, `labels`, `y`, `target` or `targets` (or as configured; the last path
   * component, case-insensitive), integer or float, one value a row ((N,) or (N, 1)), and the first such
   * dataset of its group in the order of the names (so that no record has two labels).
   */
  isLabel: boolean;
  /** Whether the maximum shape equals the shape (no room to grow). */
  fixedExtent: boolean;
  compound?: CompoundInfo;
}

export interface Walk {
  datasets: DatasetInfo[];
  /** Links not followed (soft and external links), with the reason. */
  skipped: { name: string; reason: string }[];
  /**
   * Datasets, and fields of compound datasets, with no numeric content to scan (strings, references, enums,
   * scalars, empty ones), with what they are: `{ name: 'meta.name', reason: 'string' }`. Empty datasets are
   * also in `datasets` (their row counts still count for the Caffe rules).
   */
  unsupported: { name: string; reason: string }[];
  /** Objects (or groups) that could not be read: damage. */
  problems: { name: string; message: string }[];
}

/** Outcome of one call into h5wasm: its value or what it threw, and what HDF5 printed meanwhile. */
interface Quiet<T> {
  value?: T;
  error?: unknown;
  diag: string;
}

/** H5T classes (H5Tpublic.h) that we read, and names for the others in skip reasons. */
const H5T_INTEGER = 0;
const H5T_FLOAT = 1;
const H5T_COMPOUND = 6;
const H5T_REFERENCE = 7;
const H5T_VLEN = 9;
const H5T_ARRAY = 10;
const CLASS_NAMES: Record<number, string> = {
  2: 'time', 3: 'string', 4: 'bitfield', 5: 'opaque', 6: 'compound', 7: 'reference', 8: 'enum', 9: 'variable-length',
  10: 'array',
};


/** Whether the raw HDF5 diagnostics are passed through to stderr (opt-in, for debugging). */
const PASS_DIAG = process.env['NANSCAN_HDF5_DIAG'] === '1';

const STDERR_FD = 2;

let depth = 0;

/**
 * Runs `fn` (a synchronous h5wasm call) with stderr captured. Never throws: a throw comes back as `error`.
 */
export function quietly<T>(fn: () => T): Quiet<T> {
  if (depth > 0) {
    // Already capturing (a nested call): the outer capture collects the output.
    try {
      return { value: fn(), diag: '' };
    } catch (error) {
      return { error, diag: '' };
    }
  }
  const mutableFs = fs as unknown as { writeSync: (...args: unknown[]) => number };
  const stderr = process.stderr as unknown as { write: (...args: unknown[]) => boolean };
  const origWriteSync = mutableFs.writeSync;
  const origStderrWrite = stderr.write;
  let diag = '';
  mutableFs.writeSync = function (this: unknown, fd: unknown, data: unknown, ...rest: unknown[]): number {
    if (fd !== STDERR_FD) return origWriteSync.call(this, fd, data, ...rest);
    if (typeof data === 'string') {
      diag += data;
      return Buffer.byteLength(data);
    }
    const view = data as ArrayBufferView;
    const offset = typeof rest[0] === 'number' ? rest[0] : 0;
    const length = typeof rest[1] === 'number' ? rest[1] : view.byteLength - offset;
    diag += Buffer.from(view.buffer, view.byteOffset + offset, length).toString('utf8');
    return length;
  };
  stderr.write = (chunk: unknown, ...rest: unknown[]): boolean => {
    diag += typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
    const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    if (cb) process.nextTick(cb);
    return true;
  };
  depth++;
  try {
    return { value: fn(), diag };
  } catch (error) {
    return { error, diag };
  } finally {
    depth--;
    mutableFs.writeSync = origWriteSync;
    stderr.write = origStderrWrite;
    if (PASS_DIAG && diag !== '') process.stderr.write(diag);
  }
}

/**
 * The HDF5 error text worth showing: the two innermost entries of the error stack ("unable to read superblock:
 * truncated file: eof = …"), which name the cause, rather than the outer "unable to open file" layers.
 */
export function summarizeDiag(diag: string, error?: unknown): string {
  const entries = [...diag.matchAll(/#\d+: .* in [\w.]+\(\): (.*)$/gm)].map((m) => (m[1] as string).trim());
  if (entries.length > 0) return entries.slice(-2).join(': ');
  if (error !== undefined) {
    const msg = error instanceof Error ? error.message : String(error);
    return msg.split('\n').find((l) => l.trim() !== '')?.trim() ?? 'HDF5 call failed';
  }
  const line = diag.split('\n').find((l) => l.trim() !== '');
  return line?.trim() ?? 'HDF5 call failed';
}

function classify(md: Metadata): { dtype: Dtype; elemBytes: number } | string {
  if (md.type === H5T_FLOAT) {
    if (md.size === 2) return { dtype: 'f16', elemBytes: 2 };
    if (md.size === 4) return { dtype: 'f32', elemBytes: 4 };
    if (md.size === 8) return { dtype: 'f64', elemBytes: 8 };
    return `${md.size * 8}-bit float`;
  }
  if (md.type === H5T_INTEGER) {
    if (md.size === 1 || md.size === 2 || md.size === 4 || md.size === 8) {
      return { dtype: `${md.signed ? 'i' : 'u'}${md.size * 8}` as Dtype, elemBytes: md.size };
    }
    return `${md.size * 8}-bit integer`;
  }
  return CLASS_NAMES[md.type] ?? `type class ${md.type}`;
}

/** An opened h5wasm instance (one per thread: each worker loads its own). */
export class H5 {
  private constructor(private readonly m: H5Module) {}

  private static loading: Promise<H5> | undefined;

  /** Loads h5wasm once per thread. */
  static load(): Promise<H5> {
    H5.loading ??= loadModule().then((m) => new H5(m));
    return H5.loading;
  }

  /**
   * h5wasm's WebAssembly.Memory, when it could be caught at load time (see loadModule); rows read into the
   * heap can then be scanned where they lie. Its `buffer` is the heap's current buffer.
   */
  get memory(): { readonly buffer: ArrayBuffer } | undefined {
    return caughtMemory !== undefined && caughtMemory.buffer === this.m.HEAPU8.buffer ? caughtMemory : undefined;
  }

  /** Largest heap h5wasm can grow to (2 GiB in 0.10.3): bounds any single buffer. */
  get maxHeapBytes(): number {
    return this.m.MAXIMUM_MEMORY;
  }

  /** Opens read-only (what `new h5wasm.File(path, 'r')` does). h5wasm does not throw here: -1 means failure. */
  open(absPath: string): { id: bigint } | { error: string } {
    const r = quietly(() => this.m.open(absPath, this.m.H5F_ACC_RDONLY, false, -1, -1));
    if (r.value === undefined || r.value < 0n) return { error: summarizeDiag(r.diag, r.error) };
    return { id: r.value };
  }

  close(id: bigint): void {
    quietly(() => this.m.close_file(id));
  }

  /** Every dataset reachable through hard links, in name order, classified. `labelNames` are lower case. */
  walk(id: bigint, labelNames: readonly string[] = DEFAULT_LABEL_NAMES): Walk {
    const out: Walk = { datasets: [], skipped: [], unsupported: [], problems: [] };
    const names = quietly(() => this.m.get_names(id, '/', true));
    if (names.value === undefined || names.diag !== '') {
      out.problems.push({ name: '', message: `cannot list the file's groups: ${summarizeDiag(names.diag, names.error)}` });
    }
    for (const name of names.value ?? []) {
      const p = `/${name}`;
      // Links first: following an external link would open another file, a soft link would scan twice.
      const link = quietly(() => {
        if (this.m.get_symbolic_link(id, p) !== null) return 'soft link';
        const ext = this.m.get_external_link(id, p) as { filename?: string };
        if (typeof ext.filename === 'string') return 'external link';
        return this.m.get_type(id, p) === this.m.H5G_DATASET ? 'dataset' : 'other';
      });
      if (link.value === undefined || link.diag !== '') {
        out.problems.push({ name, message: `cannot read the object header: ${summarizeDiag(link.diag, link.error)}` });
        continue;
      }
      if (link.value === 'other') continue; // groups (walked by get_names) and named datatypes
      if (link.value !== 'dataset') {
        out.skipped.push({ name, reason: link.value });
        continue;
      }
      const md = quietly(() => this.m.get_dataset_metadata(id, p));
      if (md.value === undefined || md.value === null || md.diag !== '') {
        out.problems.push({ name, message: `cannot read the dataset header: ${summarizeDiag(md.diag, md.error)}` });
        continue;
      }
      const d = describe(name, md.value, labelNames);
      out.unsupported.push(...d.unsupported);
      if (d.problem !== undefined) out.problems.push({ name, message: d.problem });
      else if (d.info !== undefined) out.datasets.push(d.info);
    }
    pickLabels(out.datasets, labelNames);
    return out;
  }

  /**
   * Reads rows [start, start + rows) of `ds` into the wasm heap at `ptr` (row-major, little-endian).
   * Returns null on success, else the HDF5 error text.
   */
  readRows(id: bigint, ds: DatasetInfo, start: number, rows: number, ptr: number): string | null {
    const count = [BigInt(rows), ...ds.rowShape.map((d) => BigInt(d))];
    const offset = count.map((_, i) => (i === 0 ? BigInt(start) : 0n));
    const stride = count.map(() => 1n);
    const reclaim = ds.compound?.reclaim === true;
    // Pointers HDF5 did not get to fill must be null for H5Treclaim, should the read fail half way.
    if (reclaim) this.m.HEAPU8.fill(0, ptr, ptr + rows * ds.rowBytes);
    const r = quietly(() => this.m.get_dataset_data(id, `/${ds.name}`, count, offset, stride, BigInt(ptr)));
    // Free what HDF5 allocated for variable-length members at once: only the numeric fields are kept.
    if (reclaim) quietly(() => this.m.reclaim_vlen_memory_count(id, `/${ds.name}`, '', BigInt(ptr), count));
    if (r.value === undefined || r.value < 0) return summarizeDiag(r.diag, r.error);
    return null;
  }

  /**
   * The relative file address of the dataset's object header (what an HDF5 object reference holds), for
   * direct.ts; null when HDF5 cannot make the reference.
   */
  objectAddress(id: bigint, ds: DatasetInfo): number | null {
    const r = quietly(() => this.m.create_object_reference(id, `/${ds.name}`) as unknown);
    // h5wasm returns the 8 bytes of an hobj_ref_t (the address, little-endian) as a plain array.
    const ref = r.value;
    if (!(Array.isArray(ref) || ref instanceof Uint8Array) || ref.length !== 8 || r.diag !== '') return null;
    let addr = 0;
    for (let i = 7; i >= 0; i--) addr = addr * 256 + Number(ref[i]);
    return Number.isSafeInteger(addr) ? addr : null;
  }

  /** Allocates in the wasm heap (quietly: Emscripten prints "Cannot enlarge memory"). 0 when it cannot. */
  malloc(bytes: number): number {
    return quietly(() => this.m._malloc(bytes)).value ?? 0;
  }

  free(ptr: number): void {
    this.m._free(ptr);
  }

  /** The heap's current buffer. It is replaced whenever the heap grows: take views after every call. */
  heap(): ArrayBuffer {
    return this.m.HEAPU8.buffer as ArrayBuffer;
  }
}

/** What the walk makes of one dataset: what it scans, what it cannot (named), or damage. */
export interface Described {
  info?: DatasetInfo;
  unsupported: { name: string; reason: string }[];
  problem?: string;
}

export function describe(name: string, md: Metadata, labelNames: readonly string[]): Described {
  const unsupported: { name: string; reason: string }[] = [];
  let kind: { dtype: Dtype | 'compound'; elemBytes: number; compound?: CompoundInfo };
  if (md.type === H5T_COMPOUND) {
    const fields: FieldInfo[] = [];
    const flat = flattenCompound(name, md, 0, fields, unsupported);
    if (flat.problem !== undefined) return { unsupported: [], problem: flat.problem };
    if (fields.length === 0) return { unsupported: [{ name, reason: 'compound with no numeric field' }] };
    kind = { dtype: 'compound', elemBytes: md.size, compound: { size: md.size, fields, reclaim: flat.reclaim } };
  } else {
    const c = classify(md);
    if (typeof c === 'string') return { unsupported: [{ name, reason: c }] };
    kind = c;
  }
  const shape = md.shape;
  if (shape === null || shape.length === 0) return { unsupported: [{ name, reason: 'scalar' }] };
  const rowShape = shape.slice(1);
  const rowElems = rowShape.reduce((a, b) => a * b, 1);
  const rows = shape[0] as number;
  // A damaged header can claim any extent; one beyond 2^53 bytes cannot be real (nor counted exactly).
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0) || !Number.isSafeInteger(rows * rowElems * kind.elemBytes)) {
    return { unsupported: [], problem: `implausible shape (${shape.join(', ')})` };
  }
  // No values at all: nothing was checked, whatever the type. Still surveyed: its row count counts for the Caffe rules.
  if (rows * rowElems === 0) unsupported.push({ name, reason: `no values, shape (${shape.join(', ')})` });
  const last = name.slice(name.lastIndexOf('/') + 1).toLowerCase();
  const info: DatasetInfo = {
    name,
    dtype: kind.dtype,
    elemBytes: kind.elemBytes,
    rows,
    rowShape,
    rowElems,
    rowBytes: rowElems * kind.elemBytes,
    chunkRows: md.chunks !== null && md.chunks.length > 0 ? (md.chunks[0] as number) : 0,
    isLabel: kind.compound === undefined && labelNames.includes(last) && rowElems === 1,
    fixedExtent: md.maxshape !== null && md.maxshape.length === shape.length && md.maxshape.every((d, i) => d === shape[i]),
  };
  if (kind.compound !== undefined) info.compound = kind.compound;
  return { info, unsupported };
}

/**
 * The numeric fields of a compound type (members of nested compounds flattened to `a.b`, numeric array members
 * as fields with a shape), at their offsets from the outer element; the other members go to `unsupported`.
 * A member that does not fit in its element is damage.
 */
function flattenCompound(prefix: string, md: Metadata, base: number, fields: FieldInfo[],
  unsupported: { name: string; reason: string }[]): { reclaim: boolean; problem?: string } {
  let reclaim = false;
  for (const m of md.compound_type?.members ?? []) {
    const name = `${prefix}.${m.name}`;
    const offset = base + m.offset;
    if (!(Number.isSafeInteger(m.offset) && m.offset >= 0 && m.offset + m.size <= md.size)) {
      return { reclaim, problem: `compound member '${m.name}' lies outside its ${md.size}-byte element` };
    }
    if (m.vlen || m.type === H5T_VLEN || m.type === H5T_REFERENCE || hasVariableParts(m)) reclaim = true;
    if (m.type === H5T_COMPOUND) {
      const inner = flattenCompound(name, m, offset, fields, unsupported);
      if (inner.problem !== undefined) return inner;
      reclaim ||= inner.reclaim;
      continue;
    }
    let shape: number[] = [];
    let scalar: Metadata = m;
    if (m.type === H5T_ARRAY && m.array_type !== undefined) {
      shape = (m.array_type.shape ?? []).map(Number);
      scalar = m.array_type;
      if (scalar.type === H5T_COMPOUND || scalar.type === H5T_ARRAY) {
        unsupported.push({ name, reason: `array of ${scalar.type === H5T_COMPOUND ? 'compound' : 'array'}` });
        continue;
      }
    }
    const c = classify(scalar);
    if (typeof c === 'string') {
      unsupported.push({ name, reason: shape.length > 0 ? `array of ${c}` : c });
      continue;
    }
    const elems = shape.reduce((a, b) => a * b, 1);
    if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0) || elems * c.elemBytes !== m.size) {
      return { reclaim, problem: `compound member '${m.name}' has an inconsistent array shape (${shape.join(', ')})` };
    }
    fields.push({ name, dtype: c.dtype, offset, elemBytes: c.elemBytes, shape, elems, littleEndian: scalar.littleEndian });
  }
  return { reclaim };
}

/** Whether a member holds variable-length data or references anywhere inside it (arrays, nested compounds). */
function hasVariableParts(m: Metadata): boolean {
  if (m.vlen || m.type === H5T_VLEN || m.type === H5T_REFERENCE) return true;
  if (m.array_type !== undefined && hasVariableParts(m.array_type)) return true;
  return (m.compound_type?.members ?? []).some(hasVariableParts);
}

/**
 * One label dataset per group: where several siblings carry label names, the first in the order of
 * `labelNames` keeps the flag (each record gets one label); the others are scanned as data.
 */
export function pickLabels(datasets: DatasetInfo[], labelNames: readonly string[]): void {
  const best = new Map<string, DatasetInfo>();
  const rank = (d: DatasetInfo): number => labelNames.indexOf(d.name.slice(d.name.lastIndexOf('/') + 1).toLowerCase());
  for (const d of datasets) {
    if (!d.isLabel) continue;
    const g = d.name.slice(0, Math.max(0, d.name.lastIndexOf('/')));
    const b = best.get(g);
    if (b === undefined || rank(d) < rank(b)) best.set(g, d);
  }
  const keep = new Set(best.values());
  for (const d of datasets) if (d.isLabel && !keep.has(d)) d.isLabel = false;
}

/** Name of h5wasm's compiled module in wasm-share.ts. */
const H5WASM_MODULE = 'h5wasm';

/** The Memory of this thread's h5wasm instance, when loadModule instantiated it itself. */
let caughtMemory: { readonly buffer: ArrayBuffer } | undefined;

/** h5wasm's wasm binary, copied out of its JavaScript at build time (scripts/build-h5wasm.mjs). */
const H5WASM_BINARY = packageFile('build/h5wasm/hdf5_util.wasm');
/**
 * Emscripten's JavaScript without the copy of the binary it embeds (scripts/build-h5wasm.mjs): 190 KB to load
 * instead of 4.2 MB (~90 ms of a small HDF5 scan). Used with the binary above; absent, the published file is.
 */
const H5WASM_GLUE = packageFile('build/h5wasm/hdf5_util.js');

interface WasmApi {
  compile(bytes: Uint8Array): Promise<object>;
  Instance: new (module: object, imports: object) => { exports: { memory?: { buffer: ArrayBuffer } } };
}

/**
 * Loads h5wasm. Emscripten keeps the instance's WebAssembly.Memory to itself (only views of it are exported, and
 * a view cannot give back its Memory), yet our kernel can scan h5wasm's heap in place only by linking to that
 * Memory. So this module compiles h5wasm's binary itself (or takes the module the main thread compiled and
 * shared, see wasm-share.ts) and hands Emscripten the instance through its `instantiateWasm` hook, keeping the
 * Memory; nothing global is touched. Without the binary or the JavaScript beside it (a build that could not
 * extract them), h5wasm loads as published and scans copy out of its heap.
 */
async function loadModule(): Promise<H5Module> {
  const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
  // Without our copy of Emscripten's JavaScript, h5wasm loads as published (its factory is not reachable by a
  // path that resolves the same from the ESM library and from the command's CommonJS bundle).
  if (!fs.existsSync(H5WASM_GLUE)) return (await importEsm<typeof import('h5wasm/node')>('h5wasm/node')).ready;
  let compiled = sharedModule(H5WASM_MODULE);
  if (compiled === undefined) {
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(H5WASM_BINARY);
    } catch {
      return (await importEsm<typeof import('h5wasm/node')>('h5wasm/node')).ready;
    }
    compiled = await wasm.compile(bytes);
    shareModule(H5WASM_MODULE, compiled);
  }
  const module = compiled;
  // The Emscripten factory h5wasm/node wraps (its package exports only the wrapper, which would instantiate a
  // second copy at import), in its copy without the embedded binary.
  const factory = (await importEsm<{ default: (arg: object) => Promise<H5Module> }>(H5WASM_GLUE.href)).default;
  return factory({
    noInitialRun: true,
    // Synchronous on purpose: an error thrown here rejects the factory's promise; a rejected promise would not.
    instantiateWasm(imports: object, receive: (instance: object, module: object) => void): object {
      const instance = new wasm.Instance(module, imports);
      caughtMemory = instance.exports.memory;
      receive(instance, module);
      return instance.exports;
    },
  });
}
