/**
 * The seams of src/ (docs/DESIGN.md, "Data flow"): a reader knows a storage format and nothing about checks,
 * the pool or the reporters; the tables every layer reads (kinds, coverage reasons, report types, keys) depend
 * on none of them. Checked on the import statements themselves, so a new import across a seam fails here.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runCli } from './helpers/cli.js';

const SRC = path.join(ROOT, 'src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Modules of src/ a file imports (static and dynamic), as paths relative to src/ without extension. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:^import[^'"]*|^export[^'"]*from\s*|import\()\s*'(\.{1,2}\/[^']+)'/gm)].map((m) => m[1]!);
  return specs.map((s) => path.relative(SRC, path.resolve(path.dirname(file), s)).replace(/\.js$/, ''));
}

function offending(from: string, forbidden: RegExp): string[] {
  const root = path.join(SRC, from);
  const list = statSync(root).isDirectory() ? files(root) : [root];
  return list.flatMap((f) => importsOf(f).filter((m) => forbidden.test(m)).map((m) => `${path.relative(SRC, f)} → ${m}`));
}

describe('import seams', () => {
  it('readers import nothing from checks, the pool or the reporters', () => {
    expect(offending('readers', /^(checks|pool|report)\//)).toEqual([]);
  });

  it('readers yield damage without severities: they import no table of kinds (the host assigns severity)', () => {
    expect(offending('readers', /^(kinds|checks\/severity)$/)).toEqual([]);
    const named = files(path.join(SRC, 'readers')).filter((f) => /\bseverity\s*:/.test(readFileSync(f, 'utf8')));
    expect(named.map((f) => path.relative(SRC, f))).toEqual([]);
  });

  it('checks import no reader and nothing of the pool: records and results are types of their own', () => {
    expect(offending('checks', /^(readers|pool|report)\//)).toEqual([]);
  });

  it('reporters render the report alone: they import no check, reader or pool module', () => {
    expect(offending('report', /^(checks|readers|pool)\/|^(shard|scan|finalize)$/)).toEqual([]);
  });

  it('the public report types do not include the worker protocol or a partition result', () => {
    expect(offending('types.ts', /^(pool|checks)\/|^shard$/)).toEqual([]);
  });

  it('the shared tables (kinds, coverage, keys, errors, report types, records, label rules) import no layer', () => {
    for (const f of ['kinds.ts', 'coverage.ts', 'keys.ts', 'errors.ts', 'types.ts', 'records.ts', 'label-rules.ts', 'label-names.ts', 'numbers.ts']) {
      expect(offending(f, /^(checks|readers|pool|report|decode|kernels)\/|^(shard|scan|finalize)$/)).toEqual([]);
    }
  });

  it('the pool and finalize name no format: what a format needs is declared by its reader (isolated, unordered)', () => {
    const formats = /'(lmdb|leveldb|hdf5|image-folder|image-list|npy|webdataset|tfrecord|parquet|arrow)'/;
    for (const f of [...files(path.join(SRC, 'pool')), path.join(SRC, 'finalize.ts')]) {
      expect(readFileSync(f, 'utf8').split('\n').filter((l) => formats.test(l)).map((l) => `${path.relative(SRC, f)}: ${l.trim()}`)).toEqual([]);
    }
  });

  it('the pool names no reader module and no check', () => {
    expect(offending('pool/pool.ts', /^(readers\/(?!types)|checks\/)/)).toEqual([]);
  });

  it('finds imports at all (the test itself works)', () => {
    expect(importsOf(path.join(SRC, 'scan.ts'))).toContain('finalize');
  });
});

describe('the command bundle (scripts/bundle.mjs)', () => {
  const BUNDLE = path.join(ROOT, 'dist', 'bundle');
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    bin: Record<string, string>; dependencies: Record<string, string>;
  };

  it('is the package bin, with its own worker entry beside it', () => {
    expect(pkg.bin['nanscan']).toBe('dist/bundle/nanscan.cjs');
    expect(readFileSync(path.join(BUNDLE, 'nanscan.cjs'), 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    expect(statSync(path.join(BUNDLE, 'worker.cjs')).isFile()).toBe(true);
  });

  it('runs the command through a code cache that V8 takes, and the same without it', () => {
    const status = (mode: string) => runCli(['--version'], ROOT, { NANSCAN_CODE_CACHE: mode });
    const used = status('status');
    expect(used.status).toBe(0);
    expect(used.stderr).toBe('code cache: used\n');
    const off = status('off');
    expect(off.status).toBe(0);
    expect(off.stdout).toBe(used.stdout);
    // The cache holds what a scan compiled (the build scanned the demo with it), not only the top level.
    expect(statSync(path.join(BUNDLE, 'cli.cache')).size).toBeGreaterThan(200_000);
    for (const kind of ['thread', 'process']) expect(statSync(path.join(BUNDLE, `worker-main.${kind}.cache`)).size).toBeGreaterThan(100_000);
  });

  it('bundles are ASCII, as the host reads them (latin1: a character a byte)', () => {
    for (const f of ['cli.cjs', 'worker-main.cjs']) {
      expect(readFileSync(path.join(BUNDLE, f)).findIndex((b) => b > 0x7f)).toBe(-1);
    }
  });

  it('imports only its own files, Node built-ins and runtime dependencies (never a devDependency)', () => {
    const bare = new Set<string>();
    for (const f of readdirSync(BUNDLE).filter((n) => n.endsWith('.js') || n.endsWith('.cjs'))) {
      const text = readFileSync(path.join(BUNDLE, f), 'utf8');
      for (const m of text.matchAll(/(?:\bimport\s*(?:[\w*{},\s]+from\s*)?|\bimport\(\s*|\bimportEsm\d*\(\s*|\brequire\(\s*)["']([^"'./][^"']*)["']/g)) bare.add(m[1]!);
    }
    const outside = [...bare].filter((s) => !s.startsWith('node:') && !Object.hasOwn(pkg.dependencies, s.replace(/^((@[^/]+\/)?[^/]+).*$/, '$1')));
    expect(outside).toEqual([]);
    // What a scan loads natively stays outside the bundle, so that it is resolved from node_modules at run time.
    expect([...bare].filter((s) => !s.startsWith('node:')).sort()).toEqual(expect.arrayContaining(['sharp']));
  });
});
