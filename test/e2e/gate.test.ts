/** The CI gate: baselines, config files, severity overrides, --max-warnings, include/exclude. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Report } from '../../src/types.js';
import { ROOT, runCli, scanJson } from '../helpers/cli.js';

let tmp: string;
beforeAll(() => { tmp = mkdtempSync(path.join(os.tmpdir(), 'nanscan-gate-')); });
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const total = (r: Report): number => r.summary.errors + r.summary.warnings;

describe('baselines', () => {
  it('suppress exactly the recorded findings and fail only on new ones', () => {
    const base = path.join(tmp, 'baseline.json');
    // Record the features dataset's findings (more than --max-examples of some kinds would be capped).
    const first = scanJson(['fixtures/demo/features_lmdb', '--write-baseline', base, '--max-examples', '1']);
    // Writing the baseline accepts today's findings: exit 0, and the report says so.
    expect(first.run.status).toBe(0);
    expect(first.report.exitCode).toBe(0);
    expect(total(first.report)).toBeGreaterThan(0);
    const recorded = JSON.parse(readFileSync(base, 'utf8')) as { findings: Record<string, { count: number }> };
    const recordedCount = Object.values(recorded.findings).reduce((n, e) => n + e.count, 0);
    expect(recordedCount).toBe(total(first.report));
    // The capped report is still capped.
    expect(first.report.datasets[0]!.findings.filter((f) => f.kind === 'nan')).toHaveLength(1);

    // Same data: everything is known, the gate passes.
    const again = scanJson(['fixtures/demo/features_lmdb', '--baseline', base]);
    expect(again.run.status).toBe(0);
    expect(again.report.baseline!.suppressed).toBe(recordedCount);
    expect(total(again.report)).toBe(0);
    expect(again.report.datasets[0]!.findings).toEqual([]);

    // New data beside it: only the new dataset's findings are reported.
    const both = scanJson(['fixtures/demo', '--baseline', base]);
    const alone = scanJson(['fixtures/demo/mnist_lmdb']);
    expect(both.run.status).toBe(1);
    expect(both.report.baseline!.suppressed).toBe(recordedCount);
    expect(both.report.summary.findingCounts).toEqual(alone.report.summary.findingCounts);
    expect(both.report.datasets.find((d) => d.path.endsWith('features_lmdb'))!.findings).toEqual([]);
  });

  it('rejects a file that is not a baseline', () => {
    const bad = path.join(tmp, 'not-a-baseline.json');
    writeFileSync(bad, '{"hello": 1}');
    const run = runCli(['scan', 'fixtures/demo', '--baseline', bad]);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('is not a nanscan baseline');
  });
});

describe('config files and severity', () => {
  const fixtures = path.join(ROOT, 'fixtures');

  it('applies severity overrides and thresholds from nanscan.config.json', () => {
    const cwd = mkdtempSync(path.join(tmp, 'cfg-'));
    writeFileSync(path.join(cwd, 'nanscan.config.json'), JSON.stringify({
      severity: { constant_sample: 'off', fp16_overflow: 'error', label_missing_in_batches: 'off' },
      failOn: 'warning',
    }));
    const { run, report } = scanJson([path.join(fixtures, 'demo')], cwd);
    expect(report.summary.findingCounts.constant_sample).toBeUndefined();
    expect(report.summary.findingCounts.label_missing_in_batches).toBeUndefined();
    const fp16 = report.datasets.flatMap((d) => d.findings).find((f) => f.kind === 'fp16_overflow')!;
    expect(fp16.severity).toBe('error');
    expect(report.options.failOn).toBe('warning');
    expect(run.status).toBe(1);
    // Flags typed on the command line win over the file.
    expect(runCli(['scan', path.join(fixtures, 'demo'), '--fail-on', 'none', '-q'], cwd).status).toBe(0);
  });

  it('reads the "nanscan" key of package.json, and --config names a file explicitly', () => {
    const cwd = mkdtempSync(path.join(tmp, 'pkg-'));
    writeFileSync(path.join(cwd, 'package.json'), JSON.stringify({ name: 'x', nanscan: { exclude: ['**/features_lmdb'] } }));
    const { report } = scanJson([path.join(fixtures, 'demo')], cwd);
    expect(report.datasets.map((d) => path.basename(d.path))).toEqual(['mnist_lmdb']);
    const cfg = path.join(tmp, 'only-features.json');
    writeFileSync(cfg, JSON.stringify({ include: ['**/features_*'] }));
    const other = scanJson([path.join(fixtures, 'demo'), '--config', cfg], cwd);
    expect(other.report.datasets.map((d) => path.basename(d.path))).toEqual(['features_lmdb']);
  });

  it('names a bad key and what was expected', () => {
    const cwd = mkdtempSync(path.join(tmp, 'bad-'));
    writeFileSync(path.join(cwd, 'nanscan.config.json'), JSON.stringify({ batchsize: 32 }));
    const run = runCli(['scan', path.join(fixtures, 'demo')], cwd);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain("Unknown key 'batchsize'");
    expect(run.stderr).toContain("Did you mean 'batchSize'?");
    writeFileSync(path.join(cwd, 'nanscan.config.json'), JSON.stringify({ severity: { nan: 'fatal' } }));
    const run2 = runCli(['scan', path.join(fixtures, 'demo')], cwd);
    expect(run2.status).toBe(2);
    expect(run2.stderr).toContain("for severity.nan but received 'fatal'");
  });

  it('fails on too many warnings with --max-warnings', () => {
    const cwd = mkdtempSync(path.join(tmp, 'warn-'));
    // Only warnings left: the errors of the demo dataset are turned into warnings.
    writeFileSync(path.join(cwd, 'nanscan.config.json'), JSON.stringify({
      severity: { label_out_of_range: 'warning', shape_mismatch: 'warning' },
    }));
    const target = path.join(fixtures, 'demo', 'mnist_lmdb');
    const { report } = scanJson([target], cwd);
    expect(report.summary.errors).toBe(0);
    expect(report.summary.warnings).toBeGreaterThan(1);
    expect(runCli(['scan', target, '-q'], cwd).status).toBe(0);
    expect(runCli(['scan', target, '-q', '--max-warnings', String(report.summary.warnings)], cwd).status).toBe(0);
    expect(runCli(['scan', target, '-q', '--max-warnings', String(report.summary.warnings - 1)], cwd).status).toBe(1);
  });
});
