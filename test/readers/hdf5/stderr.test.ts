/** HDF5's diagnostics never reach the terminal: a child process scans damaged files and its stderr stays empty. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { makeFixtures, type Fixtures } from './helpers.js';

const CHILD = fileURLToPath(new URL('./scan-child.ts', import.meta.url));
/** Loads h5wasm before tsx (see ts-entry.mjs): a tsx child would take seconds to start. */
const ENTRY = fileURLToPath(new URL('./ts-entry.mjs', import.meta.url));
let fx: Fixtures;

beforeAll(() => {
  fx = makeFixtures();
});

afterAll(() => {
  fx?.cleanup();
});

it('scanning corrupt files prints nothing on stderr', () => {
  const sources = ['trunc.h5', 'garbage.h5', 'empty.h5', 'damaged.txt', 'badchunk.h5', 'mixed.txt', 'ext.h5'].map((f) => fx.abs(f));
  const r = spawnSync(process.execPath, [ENTRY, CHILD, ...sources], {
    encoding: 'utf8', timeout: 60_000, env: { ...process.env, NANSCAN_HDF5_DIAG: '' },
  });
  expect(r.signal).toBeNull();
  expect(r.status).toBe(0);
  expect(r.stderr).toBe('');
  const out = JSON.parse(r.stdout) as { source: string; findings: { kind: string }[]; damage: { kind: string; count?: number }[]; rows: number; error?: string }[];
  expect(out.map((o) => o.error === undefined ? null : /truncated file|signature/.test(o.error))).toEqual([true, true, true, null, null, null, null]);
  expect(out[3]?.findings.map((f) => f.kind)).toEqual(['corrupt_file', 'corrupt_file']);
  expect(out[3]?.rows).toBe(2 * (300 + 200));
  expect(out[4]?.damage.map((f) => f.kind)).toEqual(['corrupt_file']);
  expect(out[4]?.rows).toBe(200 - 32 + 200);
  // ext.h5's data lives in a deleted external file: lost once per partition, its label still read.
  expect(new Set(out[6]?.damage.map((f) => f.kind))).toEqual(new Set(['corrupt_file']));
  expect(out[6]?.damage.reduce((a, f) => a + (f.count ?? 0), 0)).toBe(100);
  expect(out[6]?.rows).toBe(100);
});

it('the raw HDF5 stacks can be asked for', () => {
  const r = spawnSync(process.execPath, [ENTRY, CHILD, fx.abs('trunc.h5')], {
    encoding: 'utf8', timeout: 60_000, env: { ...process.env, NANSCAN_HDF5_DIAG: '1' },
  });
  expect(r.status).toBe(0);
  expect(r.stderr).toContain('HDF5-DIAG');
});
