/**
 * The WebDataset reader on the committed shards (scripts/make_webdataset_fixtures.py: Python's tarfile + PIL +
 * numpy, as webdataset.ShardWriter writes them). Oracles: the samples are WebDataset's grouping rules
 * (`base_plus_ext`, `group_by_keys` of webdataset/tariterators.py) run in Python over tarfile's member list; the
 * findings are the faults the generator planted (damaged/FAULTS.json, with offsets tarfile measured).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM_PYTHON } from '../../../scripts/lib/caffe.js';
import { discover } from '../../../src/discover.js';
import { ScanError } from '../../../src/errors.js';
import { expandBraces } from '../../../src/readers/webdataset/shards.js';
import { createWebDatasetReader, webdatasetReader } from '../../../src/readers/webdataset/index.js';
import type { Finding } from '../../../src/types.js';
import type { Reader, SampleRecord, Source } from '../../../src/readers/types.js';
import { ROOT, scanJson } from '../../helpers/cli.js';
import { hashTree } from '../../helpers/tree.js';

const FIXTURES = path.join(ROOT, 'fixtures', 'webdataset');

/** WebDataset's grouping, in Python, over tarfile's regular members: (shard, key, extensions) per sample. */
const GROUPING = String.raw`
import gzip, io, json, os, re, sys, tarfile
def base_plus_ext(path):
    m = re.match(r"^((?:.*/|)[^.]+)[.]([^/]*)$", path)
    return (None, None) if not m else (m.group(1), m.group(2))
out = []
for d in sys.argv[1:]:
    for name in sorted(n for n in os.listdir(d) if re.search(r'\.(tar|tar\.gz|tgz)$', n)):
        shard = os.path.join(d, name)
        cur = None
        try:
            t = tarfile.open(shard)
            for m in t:
                if not m.isreg(): continue
                n = m.name
                if '/' not in n and n.startswith('__') and n.endswith('__'): continue
                key, ext = base_plus_ext(n)
                if key is None: continue
                if cur is None or cur['key'] != key:
                    if cur is not None: out.append(cur)
                    cur = {'shard': shard, 'key': key, 'exts': []}
                if ext.lower() not in cur['exts']: cur['exts'].append(ext.lower())
        except Exception:
            pass
        if cur is not None: out.append(cur)
print(json.dumps(out))
`;

interface PySample { shard: string; key: string; exts: string[] }

function pythonSamples(dir: string): PySample[] {
  const r = spawnSync(SYSTEM_PYTHON, ['-c', GROUPING, dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as PySample[];
}

async function readSamples(source: Source): Promise<{ samples: SampleRecord[]; damage: Finding[] }> {
  const reader = await webdatasetReader.open(source);
  const samples: SampleRecord[] = [];
  const damage: Finding[] = reader.info().findings.map(damageFinding);
  for (const p of reader.plan(3)) {
    for await (const batch of reader.read(p)) {
      for (const r of batch.records) if (r.kind === 'sample') samples.push(r);
      damage.push(...(batch.damage ?? []).map(damageFinding));
    }
  }
  reader.close();
  return { samples, damage };
}

const sourceOf = (rel: string): Source => ({ format: 'webdataset', path: rel, absPath: path.join(ROOT, rel) });

let before: string;
beforeAll(() => { before = hashTree(FIXTURES); });
afterAll(() => { expect(hashTree(FIXTURES)).toBe(before); });

describe('webdataset samples', () => {
  it.each(['clean', 'formats', 'damaged'])('groups the members of %s as WebDataset does', async (dir) => {
    const want = pythonSamples(path.join(FIXTURES, dir));
    const { samples } = await readSamples(sourceOf(`fixtures/webdataset/${dir}`));
    // Python decodes names as UTF-8: our keys are the same text (raw bytes shown as UTF-8).
    const got = samples.map((s) => ({ shard: path.join(ROOT, s.file), key: s.key, exts: s.fields.map((f) => f.name) }));
    // A sample cut by the end of its shard holds the member that was cut (Python lists it from its header).
    expect(got).toEqual(want);
  });

  it('decodes labels, images and .npy arrays (big-endian, Fortran order) into fields', async () => {
    const { samples } = await readSamples(sourceOf('fixtures/webdataset/formats'));
    const byKey = new Map(samples.map((s) => [s.key, s]));
    const s4 = byKey.get('v1.2/000004')!;
    expect(s4.fields.map((f) => [f.name, f.type])).toEqual([['jpg', 'image'], ['cls', 'label'], ['txt', 'opaque'], ['npy', 'array']]);
    const npy = s4.fields.find((f) => f.type === 'array')!;
    expect(npy.type === 'array' && [npy.dtype, npy.shape, [...npy.data]]).toEqual(['f64', [2, 3], [0, 1, 2, 3, 4, 5]]);
    expect(byKey.get('train/café-000002')!.fields.find((f) => f.type === 'label')).toEqual({ type: 'label', name: 'cls', value: 3 });
  });
});

interface PlantedFault { kind: string; shard: string; key?: string; field?: string; offset?: number; severity?: string }

describe('webdataset findings (CLI)', () => {
  it('the clean and odd-format datasets scan clean, every sample checked', () => {
    for (const dir of ['clean', 'formats']) {
      const { run, report } = scanJson([`fixtures/webdataset/${dir}`]);
      expect(run.status, run.stderr).toBe(0);
      const d = report.datasets[0]!;
      expect(d.format).toBe('webdataset');
      expect(d.findings).toEqual([]);
      expect(d.records).toBe(pythonSamples(path.join(FIXTURES, dir)).length);
    }
  });

  it('finds exactly the planted faults, at their shard, key, member and offset', () => {
    const planted = JSON.parse(readFileSync(path.join(FIXTURES, 'damaged', 'FAULTS.json'), 'utf8')) as PlantedFault[];
    const { run, report } = scanJson(['fixtures/webdataset/damaged']);
    expect(run.status).toBe(1);
    const got = report.datasets[0]!.findings.map((f) => ({ kind: f.kind, shard: f.file, key: f.key, field: f.field, offset: f.kind === 'corrupt_file' ? f.offset : undefined, severity: f.severity }));
    const want = planted.map((f) => ({ kind: f.kind, shard: f.shard, key: f.key, field: f.field, offset: f.offset, severity: f.severity ?? 'error' }));
    const order = (x: { shard?: string; key?: string; kind: string }): string => `${x.shard ?? ''} ${x.key ?? ''} ${x.kind}`;
    expect(got.sort((a, b) => order(a).localeCompare(order(b)))).toEqual(want.sort((a, b) => order(a).localeCompare(order(b))));
  });
});

/** Gzip variants of a fixture shard, written by Python's gzip module. */
const GZIP_VARIANTS = String.raw`
import gzip, sys, os
out = sys.argv[1]
raw = gzip.decompress(open(sys.argv[2], 'rb').read())
one = gzip.compress(raw, mtime=0)
def w(name, b): open(os.path.join(out, name), 'wb').write(b)
w('multi.tar.gz', gzip.compress(raw[:5000], mtime=0) + gzip.compress(raw[5000:], mtime=0))
w('trailing.tar.gz', one + b'garbage after the last member')
bad = bytearray(one); bad[-8] ^= 1; w('badcrc.tar.gz', bytes(bad))
w('cut.tar.gz', one[:len(one) // 2])
w('notgzip.tgz', raw)
`;
import { damageFinding } from '../../../src/checks/severity.js';

describe('webdataset gzip shards', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'nanscan-wds-gz-'));
    const r = spawnSync(SYSTEM_PYTHON, ['-c', GZIP_VARIANTS, dir, path.join(FIXTURES, 'formats', 'f-000003.tar.gz')], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const one = (name: string): Promise<{ samples: SampleRecord[]; damage: Finding[] }> =>
    readSamples({ format: 'webdataset', path: name, absPath: path.join(dir, name) });

  it('reads multi-member gzip, and ignores bytes after the last member once the tar has ended (as tarfile does)', async () => {
    for (const name of ['multi.tar.gz', 'trailing.tar.gz']) {
      const { samples, damage } = await one(name);
      expect(samples.map((s) => s.key), name).toEqual(['000006', '000007']);
      expect(damage, name).toEqual([]);
    }
  });

  it('reports a bad CRC, a cut stream and a file that is not gzip as corrupt_file at the shard', async () => {
    const bad = await one('badcrc.tar.gz');
    expect(bad.samples.length).toBe(2);
    expect(bad.damage.map((f) => [f.kind, f.file])).toEqual([['corrupt_file', 'badcrc.tar.gz']]);
    expect(bad.damage[0]!.message).toContain('fails its CRC-32');
    const cut = await one('cut.tar.gz');
    expect(cut.damage.map((f) => f.kind)).toEqual(['corrupt_file']);
    const not = await one('notgzip.tgz');
    expect([not.samples.length, not.damage.map((f) => f.message)]).toEqual([0, [expect.stringContaining('not a gzip file')]]);
  });
});

describe('big shards split at sample boundaries', () => {
  /** Every sample (shard, key, fields with a hash of their content) and the damage, read through `plan(n)`. */
  async function readWith(reader: Reader, n: number): Promise<{ parts: number; samples: string[]; damage: string[] }> {
    const plan = reader.plan(n);
    const samples: string[] = [];
    const damage: string[] = [];
    for (const p of structuredClone(plan)) {
      for await (const b of reader.read(p)) {
        for (const r of b.records) {
          if (r.kind !== 'sample') continue;
          samples.push(`${r.file} ${r.key} ${r.offset} ` + r.fields.map((f) => f.type === 'image' ? `${f.name}:${Buffer.from(f.bytes).toString('base64').slice(0, 40)}`
            : f.type === 'label' ? `${f.name}=${f.value}` : f.type === 'array' ? `${f.name}:${[...f.data].join(',')}` : f.name).join(' '));
        }
        // A sample missing a member is judged against its part's samples (by design): compared apart.
        for (const f of b.damage ?? []) if (!f.message.startsWith('Sample has no')) damage.push(`${f.kind} ${f.file} ${f.offset}`);
      }
    }
    return { parts: plan.length, samples, damage };
  }

  it.each(['clean', 'formats', 'damaged'])('reads the same samples from parts of the shards of %s as from whole shards', async (dir) => {
    const source = sourceOf(`fixtures/webdataset/${dir}`);
    // Shards of a few KiB split as 64 MiB shards do; fewer than 4 shards are split, so read 2 at a time.
    const whole = await readWith(createWebDatasetReader(source, 4096), 1);
    for (const shards of [['clean-000000.tar', 'clean-000001.tar'], ['f-000001.tar'], ['d-000000.tar', 'd-000001.tar']]) {
      if (!shards[0]!.startsWith(dir[0]!)) continue;
      for (const name of shards) {
        const one: Source = { format: 'webdataset', path: `${source.path}/${name}`, absPath: path.join(source.absPath, name) };
        const a = await readWith(createWebDatasetReader(one, 4096), 1);
        const b = await readWith(createWebDatasetReader(one, 4096), 4);
        expect(a.parts).toBe(1);
        expect(b.parts, name).toBeGreaterThan(1);
        expect(b.samples, name).toEqual(a.samples);
        expect(b.damage, name).toEqual(a.damage);
      }
    }
    expect(whole.samples.length).toBeGreaterThan(0);
  });
});

describe('webdataset shard lists', () => {
  it('expands brace patterns as braceexpand does', () => {
    expect(expandBraces('s-{000008..000011}.tar')).toEqual(['s-000008.tar', 's-000009.tar', 's-000010.tar', 's-000011.tar']);
    expect(expandBraces('{a,b}-{1..3..2}.tar')).toEqual(['a-1.tar', 'a-3.tar', 'b-1.tar', 'b-3.tar']);
    expect(expandBraces('x{1..3}')).toEqual(['x1', 'x2', 'x3']);
    expect(expandBraces('x{3..1}')).toEqual(['x3', 'x2', 'x1']);
    expect(expandBraces('{a,{b,c}d}')).toEqual(['a', 'bd', 'cd']);
    expect(expandBraces('plain{x}.tar')).toEqual(['plain{x}.tar']);
    expect(expandBraces('{0..99999999999}')).toBeNull();
  });

  it('a pattern is one dataset; each shard it names that does not exist is a missing_file', async () => {
    const pattern = 'fixtures/webdataset/clean/clean-{000000..000002}.tar';
    const found = await discover([pattern], ROOT);
    expect(found.sources).toEqual([{ format: 'webdataset', path: pattern, absPath: path.join(ROOT, pattern) }]);
    const { samples, damage } = await readSamples(found.sources[0]!);
    expect(samples.length).toBe(16);
    expect(damage.map((f) => [f.kind, f.file])).toEqual([['missing_file', 'fixtures/webdataset/clean/clean-000002.tar']]);
  });

  it('a pattern naming no existing shard is a path that does not exist (exit 2)', async () => {
    const e = await discover(['fixtures/webdataset/clean/none-{0..3}.tar'], ROOT).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ScanError);
    expect((e as ScanError).code).toBe('SCAN_SOURCE_NOT_FOUND');
  });

  it('a shard named on its own, and a folder of shards, are webdatasets', async () => {
    const found = await discover(['fixtures/webdataset/clean/clean-000001.tar', 'fixtures/webdataset/formats'], ROOT);
    expect(found.sources.map((s) => [s.format, s.path])).toEqual([
      ['webdataset', 'fixtures/webdataset/clean/clean-000001.tar'], ['webdataset', 'fixtures/webdataset/formats']]);
    const { samples } = await readSamples(found.sources[0]!);
    expect(samples.map((s) => s.key)).toEqual(['000008', '000009', '000010', '000011', '000012', '000013', '000014', '000015']);
  });
});
