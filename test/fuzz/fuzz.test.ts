/**
 * The short fuzz run of `npm test` (issue 8): a fixed-seed campaign over every fixture, and the saved crashers of
 * longer runs (test/fuzz/regressions/), each of which must now scan like any other dataset. The long campaign is
 * `npm run fuzz`.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSaved, formatSummary, FUZZ_FIXTURES, runCampaign } from '../../scripts/fuzz.js';

/** 18 mutants of each of the 16 fixtures: about 60 s on two cores. */
const SHORT_RUN = { count: FUZZ_FIXTURES.length * 18, seconds: 90, seed: 20260 };
const REGRESSIONS = fileURLToPath(new URL('./regressions/', import.meta.url));

let out: string;
beforeAll(() => { out = mkdtempSync(path.join(os.tmpdir(), 'nanscan-fuzz-test-')); });
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('fuzz', () => {
  it('a short deterministic campaign over every fixture format finds no crash, hang, write or bad report', async () => {
    const r = await runCampaign({ ...SHORT_RUN, out });
    const failures = r.failed.map((f) => `#${f.recipe.index} ${f.recipe.fixture} ${JSON.stringify(f.recipe.ops)}: ` +
      f.failures.map((x) => `${x.kind}: ${x.message}`).join(' | '));
    expect(failures, formatSummary(r)).toEqual([]);
    // Bounded by time as well as count: on a loaded machine fewer run, but every format must have been fuzzed.
    expect(r.mutants).toBeGreaterThanOrEqual(FUZZ_FIXTURES.length * 4);
    const formats = new Set(Object.keys(r.perFixture).map((d) => FUZZ_FIXTURES.find((f) => f.dir === d)!.format));
    expect([...formats].sort()).toEqual(['arrow', 'hdf5', 'image-folder', 'image-list', 'leveldb', 'lmdb', 'npy', 'parquet', 'tfrecord', 'webdataset']);
  }, 150_000);

  const cases = existsSync(REGRESSIONS)
    ? readdirSync(REGRESSIONS).filter((n) => statSync(path.join(REGRESSIONS, n)).isDirectory()).sort()
    : [];
  it.each(cases)('regression %s scans with exit 0/1, a valid report and no write', async (name) => {
    // recipe.json's `scan` is the dataset path inside the case folder: `<dataset folder>[/<list or file>]`.
    const recipe = JSON.parse(readFileSync(path.join(REGRESSIONS, name, 'recipe.json'), 'utf8')) as { scan: string };
    const [top, ...rest] = recipe.scan.split('/');
    const { status, failures } = await checkSaved(path.join(REGRESSIONS, name, top!), rest.length > 0 ? rest.join('/') : '.');
    expect(failures).toEqual([]);
    expect([0, 1]).toContain(status);
  });
});
