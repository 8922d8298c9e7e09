/**
 * WebDataset shards through the CLI as a user runs it: a shard folder, one shard, a brace pattern (with a shard
 * missing, and with none existing), exit codes, and a tree that no scan changes. Fixtures: fixtures/webdataset/
 * (scripts/make_webdataset_fixtures.py, Python's tarfile + PIL + numpy).
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runCli, scanJson } from '../helpers/cli.js';
import { hashTree } from '../helpers/tree.js';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'nanscan-wds-e2e-'));
  cpSync(path.join(ROOT, 'fixtures', 'webdataset'), path.join(tmp, 'wds'), { recursive: true });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('nanscan scan on WebDataset shards', () => {
  it('a shard folder, a single shard and a pattern: exit codes, findings named by shard and key, nothing written', () => {
    const before = hashTree(tmp);
    const clean = scanJson(['wds/clean'], tmp);
    expect(clean.run.status).toBe(0);
    expect(clean.report.datasets.map((d) => [d.path, d.format, d.records])).toEqual([['wds/clean', 'webdataset', 16]]);

    const one = scanJson(['wds/formats/f-000003.tar.gz'], tmp);
    expect(one.run.status).toBe(0);
    expect(one.report.datasets.map((d) => [d.format, d.records])).toEqual([['webdataset', 2]]);

    const damaged = runCli(['scan', 'wds/damaged', '--no-progress'], tmp);
    expect(damaged.status).toBe(1);
    expect(damaged.stdout).toContain('wds/damaged/d-000002.tar');
    expect(damaged.stdout).toContain('bad header checksum at byte 7168');

    // The pattern names shards 000000..000002: the third does not exist.
    const pattern = scanJson(['wds/clean/clean-{000000..000002}.tar'], tmp);
    expect(pattern.run.status).toBe(1);
    const d = pattern.report.datasets[0]!;
    expect([d.path, d.records]).toEqual(['wds/clean/clean-{000000..000002}.tar', 16]);
    expect(d.findings.map((f) => [f.kind, f.file])).toEqual([['missing_file', 'wds/clean/clean-000002.tar']]);

    expect(hashTree(tmp)).toBe(before);
  });

  it('a pattern naming no existing shard exits 2, naming the pattern', () => {
    const r = runCli(['scan', 'wds/clean/none-{0..3}.tar'], tmp);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("No file named by the pattern 'wds/clean/none-{0..3}.tar' exists.");
  });
});
