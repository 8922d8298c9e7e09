/**
 * The reader conformance suite: what every reader module promises the rest of nanscan (src/readers/types.ts),
 * run against each reader on clean and damaged fixtures. A new format is a reader plus an entry in CASES.
 * (abstract-level's shared suite is the model: one suite, every implementation.)
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discover } from '../../src/discover.js';
import { ScanError } from '../../src/errors.js';
import { loadReader } from '../../src/readers/registry.js';
import type { DataRecord, Partition, Reader, Source, SourceFormat } from '../../src/readers/types.js';
import type { Finding } from '../../src/types.js';
import { ROOT } from '../helpers/cli.js';
import { hashTree } from '../helpers/tree.js';
import { damageFinding } from '../../src/checks/severity.js';

interface Case {
  format: SourceFormat;
  /** A fixture path (relative to the repository) that discovery turns into one source of `format`. */
  fixture: string;
  /** Whether the fixture is damaged: then the reader must yield damage findings, and throw nothing. */
  damaged?: boolean;
}

const CASES: Case[] = [
  { format: 'lmdb', fixture: 'fixtures/lmdb/clean' },
  { format: 'lmdb', fixture: 'fixtures/lmdb/page-damaged', damaged: true },
  { format: 'lmdb', fixture: 'fixtures/lmdb/truncated', damaged: true },
  // Pickled values with metadata keys: the reader yields them as any values (the analysis decodes them).
  { format: 'lmdb', fixture: 'fixtures/lmdb/pickled' },
  { format: 'leveldb', fixture: 'fixtures/leveldb/clean' },
  { format: 'leveldb', fixture: 'fixtures/leveldb/mnist-log' },
  { format: 'leveldb', fixture: 'fixtures/leveldb/bad-block', damaged: true },
  { format: 'hdf5', fixture: 'fixtures/hdf5/plain/old.h5' },
  { format: 'hdf5', fixture: 'fixtures/hdf5/list/train.txt' },
  { format: 'hdf5', fixture: 'fixtures/hdf5/lengths/extra.h5' },
  { format: 'image-folder', fixture: 'fixtures/images/classes' },
  // The list names a file that does not exist: a missing_file finding, yielded as damage.
  { format: 'image-list', fixture: 'fixtures/images/list/train.txt', damaged: true },
  { format: 'parquet', fixture: 'fixtures/parquet/clean.parquet' },
  { format: 'parquet', fixture: 'fixtures/parquet/images.parquet' },
  // Row group 1's `x` page header overwritten: a corrupt_file finding, every other chunk read.
  { format: 'parquet', fixture: 'fixtures/parquet/corrupt-page.parquet', damaged: true },
  // Nulls are damage the reader yields (null_value).
  { format: 'parquet', fixture: 'fixtures/parquet/planted.parquet', damaged: true },
  { format: 'arrow', fixture: 'fixtures/arrow/clean.arrow' },
  { format: 'arrow', fixture: 'fixtures/arrow/clean.feather' },
  { format: 'arrow', fixture: 'fixtures/arrow/images.arrow' },
  { format: 'arrow', fixture: 'fixtures/arrow/planted.arrow', damaged: true },
  // Cut inside its last record batch: a corrupt_file finding at open, the batches before it read.
  { format: 'arrow', fixture: 'fixtures/arrow/truncated.arrow', damaged: true },
  { format: 'webdataset', fixture: 'fixtures/webdataset/clean' },
  // GNU, pax and ustar headers, folder-prefixed keys, links, a gzipped shard.
  { format: 'webdataset', fixture: 'fixtures/webdataset/formats' },
  // A cut shard, a bad header checksum, bad labels, a missing member, a split key (damaged/FAULTS.json).
  { format: 'webdataset', fixture: 'fixtures/webdataset/damaged', damaged: true },
  { format: 'tfrecord', fixture: 'fixtures/tfrecord/shards' },
  { format: 'tfrecord', fixture: 'fixtures/tfrecord/train.tfrecord.gz' },
  { format: 'tfrecord', fixture: 'fixtures/tfrecord/other/data-crc.tfrecord', damaged: true },
  { format: 'tfrecord', fixture: 'fixtures/tfrecord/length-crc.tfrecord', damaged: true },
  { format: 'tfrecord', fixture: 'fixtures/tfrecord/cut.tfrecord.gz', damaged: true },
  // NumPy (scripts/make-npy-fixtures.ts): features with their paired label file; a deflated and a stored .npz.
  { format: 'npy', fixture: 'fixtures/npy/clean/X_train.npy' },
  { format: 'npy', fixture: 'fixtures/npy/npz/faults.npz' },
  { format: 'npy', fixture: 'fixtures/npy/npz/stored.npz' },
  // Cut inside row 60; a stored member whose CRC no longer matches.
  { format: 'npy', fixture: 'fixtures/npy/truncated/cut.npy', damaged: true },
  { format: 'npy', fixture: 'fixtures/npy/crc/bad.npz', damaged: true },
];

/** Sources with nothing readable: open() refuses them with the one code that becomes a corrupt_file finding. */
const UNOPENABLE: Case[] = [
  { format: 'hdf5', fixture: 'fixtures/hdf5/truncated/broken.h5' },
  { format: 'parquet', fixture: 'fixtures/parquet/truncated.parquet' },
  { format: 'parquet', fixture: 'fixtures/parquet/bad-footer.parquet' },
  { format: 'npy', fixture: 'fixtures/npy/not-npy/fake.npy' },
];

/** Partition counts asked of plan(): one, a few, more than there are records in small fixtures. */
const PLAN_SIZES = [1, 2, 3, 7, 64];

/** One line per record, identifying it and its content, in the order read. */
function describeRecord(rec: DataRecord): string[] {
  const hash = (b: ArrayBufferView): string =>
    createHash('sha1').update(new Uint8Array(b.buffer, b.byteOffset, b.byteLength)).digest('hex').slice(0, 12);
  switch (rec.kind) {
    case 'kv':
      return [`kv ${Buffer.from(rec.key).toString('hex')} ${hash(rec.value)}`];
    case 'file':
      return [`file ${rec.index} ${rec.file} ${rec.line ?? ''} ${rec.label ?? ''} ${hash(rec.bytes)}`];
    case 'sample':
      // Sample indexes are partition-local (like key/value ones): checked in readAll, not part of the line.
      return [`sample ${rec.file} ${rec.key ?? ''} ${rec.offset ?? ''} ` + rec.fields.map((f) =>
        f.type === 'array' ? `${f.name}:${f.dtype}[${f.shape.join(',')}]=${hash(f.data)}`
          : f.type === 'label' ? `${f.name}=${f.value}` : f.type === 'image' ? `${f.name}:${hash(f.bytes)}` : f.name).join(' ')];
    case 'rows': {
      const per = rec.data.length / Math.max(rec.rows, 1);
      return Array.from({ length: rec.rows }, (_, r) =>
        `rows ${rec.file}:${rec.field}:${rec.firstRow + r} ${hash(rec.data.subarray(r * per, (r + 1) * per))}`);
    }
  }
}

interface ReadAll {
  records: string[];
  damage: Finding[];
}

/** Reads partitions in order: records as lines, and the damage yielded. Key/value and sample indexes must count from 0. */
async function readAll(reader: Reader, plan: readonly Partition[]): Promise<ReadAll> {
  const out: ReadAll = { records: [], damage: [] };
  for (const p of plan) {
    let kvIndex = 0;
    for await (const batch of reader.read(p)) {
      for (const rec of batch.records) {
        if (rec.kind === 'kv' || rec.kind === 'sample') expect(rec.index).toBe(kvIndex++);
        out.records.push(...describeRecord(rec));
      }
      if (batch.damage) out.damage.push(...batch.damage.map(damageFinding));
    }
  }
  return out;
}

async function sourceOf(c: Case): Promise<Source> {
  const found = await discover([c.fixture], ROOT);
  const sources = found.sources.filter((s) => s.format === c.format);
  expect(sources.map((s) => s.path)).toEqual([c.fixture]);
  return sources[0]!;
}

async function open(source: Source, purpose: 'plan' | 'read' = 'plan'): Promise<Reader> {
  return (await loadReader(source.format)).open(source, purpose);
}

const fixturesHash = { before: '' };
beforeAll(() => { fixturesHash.before = hashTree(path.join(ROOT, 'fixtures')); });
afterAll(() => {
  // Nothing any reader did here wrote into the fixtures.
  expect(hashTree(path.join(ROOT, 'fixtures'))).toBe(fixturesHash.before);
});

describe.each(UNOPENABLE)('reader $format on $fixture', (c) => {
  it('refuses to open it with SCAN_CORRUPT_SOURCE, naming the file', async () => {
    const source = await sourceOf(c);
    const error = await open(source).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(ScanError);
    expect((error as ScanError).code).toBe('SCAN_CORRUPT_SOURCE');
    expect((error as ScanError).message).toContain(c.fixture);
  });
});

describe.each(CASES)('reader $format on $fixture', (c) => {
  let source: Source;
  let whole: ReadAll;

  beforeAll(async () => {
    source = await sourceOf(c);
    const reader = await open(source);
    try {
      whole = await readAll(reader, reader.plan(1));
    } finally {
      reader.close();
    }
  });

  it('plans partitions that survive structured clone and JSON, indexed 0..n-1', async () => {
    const reader = await open(source);
    try {
      for (const n of PLAN_SIZES) {
        const plan = reader.plan(n);
        expect(plan.length).toBeGreaterThanOrEqual(1);
        expect(plan.length).toBeLessThanOrEqual(n);
        expect(plan.map((p) => p.index)).toEqual(plan.map((_, i) => i));
        expect(structuredClone(plan)).toEqual(plan);
        expect(JSON.parse(JSON.stringify(plan))).toEqual(plan);
      }
    } finally {
      reader.close();
    }
  });

  it('covers every record exactly once, in storage order, however many partitions it plans', async () => {
    if (!c.damaged) expect(whole.records.length).toBeGreaterThan(0);
    const reader = await open(source);
    try {
      for (const n of PLAN_SIZES.slice(1)) {
        const parts = await readAll(reader, reader.plan(n));
        expect(parts.records).toEqual(whole.records);
      }
    } finally {
      reader.close();
    }
  });

  it('a reader opened for reading reads what a planning reader planned, from cloned specs', async () => {
    const planner = await open(source);
    const plan = structuredClone(planner.plan(7));
    planner.close();
    const worker = await open(source, 'read');
    try {
      const read = await readAll(worker, plan);
      expect(read.records).toEqual(whole.records);
    } finally {
      worker.close();
    }
  });

  it('refuses a partition spec it did not make with SCAN_INVALID_PARTITION', async () => {
    const reader = await open(source, 'read');
    try {
      for (const spec of [null, 42, 'x', { bogus: true }, []]) {
        let error: unknown;
        try {
          for await (const _ of reader.read({ index: 0, spec: spec as Partition['spec'] })) { /* drain */ }
        } catch (e) {
          error = e;
        }
        expect(error, `spec ${JSON.stringify(spec)}`).toBeInstanceOf(ScanError);
        expect((error as ScanError).code).toBe('SCAN_INVALID_PARTITION');
      }
    } finally {
      reader.close();
    }
  });

  it('closes idempotently', async () => {
    const reader = await open(source);
    reader.close();
    reader.close();
  });

  it(c.damaged ? 'yields damage as findings with a file, and throws nothing' : 'yields no damage on clean data', async () => {
    if (!c.damaged) {
      expect(whole.damage).toEqual([]);
      return;
    }
    const r = await open(source);
    try {
      const info = r.info();
      const read = await readAll(r, r.plan(3));
      const damage = [...info.findings, ...read.damage];
      expect(damage.length).toBeGreaterThan(0);
      for (const f of damage) expect(f.file, JSON.stringify(f)).toBeTypeOf('string');
    } finally {
      r.close();
    }
  });
});
