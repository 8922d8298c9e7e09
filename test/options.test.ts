/**
 * Options at the public edge (src/options.ts) and config files (src/config.ts): the defaults, every refusal as a
 * ScanError SCAN_INVALID_OPTION whose one-line message names the option, and how a config file and the
 * command line's flags combine.
 */
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONFIG_FILE, loadConfig, validate } from '../src/config.js';
import { DEFAULT_LIMIT_INPUT_PIXELS } from '../src/decode/image.js';
import { ScanError } from '../src/errors.js';
import { exitCodeFor, MAX_NUM_CLASSES, parseOptions, SCAN_OPTION_KEYS, type ScanOptions } from '../src/options.js';
import { scan } from '../src/scan.js';
import type { Report } from '../src/types.js';
import { ROOT, runCli } from './helpers/cli.js';

/** The ScanError a call throws; fails the test when it throws anything else or nothing. */
function refusal(f: () => unknown): ScanError {
  let caught: unknown = null;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(ScanError);
  const e = caught as ScanError;
  expect(e.code).toBe('SCAN_INVALID_OPTION');
  // One line: the CLI prints it after "error: ".
  expect(e.message).not.toContain('\n');
  return e;
}

let tmp: string;
beforeAll(() => { tmp = mkdtempSync(path.join(os.tmpdir(), 'nanscan-options-')); });
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('parseOptions() defaults', () => {
  it('fills every option from DESIGN.md and the option docs', () => {
    const o = parseOptions();
    expect(o).toMatchObject({
      batchSize: 64, numClasses: null, failOn: 'error', maxWarnings: null, severity: {}, missingThreshold: 0.05,
      imageStrictness: 'warning', timeoutMs: 30_000, include: [], exclude: [], maxExamples: 20,
      workers: Math.max(1, availableParallelism()), limitInputPixels: DEFAULT_LIMIT_INPUT_PIXELS, elementStats: false,
      writeMean: undefined, fullDecode: false, cwd: process.cwd(), rootFolder: undefined, signal: undefined,
      shard: null, onProgress: undefined, allowEmpty: false,
    });
    expect(DEFAULT_LIMIT_INPUT_PIXELS).toBe(50_000_000);
    expect(parseOptions({})).toEqual(o);
  });

  it('keeps valid values, at both ends of each range', () => {
    const o = parseOptions({
      batchSize: 1, numClasses: MAX_NUM_CLASSES, failOn: 'none', maxWarnings: 0, maxExamples: 0, workers: 0,
      missingThreshold: 1, timeoutMs: 1, limitInputPixels: 1, severity: { nan: 'off', sorted_labels: 'error' },
      include: ['**/*.h5'], exclude: ['{a,b}/[!x]?'], shard: { index: 2, count: 2 }, imageStrictness: 'error',
    });
    expect(o).toMatchObject({
      batchSize: 1, numClasses: MAX_NUM_CLASSES, failOn: 'none', maxWarnings: 0, maxExamples: 0, workers: 0,
      missingThreshold: 1, timeoutMs: 1, limitInputPixels: 1, severity: { nan: 'off', sorted_labels: 'error' },
      include: ['**/*.h5'], exclude: ['{a,b}/[!x]?'], shard: { index: 2, count: 2 }, imageStrictness: 'error',
    });
    expect(parseOptions({ batchSize: 1 << 24, workers: 256 })).toMatchObject({ batchSize: 1 << 24, workers: 256 });
    expect(parseOptions({ numClasses: null, maxWarnings: null, shard: null })).toMatchObject({ numClasses: null, maxWarnings: null, shard: null });
  });

  it('keeps the per-run values it is given: folders, a signal, a progress callback', () => {
    const signal = new AbortController().signal;
    const onProgress = (): void => {};
    expect(parseOptions({ cwd: '/data', rootFolder: 'imgs', signal, onProgress, forceJsKernel: true }))
      .toMatchObject({ cwd: '/data', rootFolder: 'imgs', signal, onProgress, forceJsKernel: true });
  });

  it('derives elementStats and fullDecode from writeMean and elementStats', () => {
    expect(parseOptions({ writeMean: 'mean.npy' })).toMatchObject({ elementStats: true, fullDecode: true, writeMean: 'mean.npy' });
    expect(parseOptions({ elementStats: true })).toMatchObject({ elementStats: true, fullDecode: true });
    expect(parseOptions({ fullDecode: true })).toMatchObject({ elementStats: false, fullDecode: true });
  });
});

describe('parseOptions() refusals', () => {
  // [option, bad value, the message exactly]
  const CASES: [keyof ScanOptions, unknown, string][] = [
    ['batchSize', 0, 'Expected integer between 1 and 16777216 for batchSize but received 0 of type number.'],
    ['batchSize', 1.5, 'Expected integer between 1 and 16777216 for batchSize but received 1.5 of type number.'],
    ['batchSize', '64', "Expected integer between 1 and 16777216 for batchSize but received '64' of type string."],
    ['batchSize', Number.NaN, 'Expected integer between 1 and 16777216 for batchSize but received NaN of type number.'],
    ['numClasses', 0, `Expected integer between 1 and ${MAX_NUM_CLASSES} for numClasses but received 0 of type number.`],
    ['numClasses', MAX_NUM_CLASSES + 1, `Expected integer between 1 and ${MAX_NUM_CLASSES} for numClasses but received ${MAX_NUM_CLASSES + 1} of type number.`],
    ['maxWarnings', -1, `Expected integer between 0 and ${Number.MAX_SAFE_INTEGER} for maxWarnings but received -1 of type number.`],
    ['maxExamples', -1, 'Expected integer between 0 and 1000000 for maxExamples but received -1 of type number.'],
    ['workers', 257, 'Expected integer between 0 and 256 for workers but received 257 of type number.'],
    ['timeoutMs', 0, 'Expected integer between 1 and 86400000 for timeoutMs but received 0 of type number.'],
    ['limitInputPixels', 0, `Expected integer between 1 and ${Number.MAX_SAFE_INTEGER} for limitInputPixels but received 0 of type number.`],
    ['missingThreshold', 0, 'Expected a number in (0, 1] for missingThreshold but received 0 of type number.'],
    ['missingThreshold', 1.01, 'Expected a number in (0, 1] for missingThreshold but received 1.01 of type number.'],
    ['failOn', 'warn', "Expected one of 'error', 'warning', 'none' for failOn but received 'warn' of type string."],
    ['failOn', null, "Expected one of 'error', 'warning', 'none' for failOn but received null of type null."],
    ['imageStrictness', 'strict', "Expected one of 'warning', 'error' for imageStrictness but received 'strict' of type string."],
    ['include', 'a/**', "Expected an array of glob strings for include but received 'a/**' of type string."],
    ['exclude', [''], 'Expected an array of glob strings for exclude but received [""] of type object.'],
    ['include', [3], 'Expected an array of glob strings for include but received [3] of type object.'],
    ['failOn', { level: 'error' }, 'Expected one of \'error\', \'warning\', \'none\' for failOn but received {"level":"error"} of type object.'],
    ['include', ['a/{b'], "Malformed glob 'a/{b' in include: a '{' is never closed."],
    ['exclude', ['a]'], "Malformed glob 'a]' in exclude: the ']' at position 2 closes no '['."],
    ['exclude', ['x/[ab'], "Malformed glob 'x/[ab' in exclude: the '[' at position 3 is never closed."],
    ['include', ['}'], "Malformed glob '}' in include: the '}' at position 1 closes no '{'."],
    ['severity', ['nan'], 'Expected an object of kind → severity for severity but received ["nan"] of type object.'],
    ['severity', 'off', "Expected an object of kind → severity for severity but received 'off' of type string."],
    ['severity', { nan: 'warn' }, "Expected one of 'error', 'warning', 'off' for severity.nan but received 'warn' of type string."],
    ['elementStats', 1, 'Expected true or false for elementStats but received 1 of type number.'],
    ['fullDecode', 'yes', "Expected true or false for fullDecode but received 'yes' of type string."],
    ['allowEmpty', 0, 'Expected true or false for allowEmpty but received 0 of type number.'],
    ['writeMean', 'mean.png', "Expected a file name ending in '.binaryproto' or '.npy' for writeMean but received 'mean.png' of type string."],
    ['forceJsKernel', 'no', "Expected true or false for forceJsKernel but received 'no' of type string."],
    ['cwd', 5, 'Expected a folder path (a non-empty string) for cwd but received 5 of type number.'],
    ['cwd', '', "Expected a folder path (a non-empty string) for cwd but received '' of type string."],
    ['rootFolder', 3, 'Expected a folder path (a non-empty string) for rootFolder but received 3 of type number.'],
    ['onProgress', 'x', "Expected a function for onProgress but received 'x' of type string."],
    ['signal', {}, 'Expected an AbortSignal for signal but received {} of type object.'],
    ['shard', { index: 3, count: 2 }, 'Expected an object { index, count } with 1 ≤ index ≤ count for shard but received \'{"index":3,"count":2}\' of type string.'],
    ['shard', { index: 0, count: 1 }, 'Expected an object { index, count } with 1 ≤ index ≤ count for shard but received \'{"index":0,"count":1}\' of type string.'],
  ];

  it.each(CASES)('refuses %s = %j', (name, value, message) => {
    const e = refusal(() => parseOptions({ [name]: value } as ScanOptions));
    expect(e.message).toBe(message);
    expect(e.message).toContain(String(name));
  });

  it('refuses an unknown kind in severity, listing the known ones', () => {
    const e = refusal(() => parseOptions({ severity: { nans: 'off' } as ScanOptions['severity'] }));
    expect(e.message).toMatch(/^Unknown finding kind 'nans' in severity\. Known kinds: .*\bnan\b.*\.$/);
  });

  it('refuses unknown options, with a suggestion when one is close', () => {
    expect(refusal(() => parseOptions({ batch_size: 3 } as ScanOptions)).message)
      .toBe(`Unknown option 'batch_size'. Did you mean 'batchSize'? Known options: ${SCAN_OPTION_KEYS.join(', ')}.`);
    expect(refusal(() => parseOptions({ colour: true } as ScanOptions)).message)
      .toBe(`Unknown option 'colour'. Known options: ${SCAN_OPTION_KEYS.join(', ')}.`);
  });

  it('refuses options that are not an object, and elementStats with shard', () => {
    expect(refusal(() => parseOptions(null as unknown as ScanOptions)).message)
      .toBe('Expected an object for options but received null of type null.');
    expect(refusal(() => parseOptions({ elementStats: true, shard: { index: 1, count: 2 } })).message)
      .toBe('elementStats (--write-mean) cannot be combined with shard (--shard).');
  });

  it('makes scan() reject before any I/O, and never throw synchronously', async () => {
    let thrown = false;
    let p: Promise<Report> | undefined;
    try {
      p = scan('does-not-exist', { batchSize: 0 });
    } catch {
      thrown = true;
    }
    expect(thrown).toBe(false);
    // The bad option, not the missing path, is what is reported: options are checked first.
    await expect(p).rejects.toMatchObject({ code: 'SCAN_INVALID_OPTION', message: expect.stringContaining('batchSize') as unknown });
  });
});

describe('exitCodeFor()', () => {
  it.each([
    [{ errors: 0, warnings: 0 }, 'error', null, 0],
    [{ errors: 1, warnings: 0 }, 'error', null, 1],
    [{ errors: 0, warnings: 5 }, 'error', null, 0],
    [{ errors: 0, warnings: 1 }, 'warning', null, 1],
    [{ errors: 3, warnings: 3 }, 'none', null, 0],
    [{ errors: 0, warnings: 2 }, 'none', 2, 0],
    [{ errors: 0, warnings: 3 }, 'none', 2, 1],
    [{ errors: 0, warnings: 1 }, 'error', 0, 1],
  ] as const)('%j with failOn %s and maxWarnings %s is %i', (s, failOn, maxWarnings, code) => {
    expect(exitCodeFor(s, failOn, maxWarnings)).toBe(code);
  });
});

describe('config files', () => {
  const dir = (name: string, files: Record<string, string>): string => {
    const d = path.join(tmp, name);
    mkdirSync(d, { recursive: true });
    for (const [f, text] of Object.entries(files)) writeFileSync(path.join(d, f), text);
    return d;
  };

  it('finds none in a folder without one', () => {
    expect(loadConfig(dir('none', {}))).toBeNull();
    expect(loadConfig(dir('pkg-without', { 'package.json': '{"name": "x"}' }))).toBeNull();
  });

  it(`reads ${CONFIG_FILE}, before package.json's "nanscan" key, and --config before both`, () => {
    const d = dir('all', {
      [CONFIG_FILE]: '{"batchSize": 8}',
      'package.json': '{"nanscan": {"batchSize": 16}}',
      'other.json': '{"batchSize": 32, "failOn": "warning"}',
    });
    expect(loadConfig(d)).toEqual({ file: path.join(d, CONFIG_FILE), options: { batchSize: 8 } });
    expect(loadConfig(d, 'other.json')).toEqual({ file: path.join(d, 'other.json'), options: { batchSize: 32, failOn: 'warning' } });
    const p = dir('pkg', { 'package.json': '{"nanscan": {"batchSize": 16}}' });
    expect(loadConfig(p)).toEqual({ file: `${path.join(p, 'package.json')} (key "nanscan")`, options: { batchSize: 16 } });
  });

  it('refuses each kind of bad config file, naming the file and the key', () => {
    const d = dir('bad', {
      'syntax.json': '{"batchSize": 8,}',
      'array.json': '[1, 2]',
      'unknown.json': '{"batch-size": 8}',
      'percall.json': '{"cwd": "/"}',
      'value.json': '{"failOn": "sometimes"}',
      'glob.json': '{"exclude": ["a/[b"]}',
      'package.json': '{"nanscan": "all"}',
    });
    const msg = (f: string): string => refusal(() => loadConfig(d, f)).message;
    expect(msg('missing.json')).toBe("Config file 'missing.json' does not exist.");
    expect(msg('syntax.json')).toMatch(new RegExp(`^Cannot read config '${path.join(d, 'syntax.json')}': .*JSON`));
    expect(msg('array.json')).toBe(`Config '${path.join(d, 'array.json')}' must be a JSON object.`);
    expect(msg('unknown.json')).toMatch(new RegExp(`^Unknown key 'batch-size' in config '${path.join(d, 'unknown.json')}'\\. Did you mean 'batchSize'\\? Known keys: `));
    // Per-run options (paths, callbacks) are not config keys.
    expect(msg('percall.json')).toMatch(/^Unknown key 'cwd' in config '.*percall\.json'\. Known keys: /);
    expect(msg('value.json')).toBe(`In config '${path.join(d, 'value.json')}': Expected one of 'error', 'warning', 'none' for failOn but received 'sometimes' of type string.`);
    expect(msg('glob.json')).toBe(`In config '${path.join(d, 'glob.json')}': Malformed glob 'a/[b' in exclude: the '[' at position 3 is never closed.`);
    expect(refusal(() => loadConfig(d)).message).toBe(`Config '${path.join(d, 'package.json')} (key "nanscan")' must be a JSON object.`);
  });

  it('validate() keeps the raw options and names the file it was given', () => {
    expect(validate({ numClasses: 10, include: ['x'] }, 'f.json')).toEqual({ numClasses: 10, include: ['x'] });
    expect(refusal(() => validate({ numClasses: 0 }, 'f.json')).message).toBe(
      `In config 'f.json': Expected integer between 1 and ${MAX_NUM_CLASSES} for numClasses but received 0 of type number.`);
  });
});

describe('config file and command line together (nanscan scan)', () => {
  const data = path.join(ROOT, 'fixtures/lmdb/clean');
  const options = (cwd: string, args: string[]): Report['options'] => {
    const run = runCli(['scan', '--json', '-', '--workers', '0', data, ...args], cwd);
    expect(run.status, run.stderr).toBe(0);
    return (JSON.parse(run.stdout) as Report).options;
  };

  it('takes the config file where no flag is typed, and a typed flag over it, even at its default value', () => {
    const cwd = path.join(tmp, 'merge');
    mkdirSync(cwd, { recursive: true });
    writeFileSync(path.join(cwd, CONFIG_FILE), JSON.stringify({ batchSize: 8, failOn: 'none', maxExamples: 3, missingThreshold: 0.5 }));
    // Commander's defaults (batch size 64, fail-on error, 20 examples) do not override the file.
    expect(options(cwd, [])).toMatchObject({ batchSize: 8, failOn: 'none', maxExamples: 3, missingThreshold: 0.5 });
    // Typed flags do, even when they say what the default says.
    expect(options(cwd, ['--batch-size', '64', '--fail-on', 'error', '--max-examples', '20']))
      .toMatchObject({ batchSize: 64, failOn: 'error', maxExamples: 20, missingThreshold: 0.5 });
  });

  it('exits 2 with a one-line error naming the bad key of a config file', () => {
    const cwd = path.join(tmp, 'merge-bad');
    mkdirSync(cwd, { recursive: true });
    writeFileSync(path.join(cwd, CONFIG_FILE), '{"batchSize": 0}');
    const run = runCli(['scan', data], cwd);
    expect(run.status).toBe(2);
    expect(run.stderr).toBe(`error: In config '${path.join(cwd, CONFIG_FILE)}': Expected integer between 1 and 16777216 for batchSize but received 0 of type number.\n`);
  });
});
