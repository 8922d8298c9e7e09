/**
 * A gate that never lies (issue 15): exit 0 clean, 1 findings, 2 could not run, 130/143 interrupted; reports
 * that agree with the exit code; one clear line, never a stack, for every user mistake and internal failure.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { XMLParser } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scan } from '../../src/index.js';
import { renderJunit } from '../../src/report/junit.js';
import { renderText } from '../../src/report/text.js';
import type { Report } from '../../src/types.js';
import { caffeKey, encodeDatum, writeLmdb } from '../../scripts/lib/caffe.js';
import { brokenWorkersEnv, CLI, ROOT, runCli, scanJson, type CliRun } from '../helpers/cli.js';
import { hashTree } from '../helpers/tree.js';

let tmp: string;
let fixturesBefore: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'nanscan-exit-'));
  fixturesBefore = hashTree(path.join(ROOT, 'fixtures'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
  expect(hashTree(path.join(ROOT, 'fixtures'))).toBe(fixturesBefore);
});

/** Exit 2 with one line on stderr naming the problem, and no stack trace. */
function expectUsageError(run: CliRun, text: string | RegExp): void {
  expect(run.status, run.stderr).toBe(2);
  expect(run.stderr).not.toMatch(/^\s+at /m);
  if (typeof text === 'string') expect(run.stderr).toContain(text);
  else expect(run.stderr).toMatch(text);
  expect(run.stdout).toBe('');
}

const ctx = { now: () => new Date(0), hostname: 'test', cwd: ROOT };

describe('a scan that finds no dataset', () => {
  it('exits 2 naming the paths, like ESLint for a pattern that matches nothing', () => {
    const empty = mkdtempSync(path.join(tmp, 'empty-'));
    writeFileSync(path.join(empty, 'notes.txt'), 'hello\n');
    expectUsageError(runCli(['scan', empty]), `No dataset found in '${empty}'`);
    // Everything excluded is nothing found too.
    const cwd = mkdtempSync(path.join(tmp, 'excl-'));
    writeFileSync(path.join(cwd, 'nanscan.config.json'), JSON.stringify({ exclude: ['**'] }));
    expectUsageError(runCli(['scan', path.join(ROOT, 'fixtures/demo')], cwd), /No dataset found in .*excluded/);
    // Every path counts: a folder without a dataset beside one with datasets is named too.
    expectUsageError(runCli(['scan', 'fixtures/demo', empty]), `No dataset found in '${empty}'.`);
    expect(runCli(['scan', 'fixtures/demo', empty, '--allow-empty', '-q']).status).toBe(1);
    // A dataset given twice, or through its data.mdb, is found (once).
    expect(runCli(['scan', 'fixtures/lmdb/clean', 'fixtures/lmdb/clean/data.mdb', 'fixtures/lmdb/clean', '-q']).status).toBe(0);
  });

  it('exits 0 with --allow-empty (or allowEmpty in the config), and never says "No problems found"', () => {
    const empty = mkdtempSync(path.join(tmp, 'empty-'));
    const run = runCli(['scan', empty, '--allow-empty']);
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('No dataset found in the given paths: nothing was checked.');
    expect(run.stdout).not.toContain('No problems found');
    const cwd = mkdtempSync(path.join(tmp, 'cfg-'));
    writeFileSync(path.join(cwd, 'nanscan.config.json'), JSON.stringify({ allowEmpty: true }));
    expect(runCli(['scan', empty, '-q'], cwd).status).toBe(0);
  });

  it('rejects with SCAN_NO_DATASET in the library, unless allowEmpty', async () => {
    const empty = mkdtempSync(path.join(tmp, 'empty-'));
    await expect(scan(empty, { workers: 0 })).rejects.toMatchObject({ code: 'SCAN_NO_DATASET' });
    const report = await scan(empty, { workers: 0, allowEmpty: true });
    expect(report.datasets).toEqual([]);
    expect(report.exitCode).toBe(0);
  });
});

describe('an interrupted scan', () => {
  it('has reports that agree with its exit code in the library (an aborted signal: 130)', async () => {
    const report = await scan('fixtures/lmdb/clean', { cwd: ROOT, workers: 0, signal: AbortSignal.abort() });
    expect(report.complete).toBe(false);
    expect(report.exitCode).toBe(130);
    const junit = new XMLParser({ ignoreAttributes: false }).parse(renderJunit(report, ctx));
    const suites = [junit.testsuites.testsuite].flat();
    const interrupted = suites.find((s: { '@_name': string }) => s['@_name'] === 'nanscan');
    expect(interrupted.testcase.error['@_type']).toBe('interrupted');
    expect(Number(junit.testsuites['@_errors'])).toBeGreaterThanOrEqual(1);
    const text = renderText(report, { color: false });
    expect(text).not.toContain('No problems found');
    expect(text.trimEnd().split('\n').at(-1)).toMatch(/^✖ Scan interrupted: no verdict/);
  });

  it('exits 143 on SIGTERM, and its JSON, JUnit and text reports say so', async () => {
    // Slow to decode: 12 noisy 6000×6000 PNGs keep one worker busy for seconds.
    const dir = path.join(tmp, 'slow');
    mkdirSync(dir);
    const px = Buffer.alloc(6000 * 6000).map((_, i) => (i * 2654435761) >>> 24);
    await sharp(px, { raw: { width: 6000, height: 6000, channels: 1 } }).png({ compressionLevel: 1 }).toFile(path.join(dir, 'img00.png'));
    for (let i = 1; i < 12; i++) copyFileSync(path.join(dir, 'img00.png'), path.join(dir, `img${String(i).padStart(2, '0')}.png`));
    const json = path.join(tmp, 'int.json');
    const junit = path.join(tmp, 'int.xml');
    const child = spawn(process.execPath, [CLI, 'scan', dir, '--workers', '1', '--json', json, '--junit', junit], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // Signal once the scan runs: its worker process exists (the handlers are installed before any worker starts).
    const children = (): string => {
      try {
        return readdirSync(`/proc/${child.pid}/task`).map((t) => readFileSync(`/proc/${child.pid}/task/${t}/children`, 'utf8')).join('').trim();
      } catch {
        return '';
      }
    };
    for (let i = 0; i < 600 && children() === ''; i++) await new Promise((r) => setTimeout(r, 50));
    expect(children()).not.toBe('');
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGTERM');
    expect(await exited).toBe(143);
    expect(stderr).toContain('SIGTERM, stopping');
    expect(stderr).not.toMatch(/^\s+at /m);
    const report = JSON.parse(readFileSync(json, 'utf8')) as Report;
    expect(report.complete).toBe(false);
    expect(report.exitCode).toBe(143);
    expect(readFileSync(junit, 'utf8')).toMatch(/<error type="interrupted" message="The scan was interrupted \(exit 143\)/);
    expect(stdout).not.toContain('No problems found');
    expect(stdout).toContain('Scan interrupted: no verdict');
  }, 120_000);
});

describe('nanscan merge gates by its own options', () => {
  let shards: string[];
  beforeAll(() => {
    // The README's recipe: every shard with --fail-on none (it always uploads its report), then merge.
    shards = [1, 2].map((i) => {
      const file = path.join(tmp, `shard${i}.json`);
      const run = runCli(['scan', 'fixtures/demo', '--shard', `${i}/2`, '--fail-on', 'none', '--json', file, '-q']);
      expect(run.status).toBe(0);
      return file;
    });
  });

  it('fails the job when the merged report holds errors, whatever the shards used', () => {
    const out = path.join(tmp, 'merged.json');
    const run = runCli(['merge', ...shards, '--json', out, '-q']);
    expect(run.status).toBe(1);
    const merged = JSON.parse(readFileSync(out, 'utf8')) as Report;
    expect(merged.options.failOn).toBe('error');
    expect(merged.exitCode).toBe(1);
    expect(runCli(['merge', ...shards, '--fail-on', 'none', '-q']).status).toBe(0);
  });

  it('takes --max-warnings, --config and --baseline, and --write-baseline exits 0', () => {
    const cwd = mkdtempSync(path.join(tmp, 'mcfg-'));
    writeFileSync(path.join(cwd, 'nanscan.config.json'), JSON.stringify({ failOn: 'none', maxWarnings: 0 }));
    const abs = shards.map((f) => path.resolve(ROOT, f));
    // failOn none from the config, but more than 0 warnings.
    expect(runCli(['merge', ...abs, '-q'], cwd).status).toBe(1);
    expect(runCli(['merge', ...abs, '-q', '--max-warnings', '100000'], cwd).status).toBe(0);
    const base = path.join(tmp, 'merge-baseline.json');
    expect(runCli(['merge', ...shards, '--write-baseline', base, '-q']).status).toBe(0);
    expect(runCli(['merge', ...shards, '--baseline', base, '-q']).status).toBe(0);
  });

  it('checks its outputs before merging', () => {
    expectUsageError(runCli(['merge', ...shards, '--junit', path.join(tmp, 'nope', 'r.xml')]), "the folder '");
  });
});

describe('--write-baseline', () => {
  it('exits 0, and a scan against its own fresh baseline exits 0', () => {
    const base = path.join(tmp, 'fresh-baseline.json');
    const first = scanJson(['fixtures/demo', '--write-baseline', base]);
    expect(first.run.status).toBe(0);
    expect(first.report.exitCode).toBe(0);
    expect(first.report.summary.errors).toBeGreaterThan(0);
    const again = scanJson(['fixtures/demo', '--baseline', base]);
    expect(again.run.status).toBe(0);
    expect(again.report.exitCode).toBe(0);
  });
});

describe('an internal failure', () => {
  // Test-side fault injection: a preload that throws in every worker thread and worker process (never in the
  // main thread), as a broken install would.
  let broken: NodeJS.ProcessEnv;
  // Worker threads read sources above 64 MiB (smaller ones may be read in the main thread): an LMDB of 68 MiB.
  let big: string;
  beforeAll(async () => {
    big = path.join(tmp, 'big-lmdb');
    mkdirSync(big);
    const pixels = new Uint8Array(3 * 64 * 64).fill(7);
    await writeLmdb(big, Array.from({ length: 5800 }, (_, i) => [caffeKey(i), encodeDatum({ channels: 3, height: 64, width: 64, data: pixels.map((v, k) => (v + i + k) & 0xff), label: i % 3 })] as const));
    broken = brokenWorkersEnv(tmp);
  });

  // The small LMDB of encoded JPEGs is read in the main thread until its first image: decoding goes to processes.
  it.each([['threads', ''], ['processes', 'fixtures/images/classes'], ['processes', 'fixtures/lmdb/encoded']])(
    'exits 2 with one line when worker %s cannot start, never with findings on the data', (kind, target) => {
      const json = path.join(tmp, `internal-${kind}.json`);
      const run = runCli(['scan', target === '' ? big : target, '--json', json], ROOT, broken);
      expectUsageError(run, `worker ${kind} could not start`);
      expect(run.stderr).toContain('workers are broken here');
      expect(run.stderr).toContain('not a problem in your data');
      // One line.
      expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
      // No report claims anything about the data.
      expect(existsSync(json)).toBe(false);
    });

  it('prints the details with --debug or NANSCAN_DEBUG=1', () => {
    for (const [args, env] of [[['--debug'], {}], [[], { NANSCAN_DEBUG: '1' }]] as const) {
      const run = runCli(['scan', big, ...args], ROOT, { ...broken, ...env });
      expect(run.status).toBe(2);
      expect(run.stderr).toContain('workers are broken here');
      expect(run.stderr).not.toContain('shows the stack trace');
    }
  });
});

describe('user mistakes: one line and exit 2, before any work', () => {
  it('refuses output paths that cannot be written, creating nothing', () => {
    const missing = path.join(tmp, 'no-such-folder', 'r.json');
    for (const flag of ['--json', '--html', '--junit', '--sarif', '--write-baseline']) {
      expectUsageError(runCli(['scan', 'fixtures/demo', flag, missing]),
        `Cannot write ${flag} to '${missing}': the folder '${path.dirname(missing)}' does not exist.`);
    }
    expectUsageError(runCli(['scan', 'fixtures/demo', '--json', tmp]), `Cannot write --json to '${tmp}': it is a folder.`);
    const file = path.join(tmp, 'a-file');
    writeFileSync(file, '');
    expectUsageError(runCli(['scan', 'fixtures/demo', '--sarif', path.join(file, 'r.sarif')]), 'is not a folder');
    expect(existsSync(path.dirname(missing))).toBe(false);
  });

  it('refuses an output folder without write permission', () => {
    const locked = mkdtempSync(path.join(tmp, 'locked-'));
    chmodSync(locked, 0o555);
    chmodSync(tmp, 0o755);
    const target = path.join(locked, 'r.json');
    // As root every permission check passes: run as nobody when we are root.
    const asNobody = process.getuid?.() === 0;
    const run = asNobody
      ? (() => {
        const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups',
          process.execPath, CLI, 'scan', path.join(ROOT, 'fixtures/demo'), '--json', target], { encoding: 'utf8', cwd: tmp });
        return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr } as CliRun;
      })()
      : runCli(['scan', 'fixtures/demo', '--json', target]);
    expectUsageError(run, `Cannot write --json to '${target}': no permission to create files in '${locked}'.`);
    expect(existsSync(target)).toBe(false);
  });

  it('refuses malformed globs, from the config or the library, naming them', async () => {
    const cwd = mkdtempSync(path.join(tmp, 'glob-'));
    writeFileSync(path.join(cwd, 'nanscan.config.json'), JSON.stringify({ exclude: ['**/{a,b'] }));
    expectUsageError(runCli(['scan', path.join(ROOT, 'fixtures/demo')], cwd), "Malformed glob '**/{a,b' in exclude: a '{' is never closed.");
    await expect(scan('fixtures/demo', { cwd: ROOT, include: ['data/[abc'] })).rejects.toMatchObject({
      code: 'SCAN_INVALID_OPTION', message: "Malformed glob 'data/[abc' in include: the '[' at position 6 is never closed.",
    });
    // A set is a set: [fm] matches features_lmdb and mnist_lmdb.
    const { report } = scanJson(['fixtures/demo'], ROOT);
    const cfg = path.join(cwd, 'sets.json');
    writeFileSync(cfg, JSON.stringify({ include: ['**/[f]eatures_*'] }));
    const only = scanJson(['fixtures/demo', '--config', cfg]);
    expect(only.report.datasets.map((d) => path.basename(d.path))).toEqual(['features_lmdb']);
    expect(report.datasets).toHaveLength(2);
  });

  it('refuses an unknown library option, naming it', async () => {
    await expect(scan('fixtures/demo', { cwd: ROOT, batchsize: 32 } as never)).rejects.toMatchObject({
      name: 'ScanError', code: 'SCAN_INVALID_OPTION', message: expect.stringContaining("Unknown option 'batchsize'. Did you mean 'batchSize'?"),
    });
  });

  it('refuses a --num-classes no histogram can hold, without exhausting memory', async () => {
    expectUsageError(runCli(['scan', 'fixtures/demo', '--num-classes', '2000000000']),
      "argument '2000000000' is invalid. Expected an integer from 1 to 65,536 for --num-classes.");
    await expect(scan('fixtures/demo', { cwd: ROOT, numClasses: 2 ** 31 - 1 })).rejects.toMatchObject({ code: 'SCAN_INVALID_OPTION' });
    const cwd = mkdtempSync(path.join(tmp, 'nc-'));
    writeFileSync(path.join(cwd, 'nanscan.config.json'), JSON.stringify({ numClasses: 2000000000 }));
    expectUsageError(runCli(['scan', path.join(ROOT, 'fixtures/demo')], cwd), 'integer between 1 and 65536 for numClasses but received 2000000000');
  });

  it('prints no stack for a missing path, a bad flag or a bad config', () => {
    expectUsageError(runCli(['scan', 'fixtures/nope']), "Path 'fixtures/nope' does not exist.");
    expectUsageError(runCli(['scan', 'fixtures/demo', '--workers', 'many']), '--workers');
    expectUsageError(runCli(['merge', path.join(tmp, 'missing.json')]), 'Cannot read report');
  });
});

describe('messages users noticed', () => {
  it('says "1 class", names a label beyond --num-classes plainly, and "Skipped 1 path that is not a dataset"', () => {
    const dir = mkdtempSync(path.join(tmp, 'msg-'));
    cpSync(path.join(ROOT, 'fixtures/lmdb/clean'), path.join(dir, 'db'), { recursive: true });
    writeFileSync(path.join(dir, 'README'), 'not a dataset\n');
    const run = runCli(['scan', dir, '--num-classes', '1']);
    expect(run.stdout).toMatch(/ 1 class, from --num-classes/);
    expect(run.stdout).toContain('Skipped 1 path that is not a dataset:');
    expect(run.stdout).toMatch(/Datum has label \d+, not below --num-classes 1\./);
  });

  it('locates a list entry as list:line → entry', () => {
    const run = runCli(['scan', 'fixtures/images/list']);
    expect(run.stdout).toContain('fixtures/images/list/train.txt:5 → imgs/missing.jpg: ');
  });

  it('gives no shuffle advice for an image class folder', () => {
    const run = runCli(['scan', 'fixtures/images/classes', '--batch-size', '4']);
    expect(run.stdout).not.toMatch(/shuffle it|sorted by label/i);
    expect(run.stdout).toContain('Storage order: not read in order');
  });
});
