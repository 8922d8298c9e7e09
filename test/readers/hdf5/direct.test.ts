/**
 * direct.ts, which locates rows from HDF5's own metadata, against h5py: every chunk where h5py's get_chunk_info
 * says it is, the metadata checksum on known vectors, and damaged metadata never throwing or pointing outside
 * the file. (The reader tests check every value read this way against h5py's.)
 */
import { execFileSync } from 'node:child_process';
import { closeSync, fstatSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { locateRows, lookup3, readSuperblock, type Superblock } from '../../../src/readers/hdf5/direct.js';
import { H5, type DatasetInfo } from '../../../src/readers/hdf5/h5.js';
import { createHdf5Reader } from '../../../src/readers/hdf5/index.js';
import { clipRuns, directReads } from '../../../src/readers/hdf5/layout.js';
import type { Reader, ReaderModule, RecordBatch } from '../../../src/readers/types.js';
import { rng } from '../../../scripts/lib/caffe.js';
import { makeFixtures, PYTHON, type Fixtures } from './helpers.js';

let fx: Fixtures;
let h5: H5;

beforeAll(async () => {
  fx = makeFixtures();
  h5 = await H5.load();
});

afterAll(() => {
  fx?.cleanup();
});

function withFile<T>(p: string, fn: (fd: number, size: number) => T): T {
  const fd = openSync(p, 'r');
  try {
    return fn(fd, fstatSync(fd).size);
  } finally {
    closeSync(fd);
  }
}

/** Every dataset of a file as h5wasm walks it, with its object header address. */
function datasets(rel: string): { ds: DatasetInfo; addr: number }[] {
  const opened = h5.open(fx.abs(rel));
  if ('error' in opened) throw new Error(opened.error);
  try {
    return h5.walk(opened.id).datasets.map((ds) => ({ ds, addr: h5.objectAddress(opened.id, ds) as number }));
  } finally {
    h5.close(opened.id);
  }
}

describe('direct.ts', () => {
  it('finds every chunk where h5py says it is', () => {
    // h5py's low-level chunk query, for every chunked fixture dataset it reads directly.
    const script = `import h5py, json, sys
out = {}
for rel in sys.argv[2:]:
    with h5py.File(sys.argv[1] + '/' + rel, 'r') as f:
        def visit(name, d):
            if not isinstance(d, h5py.Dataset) or d.chunks is None or d.compression or d.shape[0] == 0: return
            out[rel + ':' + name] = [[d.id.get_chunk_info(i).chunk_offset[0], d.id.get_chunk_info(i).byte_offset] for i in range(d.id.get_num_chunks())]
        f.visititems(visit)
print(json.dumps(out))`;
    const truth = JSON.parse(execFileSync(PYTHON, ['-c', script, fx.dir, 'latest.h5', 'btree.h5', 'd64.h5'], { encoding: 'utf8' })) as
      Record<string, [number, number][]>;
    let checked = 0;
    for (const [key, chunks] of Object.entries(truth)) {
      const [rel, name] = key.split(':') as [string, string];
      const { ds, addr } = datasets(rel).find((d) => d.ds.name === name)!;
      withFile(fx.abs(rel), (fd, size) => {
        const sb = readSuperblock(fd, size) as Superblock;
        const loc = locateRows(fd, size, sb, addr, ds);
        if ('unsupported' in loc) return; // which datasets go direct is the reader tests' business
        for (const [row, offset] of chunks) {
          if (row >= ds.rows) continue;
          const run = loc.runs.find((r) => row >= r.row && row < r.row + r.rows);
          expect(run, `${key} row ${row}`).toBeDefined();
          expect(run!.offset + (row - run!.row) * ds.rowBytes, `${key} row ${row}`).toBe(offset);
          checked++;
        }
      });
    }
    expect(checked).toBeGreaterThan(5000); // fa_paged alone has 2100 chunks, btree.h5's many 3000
  });

  it('lookup3 gives the published hashlittle values', () => {
    const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
    expect(lookup3(new Uint8Array(0))).toBe(0xdeadbeef);
    expect(lookup3(bytes('Four score and seven years ago'))).toBe(0x17770551);
    expect(lookup3(bytes('Four score and seven years ago'), 1)).toBe(0xcd628161);
  });

  it('directReads and clipRuns cut runs into reads of at most `per` rows, inside the asked range', () => {
    const runs = [{ row: 0, rows: 10, offset: 1000 }, { row: 10, rows: 5, offset: 5000 }];
    expect([...directReads(runs, 100, 3, 13, 4)]).toEqual([[3, 4, 1300], [7, 3, 1700], [10, 3, 5000]]);
    expect(clipRuns(runs, 100, 8, 12)).toEqual([{ row: 8, rows: 2, offset: 1800 }, { row: 10, rows: 2, offset: 5000 }]);
    expect(clipRuns(runs, 100, 15, 20)).toEqual([]);
  });

  it('damaged metadata never throws, and what it locates lies inside the file', () => {
    // Byte mutations of the metadata (everything but the raw data) of the files with the most structure, located
    // with what h5wasm said of the clean file (the survey's view, as if the file were damaged after it).
    const next = rng(11);
    let located = 0;
    let refused = 0;
    for (const rel of ['latest.h5', 'btree.h5', 'types.h5']) {
      const clean = readFileSync(fx.abs(rel));
      const known = datasets(rel);
      const copy = fx.abs(`${rel}.mutant`);
      for (let i = 0; i < 150; i++) {
        const m = Buffer.from(clean);
        const flips = 1 + Math.floor(next() * 8);
        for (let k = 0; k < flips; k++) m[Math.floor(next() * Math.min(m.length, 12_000))] = Math.floor(next() * 256);
        writeFileSync(copy, m);
        withFile(copy, (fd, size) => {
          const sb = readSuperblock(fd, size);
          if ('unsupported' in sb) return;
          for (const { ds: d, addr } of known) {
            const loc = locateRows(fd, size, sb, addr, d);
            if ('unsupported' in loc) {
              refused++;
              continue;
            }
            located++;
            let rows = 0;
            for (const r of loc.runs) {
              expect(r.offset + r.rows * d.rowBytes).toBeLessThanOrEqual(size);
              rows += r.rows;
            }
            expect(rows).toBe(d.rowBytes === 0 ? 0 : d.rows);
          }
        });
      }
      rmSync(copy);
    }
    expect(located).toBeGreaterThan(1000);
    expect(refused).toBeGreaterThan(100);
  });

  it('reads damaged files exactly as h5wasm does: same rows, same values, same findings (differential, 240 mutants)', async () => {
    // Metadata mutants (the first 12 KiB and the last 4 KiB of each file, where headers, B-trees, heaps and
    // chunk indexes lie), read through direct reads and through h5wasm alone with the same partitions.
    const direct = createHdf5Reader({ slabBytes: 4096, minPartitionBytes: 0 });
    const viaHdf5 = createHdf5Reader({ slabBytes: 4096, minPartitionBytes: 0, direct: false });
    const next = rng(12);
    let differ = 0;
    let readable = 0;
    const copy = fx.abs('mutant.h5');
    for (const rel of ['latest.h5', 'btree.h5', 'd64.h5']) {
      const clean = readFileSync(fx.abs(rel));
      for (let i = 0; i < 80; i++) {
        const m = Buffer.from(clean);
        for (let k = 1 + Math.floor(next() * 3); k > 0; k--) {
          const at = next() < 0.7 ? Math.floor(next() * Math.min(12_288, m.length)) : m.length - 1 - Math.floor(next() * Math.min(4096, m.length));
          m[at] = Math.floor(next() * 256);
        }
        writeFileSync(copy, m);
        const [a, b] = [await digest(direct, copy), await digest(viaHdf5, copy)];
        if (a !== b) {
          differ++;
          console.error(`${rel} mutant ${i}:\n  direct ${a.slice(0, 600)}\n  h5wasm ${b.slice(0, 600)}`);
        }
        if (!a.startsWith('open:')) readable++;
      }
    }
    rmSync(copy);
    expect(differ).toBe(0);
    expect(readable).toBeGreaterThan(150);
  });
});

/**
 * Everything a reader makes of one file, as text: open-time findings, damage, and per dataset the rows read and
 * a hash of their bytes in order (record boundaries differ between the two ways of reading, bytes may not).
 */
async function digest(module: ReaderModule, file: string): Promise<string> {
  let reader: Reader;
  try {
    reader = await module.open({ format: 'hdf5', path: file, absPath: file });
  } catch (e) {
    return `open: ${(e as Error).message}`;
  }
  const out: string[] = [JSON.stringify(reader.info().findings)];
  const fields = new Map<string, { rows: number; hash: number }>();
  for (const part of reader.plan(3)) {
    for await (const b of reader.read(part) as AsyncIterable<RecordBatch>) {
      if (b.damage) out.push(JSON.stringify(b.damage));
      for (const rec of b.records) {
        if (rec.kind !== 'rows') continue;
        const f = fields.get(rec.field) ?? { rows: 0, hash: 0x811c9dc5 };
        const bytes = new Uint8Array(rec.data.buffer, rec.data.byteOffset, rec.data.byteLength);
        let h = f.hash;
        for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ (bytes[i] as number), 0x01000193);
        fields.set(rec.field, { rows: f.rows + rec.rows, hash: h });
      }
    }
  }
  reader.close();
  out.push(JSON.stringify([...fields].sort()));
  return out.join('\n');
}

