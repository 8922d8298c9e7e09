/** Sharded scans merge into exactly the report of one scan (timings excepted); bad shard sets are refused. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES } from '../../scripts/lib/fixture-spec.js';
import { mergeReports, scan, type Report } from '../../src/index.js';
import { CLI, ROOT, runCli } from '../helpers/cli.js';

/** The report minus what may differ between runs: timings and the shard section. */
function comparable(r: Report): unknown {
  const { startedAt: _s, durationMs: _d, shard: _sh, ...rest } = r;
  return { ...rest, datasets: r.datasets.map((d) => ({ ...d, durationMs: 0 })) };
}

/** Through JSON, as shard reports travel between machines. */
const viaJson = (r: Report): Report => JSON.parse(JSON.stringify(r)) as Report;

async function sharded(target: string, n: number): Promise<Report> {
  const parts: Report[] = [];
  for (let i = 1; i <= n; i++) parts.push(viaJson(await scan(target, { cwd: ROOT, workers: 0, shard: { index: i, count: n } })));
  // Order of the inputs must not matter.
  return mergeReports(parts.reverse());
}

describe('sharded scans', () => {
  const targets = ['fixtures', ...FIXTURES.map((s) => `fixtures/${s.dir}`)];
  for (const target of targets) {
    it(`merge 1, 2, 3 and 7 shards of ${target} into the whole scan's report`, async () => {
      const whole = comparable(viaJson(await scan(target, { cwd: ROOT, workers: 0 })));
      for (const n of [1, 2, 3, 7]) {
        expect(comparable(await sharded(target, n)), `${n} shards`).toEqual(whole);
      }
    });
  }

  it('refuses a missing shard, a shard given twice, and shards of different scans', async () => {
    const t = 'fixtures/demo';
    const s = async (i: number, n: number, extra = {}): Promise<Report> =>
      viaJson(await scan(t, { cwd: ROOT, workers: 0, shard: { index: i, count: n }, ...extra }));
    const [a, b, c] = [await s(1, 3), await s(2, 3), await s(3, 3)];
    expect(() => mergeReports([a, c])).toThrow(/shard 2\/3 missing/);
    expect(() => mergeReports([a, b, b, c])).toThrow(/given twice/);
    const otherOptions = await s(3, 3, { batchSize: 32 });
    expect(() => mergeReports([a, b, otherOptions])).toThrow(/other options/);
    const plain = viaJson(await scan(t, { cwd: ROOT, workers: 0 }));
    expect(() => mergeReports([plain])).toThrow(/not a shard report/);
    const other = viaJson(await scan('fixtures/lmdb/clean', { cwd: ROOT, workers: 0, shard: { index: 3, count: 3 } }));
    expect(() => mergeReports([a, b, other])).toThrow(/other datasets/);
  });
});

describe('the Kubernetes Indexed Job example', () => {
  let out: string;
  beforeAll(() => { out = mkdtempSync(path.join(os.tmpdir(), 'nanscan-k8s-')); });
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('runs its command for every completion index, and the merge equals one scan', () => {
    const manifest = readFileSync(path.join(ROOT, 'docs/examples/k8s-indexed-job.yaml'), 'utf8');
    const completions = Number(/completions: (\d+)/.exec(manifest)![1]);
    const command = /- (npx nanscan scan .*)$/m.exec(manifest)![1]!
      .replace('npx nanscan', `"${process.execPath}" "${CLI}"`).replaceAll('/data', 'fixtures').replaceAll('/out', out);
    for (let i = 0; i < completions; i++) {
      const r = spawnSync('sh', ['-c', command], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, JOB_COMPLETION_INDEX: String(i) } });
      expect(r.status, r.stderr).toBe(0);
    }
    const shards = Array.from({ length: completions }, (_, i) => path.join(out, `shard-${i}.json`));
    const merged = runCli(['merge', ...shards, '--json', path.join(out, 'merged.json'), '-q']);
    // The shards ran with --fail-on none (a shard must not fail the Job); the merge is the gate, with its own
    // --fail-on (default error): the fixtures hold errors, so it fails, as one scan of them does.
    expect(merged.status).toBe(1);
    const whole = runCli(['scan', 'fixtures', '--json', path.join(out, 'whole.json'), '-q']);
    expect(whole.status).toBe(1);
    const read = (f: string): Report => JSON.parse(readFileSync(path.join(out, f), 'utf8')) as Report;
    expect(comparable(read('merged.json'))).toEqual(comparable(read('whole.json')));
  });
});
