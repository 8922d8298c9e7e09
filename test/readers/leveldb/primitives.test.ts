/** Unit tests of the byte-level pieces: CRC32C and its mask, varints, the log state machine, blocks, cut points. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlockIter } from '../../../src/readers/leveldb/block.js';
import { crc32cOf, mask, unmask } from '../../../src/readers/leveldb/crc32c.js';
import { readLogRecords, type LogProblem } from '../../../src/readers/leveldb/log.js';
import { replayLogs } from '../../../src/readers/leveldb/memtable.js';
import { chooseCuts } from '../../../src/readers/leveldb/plan.js';
import { ByteReader, DecodeError } from '../../../src/readers/leveldb/varint.js';
import { BLOCK, buildBlock, FIRST, FULL, LAST, MIDDLE, physical, varint, writeBatch, writeLog } from './craft.js';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nanscan-leveldb-unit-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const bytes = (n: number, seed: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

function readLog(buf: Buffer): { records: Buffer[]; offsets: number[]; problems: LogProblem[] } {
  const file = path.join(tmp, `log-${Math.random()}`);
  fs.writeFileSync(file, buf);
  const fd = fs.openSync(file, 'r');
  const problems: LogProblem[] = [];
  const records: Buffer[] = [];
  const offsets: number[] = [];
  try {
    for (const r of readLogRecords(fd, buf.length, (p) => problems.push(p))) {
      records.push(Buffer.from(r.data));
      offsets.push(r.offset);
    }
  } finally {
    fs.closeSync(fd);
  }
  return { records, offsets, problems };
}

describe('crc32c (LEVELDB.md §1.3)', () => {
  it('matches the test vectors of util/crc32c_test.cc', () => {
    expect(crc32cOf(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32cOf(Buffer.alloc(32))).toBe(0x8a9136aa);
    expect(crc32cOf(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43);
    expect(crc32cOf(Buffer.from(Array.from({ length: 32 }, (_, i) => i)))).toBe(0x46dd794e);
    expect(crc32cOf(Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i)))).toBe(0x113fdb5c);
  });
  it('extends across pieces', () => {
    expect(crc32cOf(Buffer.from('56789'), crc32cOf(Buffer.from('1234')))).toBe(0xe3069283);
  });
  it('masks and unmasks (util/crc32c.h Mask/Unmask)', () => {
    const c = crc32cOf(Buffer.from('foo'));
    expect(mask(c)).not.toBe(c);
    expect(mask(mask(c))).not.toBe(c);
    expect(unmask(mask(c))).toBe(c);
    expect(unmask(unmask(mask(mask(c))))).toBe(c);
    for (const x of [0, 1, 0x7fffffff, 0x80000000, 0xffffffff]) expect(unmask(mask(x))).toBe(x);
  });
});

describe('varints (§1.2)', () => {
  it('decodes 32- and 64-bit values and lengths', () => {
    const values = [0, 1, 127, 128, 300, 2 ** 31, 2 ** 32 - 1];
    const buf = Buffer.concat(values.map(varint));
    const r = new ByteReader(buf, 0, buf.length);
    for (const v of values) expect(r.varint32()).toBe(v);
    const big = [2 ** 40 + 5, Number.MAX_SAFE_INTEGER];
    const b64 = Buffer.concat(big.map(varint));
    const r64 = new ByteReader(b64, 0, b64.length);
    for (const v of big) expect(r64.varint64()).toBe(v);
  });
  it('fails on truncated or over-long input instead of reading past the end', () => {
    expect(() => new ByteReader(Buffer.from([0x80, 0x80]), 0, 2).varint32()).toThrow(DecodeError);
    expect(() => new ByteReader(Buffer.alloc(6, 0xff), 0, 6).varint32()).toThrow(DecodeError);
    expect(() => new ByteReader(Buffer.from([0x05, 1, 2]), 0, 3).lengthPrefixed()).toThrow(DecodeError);
    // a varint64 at 2^53 or more does not fit a number: corruption for file numbers and sizes
    expect(() => new ByteReader(varint(2 ** 53), 0, 8).varint64()).toThrow(DecodeError);
  });
});

describe('log container (§4)', () => {
  it('returns every record of a well-formed log, including empty and multi-block ones', () => {
    const recs = [bytes(0, 1), bytes(1, 2), bytes(32754, 3), bytes(100, 4), bytes(100_000, 5), bytes(32761, 6)];
    const log = writeLog(recs);
    const { records, problems } = readLog(log);
    expect(problems).toEqual([]);
    expect(records).toEqual(recs);
  });

  it('handles exactly 7 bytes left in a block (a zero-length FIRST, §4.3)', () => {
    // 7 + 32754 leaves 7 bytes: the next record starts with an empty FIRST fragment there.
    const recs = [bytes(32754, 1), bytes(50, 2)];
    const log = writeLog(recs);
    expect(log[BLOCK - 1]).toBe(FIRST);
    const { records, problems } = readLog(log);
    expect(problems).toEqual([]);
    expect(records).toEqual(recs);
  });

  it('drops the rest of a block on a checksum mismatch, coalesces the orphan fragments, and resynchronises', () => {
    const recs = [bytes(100, 1), bytes(5 * BLOCK, 2), bytes(200, 3)];
    const log = writeLog(recs);
    log[2 * BLOCK + 100] = log[2 * BLOCK + 100]! ^ 0x40; // inside the MIDDLE fragment that fills block 2
    const { records, problems } = readLog(log);
    expect(records).toEqual([recs[0], recs[2]]);
    const errors = problems.filter((p) => p.minor !== true);
    expect(errors.map((p) => p.message)).toEqual([
      expect.stringContaining('checksum mismatch'),
      expect.stringContaining('record at offset 107 lost'),
      expect.stringContaining('3 fragment(s) of a record whose start was lost'),
    ]);
    expect(errors[0]!.offset).toBe(2 * BLOCK);
    expect(errors[0]!.bytes).toBe(BLOCK);
  });

  it('reports a bad length in a full block as an error and in the last block as a torn tail', () => {
    const recs = [bytes(40_000, 1), bytes(10, 2), bytes(10, 3)];
    const log = writeLog(recs);
    const tail = log.subarray(0, log.length - 5); // cut inside the last record
    const t = readLog(tail);
    expect(t.records).toEqual(recs.slice(0, 2));
    expect(t.problems).toHaveLength(1);
    expect(t.problems[0]!.minor).toBe(true);
    expect(t.problems[0]!.message).toContain('torn tail');

    const bad = Buffer.from(log);
    bad.writeUInt16LE(0xffff, 4); // the first FIRST fragment's length, in a full block
    const b = readLog(bad);
    expect(b.problems[0]!.message).toContain('bad record length');
    expect(b.problems[0]!.minor).toBeUndefined();
    expect(b.records).toEqual(recs.slice(1));
  });

  it('treats a torn header and an unfinished fragmented record at the end as torn tails', () => {
    const recs = [bytes(10, 1), bytes(50_000, 2)];
    const log = writeLog(recs);
    const cut = readLog(log.subarray(0, BLOCK + 3));
    expect(cut.records).toEqual([recs[0]]);
    expect(cut.problems.map((p) => p.minor)).toEqual([true, true]);
    const whole = readLog(log.subarray(0, BLOCK + 20));
    expect(whole.records).toEqual([recs[0]]);
    expect(whole.problems.every((p) => p.minor === true)).toBe(true);
  });

  it('mirrors LevelDB for CRC-valid records of type 5 (end of log), 6 and unknown types (dropped)', () => {
    const a = bytes(10, 1);
    const b = bytes(10, 2);
    const c = bytes(10, 3);
    const withSix = Buffer.concat([physical(FULL, a), physical(6, b), physical(9, b), physical(FULL, c)]);
    const r6 = readLog(withSix);
    expect(r6.records).toEqual([a, c]);
    expect(r6.problems.map((p) => p.message)).toEqual([expect.stringContaining('type 6'), expect.stringContaining('unknown record type 9')]);
    const withFive = Buffer.concat([physical(FULL, a), physical(5, b), physical(FULL, c)]);
    const r5 = readLog(withFive);
    expect(r5.records).toEqual([a]);
    expect(r5.problems[0]!.message).toContain('type 5');
  });

  it('drops a MIDDLE or LAST without a FIRST and a FIRST without a LAST', () => {
    const a = bytes(10, 1);
    const log = Buffer.concat([physical(MIDDLE, a), physical(LAST, a), physical(FIRST, a), physical(FULL, a)]);
    const r = readLog(log);
    expect(r.records).toEqual([a]);
    expect(r.problems.map((p) => p.message)).toEqual([
      expect.stringContaining('2 fragment(s)'),
      expect.stringContaining('new record starts before its last fragment'),
    ]);
  });
});

describe('WriteBatch replay (§5)', () => {
  it('keeps the newest entry per key, applies a malformed batch up to the bad entry, and counts lost sequences', () => {
    const k = (s: string): Buffer => Buffer.from(s);
    const b1 = writeBatch(1, [[k('a'), k('1')], [k('b'), k('1')], [k('a'), k('2')]]);
    const b2 = writeBatch(4, [[k('b')], [k('c'), k('1')]]);
    // count says 3 but only one entry parses before a bad tag: the first is applied, as WriteBatch::Iterate does
    const b3 = Buffer.concat([writeBatch(6, [[k('d'), k('1')]], 3), Buffer.from([7, 1, 0x78])]);
    const b4 = writeBatch(20, [[k('e'), k('1')]]); // 9..19 missing
    fs.mkdirSync(path.join(tmp, 'wb'));
    fs.writeFileSync(path.join(tmp, 'wb', '000003.log'), writeLog([b1, b2, b3, b4]));
    const mt = replayLogs(path.join(tmp, 'wb'), [{ number: 3, name: '000003.log' }], (n) => n);
    const text = (e: (typeof mt.entries)[number], o: number, n: number): string => Buffer.from(e.batch.subarray(o, o + n)).toString();
    expect(mt.entries.map((e) => [text(e, e.keyOffset, e.keyLength), e.deleted ? null : text(e, e.valueOffset, e.valueLength), e.seq])).toEqual([
      ['a', '2', 3], ['b', null, 4], ['c', '1', 5], ['d', '1', 6], ['e', '1', 20],
    ]);
    expect(mt.maxSequence).toBe(20);
    expect(mt.findings.map((f) => f.message)).toEqual([
      expect.stringContaining('malformed WriteBatch'),
      expect.stringContaining('sequence numbers 9…19 are missing'),
    ]);
    expect(mt.findings[1]!.count).toBe(11);
  });
});

describe('blocks (§9.6)', () => {
  const entries: [Uint8Array, Uint8Array][] = Array.from({ length: 40 }, (_, i) => [
    Buffer.from(`key-${String(i).padStart(4, '0')}`), Buffer.from(`value ${i}`),
  ]);
  it('walks prefix-compressed entries across restart points', () => {
    const it = new BlockIter(buildBlock(entries, 16));
    const got: string[] = [];
    while (it.next()) got.push(Buffer.from(it.key.subarray(0, it.keyLength)).toString());
    expect(it.error).toBeUndefined();
    expect(it.warning).toBeUndefined();
    expect(got).toEqual(entries.map(([k]) => Buffer.from(k).toString()));
  });
  it('stops at a damaged entry and says why', () => {
    const block = buildBlock(entries, 16);
    block[block.indexOf(Buffer.from('value 3')) + 7] = 0x7f; // the next entry's `shared` byte: more than the key holds
    const it = new BlockIter(block);
    let n = 0;
    while (it.next()) n++;
    expect(n).toBe(4);
    expect(it.error).toMatch(/bad entry in block/);
  });
  it('rejects a restart count that cannot fit', () => {
    const block = buildBlock(entries, 16);
    block.writeUInt32LE(1_000_000, block.length - 4);
    const it = new BlockIter(block);
    expect(it.next()).toBe(false);
    expect(it.error).toMatch(/bad block contents/);
  });
});

describe('partition cut points', () => {
  it('splits weight evenly with strictly increasing cuts', () => {
    const points = Array.from({ length: 100 }, (_, i) => ({ key: Buffer.from([i]), weight: 10 }));
    const cuts = chooseCuts(points, 4, 1);
    expect(cuts.map((c) => [...c])).toEqual([[24, 0], [49, 0], [74, 0]]);
    expect(chooseCuts(points, 4, 10_000)).toEqual([]); // too little data to be worth splitting
  });
});
