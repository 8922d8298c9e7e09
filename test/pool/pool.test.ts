/** The worker pool's failure modes: workers that cannot start, and a bug told apart from damage in the data. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScanError } from '../../src/errors.js';
import { MAX_START_FAILURES, WorkerPool, type Task } from '../../src/pool/pool.js';
import type { AnalyzeOptions } from '../../src/pool/protocol.js';
import type { Source } from '../../src/readers/types.js';

const entry = (name: string): URL => new URL(`./fixtures/${name}`, import.meta.url);
const options: AnalyzeOptions = {
  maxExamples: 20, limitInputPixels: 1e6, imageConcurrency: 1, forceJsKernel: true, numClasses: null, severity: {},
  imageStrictness: 'warning', timeoutMs: 1000, elementStats: false, fullDecode: false,
};
const task = (source: Source): Task => ({ source, partition: { index: 0, spec: null }, options });

let tmp: string;
beforeAll(() => { tmp = mkdtempSync(path.join(os.tmpdir(), 'nanscan-pool-')); });
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('a worker entry that throws at start-up', () => {
  for (const format of ['lmdb', 'image-folder'] as const) {
    const kind = format === 'lmdb' ? 'threads' : 'processes';
    it(`fails the tasks with SCAN_INTERNAL after ${MAX_START_FAILURES} tries, and starts no more ${kind}`, async () => {
      const log = path.join(tmp, `${format}.log`);
      process.env.NANSCAN_TEST_START_LOG = log;
      const pool = new WorkerPool({ size: 2, entry: entry('throws-at-start.mjs') });
      try {
        const source: Source = { format, path: 'data', absPath: '/nonexistent/data' };
        pool.prepare(source, format === 'image-folder');
        const e = await pool.run(task(source)).then(() => null, (x: unknown) => x);
        expect(e).toBeInstanceOf(ScanError);
        expect((e as ScanError).code).toBe('SCAN_INTERNAL');
        expect((e as ScanError).message).toMatch(new RegExp(`worker ${kind} could not start .*this worker cannot start`));
        expect((e as ScanError).message).not.toMatch(/\n\s+at /);
        // Later tasks fail at once, and nothing is started again.
        await expect(pool.run(task(source))).rejects.toMatchObject({ code: 'SCAN_INTERNAL' });
        const starts = readFileSync(log, 'utf8').split('\n').filter(Boolean).length;
        await new Promise((r) => setTimeout(r, 500));
        expect(readFileSync(log, 'utf8').split('\n').filter(Boolean).length).toBe(starts);
        // The workers prepare() started, plus at most one replacement per failure.
        expect(starts).toBeLessThanOrEqual(2 + MAX_START_FAILURES);
      } finally {
        delete process.env.NANSCAN_TEST_START_LOG;
        await pool.destroy();
      }
    });
  }
});

describe('a worker entry that does not exist', () => {
  it('fails the scan with SCAN_INTERNAL instead of looping', async () => {
    const pool = new WorkerPool({ size: 1, entry: new URL('file:///nonexistent/nanscan-worker.mjs') });
    try {
      const source: Source = { format: 'lmdb', path: 'data', absPath: '/nonexistent/data' };
      pool.prepare(source, false);
      await expect(pool.run(task(source))).rejects.toMatchObject({ code: 'SCAN_INTERNAL' });
    } finally {
      await pool.destroy();
    }
  });
});

describe('errors a worker answers a task with', () => {
  it('are SCAN_INTERNAL for a bug (a TypeError), and SCAN_WORKER_FAILED (a finding) for an I/O error', async () => {
    const pool = new WorkerPool({ size: 1, entry: entry('answers-error.mjs') });
    try {
      const bug: Source = { format: 'lmdb', path: 'TypeError', absPath: '/x/TypeError' };
      const io: Source = { format: 'lmdb', path: 'EIO', absPath: '/x/EIO' };
      pool.prepare(bug, false);
      await expect(pool.run(task(bug))).rejects.toMatchObject({ code: 'SCAN_INTERNAL', message: expect.stringMatching(/^TypeError in a worker: Cannot read/) });
      await expect(pool.run(task(io))).rejects.toMatchObject({ code: 'SCAN_WORKER_FAILED', message: 'EIO: i/o error, read' });
    } finally {
      await pool.destroy();
    }
  });
});
