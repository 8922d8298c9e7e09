/**
 * Which sources the main thread reads itself when the scan has workers (src/scan.ts, LocalBudget): every source
 * up to 16 MiB, and bigger ones up to 64 MiB while 64 MiB of them in all have not been read there. Where a
 * partition runs never changes the report; these tests see where it ran by breaking the workers (a preload that
 * throws in every worker thread and process, never in the main thread, as a broken install would).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Report } from '../../src/types.js';
import { caffeKey, encodeDatum, writeLmdb } from '../../scripts/lib/caffe.js';
import { brokenWorkersEnv, ROOT, runCli, scanJson } from '../helpers/cli.js';

let tmp: string;
let broken: NodeJS.ProcessEnv;
/** Two LMDBs of ~40 MiB each (3,300 Datums of 3×64×64 pixels): each fits the budget, both do not. */
let a: string;
let b: string;

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'nanscan-main-thread-'));
  broken = brokenWorkersEnv(tmp);
  const pixels = new Uint8Array(3 * 64 * 64);
  for (const [name, seed] of [['a', 1], ['b', 2]] as const) {
    const dir = path.join(tmp, 'two', name);
    mkdirSync(dir, { recursive: true });
    await writeLmdb(dir, Array.from({ length: 3300 }, (_, i) => [caffeKey(i), encodeDatum({
      channels: 3, height: 64, width: 64, data: pixels.map((_, k) => (k * 7 + i * 13 + seed) & 0xff), label: i % 5,
    })] as const));
  }
  a = path.join(tmp, 'two', 'a');
  b = path.join(tmp, 'two', 'b');
}, 120_000);

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** A report without what differs from run to run. */
const comparable = (r: Report): unknown => r.datasets.map((d) => ({
  path: d.path, records: d.records, bytes: d.bytes, findings: d.findings, findingCounts: d.findingCounts, labels: d.labels, stats: d.stats,
}));

describe('sources read in the main thread while the scan has workers', () => {
  it('a 40 MiB LMDB is read in the main thread: broken workers are never asked, and the report is the workers\' one', () => {
    const here = scanJson([a, '--workers', '2'], ROOT, broken);
    const workers = scanJson([a, '--workers', '2'], ROOT);
    const inThread = scanJson([a, '--workers', '0'], ROOT);
    expect(here.run.status, here.run.stderr).toBe(workers.run.status);
    expect(here.report.datasets[0]!.records).toBe(3300);
    expect(comparable(here.report)).toEqual(comparable(workers.report));
    expect(comparable(here.report)).toEqual(comparable(inThread.report));
  });

  it('two of them are more than the budget: the second goes to the workers, so broken workers fail the scan', () => {
    const run = runCli(['scan', a, b, '--workers', '2'], ROOT, broken);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('worker threads could not start');
    // With working workers, the same two are scanned as the main thread alone scans them.
    const workers = scanJson([a, b, '--workers', '2'], ROOT);
    expect(comparable(workers.report)).toEqual(comparable(scanJson([a, b, '--workers', '0'], ROOT).report));
  });
});
