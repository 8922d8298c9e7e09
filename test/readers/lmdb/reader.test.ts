/**
 * The LMDB reader against real liblmdb output: every record, in order, equals what py-lmdb (format 1) or npm
 * `lmdb` (format 2) iterates, for every partitioning; plus sub-databases, the sniff, and read-only behaviour.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScanError } from '../../../src/errors.js';
import { isLmdbDir, lmdbReader, type LmdbPartitionSpec } from '../../../src/readers/lmdb/index.js';
import type { DataRecord, Partition, RecordBatch } from '../../../src/readers/types.js';
import {
  copyEnv,
  expected,
  firstDiff,
  hashDir,
  makeV1Envs,
  makeV2Envs,
  openEnv,
  patch,
  PYTHON,
  readDir,
  readPlan,
} from './helpers.js';

let tmp: string;
let v1: string;
let v2: string;
/** Hashes of the fixture trees right after generation; every test below only reads them. */
let pristine: [string, string];

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nanscan-lmdb-'));
  v1 = path.join(tmp, 'v1');
  v2 = path.join(tmp, 'v2');
  fs.mkdirSync(v1);
  fs.mkdirSync(v2);
  makeV1Envs(v1);
  makeV2Envs(v2);
  pristine = [hashDir(v1), hashDir(v2)];
});

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const V1 = ['empty', 'one', 'small', 'two_txn', 'medium', 'big', 'binary', 'churn', 'named', 'named_many', 'dupsort', 'dupfixed', 'intkey', 'reversekey'];
const V2 = ['v2main', 'v2dup', 'v2named'];

describe.each([
  ...V1.map((name) => ({ name, format: 1 })),
  ...V2.map((name) => ({ name, format: 2 })),
])('env $name (format $format)', ({ name, format }) => {
  const dirOf = (): string => path.join(format === 1 ? v1 : v2, name);

  it('yields exactly what LMDB iterates, for plan(1), plan(2), plan(7) and plan(64)', async () => {
    const exp = expected(format === 1 ? v1 : v2, name);
    const r = await openEnv(dirOf());
    try {
      expect(r.info().declaredRecords).toBe(exp.entries);
      expect(r.info().findings).toEqual([]);
      expect(r.info().bytes).toBe(fs.statSync(path.join(dirOf(), 'data.mdb')).size);
      for (const parts of [1, 2, 7, 64]) {
        const plan = r.plan(parts);
        expect(plan.length).toBeGreaterThanOrEqual(1);
        expect(plan.length).toBeLessThanOrEqual(parts);
        expect(plan.map((p) => p.index)).toEqual(plan.map((_, i) => i));
        const got = readPlan(r, plan);
        expect(got.damage).toEqual([]);
        expect(got.lines.length).toBe(exp.lines.length);
        expect(firstDiff(got.lines, exp.lines)).toBe(-1);
      }
      expect([...r.subDatabases].sort()).toEqual([...exp.names].sort());
    } finally {
      r.close();
    }
  });
});

describe('plans and partitions', () => {
  it('splits a multi-level tree into the requested number of balanced partitions', async () => {
    const r = await openEnv(path.join(v1, 'small'));
    try {
      for (const parts of [2, 7]) {
        const plan = r.plan(parts);
        expect(plan.length).toBe(parts);
        const sizes = plan.map((p) => readPlan(r, [p]).lines.length);
        expect(sizes.reduce((a, b) => a + b, 0)).toBe(30000);
        // Balanced within a factor of 3 of the ideal share.
        for (const s of sizes) expect(s).toBeGreaterThan(30000 / parts / 3);
      }
    } finally {
      r.close();
    }
  });

  it('lists a level of many leaves as slices of their branch pages: few entries, every record once', async () => {
    // `small`: 30,000 records under a few branch pages. Each partition takes consecutive leaves; it lists at most
    // one entry per branch page it touches (a slice of its children), not one entry (and key) per leaf.
    const dir = path.join(v1, 'small');
    const stat = JSON.parse(fs.readFileSync(path.join(v1, 'small.json'), 'utf8')) as { branch_pages: number; leaf_pages: number };
    expect(stat.leaf_pages).toBeGreaterThan(512);
    const r = await openEnv(dir);
    try {
      for (const parts of [7, 64]) {
        const plan = r.plan(parts).map((p): Partition => JSON.parse(JSON.stringify(p)) as Partition);
        expect(plan.length).toBe(parts);
        const specs = plan.map((p) => p.spec as LmdbPartitionSpec);
        const listed = specs.reduce((a, s) => a + s.trees.reduce((b, t) => b + t.pages.length, 0), 0);
        expect(listed).toBeLessThanOrEqual(parts + stat.branch_pages);
        expect(specs.some((s) => s.trees.some((t) => t.children.some((c) => c !== null)))).toBe(true);
        const got = readPlan(r, plan);
        expect(got.damage).toEqual([]);
        expect(firstDiff(got.lines, expected(v1, 'small').lines)).toBe(-1);
      }
    } finally {
      r.close();
    }
  });

  it('gives one partition for an empty DB and for a one-page tree', async () => {
    for (const name of ['empty', 'one']) {
      const r = await openEnv(path.join(v1, name));
      expect(r.plan(8)).toHaveLength(1);
      r.close();
    }
  });

  it('partition specs survive JSON and are read by a fresh reader (as in a worker)', async () => {
    const dir = path.join(v1, 'churn');
    const planner = await openEnv(dir);
    const plan = planner.plan(5).map((p): Partition => JSON.parse(JSON.stringify(p)) as Partition);
    planner.close();
    const worker = await openEnv(dir);
    const got: string[] = [];
    for (const p of [...plan].reverse()) got.unshift(...readPlan(worker, [p]).lines);
    worker.close();
    expect(firstDiff(got, expected(v1, 'churn').lines)).toBe(-1);
  });

  it('reports a partition planned from another snapshot instead of reading it', async () => {
    const dir = copyEnv(path.join(v1, 'two_txn'), path.join(tmp, 'changed'));
    const planner = await openEnv(dir);
    const plan = planner.plan(2);
    planner.close();
    const code = `import lmdb; e = lmdb.open(${JSON.stringify(dir)}); t = e.begin(write=True); t.put(b'zz', b'1'); t.commit(); e.close()`;
    const { spawnSync } = await import('node:child_process');
    expect(spawnSync(PYTHON, ['-c', code]).status).toBe(0);
    const worker = await openEnv(dir);
    const got = readPlan(worker, plan);
    worker.close();
    expect(got.lines).toEqual([]);
    expect(got.damage.length).toBe(2);
    expect(got.damage[0]?.message).toMatch(/changed while it was being scanned/);
  });

  it('two partitions read in lockstep from one reader do not disturb each other', async () => {
    const r = await openEnv(path.join(v1, 'medium'));
    const hex = (recs: readonly DataRecord[]): string[] =>
      recs.map((rec) => (rec.kind === 'kv' ? `${Buffer.from(rec.key).toString('hex')} ${Buffer.from(rec.value).toString('hex')}` : ''));
    try {
      const [p0, p1] = r.plan(2) as [Partition, Partition];
      const it0 = (r.read(p0) as Iterable<RecordBatch>)[Symbol.iterator]();
      const it1 = (r.read(p1) as Iterable<RecordBatch>)[Symbol.iterator]();
      const out0: string[] = [];
      const out1: string[] = [];
      for (;;) {
        const a = it0.next();
        // Views of batch `a` must stay valid while the other partition reads (and recycles) its own blocks.
        for (let k = 0; k < 3; k++) {
          const b = it1.next();
          if (!b.done) out1.push(...hex(b.value.records));
        }
        if (a.done) break;
        out0.push(...hex(a.value.records));
      }
      for (let b = it1.next(); !b.done; b = it1.next()) out1.push(...hex(b.value.records));
      expect(out0.length).toBeGreaterThan(0);
      expect(firstDiff([...out0, ...out1], expected(v1, 'medium').lines)).toBe(-1);
    } finally {
      r.close();
    }
  });

  it('rejects a spec it did not make', async () => {
    const r = await openEnv(path.join(v1, 'one'));
    expect(() => [...(r.read({ index: 0, spec: { pages: 'x' } }) as Iterable<unknown>)]).toThrow(ScanError);
    r.close();
  });

  it('close() is idempotent', async () => {
    const r = await openEnv(path.join(v1, 'one'));
    r.close();
    r.close();
  });
});

describe('named sub-databases', () => {
  it('lists them and yields their records after the main DB\'s, declaring their own md_entries', async () => {
    const res = await readDir(path.join(v1, 'named'), 3);
    expect(res.lines).toHaveLength(1500);
    expect(res.info.declaredRecords).toBe(1500);
    const r = await openEnv(path.join(v1, 'named'));
    expect(r.subDatabases).toEqual(['alpha', 'beta']);
    r.close();
  });

  it('strips the trailing NUL format 2 stores in names', async () => {
    const r = await openEnv(path.join(v2, 'v2named'));
    expect(r.subDatabases).toEqual(['subone']);
    r.close();
  });
});

describe('isLmdbDir', () => {
  it('recognises format 1 and 2 environments', () => {
    expect(isLmdbDir(path.join(v1, 'small'))).toBe(true);
    expect(isLmdbDir(path.join(v1, 'empty'))).toBe(true);
    expect(isLmdbDir(path.join(v2, 'v2main'))).toBe(true);
  });

  it('rejects directories without an LMDB data.mdb', () => {
    const d = path.join(tmp, 'notlmdb');
    fs.mkdirSync(d);
    expect(isLmdbDir(d)).toBe(false);
    fs.writeFileSync(path.join(d, 'data.mdb'), Buffer.alloc(20000, 7));
    expect(isLmdbDir(d)).toBe(false);
    expect(isLmdbDir(path.join(tmp, 'does-not-exist'))).toBe(false);
  });

  it('still recognises an environment whose page 0 is destroyed (page 1 found by its page size)', () => {
    const d = copyEnv(path.join(v1, 'small'), path.join(tmp, 'sniff-p0'));
    patch(d, 0, Buffer.alloc(4096));
    expect(isLmdbDir(d)).toBe(true);
  });
});

describe('unsupported variants are refused with a clear ScanError', () => {
  const refuse = async (from: string, edit: (d: string) => void, msg: RegExp): Promise<void> => {
    const d = copyEnv(from, fs.mkdtempSync(path.join(tmp, 'variant-')));
    edit(d);
    const err = await openEnv(d).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ScanError);
    expect((err as ScanError).code).toBe('SCAN_CORRUPT_SOURCE');
    expect((err as ScanError).message).toMatch(msg);
  };
  const u32 = (v: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    return b;
  };

  it('a 32-bit file', async () => {
    await refuse(path.join(v1, 'one'), (d) => {
      patch(d, 0, Buffer.alloc(64));
      patch(d, 12, u32(0xbeefc0de));
      patch(d, 16, u32(1));
    }, /32-bit build of LMDB/);
  });

  it('a big-endian file', async () => {
    await refuse(path.join(v1, 'one'), (d) => patch(d, 16, Buffer.from([0xbe, 0xef, 0xc0, 0xde])), /big-endian/);
  });

  it('an MDB_DEVEL file (version 999)', async () => {
    await refuse(path.join(v1, 'one'), (d) => patch(d, 20, u32(999)), /MDB_DEVEL/);
  });

  it('an encrypted format-2 file', async () => {
    await refuse(path.join(v2, 'v2main'), (d) => {
      for (const page of [0, 4096]) {
        const flags = Buffer.from(fs.readFileSync(path.join(d, 'data.mdb')).subarray(page + 52, page + 54));
        flags.writeUInt16LE(flags.readUInt16LE(0) | 0x2000);
        patch(d, page + 52, flags);
      }
    }, /encrypted LMDB environment/);
  });

  it('a format-2 file with per-page checksums', async () => {
    await refuse(path.join(v2, 'v2main'), (d) => patch(d, 4094, Buffer.from([8, 0])), /per-page checksums \(8 bytes/);
  });

  it('a file too short to hold two meta pages', async () => {
    await refuse(path.join(v1, 'one'), (d) => fs.truncateSync(path.join(d, 'data.mdb'), 600), /too short/);
  });
});

describe('read-only', () => {
  it('changes nothing in the environment directory', async () => {
    const d = copyEnv(path.join(v1, 'big'), path.join(tmp, 'ro'), true);
    const before = hashDir(d);
    const mtime = fs.statSync(path.join(d, 'data.mdb')).mtimeMs;
    const res = await readDir(d, 3);
    expect(res.lines).toHaveLength(300);
    expect(hashDir(d)).toBe(before);
    expect(fs.statSync(path.join(d, 'data.mdb')).mtimeMs).toBe(mtime);
  });

  it('creates no lock.mdb when there is none', async () => {
    const d = copyEnv(path.join(v1, 'small'), path.join(tmp, 'nolock'));
    const before = hashDir(d);
    const r = await openEnv(d);
    for (const p of r.plan(3)) for (const _ of r.read(p) as Iterable<unknown>) void _;
    r.close();
    expect(fs.readdirSync(d)).toEqual(['data.mdb']);
    expect(hashDir(d)).toBe(before);
  });

  it('reads a single-file (NOSUBDIR) source too', async () => {
    const f = path.join(tmp, 'single.mdb');
    fs.copyFileSync(path.join(v1, 'one', 'data.mdb'), f);
    const r = await lmdbReader.open({ format: 'lmdb', path: f, absPath: f });
    const res = readPlan(r, r.plan(1));
    r.close();
    expect(res.lines).toEqual(expected(v1, 'one').lines);
  });
});

describe('after everything above', () => {
  it('left every fixture file (names and bytes, lock files included) exactly as written', () => {
    expect([hashDir(v1), hashDir(v2)]).toEqual(pristine);
  });
});
