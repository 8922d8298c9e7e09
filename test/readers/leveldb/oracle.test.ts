/**
 * The reader returns exactly what LevelDB returns (issue 3, "Oracle test"), for databases written by LevelDB itself
 * through plyvel, read as one, two and five partitions; and it leaves a database byte-identical.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { isLevelDbDir, leveldbReader } from '../../../src/readers/leveldb/index.js';
import { loadLayout } from '../../../src/readers/leveldb/layout.js';
import { buildFixtures, copyDb, decodePairs, diffPairs, hashTree, PYTHON, readDb, type Fixture } from './helpers.js';
import { OPEN_FLAGS } from '../../../src/readers/files.js';

let root: string;
let fx: Record<string, Fixture>;

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'nanscan-leveldb-oracle-'));
  fx = buildFixtures(root, {
    empty: { kind: 'empty' },
    logonly: { kind: 'logonly' },
    snappy: { kind: 'compacted', compression: 'snappy' },
    plain: { kind: 'compacted', compression: null },
    binary: { kind: 'binary' },
    mnist: { kind: 'mnist', items: 5000 },
    mnistFlushed: { kind: 'mnist', items: 8000, write_buffer: 2 * 1024 * 1024 },
  });
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const NAMES = ['empty', 'logonly', 'snappy', 'plain', 'binary', 'mnist', 'mnistFlushed'];

describe('fixtures exercise what they claim', () => {
  const levels = (name: string): number[] => [...new Set(loadLayout(fx[name]!.dir, (n) => n).tables.map((t) => t.level))].sort();
  it('compacted databases hold tables in several levels plus live logs, with overwrites and deletions', () => {
    for (const name of ['snappy', 'plain']) {
      const layout = loadLayout(fx[name]!.dir, (n) => n);
      // Usually levels 0, 1 and 2; the exact shape depends on LevelDB's background compaction timing.
      expect(levels(name).length).toBeGreaterThanOrEqual(2);
      expect(layout.tables.length).toBeGreaterThan(10);
      expect(layout.logs.length).toBeGreaterThan(0);
      const values = fx[name]!.oracle.map(([, v]) => v.subarray(0, 4).toString('latin1'));
      expect(values).toContain('new-');
      expect(values).toContain('log-');
      // k000000 was deleted after compaction (every 11th), then rewritten in the log (every 13th)
      const keys = new Set(fx[name]!.oracle.map(([k]) => k.toString('latin1')));
      expect(keys.has('k000011')).toBe(false);
      expect(keys.has('k000000')).toBe(true);
    }
  });
  it('the convert_mnist_data database is one large log and no table, with rewritten batches', () => {
    const layout = loadLayout(fx.mnist!.dir, (n) => n);
    expect(layout.tables).toEqual([]);
    expect(layout.logs).toHaveLength(1);
    const logBytes = fs.statSync(path.join(fx.mnist!.dir, layout.logs[0]!.name)).size;
    const distinct = fx.mnist!.oracle.reduce((s, [k, v]) => s + k.length + v.length, 0);
    expect(fx.mnist!.oracle).toHaveLength(5000);
    expect(logBytes).toBeGreaterThan(2.5 * distinct); // 15,000 puts for 5,000 keys
    expect(levels('mnistFlushed').length).toBeGreaterThan(1);
    expect(loadLayout(fx.mnistFlushed!.dir, (n) => n).logs.length).toBeGreaterThan(0);
  });
  it('binary keys include the empty key, 0x00 and 0xff bytes', () => {
    const keys = fx.binary!.oracle.map(([k]) => k.toString('hex'));
    expect(keys[0]).toBe('');
    expect(keys).toContain('00');
    expect(keys).toContain('ffff');
  });
});

describe('oracle: the reader returns exactly what LevelDB returns', () => {
  for (const name of NAMES) {
    for (const n of [1, 2, 5]) {
      it(`${name}, plan(${n})`, async () => {
        const r = await readDb(fx[name]!.dir, n);
        expect(diffPairs(r.pairs, fx[name]!.oracle)).toBe('');
        expect(r.findings).toEqual([]);
        expect(r.indicesOk).toBe(true);
        expect(r.partitions).toBeLessThanOrEqual(n);
        expect(r.info.declaredRecords).toBeUndefined();
        if (n === 5 && ['snappy', 'plain'].includes(name)) expect(r.partitions).toBeGreaterThan(1);
        // Every partition replays every log: a database that is mostly log is read as one partition.
        if (name === 'mnist') expect(r.partitions).toBe(1);
      });
    }
  }
});

describe('partitions', () => {
  it('tile the key space in order and carry everything a worker needs as JSON', async () => {
    const r = await leveldbReader.open({ format: 'leveldb', path: 'db', absPath: fx.snappy!.dir });
    const parts = r.plan(5);
    r.close();
    expect(parts.map((p) => p.index)).toEqual([0, 1, 2, 3, 4]);
    const specs = parts.map((p) => structuredClone(p.spec) as { lo: string | null; hi: string | null; tables: unknown[]; logs: unknown[] });
    expect(specs[0]!.lo).toBeNull();
    expect(specs[4]!.hi).toBeNull();
    for (let i = 1; i < 5; i++) expect(specs[i]!.lo).toBe(specs[i - 1]!.hi);
    // each partition names only the tables overlapping its range, and every live log
    const layout = loadLayout(fx.snappy!.dir, (n) => n);
    for (const s of specs) {
      expect(s.tables.length).toBeLessThan(layout.tables.length);
      expect(s.logs).toEqual(layout.logs);
    }
  });

  it('reads legacy .sst table names (LevelDB before 1.14)', async () => {
    const dir = copyDb(fx.binary!.dir, path.join(root, 'sst'));
    for (const f of fs.readdirSync(dir)) if (f.endsWith('.ldb')) fs.renameSync(path.join(dir, f), path.join(dir, f.replace('.ldb', '.sst')));
    const r = await readDb(dir, 2);
    expect(diffPairs(r.pairs, fx.binary!.oracle)).toBe('');
    expect(r.findings).toEqual([]);
  });
});

describe('detection', () => {
  it('isLevelDbDir sniffs CURRENT → MANIFEST', () => {
    expect(isLevelDbDir(fx.snappy!.dir)).toBe(true);
    expect(isLevelDbDir(root)).toBe(false);
    expect(isLevelDbDir(path.join(root, 'nope'))).toBe(false);
  });
  it('info() counts the bytes of the live files', async () => {
    const r = await leveldbReader.open({ format: 'leveldb', path: 'db', absPath: fx.mnist!.dir });
    const dir = fx.mnist!.dir;
    const live = ['CURRENT', 'MANIFEST-000002', '000003.log'].reduce((s, f) => s + fs.statSync(path.join(dir, f)).size, 0);
    expect(r.info().bytes).toBe(live);
    r.close();
    r.close(); // idempotent
  });
});

describe('read-only', () => {
  it('leaves the directory byte-identical (names, contents, mtimes) and creates no LOCK', async () => {
    const dir = copyDb(fx.snappy!.dir, path.join(root, 'ro-snappy'));
    fs.rmSync(path.join(dir, 'LOCK'));
    const before = hashTree(dir);
    const r = await readDb(dir, 5);
    expect(diffPairs(r.pairs, fx.snappy!.oracle)).toBe('');
    expect(hashTree(dir)).toBe(before);
    expect(fs.existsSync(path.join(dir, 'LOCK'))).toBe(false);
  });

  it('opens every file read-only and non-blocking, and calls no writing fs function', async () => {
    const open = vi.spyOn(fs, 'openSync'); // calls through
    const writers = (['writeSync', 'writeFileSync', 'appendFileSync', 'mkdirSync', 'renameSync', 'unlinkSync', 'rmSync',
      'truncateSync', 'ftruncateSync', 'copyFileSync', 'utimesSync', 'futimesSync', 'chmodSync'] as const).map((f) => vi.spyOn(fs, f));
    try {
      const r = await readDb(fx.mnistFlushed!.dir, 3);
      expect(diffPairs(r.pairs, fx.mnistFlushed!.oracle)).toBe('');
      expect(open.mock.calls.length).toBeGreaterThan(5);
      // O_RDONLY | O_NONBLOCK: never a writing or creating flag, and never waiting on a FIFO.
      expect(new Set(open.mock.calls.map((c) => c[1]))).toEqual(new Set([OPEN_FLAGS]));
      expect(OPEN_FLAGS & (fs.constants.O_WRONLY | fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_TRUNC)).toBe(0);
      expect(OPEN_FLAGS & fs.constants.O_NONBLOCK).toBe(fs.constants.O_NONBLOCK);
      for (const w of writers) expect(w).not.toHaveBeenCalled();
    } finally {
      vi.restoreAllMocks();
    }
  });

  it('reads a database that LevelDB holds open in another process', async () => {
    const dir = copyDb(fx.snappy!.dir, path.join(root, 'held'));
    const out = path.join(root, 'held.dump');
    const jobs = path.join(root, 'hold.json');
    fs.writeFileSync(jobs, JSON.stringify([{ op: 'hold', dir, out }]));
    const child = spawn(PYTHON, [path.join(import.meta.dirname, 'plyvel_fixtures.py'), jobs], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
        child.on('exit', (code) => reject(new Error(`holder exited with ${code}`)));
      });
      expect(fs.existsSync(path.join(dir, 'LOCK'))).toBe(true);
      const r = await readDb(dir, 2);
      expect(diffPairs(r.pairs, decodePairs(fs.readFileSync(out)))).toBe('');
      expect(r.findings).toEqual([]);
    } finally {
      child.stdin.end();
      await new Promise((resolve) => child.once('exit', resolve));
    }
  });
});
