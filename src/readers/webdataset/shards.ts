/**
 * Which files are WebDataset shards, and shard lists as WebDataset takes them: brace patterns
 * (`shards-{000000..000099}.tar`) expanded the way the `braceexpand` package (which WebDataset uses) expands them.
 * Cheap enough for discovery: no reader is loaded.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { OPEN_FLAGS } from '../files.js';
import { BLOCK, checksumOk } from './tar.js';

/** Shard names: plain tar, and gzipped tar (read through zlib). */
export const SHARD_NAME = /\.(tar|tar\.gz|tgz)$/i;
export const GZIP_NAME = /\.(tar\.gz|tgz)$/i;

export function isShardName(name: string): boolean {
  return SHARD_NAME.test(name);
}

/** Whether a file starts with a tar header (its checksum verified) or, named as a gzipped tar, with gzip's magic. */
export function isTarFile(file: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, OPEN_FLAGS);
  } catch {
    return false;
  }
  try {
    const b = new Uint8Array(BLOCK);
    const n = readSync(fd, b, 0, BLOCK, 0);
    if (GZIP_NAME.test(file)) return n >= 2 && b[0] === 0x1f && b[1] === 0x8b;
    return n === BLOCK && checksumOk(b) && b.some((x) => x !== 0);
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}

/** Patterns that expand to more names than this are refused (a typo like `{0..9999999999}`). */
export const MAX_EXPANSION = 1_000_000;

/** Whether `s` holds a brace group braceexpand would expand (an unescaped `{` with a `,` or `..` inside). */
export function hasBraces(s: string): boolean {
  const r = expandBraces(s);
  return r !== null && (r.length !== 1 || r[0] !== s);
}

/**
 * Expands `{a,b}` lists, `{1..10}` / `{01..10}` / `{0..10..2}` numeric ranges (zero-padded to the wider end when
 * either end has a leading zero, as braceexpand pads), `{a..e}` letter ranges, nested and repeated groups, in
 * braceexpand's order. A group that is not a list or range stays as typed. Null when the expansion is too large.
 */
export function expandBraces(s: string): string[] | null {
  const out: string[] = [];
  try {
    return expandInto(s, out) ? out : null;
  } catch (e) {
    if (e === TOO_LARGE) return null;
    throw e;
  }
}

/** Thrown (and caught above) by a range too large to expand. */
const TOO_LARGE = new Error('brace expansion too large');

function expandInto(s: string, out: string[]): boolean {
  const open = findOpen(s);
  if (open === null) {
    out.push(s.replace(/\\([{}\\,])/g, '$1'));
    return true;
  }
  const { start, end, alternatives } = open;
  const head = s.slice(0, start);
  const tail = s.slice(end + 1);
  for (const alt of alternatives) {
    if (!expandInto(head + alt + tail, out)) return false;
    if (out.length > MAX_EXPANSION) return false;
  }
  return true;
}

/** The first brace group that expands: its bounds and alternatives (not yet expanded inside). */
function findOpen(s: string): { start: number; end: number; alternatives: string[] } | null {
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\') { i++; continue; }
    if (s[i] !== '{') continue;
    let depth = 0;
    const commas: number[] = [];
    for (let j = i; j < s.length; j++) {
      const c = s[j];
      if (c === '\\') { j++; continue; }
      if (c === '{') depth++;
      else if (c === '}') {
        depth--;
        if (depth === 0) {
          const inner = s.slice(i + 1, j);
          const alternatives = commas.length > 0
            ? splitAt(s, i + 1, j, commas)
            : range(inner);
          if (alternatives !== null) return { start: i, end: j, alternatives };
          break;
        }
      } else if (c === ',' && depth === 1) commas.push(j);
    }
  }
  return null;
}

function splitAt(s: string, from: number, to: number, commas: number[]): string[] {
  const parts: string[] = [];
  let at = from;
  for (const c of commas) { parts.push(s.slice(at, c)); at = c + 1; }
  parts.push(s.slice(at, to));
  return parts;
}

function range(inner: string): string[] | null {
  const num = /^(-?\d+)\.\.(-?\d+)(?:\.\.(-?\d+))?$/.exec(inner);
  if (num !== null) {
    const [, a, b, st] = num as unknown as [string, string, string, string | undefined];
    const from = Number(a);
    const to = Number(b);
    const step = Math.abs(st === undefined || Number(st) === 0 ? 1 : Number(st));
    if (Math.abs(to - from) / step > MAX_EXPANSION) throw TOO_LARGE;
    const padded = (x: string): boolean => /^-?0\d/.test(x);
    const width = padded(a) || padded(b) ? Math.max(a.length, b.length) : 0;
    const out: string[] = [];
    const dir = to >= from ? 1 : -1;
    for (let v = from; dir > 0 ? v <= to : v >= to; v += dir * step) {
      const text = String(Math.abs(v)).padStart(width - (v < 0 ? 1 : 0), '0');
      out.push(v < 0 ? `-${text}` : text);
    }
    return out;
  }
  const letters = /^([a-zA-Z])\.\.([a-zA-Z])(?:\.\.(-?\d+))?$/.exec(inner);
  if (letters !== null) {
    const from = letters[1]!.charCodeAt(0);
    const to = letters[2]!.charCodeAt(0);
    const step = Math.abs(letters[3] === undefined || Number(letters[3]) === 0 ? 1 : Number(letters[3]));
    const dir = to >= from ? 1 : -1;
    const out: string[] = [];
    for (let v = from; dir > 0 ? v <= to : v >= to; v += dir * step) out.push(String.fromCharCode(v));
    return out;
  }
  return null;
}
