/** Nothing crashes it, nothing hangs it, nothing is written: read-only mounts, hostile trees, time bounds. */
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, TABLE_FIXTURES, TFRECORD_SUBFOLDER_DATASETS, WEBDATASET_FIXTURE_DATASETS } from '../../scripts/lib/fixture-spec.js';
import { NPY_FIXTURE_DATASETS } from '../../scripts/lib/npy-fixtures.js';
import { scan } from '../../src/index.js';
import type { Report } from '../../src/types.js';
import { CLI, ROOT, scanJson } from '../helpers/cli.js';
import { hashTree } from '../helpers/tree.js';

/** A scan with the test worker entry that can crash or exhaust its heap at a chosen record. */
const FAULT_SCAN = path.join(ROOT, 'test/pool/fixtures/fault-scan.mjs');

let tmp: string;
beforeAll(() => { tmp = mkdtempSync(path.join(os.tmpdir(), 'nanscan-robust-')); });
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('read-only by construction', () => {
  it('scans every fixture through a read-only bind mount and leaves the tree byte-identical', () => {
    const fixtures = path.join(ROOT, 'fixtures');
    const before = hashTree(fixtures);
    const mnt = path.join(tmp, 'ro');
    mkdirSync(mnt);
    const out = path.join(tmp, 'ro-report.json');
    // A private mount namespace: the read-only view exists only for this command. Even root cannot write
    // through it, so a write attempt would fail the scan (EROFS) rather than go unnoticed.
    const script = `mount --bind "$1" "$2" && mount -o remount,bind,ro "$2" && touch "$2/probe" 2>/dev/null && exit 99;
      "$3" "$4" scan "$2" --json "$5" -q; echo "rc=$?"`;
    let r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', fixtures, mnt,
      process.execPath, CLI, out], { encoding: 'utf8' });
    if (r.status !== 0 || !/rc=[01]\b/.test(r.stdout)) {
      // No mount namespace (not root): run as an unprivileged user, who cannot write to the tree either.
      r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, 'scan',
        fixtures, '--json', '-', '-q'], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      writeFileSync(out, r.stdout);
    }
    const report = JSON.parse(spawnSync('cat', [out], { encoding: 'utf8' }).stdout) as Report;
    // The fixture specs, the Parquet/Arrow fixtures and the NumPy fixtures (scripts/make-npy-fixtures.ts).
    expect(report.datasets).toHaveLength(FIXTURES.length + TABLE_FIXTURES.length + NPY_FIXTURE_DATASETS.length +
      WEBDATASET_FIXTURE_DATASETS.length + TFRECORD_SUBFOLDER_DATASETS.length);
    // Every dataset was read, except the one whose only file is cut in half, the Parquet files without a footer
    // and a text file named .npy.
    expect(report.datasets.filter((d) => d.records === 0).map((d) => path.basename(d.path)).sort())
      .toEqual(['broken.h5', 'fake.npy', ...TABLE_FIXTURES.filter((t) => t.unreadable === true).map((t) => path.basename(t.path))].sort());
    // No finding says a file could not be opened or written.
    expect(report.summary.findingCounts.io_error).toBeUndefined();
    expect(hashTree(fixtures)).toBe(before);
  });
});

describe('crash isolation', () => {
  // With NANSCAN_FAULT_CRASH_ON, the test worker entry (test/pool/fixtures/faulty-worker.mjs) dies with SIGSEGV
  // before decoding a matching image, as a crashing native decoder would: the scan must survive it, name the
  // record, and read everything else.
  it.each([
    ['fixtures/images/classes', 'dog3.jpg', (f: { file?: string }) => f.file?.endsWith('dog/dog3.jpg')],
    ['fixtures/lmdb/encoded', 'img20.jpg', (f: { key?: string }) => f.key === '00000020_img20.jpg'],
  ])('survives a decoder that kills its worker on %s', (target, needle, isCulprit) => {
    const normal = scanJson([target, '--max-examples', '100']).report.datasets[0]!;
    const env = { ...process.env, NANSCAN_FAULT_CRASH_ON: needle };
    const r = spawnSync(process.execPath, [FAULT_SCAN, target, '--max-examples', '100'], { cwd: ROOT, encoding: 'utf8', env });
    expect(r.status).toBe(1);
    const d = (JSON.parse(r.stdout) as Report).datasets[0]!;
    const crash = d.findings.filter((f) => f.message.includes('decoder crashed'));
    expect(crash).toHaveLength(1);
    expect(isCulprit(crash[0]!)).toBe(true);
    // Everything else is as in a normal scan: same records, same other findings.
    expect(d.records).toBe(normal.records);
    const others = (x: typeof d): string[] => x.findings.filter((f) => !isCulprit(f)).map((f) => `${f.kind} ${f.key ?? f.file}`);
    expect(others(d)).toEqual(others(normal));
  });
});

describe('crash isolation of sources read in threads', () => {
  // TFRecord files are read in threads; the first image moves the partition, and the rest of the source, to
  // worker processes before it is decoded. The fault hook kills only processes: a decode in a thread would leave
  // the images decoded and no crash reported.
  it('decodes the images of a TFRecord in worker processes, and survives each decoder crash there', () => {
    const target = 'fixtures/tfrecord/shards';
    const normal = scanJson([target, '--max-examples', '100']).report.datasets[0]!;
    const env = { ...process.env, NANSCAN_FAULT_CRASH_ON: '00001-of-00002' };
    const r = spawnSync(process.execPath, [FAULT_SCAN, target, '--max-examples', '100'], { cwd: ROOT, encoding: 'utf8', env });
    expect(r.status).toBe(1);
    const d = (JSON.parse(r.stdout) as Report).datasets[0]!;
    // The second shard's 5 images each killed a process; the first shard's 6 were decoded.
    const crashed = d.findings.filter((f) => f.message.includes('decoder crashed'));
    expect(crashed.map((f) => `${path.basename(f.file ?? '')} ${f.index}`))
      .toEqual([6, 7, 8, 9, 10].map((i) => `train.tfrecord-00001-of-00002 ${i}`));
    expect(d.records).toBe(normal.records);
    expect(normal.findings).toEqual([]);
  });
});

describe('worker heap cap', () => {
  // With NANSCAN_FAULT_OOM_ON, the test worker entry fills its heap at a matching key: the worker dies at its
  // cap, the partition is retried once and then reported, and every other partition is read.
  it('reports the partition whose worker ran out of memory and reads the rest', () => {
    const normal = scanJson(['fixtures/lmdb/clean']).report.datasets[0]!;
    const env = { ...process.env, NANSCAN_FAULT_OOM_ON: '00000050', NANSCAN_WORKER_HEAP_MB: '64' };
    const r = spawnSync(process.execPath, [FAULT_SCAN, 'fixtures/lmdb/clean'], { cwd: ROOT, encoding: 'utf8', env });
    expect(r.status).toBe(1);
    const d = (JSON.parse(r.stdout) as Report).datasets[0]!;
    const oom = d.findings.filter((f) => f.kind === 'io_error');
    expect(oom).toHaveLength(1);
    expect(oom[0]!.message).toMatch(/part \d+ of 64 .*memory limit/);
    // One partition of 64 lost: a handful of the 300 records, never all of them.
    expect(d.records).toBeLessThan(normal.records);
    expect(d.records).toBeGreaterThan(normal.records - 10);
  });
});

describe('hostile trees', () => {
  it('never waits on a named pipe where a file should be (list entry, data.mdb, CURRENT, a table)', () => {
    // A plain open() of a FIFO blocks until some writer opens it: without O_NONBLOCK this scan never ends.
    const root = path.join(tmp, 'fifos');
    mkdirSync(path.join(root, 'list'), { recursive: true });
    mkdirSync(path.join(root, 'lmdb'));
    cpSync(path.join(ROOT, 'fixtures/leveldb/clean'), path.join(root, 'leveldb'), { recursive: true });
    copyFileSync(path.join(ROOT, 'fixtures/images/list/imgs/0.jpg'), path.join(root, 'list', 'a.jpg'));
    writeFileSync(path.join(root, 'list', 'train.txt'), 'a.jpg 0\npipe.jpg 1\n');
    const table = readdirSync(path.join(root, 'leveldb')).find((n) => n.endsWith('.ldb'))!;
    rmSync(path.join(root, 'leveldb', table));
    rmSync(path.join(root, 'leveldb', 'CURRENT'));
    for (const f of ['list/pipe.jpg', 'lmdb/data.mdb', `leveldb/${table}`, 'leveldb/CURRENT']) {
      expect(spawnSync('mkfifo', [path.join(root, f)]).status).toBe(0);
    }
    const treeBefore = hashTree(root);
    const r = spawnSync(process.execPath, [CLI, 'scan', root, '--json', '-'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(r.signal).toBeNull();
    expect(r.status).toBe(1);
    const report = JSON.parse(r.stdout) as Report;
    const by = (format: string): string[] =>
      report.datasets.filter((d) => d.format === format).flatMap((d) => d.findings.map((f) => `${f.kind} ${f.message}`));
    expect(by('image-list').some((f) => f.startsWith('io_error') && f.includes('pipe.jpg') && f.includes('not a regular file'))).toBe(true);
    expect(by('lmdb').some((f) => f.startsWith('corrupt_file') && f.includes('data.mdb'))).toBe(true);
    expect(by('leveldb').some((f) => f.includes('CURRENT') && f.includes('not a regular file'))).toBe(true);
    expect(by('leveldb').some((f) => f.includes(table))).toBe(true);
    expect(hashTree(root)).toEqual(treeBefore);
  });

  it('survives symlink loops and a list that names itself, /dev/zero and a folder', () => {
    const root = path.join(tmp, 'hostile');
    mkdirSync(path.join(root, 'a', 'b'), { recursive: true });
    symlinkSync(path.join(root, 'a'), path.join(root, 'a', 'b', 'loop'));
    symlinkSync(path.join(root, 'self'), path.join(root, 'self')); // a symlink to itself
    writeFileSync(path.join(root, 'list.txt'), ['list.txt 0', '/dev/zero 1', 'a 2', 'a/b/loop/missing.jpg 3', 'x.jpg 1'].join('\n'));
    const { run, report } = scanJson([root]);
    expect(run.status).toBe(1);
    const d = report.datasets.find((x) => x.format === 'image-list')!;
    const kinds = d.findings.map((f) => `${f.kind}:${f.line}`).sort();
    // Itself (not an image), /dev/zero and the folder (not regular files), two missing files.
    expect(kinds).toEqual(['corrupt_image:1', 'io_error:2', 'io_error:3', 'missing_file:4', 'missing_file:5']);
  });

  it('bounds each image decode in time', async () => {
    const dir = path.join(tmp, 'slow');
    mkdirSync(dir);
    // A 6000×6000 noisy PNG takes far longer than 1 ms to decode. Interlaced, so that sharp decodes it: the
    // time limit is for decodes on sharp's threads (the synchronous decoders do bounded work for a pixel count).
    const px = Buffer.alloc(6000 * 6000).map((_, i) => (i * 2654435761) >>> 24);
    await sharp(px, { raw: { width: 6000, height: 6000, channels: 1 } }).png({ compressionLevel: 1, progressive: true }).toFile(path.join(dir, 'big.png'));
    const report = await scan(dir, { timeoutMs: 1, workers: 1 });
    const f = report.datasets[0]!.findings[0]!;
    expect(f.kind).toBe('corrupt_image');
    expect(f.message).toContain('took longer than 1 ms to decode');
  });
});
