/** HDF5 reader against h5py: every value, every row exactly once, Caffe rules, damage, partitions, read-only. */
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScanError } from '../../../src/errors.js';
import { createHdf5Reader, hdf5Reader, type Hdf5Reader } from '../../../src/readers/hdf5/index.js';
import type { Partition, RecordBatch } from '../../../src/readers/types.js';
import type { Finding, Report } from '../../../src/types.js';
import { scanJson } from '../../helpers/cli.js';
import { hashTree } from '../../helpers/tree.js';
import { badCoverage, makeFixtures, readAll, type Fixtures } from './helpers.js';
import { damageFinding } from '../../../src/checks/severity.js';

let fx: Fixtures;
let treeBefore: string;
/** Small reads and no minimum partition size, so that tiny fixtures still split into many slabs and partitions. */
const small = createHdf5Reader({ slabBytes: 4096, minPartitionBytes: 0 });
/** Every dataset through h5wasm: the reference the direct reads must agree with. */
const viaHdf5 = createHdf5Reader({ slabBytes: 4096, minPartitionBytes: 0, direct: false });

beforeAll(() => {
  fx = makeFixtures();
  treeBefore = hashTree(fx.dir);
});

afterAll(() => {
  fx?.cleanup();
});

async function open(rel: string, module = hdf5Reader): Promise<Hdf5Reader> {
  const abs = fx.abs(rel);
  return (await module.open({ format: 'hdf5', path: abs, absPath: abs })) as Hdf5Reader;
}

const ONE_FILE = ['a.h5', 'b.h5', 'sub/c.h5', 'd64.h5', 'types.h5', 'compound.h5', 'ub.h5', 'latest.h5', 'btree.h5', 'big.h5'];

describe('values equal h5py', () => {
  for (const rel of ONE_FILE) {
    it(`${rel}: default reader, small reads with plan(1), plan(2), plan(5), and all through h5wasm`, async () => {
      for (const [module, n] of [[hdf5Reader, 1], [small, 1], [small, 2], [small, 5], [viaHdf5, 3]] as const) {
        const r = await readAll(fx, module, fx.abs(rel), n);
        expect(r.mismatches).toEqual([]);
        expect(r.damage).toEqual([]);
        expect(badCoverage(r, fx, [rel])).toEqual([]);
        expect(r.partitions).toBeLessThanOrEqual(n);
      }
    });
  }

  it('lists: every listed file read once, in list order, then row order', async () => {
    for (const n of [1, 2, 5]) {
      const r = await readAll(fx, small, fx.abs('clean.txt'), n);
      expect(r.mismatches).toEqual([]);
      expect(badCoverage(r, fx, ['a.h5', 'b.h5'])).toEqual([]);
      const labels = r.order.filter((o) => o.isLabel);
      const pos = labels.map((o) => (o.file === 'a.h5' ? 0 : 1_000_000) + o.firstRow);
      expect(pos).toEqual([...pos].sort((x, y) => x - y));
      expect(labels.every((o) => o.field === 'label')).toBe(true);
    }
  });

  it('reads past damaged list entries', async () => {
    const r = await readAll(fx, small, fx.abs('damaged.txt'), 3);
    expect(r.mismatches).toEqual([]);
    expect(badCoverage(r, fx, ['a.h5', 'b.h5'])).toEqual([]);
  });
});

describe('direct reads', () => {
  it('go direct exactly where the layout allows, and say why elsewhere', async () => {
    const access = new Map<string, string>();
    for (const rel of ['latest.h5', 'btree.h5', 'types.h5', 'ext.h5', 'ub.h5', 'd64.h5']) {
      const r = await open(rel);
      for (const [k, v] of r.access) access.set(`${rel}:${k.slice(k.lastIndexOf(':') + 1)}`, v);
    }
    const direct = [...access].filter(([, v]) => v === 'direct').map(([k]) => k).sort();
    expect(direct).toEqual([
      'btree.h5:many', 'btree.h5:shrunk', 'd64.h5:data', 'd64.h5:label', 'ext.h5:label', 'latest.h5:contig', 'latest.h5:fa',
      'latest.h5:fa_paged', 'latest.h5:implicit', 'latest.h5:single', 'types.h5:empty', 'types.h5:f16', 'types.h5:g1/g2/deep',
      'types.h5:i1', 'types.h5:i2', 'types.h5:i4', 'types.h5:i8', 'types.h5:one_d', 'types.h5:u1', 'types.h5:u2', 'types.h5:u4',
      'types.h5:u8', 'types.h5:zero_width', 'ub.h5:x',
    ]);
    expect(Object.fromEntries([...access].filter(([, v]) => v !== 'direct'))).toEqual({
      'latest.h5:ea': 'extensible array chunk index',
      'latest.h5:bt2': 'v2 B-tree chunk index',
      'latest.h5:partial': 'unallocated chunks',
      'btree.h5:subrow': 'chunks split rows',
      'types.h5:be': 'big-endian or VAX float',
      'types.h5:comp': 'compound type',
      'types.h5:gz': 'filtered (compressed) data',
      'ext.h5:data': 'external storage',
    });
    const off = await open('latest.h5', viaHdf5);
    expect([...off.access.values()].every((v) => v === 'direct reads turned off')).toBe(true);
  });

  it('scans give the same report with direct reads on and off (NANSCAN_HDF5_DIRECT=0), through the CLI', () => {
    const files = ['latest.h5', 'btree.h5', 'a.h5', 'd64.h5', 'types.h5', 'big.h5', 'damaged.txt'].map((f) => fx.abs(f));
    const on = scanJson([...files, '--workers', '2'], fx.dir);
    const off = scanJson([...files, '--workers', '2'], fx.dir, { NANSCAN_HDF5_DIRECT: '0' });
    expect(on.run.status).toBe(off.run.status);
    const strip = (r: Report): unknown => r.datasets.map((d) => ({
      path: d.path, records: d.records, bytes: d.bytes, findings: d.findings, findingCounts: d.findingCounts, labels: d.labels,
      // Value sums are added in another grouping (224 KiB reads against 4 MiB slabs): compare them rounded.
      stats: JSON.parse(JSON.stringify(d.stats, (_k, v: unknown) => (typeof v === 'number' ? Number(v.toPrecision(9)) : v))) as unknown,
    }));
    expect(strip(on.report)).toEqual(strip(off.report));
    expect(on.report.datasets.reduce((a, d) => a + d.findings.length, 0)).toBeGreaterThan(3);
    // big.h5's rows are read one at a time, and 'wide' rows (over the kernel's 256 KiB arena) are scanned in
    // pieces: findings still name the row and the element in it.
    const big = on.report.datasets.find((d) => d.path.endsWith('big.h5'))!;
    const brief = big.findings.map((f) => `${f.kind} ${f.field} #${f.index} ${f.message}`).sort();
    expect(brief).toEqual([
      "constant_sample data #3 All 49152 values of 'data' equal 0.25: zero variance.",
      "constant_sample pixels #2 All 150528 values of 'pixels' equal 7: zero variance.",
      "inconsistent_lengths undefined #undefined Datasets of one file disagree on their row count: 'data' 6, 'label' 6, 'pixels' 4, 'wide' 2, 'wide64' 3.",
      "nan data #1 2 NaN in 'data', first at element 3.",
      "neginf data #4 1 -Inf in 'data', first at element 24640.",
      "posinf wide #1 1 +Inf in 'wide', first at element 70000.",
    ]);
    expect(big.records).toBe(6);
  });

  it('a read that comes up short loses the rest of the rows with a corrupt_file, and reading goes on', async () => {
    const r = await open('a.h5');
    const part = JSON.parse(JSON.stringify(r.plan(1)[0])) as Partition;
    const seg = (part.spec as { segments: { datasets: { name: string; runs?: { offset: number }[] }[] }[] }).segments[0]!;
    const data = seg.datasets.find((d) => d.name === 'data')!;
    // As if the file had been cut after the survey: the run now starts 1000 bytes before the end.
    data.runs![0]!.offset = statSync(fx.abs('a.h5')).size - 1000;
    const reader = await hdf5Reader.open({ format: 'hdf5', path: fx.abs('a.h5'), absPath: fx.abs('a.h5') }, 'read');
    const damage: Finding[] = [];
    const fields = new Set<string>();
    for await (const b of reader.read(part) as AsyncIterable<RecordBatch>) {
      damage.push(...(b.damage ?? []).map(damageFinding));
      for (const rec of b.records) if (rec.kind === 'rows') fields.add(rec.field);
    }
    expect(damage).toHaveLength(1);
    expect(damage[0]).toMatchObject({ kind: 'corrupt_file', field: 'data', index: 0, count: 300 });
    expect(damage[0]!.message).toMatch(/^Rows 0–299 of dataset 'data' cannot be read: the file ends before byte \d+\.$/);
    expect(fields).toEqual(new Set(['label']));
  });

  it('a damaged chunk B-tree sends the dataset back to HDF5, which reports what it cannot read', async () => {
    const raw = readFileSync(fx.abs('btree.h5'));
    const copy = fx.abs('btree-damaged.h5');
    // Every 'TREE' node but the first (the root): leaves lose their signature.
    let at = raw.indexOf('TREE');
    let hits = 0;
    while ((at = raw.indexOf('TREE', at + 4)) !== -1) {
      raw.write('EERT', at, 'latin1');
      hits++;
    }
    expect(hits).toBeGreaterThan(2);
    writeFileSync(copy, raw);
    try {
      const r = (await hdf5Reader.open({ format: 'hdf5', path: copy, absPath: copy })) as Hdf5Reader;
      expect(r.access.get(`${copy}:many`)).toMatch(/signature/);
      const res = await readAll(fx, hdf5Reader, copy, 2);
      expect(res.damage.some((d) => d.kind === 'corrupt_file' && d.field === 'many')).toBe(true);
    } finally {
      rmSync(copy);
    }
  });
});

describe('structure', () => {
  it('scans numeric datasets of every group and lists what it skips', async () => {
    const r = await open('types.h5');
    expect(r.kind).toBe('file');
    expect(r.skipped.map((s) => s.slice(s.lastIndexOf(':') + 1)).sort()).toEqual([
      'empty (no values, shape (0, 4))', 'link (soft link)', 'names (string)', 'scalar (scalar)', 'zero_width (no values, shape (10, 0))',
    ]);
    // Links are not data; the rest is data nanscan did not check, one unsupported_type note for the file.
    expect(r.info().unchecked).toEqual([{
      reason: 'unsupported_type', count: 4, examples: ['empty', 'names', 'scalar', 'zero_width'].map((n) => expect.stringContaining(`:${n} (`)),
    }]);
    const res = await readAll(fx, hdf5Reader, fx.abs('types.h5'), 1);
    expect(res.mismatches).toEqual([]);
    expect(new Set(res.order.map((o) => o.field))).toEqual(new Set([
      'be', 'comp.a', 'comp.b', 'f16', 'g1/g2/deep', 'gz', 'i1', 'i2', 'i4', 'i8', 'one_d', 'u1', 'u2', 'u4', 'u8', 'zero_width',
    ]));
    expect(r.records).toBe(1000);
    r.close();
    r.close(); // idempotent
  });

  it('flags label datasets and Caffe row-count disagreement', async () => {
    const a = await open('a.h5');
    expect(a.info().findings).toEqual([]);
    expect(a.records).toBe(300);
    expect(a.info().bytes).toBeGreaterThan(230_400);
    const res = await readAll(fx, hdf5Reader, fx.abs('a.h5'), 1);
    expect(res.order.filter((o) => o.isLabel).map((o) => o.field)).toEqual(['label']);
    const t = await open('types.h5');
    const f = t.info().findings.map(damageFinding);
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ kind: 'inconsistent_lengths', severity: 'error', file: fx.abs('types.h5') });
    expect(f[0]?.message).toContain("'gz' 1000");
    expect(f[0]?.message).toContain("'one_d' 77");
  });

  it('label dataset names are configurable, and travel to the workers in the spec', async () => {
    const custom = createHdf5Reader({ labelNames: ['ONE_D'] });
    const res = await readAll(fx, custom, fx.abs('types.h5'), 1);
    expect([...new Set(res.order.filter((o) => o.isLabel).map((o) => o.field))]).toEqual(['one_d']);
    // Only datasets of one value a row hold labels: a default-named 'label' of (N, 3) would be data.
    const dflt = await readAll(fx, hdf5Reader, fx.abs('a.h5'), 1);
    expect([...new Set(dflt.order.filter((o) => o.isLabel).map((o) => o.field))]).toEqual(['label']);
    // Planned with the custom names, read by a default reader (as a worker would): the spec decides.
    const planner = await open('types.h5', custom);
    const reader = await open('types.h5');
    const fields = new Set<string>();
    for (const part of planner.plan(1)) {
      for await (const b of reader.read(part) as AsyncIterable<RecordBatch>) for (const r of b.records) if (r.kind === 'rows' && r.isLabel) fields.add(r.field);
    }
    expect([...fields]).toEqual(['one_d']);
  });

  it('a clean list gives no findings', async () => {
    const r = await open('clean.txt');
    expect(r.kind).toBe('list');
    expect(r.info().findings).toEqual([]);
    expect(r.records).toBe(500);
  });

  it('a list with a missing entry and a different trailing shape', async () => {
    // Given relative to the cwd, as a user would type it: findings keep that form.
    const rel = path.relative(process.cwd(), fx.abs('mixed.txt'));
    const r = (await hdf5Reader.open({ format: 'hdf5', path: rel, absPath: fx.abs('mixed.txt') })) as Hdf5Reader;
    const f = r.info().findings.map(damageFinding);
    const missing = f.filter((x) => x.kind === 'missing_file');
    expect(missing).toHaveLength(1);
    // The entry's own path as resolved (DESIGN.md list locators), with the list's line.
    expect(missing[0]).toMatchObject({ file: path.join(path.dirname(rel), 'missing.h5'), line: 2, index: 1, severity: 'error' });
    expect(missing[0]?.message).toContain('missing.h5');
    // label is i4 (N,) in a.h5 and f4 (N, 1) in c.h5: one value a row in both, which Caffe reads alike.
    const shapes = f.filter((x) => x.kind === 'shape_mismatch');
    expect(shapes.map((x) => x.field).sort()).toEqual(['data']);
    const cRel = path.relative(process.cwd(), fx.abs('sub/c.h5'));
    for (const s of shapes) {
      expect(s.file).toBe(cRel);
      expect(s.message).toContain(cRel);
      expect(s.message).toContain(path.relative(process.cwd(), fx.abs('a.h5')));
    }
    expect(shapes.find((x) => x.field === 'data')?.message).toMatch(/768 values per row \(N, 3, 16, 16\).*192 values per row \(N, 3, 8, 8\)/);
    expect(f).toHaveLength(2);
  });
});

describe('damage', () => {
  it('a truncated or garbage file alone is a corrupt source, with HDF5\'s reason', async () => {
    for (const [rel, text] of [['trunc.h5', 'truncated file'], ['garbage.h5', 'signature'], ['empty.h5', 'signature']] as const) {
      const err = await open(rel).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(ScanError);
      expect((err as ScanError).code).toBe('SCAN_CORRUPT_SOURCE');
      expect((err as ScanError).message).toContain(text);
    }
  });

  it('corrupt files in a list are findings and the other files are read', async () => {
    const r = await open('damaged.txt');
    const f = r.info().findings.map(damageFinding);
    expect(f.map((x) => [x.kind, path.basename(x.file ?? '')])).toEqual([
      ['corrupt_file', 'trunc.h5'], ['corrupt_file', 'garbage.h5'],
    ]);
    expect(f[0]?.message).toMatch(/truncated file: eof = \d+/);
    expect(r.records).toBe(500);
  });

  it('a damaged chunk loses only its rows', async () => {
    for (const [module, n] of [[hdf5Reader, 1], [small, 1], [small, 3]] as const) {
      const r = await readAll(fx, module, fx.abs('badchunk.h5'), n);
      expect(r.mismatches).toEqual([]);
      expect(badCoverage(r, fx, ['badchunk.h5'], { 'badchunk.h5|data': [64, 96] })).toEqual([]);
      expect(r.damage).toHaveLength(1);
      expect(r.damage[0]).toMatchObject({
        kind: 'corrupt_file', file: fx.abs('badchunk.h5'), field: 'data', index: 64, count: 32,
      });
      expect(r.damage[0]?.message).toContain('filter');
    }
  });

  it('unreadable contiguous data is lost once per partition, the other datasets are read', async () => {
    for (const n of [1, 2]) {
      const r = await readAll(fx, small, fx.abs('ext.h5'), n);
      expect(r.mismatches).toEqual([]);
      expect(badCoverage(r, fx, ['ext.h5'], { 'ext.h5|data': [0, 100] })).toEqual([]);
      expect(r.damage.map((d) => [d.kind, d.field, d.index])).toEqual(n === 1 ? [['corrupt_file', 'data', 0]] : [['corrupt_file', 'data', 0], ['corrupt_file', 'data', 50]]);
      expect(r.damage.reduce((a, d) => a + (d.count ?? 0), 0)).toBe(100);
      expect(r.damage[0]?.message).toContain('external raw data file');
    }
  });

  it('NaN and Inf rows come out at their row and field', async () => {
    const r = await open('a.h5');
    const nan: number[] = [];
    const inf: number[] = [];
    for (const part of r.plan(1)) {
      for await (const b of r.read(part) as AsyncIterable<RecordBatch>) {
        for (const rec of b.records) {
          if (rec.kind !== 'rows' || rec.field !== 'data' || !(rec.data instanceof Float32Array)) continue;
          const per = rec.rowShape.reduce((x, y) => x * y, 1);
          rec.data.forEach((v, i) => {
            if (Number.isNaN(v)) nan.push(rec.firstRow + Math.floor(i / per));
            if (v === Infinity) inf.push(rec.firstRow + Math.floor(i / per));
          });
        }
      }
    }
    expect(nan).toEqual([5, 17]);
    expect(inf).toEqual([42]);
  });
});

describe('partitions', () => {
  it('split a big file at chunk boundaries and stay within maxPartitions', async () => {
    const r = await open('b.h5', small);
    for (const n of [1, 2, 3, 5, 64]) {
      const parts = r.plan(n);
      expect(parts.length).toBeLessThanOrEqual(n);
      expect(parts.map((p) => p.index)).toEqual(parts.map((_, i) => i));
      const segs = parts.flatMap((p) => (p.spec as { segments: { start: number; end: number }[] }).segments);
      expect(segs[0]?.start).toBe(0);
      expect(segs[segs.length - 1]?.end).toBe(200);
      for (let i = 1; i < segs.length; i++) expect(segs[i]?.start).toBe(segs[i - 1]?.end);
      for (const s of segs) expect(s.start % 32).toBe(0); // b.h5's data is chunked by 32 rows
    }
    expect(r.plan(2)).toHaveLength(2);
  });

  it('keep small sources whole with the default minimum partition size', async () => {
    const r = await open('clean.txt');
    expect(r.plan(5)).toHaveLength(1);
  });

  it('rejects bad arguments and bad specs', async () => {
    const r = await open('a.h5');
    expect(() => r.plan(0)).toThrow(ScanError);
    expect(() => r.plan(1.5)).toThrow(ScanError);
    const good = r.plan(1)[0] as Partition;
    const seg = (good.spec as { segments: Record<string, unknown>[] }).segments[0] as Record<string, unknown>;
    const ds = (seg['datasets'] as Record<string, unknown>[])[0] as Record<string, unknown>;
    const withDs = (d: Record<string, unknown>): Partition => ({ index: 0, spec: { v: 2, segments: [{ ...seg, datasets: [d] }] } as never });
    const bad: Partition[] = [
      { index: 0, spec: null },
      { index: 0, spec: { v: 1, labels: [], segments: [] } },
      { index: 0, spec: { v: 2 } },
      { index: 0, spec: { v: 2, segments: [{ path: 'relative.h5', file: 'x', start: 0, end: 1, datasets: [] }] } },
      { index: 0, spec: { v: 2, segments: [{ path: fx.abs('a.h5'), file: 'x', start: 5, end: 1, datasets: [] }] } },
      { index: 0, spec: { v: 2, segments: [{ path: fx.abs('a.h5'), file: 'x', start: 0, end: 1 }] } },
      withDs({ ...ds, dtype: 'f128' }),
      withDs({ ...ds, rowBytes: 7 }),
      withDs({ ...ds, rowShape: [3, -8, 8] }),
      withDs({ ...ds, runs: [{ row: 0, rows: 1, offset: -5 }] }),
      withDs({ ...ds, runs: 'all' }),
    ];
    const drain = async (p: Partition): Promise<void> => {
      for await (const b of r.read(p) as AsyncIterable<RecordBatch>) void b;
    };
    await drain(good); // the template itself is valid
    for (const p of bad) await expect(drain(p)).rejects.toThrow(ScanError);
    // Compound layouts: every field inside the element, of a known type, never read directly.
    const c = await open('compound.h5');
    const cGood = c.plan(1)[0] as Partition;
    const cSeg = (cGood.spec as { segments: Record<string, unknown>[] }).segments[0] as Record<string, unknown>;
    const cDs = (cSeg['datasets'] as Record<string, unknown>[]).find((d) => d['dtype'] === 'compound') as Record<string, unknown>;
    const layout = cDs['compound'] as { size: number; fields: Record<string, unknown>[] };
    const withC = (d: Record<string, unknown>): Partition => ({ index: 0, spec: { v: 2, segments: [{ ...cSeg, datasets: [d] }] } as never });
    const field0 = layout.fields[0] as Record<string, unknown>;
    await drain(withC(cDs));
    for (const d of [
      { ...cDs, compound: undefined },
      { ...cDs, compound: { ...layout, fields: [] } },
      { ...cDs, compound: { ...layout, fields: [{ ...field0, offset: layout.size }] } },
      { ...cDs, compound: { ...layout, fields: [{ ...field0, dtype: 'f128' }] } },
      { ...cDs, compound: { ...layout, size: layout.size + 1 } },
      { ...cDs, runs: [] },
    ]) await expect(drain(withC(d))).rejects.toThrow(ScanError);
    expect(() => createHdf5Reader({ slabBytes: 0 })).toThrow(ScanError);
    expect(() => createHdf5Reader({ labelNames: ['a/b'] })).toThrow(ScanError);
  });
});

it('never writes to the fixture tree', () => {
  expect(hashTree(fx.dir)).toBe(treeBefore);
});
