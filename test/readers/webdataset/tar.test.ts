/**
 * The tar parser against Python's `tarfile` (the reader WebDataset uses) as the oracle: on every committed shard
 * and on mutants of them (cut at every kind of boundary, header checksums and size fields broken), the regular
 * members we pass on are the ones tarfile lists whose data is all there, with the same names, header offsets, data
 * offsets and sizes; wherever tarfile raises, we report damage.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM_PYTHON } from '../../../scripts/lib/caffe.js';
import { rng } from '../../../scripts/lib/caffe.js';
import { SampleGrouper } from '../../../src/readers/webdataset/samples.js';
import { BLOCK, TarParser, type TarDamage, type TarMember } from '../../../src/readers/webdataset/tar.js';
import { ROOT } from '../../helpers/cli.js';

/** Python: each file's members as tarfile iterates them (names as raw bytes in hex), and the error it raised. */
const ORACLE = String.raw`
import json, sys, tarfile
out = {}
for p in sys.argv[1:]:
    members, error = [], None
    try:
        with tarfile.open(p, 'r:') as t:
            for m in t:
                members.append({'name': m.name.encode('utf-8', 'surrogateescape').hex(), 'offset': m.offset,
                                'dataOffset': m.offset_data, 'size': m.size, 'reg': m.isreg()})
    except Exception as e:
        error = type(e).__name__ + ': ' + str(e)
    out[p] = {'members': members, 'error': error}
print(json.dumps(out))
`;

interface OracleResult {
  members: { name: string; offset: number; dataOffset: number; size: number; reg: boolean }[];
  error: string | null;
}

function oracle(files: string[]): Record<string, OracleResult> {
  const r = spawnSync(SYSTEM_PYTHON, ['-c', ORACLE, ...files], { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as Record<string, OracleResult>;
}

interface Parsed {
  members: { name: string; offset: number; dataOffset: number; size: number }[];
  damage: TarDamage[];
}

/** Our parser over a whole tar, fed in small uneven chunks (every chunk boundary case gets exercised). */
function parse(bytes: Uint8Array, chunk = 777): Parsed {
  const out: Parsed = { members: [], damage: [] };
  const cut = new Set<TarMember>();
  const parser = new TarParser({
    want: () => 'read',
    member: (m, data) => {
      out.members.push({ name: Buffer.from(m.name, 'latin1').toString('hex'), offset: m.offset, dataOffset: m.dataOffset, size: m.size });
      if (data !== null && data.length !== m.size) cut.add(m);
    },
    damage: (d) => out.damage.push(d),
  }, bytes.length);
  for (let at = 0; at < bytes.length && !parser.done; at += chunk) parser.push(bytes.subarray(at, at + chunk));
  parser.end();
  // Members cut short are passed on (their partial data) and named by the damage: not complete members.
  out.members = out.members.filter((m) => ![...cut].some((c) => c.offset === m.offset));
  return out;
}

const FIXTURES = path.join(ROOT, 'fixtures', 'webdataset');
const shardFiles = (): string[] => readdirSync(FIXTURES).flatMap((d) =>
  readdirSync(path.join(FIXTURES, d)).filter((n) => /\.tar(\.gz)?$/.test(n)).map((n) => path.join(FIXTURES, d, n))).sort();

/** The tar bytes of a shard (gunzipped for .tar.gz). */
const tarBytes = (file: string): Buffer => (file.endsWith('.gz') ? gunzipSync(readFileSync(file)) : readFileSync(file));

let tmp: string;
beforeAll(() => { tmp = mkdtempSync(path.join(os.tmpdir(), 'nanscan-tar-')); });
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Mutants of a clean tar: cuts at and around every header and inside data, broken checksums and sizes. */
function mutants(name: string, b: Buffer, headers: number[]): [string, Buffer][] {
  const out: [string, Buffer][] = [];
  for (const h of headers) {
    out.push([`${name}-cut-at-${h}`, b.subarray(0, h)]);
    out.push([`${name}-cut-in-header-${h}`, b.subarray(0, h + 100)]);
    out.push([`${name}-cut-in-data-${h}`, b.subarray(0, h + BLOCK + 7)]);
    const sum = Buffer.from(b);
    sum[h + 150] = sum[h + 150]! === 0x37 ? 0x36 : 0x37;
    out.push([`${name}-checksum-${h}`, sum]);
    const size = Buffer.from(b);
    size.write('77777777777', h + 124, 'latin1');
    out.push([`${name}-size-${h}`, size]);
    const nonOctal = Buffer.from(b);
    nonOctal.write('9', h + 124, 'latin1');
    out.push([`${name}-size-not-octal-${h}`, nonOctal]);
  }
  return out;
}

describe('tar parser vs Python tarfile', () => {
  it('lists every regular member of every committed shard as tarfile does, with no damage (clean fixtures)', () => {
    const files = shardFiles();
    const plain = files.map((f) => {
      if (!f.endsWith('.gz')) return f;
      const p = path.join(tmp, path.basename(f, '.gz'));
      writeFileSync(p, tarBytes(f));
      return p;
    });
    const want = oracle(plain);
    for (const [i, f] of files.entries()) {
      const got = parse(tarBytes(f));
      const py = want[plain[i]!]!;
      const complete = py.members.filter((m) => m.reg && m.dataOffset + m.size <= tarBytes(f).length)
        .map(({ name, offset, dataOffset, size }) => ({ name, offset, dataOffset, size }));
      expect(got.members, f).toEqual(complete);
      if (f.includes('/damaged/')) continue;
      expect(py.error, f).toBeNull();
      expect(got.damage, f).toEqual([]);
    }
  });

  it('agrees with tarfile on mutants, and reports damage wherever tarfile raises', () => {
    const sources = shardFiles().filter((f) => !f.includes('/damaged/'));
    const cases: [string, Buffer][] = [];
    for (const f of sources) {
      const b = tarBytes(f);
      const headers = oracle([writeTmp(`${path.basename(f)}.orig`, b)])[path.join(tmp, `${path.basename(f)}.orig`)]!.members.map((m) => m.offset);
      // Headers of the members' own extended headers too: every 512-byte block that parses as a header.
      cases.push(...mutants(path.basename(f), b, [...new Set(headers)]));
    }
    const files = cases.map(([n, b]) => writeTmp(n, b));
    const want = oracle(files);
    let compared = 0;
    for (const [i, [name, b]] of cases.entries()) {
      const py = want[files[i]!]!;
      const got = parse(b);
      // tarfile lists a member from its header alone; its data may be cut short. Ours are the complete ones, up to
      // the first damage (tarfile may list members past a header it rejects silently: never, since it stops there).
      const complete = py.members.filter((m) => m.reg && m.dataOffset + m.size <= b.length)
        .map(({ name: n, offset, dataOffset, size }) => ({ name: n, offset, dataOffset, size }));
      expect(got.members, name).toEqual(complete.filter((m) => got.damage.every((d) => d.warning === true || m.offset < d.offset)));
      if (py.error !== null) expect(got.damage.length, `${name}: tarfile raised ${py.error}`).toBeGreaterThan(0);
      compared++;
    }
    expect(compared).toBeGreaterThan(100);
  });

  it('reports where it stops: a bad checksum, a cut member, a missing end marker', () => {
    const f = path.join(FIXTURES, 'clean', 'clean-000000.tar');
    const b = readFileSync(f);
    const bad = Buffer.from(b);
    // Members: 000000.jpg (header 0, 737 bytes of data), 000000.cls (header 1536).
    bad[1536 + 150] = bad[1536 + 150]! ^ 1;
    expect(parse(bad).damage).toEqual([expect.objectContaining({ offset: 1536, message: expect.stringContaining('bad header checksum at byte 1536') })]);
    const cut = parse(b.subarray(0, 512 + 10));
    expect(cut.damage).toEqual([expect.objectContaining({ offset: 0, member: expect.objectContaining({ offset: 0 }) })]);
    const noEnd = parse(b.subarray(0, 1536));
    expect(noEnd.damage).toEqual([expect.objectContaining({ offset: 1536, warning: true })]);
  });
});

describe('tar parser and sample grouping on random damage', () => {
  it('never throws, always ends, and reports at most one stop per shard (4,000 seeded mutants)', () => {
    const sources = shardFiles().map(tarBytes);
    const next = rng(4242);
    const int = (n: number): number => Math.floor(next() * n);
    for (let i = 0; i < 4000; i++) {
      const src = sources[i % sources.length]!;
      let b = Buffer.from(src);
      const op = int(4);
      if (op === 0) for (let k = 0; k < 1 + int(8); k++) { const at = int(b.length); b[at] = b[at]! ^ (1 << int(8)); }
      else if (op === 1) b = b.subarray(0, int(b.length));
      else if (op === 2) { const at = int(b.length); b.fill(int(2) === 0 ? 0 : 0xff, at, Math.min(b.length, at + 1 + int(600))); }
      else { const at = Math.floor(int(b.length) / BLOCK) * BLOCK; b.write(String(int(1e12)), at + 124 + int(4), 'latin1'); }
      const grouper = new SampleGrouper('m.tar', 0);
      const parser = new TarParser(grouper, b.length);
      for (let at = 0; at < b.length && !parser.done; at += 4096) parser.push(b.subarray(at, at + 4096));
      parser.end();
      grouper.finish();
      const out = grouper.take();
      expect(out.damage!.filter((f) => f.kind === 'corrupt_file').length).toBeLessThanOrEqual(1);
    }
  });
});

function writeTmp(name: string, b: Uint8Array): string {
  const p = path.join(tmp, name);
  writeFileSync(p, b);
  return p;
}
