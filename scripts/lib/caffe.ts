/**
 * Test and fixture helpers: Caffe Datum encoding as Caffe's own SerializeToString writes it, and a writer that
 * stores records in a classic-format LMDB through Debian's python3-lmdb (the real liblmdb).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface DatumSpec {
  channels?: number;
  height?: number;
  width?: number;
  data?: Uint8Array;
  label?: number;
  floatData?: ArrayLike<number>;
  /** Write float_data packed (proto3 style) instead of Caffe's unpacked form. */
  packed?: boolean;
  encoded?: boolean;
}

/** The Python that has Debian's python3-* modules (another python3 may come first on PATH). */
export const SYSTEM_PYTHON = '/usr/bin/python3';

function varint(out: number[], v: number): void {
  // int32 fields: negative values are sign-extended to 64 bits (10 bytes), as protobuf does.
  let big = BigInt.asUintN(64, BigInt(v));
  while (big >= 0x80n) {
    out.push(Number(big & 0x7fn) | 0x80);
    big >>= 7n;
  }
  out.push(Number(big));
}

/** Encodes a Datum in field order, as proto2 `SerializeToString` does (float_data unpacked unless `packed`). */
export function encodeDatum(d: DatumSpec): Uint8Array {
  const head: number[] = [];
  if (d.channels !== undefined) { head.push(0x08); varint(head, d.channels); }
  if (d.height !== undefined) { head.push(0x10); varint(head, d.height); }
  if (d.width !== undefined) { head.push(0x18); varint(head, d.width); }
  const parts: Uint8Array[] = [Uint8Array.from(head)];
  if (d.data !== undefined) {
    const h: number[] = [0x22];
    varint(h, d.data.length);
    parts.push(Uint8Array.from(h), d.data);
  }
  const tail: number[] = [];
  if (d.label !== undefined) { tail.push(0x28); varint(tail, d.label); }
  parts.push(Uint8Array.from(tail));
  if (d.floatData !== undefined && d.floatData.length > 0) {
    const n = d.floatData.length;
    if (d.packed) {
      const h: number[] = [0x32];
      varint(h, 4 * n);
      parts.push(Uint8Array.from(h), new Uint8Array(Float32Array.from(d.floatData).buffer));
    } else {
      const buf = new Uint8Array(5 * n);
      const view = new DataView(buf.buffer);
      for (let i = 0; i < n; i++) {
        buf[5 * i] = 0x35;
        view.setFloat32(5 * i + 1, d.floatData[i]!, true);
      }
      parts.push(buf);
    }
  }
  if (d.encoded !== undefined) parts.push(Uint8Array.from([0x38, d.encoded ? 1 : 0]));
  return concat(parts);
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/** Caffe's key format: `%08d_<name>` (convert_imageset) or `%08d` (convert_mnist_data). */
export function caffeKey(i: number, name?: string): string {
  return name === undefined ? String(i).padStart(8, '0') : `${String(i).padStart(8, '0')}_${name}`;
}

export type KV = readonly [key: string | Uint8Array, value: Uint8Array];

/** Writes records (in any order; LMDB sorts them) into a new classic-format LMDB at `dir` with py-lmdb. */
export function writeLmdb(dir: string, records: Iterable<KV>): Promise<void> {
  return pipeRecords('write_lmdb.py', [dir], records);
}

/** Writes records into a new LevelDB at `dir` with plyvel, as Caffe's tools do (see write_leveldb.py). */
export function writeLevelDb(dir: string, records: Iterable<KV>, mode: 'caffe' | 'mnist' = 'caffe'): Promise<void> {
  return pipeRecords('write_leveldb.py', [dir, mode], records);
}

/** Runs a writer script of this folder with Debian's Python, streaming `records` to its stdin. */
async function pipeRecords(scriptName: string, args: string[], records: Iterable<KV>): Promise<void> {
  const script = fileURLToPath(new URL(`./${scriptName}`, import.meta.url));
  const child = spawn(SYSTEM_PYTHON, [script, ...args], { stdio: ['pipe', 'inherit', 'inherit'] });
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${scriptName} exited with ${code}`))));
  });
  const enc = new TextEncoder();
  let chunk: Uint8Array[] = [];
  let size = 0;
  const flush = async (): Promise<void> => {
    if (size === 0) return;
    const buf = concat(chunk);
    chunk = [];
    size = 0;
    if (!child.stdin.write(buf)) await new Promise((r) => child.stdin.once('drain', r));
  };
  for (const [k, v] of records) {
    const key = typeof k === 'string' ? enc.encode(k) : k;
    const head = new Uint8Array(4);
    new DataView(head.buffer).setUint32(0, key.length, true);
    const vhead = new Uint8Array(4);
    new DataView(vhead.buffer).setUint32(0, v.length, true);
    chunk.push(head, key, vhead, v);
    size += 8 + key.length + v.length;
    if (size > 1 << 20) await flush();
  }
  await flush();
  child.stdin.end();
  await done;
}

/** A small seeded PRNG (mulberry32): fixtures must come out byte-identical on every run. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A Fashion-MNIST-sized raw Datum (1×28×28 uint8) with structured, non-constant pixels. */
export function mnistDatum(i: number, label: number, next: () => number): Uint8Array {
  const data = new Uint8Array(28 * 28);
  for (let p = 0; p < data.length; p++) data[p] = (next() * 256) & 0xff;
  data[i % data.length] = 255;
  data[(i + 1) % data.length] = 0;
  return encodeDatum({ channels: 1, height: 28, width: 28, data, label, encoded: false });
}
