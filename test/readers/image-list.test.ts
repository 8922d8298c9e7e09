/**
 * The image-list reader (src/readers/image-list.ts): Caffe ImageData list files (`<path> <label>` per line,
 * read as Caffe's ImageDataLayer reads them: getline, split at the last space, atoi), on lists and images
 * written here (images by PIL).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { damageFinding } from '../../src/checks/severity.js';
import { imageListReader, isImageList, listedImageFiles, parseImageList } from '../../src/readers/image-list.js';
import type { FileRecord, RecordBatch, Source, SourceInfo } from '../../src/readers/types.js';
import { scan } from '../../src/scan.js';
import { runPython } from '../helpers/python.js';
import { hashTree } from '../helpers/tree.js';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nanscan-imglist-'));
  runPython(String.raw`
import os, sys
from PIL import Image
d = os.path.join(sys.argv[1], 'data')
for rel in ('imgs/a.png', 'imgs/b.jpg', 'imgs/c.bmp', 'imgs/with space.png', 'other/d.png'):
    p = os.path.join(d, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    Image.new('RGB', (5, 4), (10, 20, 30)).save(p)
`, [tmp]);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Writes `text` as list `name` in the data folder; returns its Source (shown relative to tmp). */
function list(name: string, text: string | Buffer, extra: Partial<Source> = {}): Source {
  const abs = path.join(tmp, 'data', name);
  fs.writeFileSync(abs, text);
  return { format: 'image-list', path: path.join('data', name), absPath: abs, ...extra };
}

async function readList(source: Source, parts = 2): Promise<{ info: SourceInfo; records: FileRecord[] }> {
  const reader = await imageListReader.open(source, 'plan');
  const info = reader.info();
  const records: FileRecord[] = [];
  for (const p of reader.plan(parts)) {
    for (const b of reader.read(p) as Iterable<RecordBatch>) for (const r of b.records) if (r.kind === 'file') records.push(r);
  }
  reader.close();
  return { info, records };
}

describe('parseImageList()', () => {
  it('splits each line at its last space, as Caffe does, and numbers lines from 1', () => {
    expect(parseImageList('imgs/a.png 0\nimgs/with space.png 7\n/abs/x.jpg -1\n')).toEqual({
      entries: [
        { line: 1, path: 'imgs/a.png', label: 0 },
        { line: 2, path: 'imgs/with space.png', label: 7 },
        { line: 3, path: '/abs/x.jpg', label: -1 },
      ],
      bad: [],
    });
  });

  it('reads CRLF lines and a last line without a newline', () => {
    expect(parseImageList('a.png 1\r\nb.png 2\r\nc.png 3').entries).toEqual([
      { line: 1, path: 'a.png', label: 1 }, { line: 2, path: 'b.png', label: 2 }, { line: 3, path: 'c.png', label: 3 },
    ]);
  });

  it('reports each line Caffe cannot use, with its number and why', () => {
    const { entries, bad } = parseImageList([
      'a.png 0', '', 'b.png one', '# comment 1', 'c.png\t2', 'd.png', 'e.png 2147483648', ' 3', 'f.png 12abc', 'g.png 4', '   ',
    ].join('\n'));
    expect(entries).toEqual([
      { line: 1, path: 'a.png', label: 0 },
      // A comment line parses as a path and a label: Caffe reads it so (and then cannot load '# comment').
      { line: 4, path: '# comment', label: 1 },
      { line: 10, path: 'g.png', label: 4 },
    ]);
    expect(bad.map((b) => [b.line, b.reason])).toEqual([
      [2, 'is blank (Caffe reads it as an entry with an empty path, which cannot load)'],
      [3, "has label 'one' where a 32-bit integer label belongs (Caffe's atoi reads it as 0)"],
      [5, 'has no label (expected "<path> <integer label>"): Caffe splits at the last space, not at a tab'],
      [6, 'has no label (expected "<path> <integer label>")'],
      [7, "has label '2147483648' where a 32-bit integer label belongs (Caffe's atoi reads it as 2147483647)"],
      [8, 'has an empty path'],
      [9, "has label '12abc' where a 32-bit integer label belongs (Caffe's atoi reads it as 12)"],
      [11, 'is blank (Caffe reads it as an entry with an empty path, which cannot load)'],
    ]);
  });
});

describe('parseImageList() on random lines', () => {
  /** Caffe's rules, line by line (getline, one CR dropped, the last space splits), as the oracle. */
  function caffeRules(text: string): { entries: [number, string, number][]; bad: number[] } {
    const lines = text.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    const entries: [number, string, number][] = [];
    const bad: number[] = [];
    lines.forEach((raw, i) => {
      const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
      const cut = line.lastIndexOf(' ');
      const p = cut < 0 ? '' : line.slice(0, cut);
      const l = cut < 0 ? '' : line.slice(cut + 1);
      const ok = line.trim() !== '' && cut >= 0 && p !== '' && !/[\x00-\x1f\x7f]/.test(p) && /^[+-]?[0-9]+$/.test(l) &&
        Math.abs(Number(l)) < 2 ** 31;
      if (ok) entries.push([i + 1, p, Number(l)]);
      else bad.push(i + 1);
    });
    return { entries, bad };
  }

  it('agrees with Caffe\'s rules on 20,000 lines made of the characters that matter', () => {
    let seed = 12345;
    const rand = (n: number): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16) % n;
    const alphabet = ['a', 'b', '/', '.', ' ', ' ', '\t', '\r', '#', '+', '-', '0', '7', '9', '\x00', '\x7f', '\xa0', '\xe9', 'x.png'];
    const lines: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      let line = '';
      const n = rand(12);
      for (let k = 0; k < n; k++) line += alphabet[rand(alphabet.length)];
      // Half of them end like an entry: a space and a label, sometimes too long for 32 bits.
      if (rand(2) === 0) line += ` ${rand(3) === 0 ? '-' : ''}${rand(5) === 0 ? '98765432109' : String(rand(100000))}`;
      lines.push(line);
    }
    for (const text of [lines.join('\n'), `${lines.join('\r\n')}\n`, `${lines.join('\n')}\n\n`]) {
      const got = parseImageList(text);
      const want = caffeRules(text);
      expect(got.entries.map((e) => [e.line, e.path, e.label])).toEqual(want.entries);
      expect(got.bad.map((b) => b.line)).toEqual(want.bad);
    }
  });
});

describe('parseImageList() on a long list without labels', () => {
  it('looks for each line\'s last space in that line only (a search running on into earlier lines never ends)', () => {
    // 300,000 lines without a space: a search from each line's end back to the previous space is quadratic here
    // (~10^11 steps), so this test would hang on it rather than fail an assertion.
    const text = Array.from({ length: 300_000 }, (_, i) => `c${i % 10}/${i}.jpg\n`).join('');
    const { entries, bad } = parseImageList(text);
    expect(entries).toEqual([]);
    expect(bad).toHaveLength(300_000);
    expect(bad[299_999]).toMatchObject({ line: 300_000, text: 'c9/299999.jpg' });
    expect(bad.every((b) => b.reason.startsWith('has no label'))).toBe(true);
  });
});

describe('image list sniffing', () => {
  it('takes a list whose entries name images, and not other text', () => {
    expect(isImageList(list('sniff-ok.txt', 'imgs/a.png 0\nimgs/b.jpg 1\n').absPath)).toBe(true);
    expect(isImageList(list('sniff-prose.txt', 'Read me first.\nThen 2\n').absPath)).toBe(false);
    expect(isImageList(list('sniff-empty.txt', '').absPath)).toBe(false);
    expect(isImageList(list('sniff-csv.txt', 'a.png,0\nb.png,1\n').absPath)).toBe(false);
  });

  it('lists the files a list names, relative to its folder or to a root folder', () => {
    const s = list('names.txt', 'imgs/a.png 0\nimgs/with space.png 1\nbad line\n');
    expect([...listedImageFiles(s.absPath)]).toEqual([path.join(tmp, 'data/imgs/a.png'), path.join(tmp, 'data/imgs/with space.png')]);
    expect([...listedImageFiles(s.absPath, path.join(tmp, 'root'))]).toEqual([path.join(tmp, 'root/imgs/a.png'), path.join(tmp, 'root/imgs/with space.png')]);
  });

  it('resolves every path as path.resolve() does, the plain ones without it', () => {
    const paths = [
      'a.png', 'imgs/b.png', './c.png', 'imgs/./d.png', 'imgs/../e.png', '../f.png', 'imgs//g.png', 'imgs/h.png/',
      '/abs/i.png', '.hidden/j.png', 'imgs/..k.png', 'imgs/.../l.png', 'x/..', '.', 'sp ace/m.png', 'caf\xe9.png',
    ];
    const s = list('resolve.txt', Buffer.from(`${paths.map((p, i) => `${p} ${i}`).join('\n')}\n`, 'latin1'));
    const root = path.join(tmp, 'root');
    // The oracle: Node's own path.resolve of each path, decoded as the list's bytes are.
    const want = paths.map((p) => path.resolve(root, Buffer.from(p, 'latin1').toString('utf8')));
    expect([...listedImageFiles(s.absPath, root)]).toEqual([...new Set(want)]);
  });
});

describe('the image-list reader', () => {
  it('yields every entry in list order with its label and line, missing files included', async () => {
    const s = list('train.txt', [
      'imgs/a.png 0', 'imgs/missing.png 1', '', 'imgs/b.jpg 2', 'imgs/with space.png 3', 'imgs/c.bmp x', 'other/d.png 4',
      `${path.join(tmp, 'data/imgs/a.png')} 5`,
    ].join('\r\n') + '\r\n');
    const { info, records } = await readList(s);
    expect(records.map((r) => [r.index, r.line, r.label, r.file])).toEqual([
      [0, 1, 0, 'data/imgs/a.png'],
      [1, 2, 1, 'data/imgs/missing.png'],
      [2, 4, 2, 'data/imgs/b.jpg'],
      [3, 5, 3, 'data/imgs/with space.png'],
      [4, 7, 4, 'data/other/d.png'],
      [5, 8, 5, path.join('data', path.join(tmp, 'data/imgs/a.png'))],
    ]);
    expect(records[1]!.unreadable).toMatchObject({ kind: 'missing_file', file: 'data/imgs/missing.png', line: 2, index: 1 });
    for (const r of records.filter((_, i) => i !== 1)) expect(r.unreadable).toBeUndefined();
    expect(Buffer.from(records[3]!.bytes).equals(fs.readFileSync(path.join(tmp, 'data/imgs/with space.png')))).toBe(true);
    expect(info.expectedRecords).toBe(6);
    // Readers yield damage without a severity; the host's (checks/severity.ts) is what the report shows.
    expect(info.findings.map((f) => [f.kind, damageFinding(f).severity, f.file, f.line])).toEqual([
      ['bad_record', 'error', 'data/train.txt', 3],
      ['bad_record', 'error', 'data/train.txt', 6],
    ]);
    expect(info.findings[1]!.message).toBe(
      "List line 6 has label 'x' where a 32-bit integer label belongs (Caffe's atoi reads it as 0): 'imgs/c.bmp x'.");
  });

  it('reads paths relative to the root folder when one is given', async () => {
    const root = path.join(tmp, 'data', 'imgs');
    const { records } = await readList(list('rooted.txt', 'a.png 0\nc.bmp 1\n', { rootFolder: root }));
    expect(records.map((r) => [r.file, r.unreadable])).toEqual([[path.join(root, 'a.png'), undefined], [path.join(root, 'c.bmp'), undefined]]);
  });

  it('opens a path that is not UTF-8 by its bytes, and shows it escaped', async () => {
    const name = Buffer.concat([Buffer.from(`${tmp}/data/imgs/caf`), Buffer.from([0xe9]), Buffer.from('.png')]);
    fs.copyFileSync(path.join(tmp, 'data/imgs/a.png'), name);
    const text = Buffer.concat([Buffer.from('imgs/caf'), Buffer.from([0xe9]), Buffer.from('.png 3\n')]);
    const { records } = await readList(list('latin1.txt', text));
    expect(records.map((r) => [r.file, r.label, r.unreadable])).toEqual([['data/imgs/caf\\xe9.png', 3, undefined]]);
    expect(records[0]!.bytes.length).toBe(fs.statSync(name).size);
    fs.rmSync(name);
  });

  it('plans partitions that cover the list once, in order, for any partition count', async () => {
    const lines = Array.from({ length: 70 }, (_, i) => `imgs/${'abc'[i % 3]}.${['png', 'jpg', 'bmp'][i % 3]} ${i % 5}`);
    const s = list('long.txt', lines.join('\n'));
    for (const parts of [1, 2, 3, 64]) {
      const { records } = await readList(s, parts);
      expect(records.map((r) => r.index)).toEqual(lines.map((_, i) => i));
      expect(records.map((r) => r.label)).toEqual(lines.map((_, i) => i % 5));
    }
  });
});

describe('scan() of an image list', () => {
  it('reports its entries, bad lines and missing files by line, and writes nothing', async () => {
    fs.writeFileSync(path.join(tmp, 'data', 'val.txt'), 'imgs/a.png 0\nimgs/gone.png 1\nimgs/b.jpg one\nimgs/c.bmp 1\n');
    const before = hashTree(path.join(tmp, 'data'));
    // The images are of one colour each: what that says about them is not this test's concern.
    const severity = { constant_sample: 'off', constant_feature: 'off', channel_std_zero: 'off' } as const;
    const report = await scan('data/val.txt', { cwd: tmp, workers: 0, severity });
    expect(hashTree(path.join(tmp, 'data'))).toBe(before);
    expect(report.datasets).toHaveLength(1);
    const d = report.datasets[0]!;
    expect(d).toMatchObject({ path: 'data/val.txt', format: 'image-list', records: 3 });
    expect(d.findingCounts).toEqual({ bad_record: 1, missing_file: 1 });
    expect(d.findings.map((f) => [f.kind, f.file, f.line])).toEqual(expect.arrayContaining([
      ['bad_record', 'data/val.txt', 3],
      ['missing_file', 'data/imgs/gone.png', 2],
    ]));
    expect(d.labels?.histogram).toEqual({ 0: 1, 1: 2 });
    expect(report.exitCode).toBe(1);
  });
});
