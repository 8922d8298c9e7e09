/**
 * quick.ts, the survey of an HDF5 file without HDF5, against the survey through h5wasm (the oracle: HDF5 itself):
 * on every file h5py writes here and on thousands of damaged copies, the quick survey either declines (and h5wasm
 * surveys the file) or gives exactly what h5wasm gives. And it must not decline the common files, or the
 * scan of a small HDF5 file would load h5wasm again.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rng } from '../../../scripts/lib/caffe.js';
import { H5 } from '../../../src/readers/hdf5/h5.js';
import { createHdf5Reader } from '../../../src/readers/hdf5/index.js';
import { quickWalk } from '../../../src/readers/hdf5/quick.js';
import { listedFiles } from '../../../src/readers/hdf5/sniff.js';
import { surveySource, type Survey, type SurveyTarget } from '../../../src/readers/hdf5/survey.js';
import type { Source } from '../../../src/readers/types.js';
import { makeFixtures, PYTHON, type Fixtures } from './helpers.js';

let fx: Fixtures;
let dir: string;
let h5: H5;

/** Files the quick survey must take (written as h5py users write them), and ones it must leave to h5wasm. */
const WRITER = `import h5py, numpy as np, os, sys
d = sys.argv[1]
r = np.random.default_rng(1)
def f32(*s): return r.random(s, dtype=np.float32)
with h5py.File(d + '/nested.h5', 'w') as f:
    f.create_dataset('b/x', data=f32(10, 3))
    f.create_dataset('a/y/z', data=r.random((10, 3)))
    f.create_dataset('a.b', data=np.arange(10, dtype='i2'))
    f.create_dataset('label', data=np.arange(10, dtype='i4'))
    f.create_dataset('a/label', data=np.arange(10, dtype='u1'))
    f.create_dataset('a/labels', data=np.arange(10, dtype='i8').reshape(10, 1))
    f.create_dataset('Z', data=np.arange(10, dtype='f2'))
    f.create_dataset('\\u00e9t\\u00e9', data=f32(10))
    f.create_group('empty')
    f['t'] = np.dtype('f4')
    f.attrs['note'] = 'attributes are not read'
with h5py.File(d + '/chunked.h5', 'w') as f:
    f.create_dataset('data', data=f32(300, 1, 4, 4), chunks=(16, 1, 4, 4))
    f.create_dataset('label', data=np.arange(300, dtype='f4'), chunks=(64,))
    f.create_dataset('grow', data=f32(50, 2), maxshape=(None, 2), chunks=(8, 2))
with h5py.File(d + '/latest.h5', 'w', libver='latest') as f:
    f.create_dataset('x', data=f32(40, 3), chunks=(5, 3))
    f.create_dataset('y', data=f32(40, 3))
    f.create_dataset('g/one', data=f32(40, 3), chunks=(40, 3))
    f.create_dataset('g/label', data=np.arange(40, dtype='u2'))
with h5py.File(d + '/track.h5', 'w', track_order=True) as f:
    f.create_dataset('z', data=f32(5)); f.create_dataset('a', data=f32(5))
with h5py.File(d + '/ub.h5', 'w', userblock_size=1024) as f:
    f.create_dataset('a', data=f32(6, 2))
with h5py.File(d + '/many.h5', 'w') as f:
    for i in range(120): f.create_dataset('d%03d' % i, data=np.arange(4, dtype='u8'))
with h5py.File(d + '/deep.h5', 'w') as f:
    # Enough links for a two-level group B-tree.
    for i in range(700): f.create_dataset('d%04d' % i, data=np.arange(2, dtype='i1'))
with h5py.File(d + '/times.h5', 'w') as f:
    f.create_dataset('x', data=f32(10, 4), track_times=True)
    f.create_dataset('y', data=f32(10, 4), chunks=(3, 4), track_times=True, fillvalue=1.5)
# Left to h5wasm:
with h5py.File(d + '/soft.h5', 'w') as f:
    f.create_dataset('a', data=f32(5)); f['s'] = h5py.SoftLink('/a')
with h5py.File(d + '/hard2.h5', 'w') as f:
    f.create_dataset('a', data=f32(5)); f['b'] = f['a']
with h5py.File(d + '/be.h5', 'w') as f:
    f.create_dataset('a', data=np.arange(5, dtype='>f4'))
with h5py.File(d + '/gz.h5', 'w') as f:
    f.create_dataset('a', data=f32(50), compression='gzip')
with h5py.File(d + '/str.h5', 'w') as f:
    f.create_dataset('a', data=f32(5)); f.create_dataset('s', data=np.array([b'x', b'y']))
with h5py.File(d + '/scalar.h5', 'w') as f:
    f.create_dataset('a', data=f32(5)); f.create_dataset('s', data=3.0)
with h5py.File(d + '/unwritten.h5', 'w') as f:
    f.create_dataset('a', shape=(10, 4), dtype='f4', chunks=(2, 4), fillvalue=np.nan)
with h5py.File(d + '/dense.h5', 'w', libver='latest') as f:
    for i in range(12): f.create_dataset('d%02d' % i, data=f32(3))
with open(d + '/list.txt', 'w') as t:
    t.write('nested.h5\\nchunked.h5\\nmissing.h5\\nub.h5\\n')
`;

const TAKEN = ['nested.h5', 'chunked.h5', 'latest.h5', 'track.h5', 'ub.h5', 'many.h5', 'deep.h5', 'times.h5'];
const LEFT = ['soft.h5', 'hard2.h5', 'be.h5', 'gz.h5', 'str.h5', 'scalar.h5', 'unwritten.h5', 'dense.h5'];

beforeAll(async () => {
  fx = makeFixtures();
  dir = mkdtempSync(path.join(os.tmpdir(), 'nanscan-quick-'));
  execFileSync(PYTHON, ['-c', WRITER, dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  h5 = await H5.load();
});

afterAll(() => {
  fx?.cleanup();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

const LABELS = ['label', 'labels'];

function target(abs: string, kind: 'file' | 'list' = 'file'): SurveyTarget {
  const source: Source = { path: abs, absPath: abs, format: 'hdf5' };
  const entries = kind === 'list' ? listedFiles(abs) : [{ line: 0, raw: abs, path: abs, exists: true }];
  return { source, kind, entries, labelNames: LABELS, direct: true };
}

/** A survey as plain data (its Map too), for deep comparison. */
const plain = (s: Survey): unknown => ({ ...s, access: [...s.access] });

describe('quick HDF5 survey', () => {
  it('takes the files h5py writes by default and gives exactly the survey h5wasm gives', () => {
    for (const rel of TAKEN) {
      const t = target(path.join(dir, rel));
      const quick = surveySource(null, t);
      expect(quick, `${rel}: ${JSON.stringify(quickWalk(path.join(dir, rel), LABELS))}`).not.toBeNull();
      expect(plain(quick as Survey), rel).toEqual(plain(surveySource(h5, t)));
    }
    // The walk order and the labels, spelled out for one file (h5wasm's order: names in byte order, depth first).
    const nested = surveySource(null, target(path.join(dir, 'nested.h5'))) as Survey;
    expect(nested.files[0]?.datasets.map((d) => `${d.name}${d.isLabel ? '*' : ''}`)).toEqual(
      ['Z', 'a/label*', 'a/labels', 'a/y/z', 'a.b', 'b/x', 'label*', 'été']);
    expect([...nested.access.values()].every((a) => a === 'direct')).toBe(true);
  });

  it('takes a list, its missing entries reported as by the h5wasm survey', () => {
    const t = target(path.join(dir, 'list.txt'), 'list');
    const quick = surveySource(null, t);
    expect(quick).not.toBeNull();
    expect((quick as Survey).findings.map((f) => f.kind)).toContain('missing_file');
    expect(plain(quick as Survey)).toEqual(plain(surveySource(h5, t)));
  });

  it('leaves to h5wasm what it does not read itself, and every fixture it takes matches h5wasm', () => {
    for (const rel of LEFT) {
      expect(surveySource(null, target(path.join(dir, rel))), rel).toBeNull();
    }
    // The reader tests' fixtures: compounds, strings, filters, links, damage, user blocks, big files.
    let taken = 0;
    const files = readdirSync(fx.dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.h5'));
    for (const rel of files) {
      const t = target(fx.abs(rel));
      const quick = surveySource(null, t);
      if (quick === null) continue;
      taken++;
      const full = surveySource(h5, t);
      expect(plain(quick), rel).toEqual(plain(full));
    }
    expect(taken).toBeGreaterThanOrEqual(4);
    // Direct reads turned off: every dataset goes through h5wasm, so nothing is surveyed without it.
    expect(surveySource(null, { ...target(path.join(dir, 'nested.h5')), direct: false })).toBeNull();
  });

  it('on damaged copies, declines or agrees with h5wasm exactly (differential, 3,500 mutants)', () => {
    const next = rng(19);
    let agreed = 0;
    let declined = 0;
    const copy = path.join(dir, 'mutant.h5');
    for (const rel of ['nested.h5', 'chunked.h5', 'latest.h5', 'track.h5', 'ub.h5', 'many.h5', 'times.h5']) {
      const clean = readFileSync(path.join(dir, rel));
      for (let i = 0; i < 500; i++) {
        const m = Buffer.from(clean);
        const flips = 1 + Math.floor(next() * 4);
        // Mostly metadata: these files' headers, heaps and B-trees fill their first few KiB.
        for (let k = 0; k < flips; k++) {
          const at = Math.floor(next() * Math.min(m.length, next() < 0.8 ? 6144 : m.length));
          m[at] = next() < 0.5 ? (m[at] as number) ^ (1 << Math.floor(next() * 8)) : Math.floor(next() * 256);
        }
        writeFileSync(copy, m);
        const t = { ...target(copy), source: { path: rel, absPath: copy, format: 'hdf5' } as Source };
        const quick = surveySource(null, t);
        if (quick === null) {
          declined++;
          continue;
        }
        expect(plain(quick), `${rel} mutant ${i}`).toEqual(plain(surveySource(h5, t)));
        agreed++;
      }
    }
    // Both sides exercised: many mutants hit only data or bytes HDF5 ignores, many hit what it checks.
    expect(agreed).toBeGreaterThan(500);
    expect(declined).toBeGreaterThan(500);
  });

  it('superblock edits HDF5 refuses or rebases on: declined, and direct reads stop where HDF5 stops', async () => {
    // Found by `npm run fuzz -- --differential NANSCAN_HDF5_DIRECT=0`: a v0 superblock naming an extension
    // (HDF5 cannot open the file), and a stored base address (HDF5 rebases and its address space ends that
    // many bytes before the file does: the chunks there are unreadable to it, so they must be to direct reads too).
    const clean = readFileSync(path.join(dir, 'chunked.h5'));
    const copy = path.join(dir, 'edited.h5');
    const source: Source = { path: 'edited.h5', absPath: copy, format: 'hdf5' };
    const scanAll = async (direct: boolean): Promise<{ rows: number; damage: string[] }> => {
      const reader = await createHdf5Reader({ direct }).open(source);
      let rows = 0;
      const damage: string[] = reader.info().findings.map((f) => f.kind);
      for (const p of reader.plan(4)) {
        for await (const b of reader.read(p)) {
          for (const r of b.records) rows += r.kind === 'rows' ? r.rows : 1;
          for (const d of b.damage ?? []) damage.push(`${d.kind} ${d.field ?? ''}`);
        }
      }
      reader.close();
      return { rows, damage };
    };
    const extension = Buffer.from(clean);
    extension.writeBigUInt64LE(64n, 32);
    writeFileSync(copy, extension);
    expect(surveySource(null, target(copy))).toBeNull();
    await expect(createHdf5Reader().open(source)).rejects.toThrow(/extension/);
    const based = Buffer.from(clean);
    based.writeBigUInt64LE(BigInt(clean.length >> 1), 24);
    writeFileSync(copy, based);
    expect(surveySource(null, target(copy))).toBeNull();
    const direct = await scanAll(true);
    expect(direct.damage.some((d) => d.startsWith('corrupt_file'))).toBe(true);
    expect(direct).toEqual(await scanAll(false));
  });

  it('the reader reads what the quick survey planned', async () => {
    const reader = await createHdf5Reader().open({ path: 'nested.h5', absPath: path.join(dir, 'nested.h5'), format: 'hdf5' });
    expect(reader.info().expectedRecords).toBe(10);
    let rows = 0;
    for (const p of reader.plan(4)) {
      for await (const b of reader.read(p)) for (const r of b.records) rows += r.kind === 'rows' ? r.rows : 1;
    }
    expect(rows).toBe(80); // 8 numeric datasets of 10 rows
    reader.close();
  });

  it('the command never compiles h5wasm for such a file, and does for one that needs HDF5', () => {
    // Every WebAssembly module compiled in the process, by size: h5wasm's is 3.5 MB, the scan kernel's a few KB.
    const hook = `const c = WebAssembly.compile; let max = 0;
WebAssembly.compile = (b, ...r) => { max = Math.max(max, b.byteLength); return c.call(WebAssembly, b, ...r); };
process.on('exit', () => process.stderr.write('largest-wasm=' + max + '\\n'));`;
    const cli = path.join(import.meta.dirname, '..', '..', '..', 'dist', 'bundle', 'nanscan.cjs');
    const largest = (file: string): number => {
      const r = spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(hook)}`, cli, 'scan', file, '-q', '--no-progress'],
        { encoding: 'utf8' });
      expect(r.status, r.stderr).not.toBe(2);
      return Number(/largest-wasm=(\d+)/.exec(r.stderr)?.[1]);
    };
    expect(largest(path.join(dir, 'chunked.h5'))).toBeLessThan(1_000_000);
    expect(largest(path.join(dir, 'gz.h5'))).toBeGreaterThan(1_000_000);
  });
});
