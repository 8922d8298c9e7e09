/**
 * Damaged copies of databases written by LevelDB (issue 3, "Damage"): every problem is a finding naming the file
 * and block offset, the scan goes on, and every record that is still readable comes back unchanged. Where LevelDB
 * itself defines the answer (a torn or damaged log), the expected records are LevelDB's own, from a copy.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScanError } from '../../../src/errors.js';
import { crc32cOf, mask } from '../../../src/readers/leveldb/crc32c.js';
import { leveldbReader } from '../../../src/readers/leveldb/index.js';
import { loadLayout, type TableRef } from '../../../src/readers/leveldb/layout.js';
import { userKeyOf } from '../../../src/readers/leveldb/manifest.js';
import { openTable } from '../../../src/readers/leveldb/table.js';
import type { Finding } from '../../../src/types.js';
import { varint, writeLog } from './craft.js';
import { buildFixtures, copyDb, diffPairs, oracleOf, readDb, type Fixture } from './helpers.js';

let root: string;
let fx: Record<string, Fixture>;

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'nanscan-leveldb-damage-'));
  fx = buildFixtures(root, {
    snappy: { kind: 'compacted', compression: 'snappy' },
    plain: { kind: 'compacted', compression: null },
    mnist: { kind: 'mnist', items: 3000 },
  });
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** A damaged copy of fixture `name`. */
function damaged(name: string, tag: string, harm: (dir: string) => void): string {
  const dir = copyDb(fx[name]!.dir, path.join(root, `${name}-${tag}`));
  harm(dir);
  return dir;
}

/** A level-2 table in the middle of the key space (no older versions hide below it) and its block handles. */
function pickTable(dir: string): { t: TableRef; blocks: { offset: number; size: number; low: Buffer; high: Buffer }[] } {
  const deep = loadLayout(dir, (n) => n).tables.filter((t) => t.level === 2);
  const t = deep[Math.floor(deep.length / 2)]!;
  const r = openTable(path.join(dir, t.name), t.size);
  if ('error' in r) throw new Error(r.error);
  fs.closeSync(r.table.fd);
  const blocks = r.table.index.map((e, i) => ({
    offset: e.offset, size: e.size,
    low: Buffer.from(i === 0 ? t.smallest! : userKeyOf(r.table.index[i - 1]!.key)),
    high: Buffer.from(userKeyOf(e.key)),
  }));
  return { t, blocks };
}

const inside = (k: Buffer, lo: Buffer, hi: Buffer): boolean => Buffer.compare(k, lo) >= 0 && Buffer.compare(k, hi) <= 0;

/** Every returned pair is LevelDB's; every oracle key outside [lo, hi] is returned; some key inside is lost. */
function expectAllBut(got: [Buffer, Buffer][], oracle: [Buffer, Buffer][], lo: Buffer, hi: Buffer): void {
  const want = new Map(oracle.map(([k, v]) => [k.toString('hex'), v]));
  for (const [k, v] of got) expect(want.get(k.toString('hex'))?.equals(v), `key ${k.toString('hex')}`).toBe(true);
  const have = new Set(got.map(([k]) => k.toString('hex')));
  const lost = oracle.filter(([k]) => !have.has(k.toString('hex')));
  expect(lost.length).toBeGreaterThan(0);
  for (const [k] of lost) expect(inside(k, lo, hi), `lost ${k.toString()} outside ${lo.toString()}…${hi.toString()}`).toBe(true);
}

const errors = (fs_: Finding[]): Finding[] => fs_.filter((f) => f.severity === 'error');

describe('table damage', () => {
  for (const name of ['snappy', 'plain']) {
    it(`${name}: a flipped byte in a data block is a CRC finding at the block offset; other blocks are still read`, async () => {
      let picked!: ReturnType<typeof pickTable>;
      const dir = damaged(name, 'flip', (d) => {
        picked = pickTable(d);
        const b = picked.blocks[1]!;
        const f = path.join(d, picked.t.name);
        const buf = fs.readFileSync(f);
        buf[b.offset + (b.size >> 1)] = buf[b.offset + (b.size >> 1)]! ^ 0x10;
        fs.writeFileSync(f, buf);
      });
      const b = picked.blocks[1]!;
      for (const n of [1, 5]) {
        const r = await readDb(dir, n);
        const errs = errors(r.findings);
        expect(errs).toHaveLength(1); // reported once, however many partitions touch the block
        expect(errs[0]).toMatchObject({ kind: 'corrupt_file', file: path.join('db', picked.t.name), offset: b.offset });
        expect(errs[0]!.message).toMatch(/checksum mismatch/);
        expect(errs[0]!.message).toContain(b.high.toString()); // the key range
        expectAllBut(r.pairs, fx[name]!.oracle, b.low, b.high);
      }
    });
  }

  it('an unknown compression type is a finding for that block only', async () => {
    let picked!: ReturnType<typeof pickTable>;
    const dir = damaged('snappy', 'ctype', (d) => {
      picked = pickTable(d);
      const b = picked.blocks[2]!;
      const f = path.join(d, picked.t.name);
      const buf = fs.readFileSync(f);
      buf[b.offset + b.size] = 3; // compression byte; then a CRC that matches, so only the type is wrong
      buf.writeUInt32LE(mask(crc32cOf(buf.subarray(b.offset, b.offset + b.size + 1))), b.offset + b.size + 1);
      fs.writeFileSync(f, buf);
    });
    const b = picked.blocks[2]!;
    const r = await readDb(dir, 2);
    expect(errors(r.findings)).toMatchObject([{ kind: 'corrupt_file', offset: b.offset, file: path.join('db', picked.t.name) }]);
    expect(errors(r.findings)[0]!.message).toMatch(/unknown compression type 3/);
    expectAllBut(r.pairs, fx.snappy!.oracle, b.low, b.high);
  });

  it('a truncated table is reported at open with its key range; the rest is read', async () => {
    let picked!: ReturnType<typeof pickTable>;
    const dir = damaged('snappy', 'trunc', (d) => {
      picked = pickTable(d);
      const f = path.join(d, picked.t.name);
      fs.truncateSync(f, fs.statSync(f).size - 10);
    });
    const r = await readDb(dir, 3);
    expect(errors(r.info.findings)).toMatchObject([{ kind: 'corrupt_file', file: path.join('db', picked.t.name) }]);
    expect(r.info.findings[0]!.message).toMatch(/truncated/);
    expect(errors(r.findings)).toHaveLength(1);
    expectAllBut(r.pairs, fx.snappy!.oracle, Buffer.from(picked.t.smallest!), Buffer.from(picked.t.largest!));
  });

  it('a table the MANIFEST names but the directory lacks is a missing_file finding naming it', async () => {
    let picked!: ReturnType<typeof pickTable>;
    const dir = damaged('snappy', 'missing', (d) => {
      picked = pickTable(d);
      fs.rmSync(path.join(d, picked.t.name));
    });
    const r = await readDb(dir, 2);
    expect(r.info.findings).toMatchObject([{ kind: 'missing_file', severity: 'error', file: path.join('db', picked.t.name) }]);
    expect(r.info.findings[0]!.message).toContain(Buffer.from(picked.t.smallest!).toString());
    expectAllBut(r.pairs, fx.snappy!.oracle, Buffer.from(picked.t.smallest!), Buffer.from(picked.t.largest!));
  });

  it('a bad footer magic is reported by exactly one partition', async () => {
    let picked!: ReturnType<typeof pickTable>;
    const dir = damaged('plain', 'magic', (d) => {
      picked = pickTable(d);
      const f = path.join(d, picked.t.name);
      const buf = fs.readFileSync(f);
      buf[buf.length - 1] = buf[buf.length - 1]! ^ 0xff;
      fs.writeFileSync(f, buf);
    });
    const r = await readDb(dir, 5);
    expect(errors(r.findings)).toHaveLength(1);
    expect(errors(r.findings)[0]!.message).toMatch(/bad magic number/);
    expectAllBut(r.pairs, fx.plain!.oracle, Buffer.from(picked.t.smallest!), Buffer.from(picked.t.largest!));
  });
});

describe('log damage (the expected records are what LevelDB returns from a copy of the damaged database)', () => {
  it('a torn log tail is a warning, and the records equal LevelDB’s', async () => {
    const dir = damaged('snappy', 'torn', (d) => {
      const logs = loadLayout(d, (n) => n).logs;
      const f = path.join(d, logs[logs.length - 1]!.name);
      fs.truncateSync(f, fs.statSync(f).size - 20);
    });
    const want = oracleOf(root, ['snappy-torn'])['snappy-torn']!.oracle;
    expect(want.length).toBeGreaterThan(0);
    const r = await readDb(dir, 3);
    expect(diffPairs(r.pairs, want)).toBe('');
    expect(errors(r.findings)).toEqual([]);
    expect(r.findings).toMatchObject([{ kind: 'corrupt_file', severity: 'warning' }]);
    expect(r.findings[0]!.message).toMatch(/torn tail/);
  });

  it('a flipped byte inside a Caffe batch drops that batch, as LevelDB does, and counts the entries lost', async () => {
    // Three cumulative batches of 1000, 2000 and 3000 puts (~0.8, 1.6 and 2.4 MB): offset 1,000,000 is in the second.
    const dir = damaged('mnist', 'flip', (d) => flipByte(path.join(d, '000003.log'), 1_000_000));
    const want = oracleOf(root, ['mnist-flip'])['mnist-flip']!.oracle;
    const r = await readDb(dir, 2);
    expect(diffPairs(r.pairs, want)).toBe('');
    // The quirk: the third batch rewrites every key of the second, so no key is lost (LEVELDB.md §15.2 item 9).
    expect(r.pairs).toHaveLength(3000);
    const errs = errors(r.findings);
    expect(errs[0]).toMatchObject({ kind: 'corrupt_file', file: path.join('db', '000003.log'), offset: 30 * 32768 });
    expect(errs[0]!.message).toMatch(/checksum mismatch/);
    expect(errs.find((f) => /record at offset \d+ lost/.test(f.message))).toBeDefined();
    expect(errs.find((f) => /sequence numbers 1001…3000 are missing/.test(f.message))).toMatchObject({ count: 2000 });
  });

  it('damage in the last Caffe batch loses the keys first written there, exactly as in LevelDB', async () => {
    const dir = damaged('mnist', 'flip-last', (d) => flipByte(path.join(d, '000003.log'), 3_000_000));
    const want = oracleOf(root, ['mnist-flip-last'])['mnist-flip-last']!.oracle;
    expect(want).toHaveLength(2000);
    const r = await readDb(dir, 3);
    expect(diffPairs(r.pairs, want)).toBe('');
    expect(errors(r.findings)[0]).toMatchObject({ offset: Math.floor(3_000_000 / 32768) * 32768 });
  });
});

function flipByte(file: string, at: number): void {
  const buf = fs.readFileSync(file);
  buf[at] = buf[at]! ^ 0x01;
  fs.writeFileSync(file, buf);
}

describe('MANIFEST and CURRENT damage', () => {
  it('a garbage CURRENT is reported; the highest clean MANIFEST is used and nothing is lost', async () => {
    for (const junk of ['garbage\n', 'MANIFEST-000002', '']) {
      const dir = damaged('snappy', `current${junk.length}`, (d) => fs.writeFileSync(path.join(d, 'CURRENT'), junk));
      const r = await readDb(dir, 2);
      expect(diffPairs(r.pairs, fx.snappy!.oracle)).toBe('');
      expect(errors(r.info.findings)).toMatchObject([{ kind: 'corrupt_file', file: path.join('db', 'CURRENT') }]);
    }
  });

  it('a damaged MANIFEST falls back to reading every table and log, as RepairDB would', async () => {
    const dir = damaged('snappy', 'manifest', (d) => {
      const f = path.join(d, 'MANIFEST-000002');
      const buf = fs.readFileSync(f);
      buf[20] = buf[20]! ^ 0x20;
      fs.writeFileSync(f, buf);
    });
    const r = await readDb(dir, 2);
    const msgs = r.info.findings.map((f) => f.message).join('\n');
    expect(msgs).toMatch(/MANIFEST-000002 offset 0: checksum mismatch/);
    expect(msgs).toMatch(/no usable MANIFEST/);
    // Valid here because this database has no orphan tables (§13: keys deleted by a compaction could reappear).
    expect(diffPairs(r.pairs, fx.snappy!.oracle)).toBe('');
  });

  it('a foreign comparator is a ScanError, not a guess at the key order', async () => {
    const dir = path.join(root, 'foreign');
    fs.mkdirSync(dir);
    const name = Buffer.from('example.ReverseComparator');
    const edit = Buffer.concat([varint(1), varint(name.length), name, varint(2), varint(3), varint(3), varint(4), varint(4), varint(0)]);
    fs.writeFileSync(path.join(dir, 'MANIFEST-000002'), writeLog([edit]));
    fs.writeFileSync(path.join(dir, 'CURRENT'), 'MANIFEST-000002\n');
    fs.writeFileSync(path.join(dir, '000003.log'), '');
    const open = leveldbReader.open({ format: 'leveldb', path: 'db', absPath: dir });
    await expect(open).rejects.toBeInstanceOf(ScanError);
    await expect(open).rejects.toMatchObject({ code: 'SCAN_CORRUPT_SOURCE', message: expect.stringContaining('example.ReverseComparator') });
  });

  it('a directory with nothing of LevelDB in it cannot be opened', async () => {
    const dir = path.join(root, 'nothing');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'CURRENT'), 'junk');
    await expect(leveldbReader.open({ format: 'leveldb', path: 'db', absPath: dir })).rejects.toMatchObject({ code: 'SCAN_CORRUPT_SOURCE' });
  });
});
