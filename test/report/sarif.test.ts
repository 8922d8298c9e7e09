/**
 * SARIF reporter: validated against the SARIF 2.1.0 JSON schema, plus what GitHub code scanning relies on (rules,
 * levels, relative file URIs under %SRCROOT%, fingerprints). The schema file is the one @microsoft/jest-sarif
 * (MIT) ships as lib/schemas/sarif-2.1.0-rtm.5.json, vendored so that the test needs no network.
 */
import { readFileSync } from 'node:fs';
import AjvDraft04 from 'ajv-draft-04';
import ajvFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SEVERITY } from '../../src/checks/severity.js';
import { findingFingerprint, pathUri, renderSarif } from '../../src/report/sarif.js';
import { FINDING_KINDS } from '../../src/types.js';
import { CTX, NASTY_KEYS, dataset, finding, keptFindings, report, sampleReport } from './sample-report.js';

/** Parsed JSON, walked freely in assertions. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- SARIF documents are walked by path in assertions
type Json = any;

const schema = JSON.parse(readFileSync(new URL('./sarif-schema-2.1.0-rtm.5.json', import.meta.url), 'utf8')) as object;
// The rtm.5 schema has a language-tag pattern that is invalid as a unicode regexp; plain regexps accept it.
// Both packages are CommonJS with a `default` export, which is what NodeNext types see.
const ajv = new AjvDraft04.default({ allErrors: true, strict: false, unicodeRegExp: false });
ajvFormats.default(ajv);
const validate = ajv.compile(schema);

function valid(text: string): Json {
  const log = JSON.parse(text) as Json;
  const ok = validate(log);
  expect(ok, JSON.stringify(validate.errors, null, 2)).toBe(true);
  return log;
}

describe('renderSarif', () => {
  const r = sampleReport();
  const text = renderSarif(r, CTX);
  const log = valid(text);
  const run = log.runs[0];
  const results: Json[] = run.results;
  const kept = keptFindings(r);

  it('validates against the SARIF 2.1.0 schema, also for empty and one-dataset reports', () => {
    expect(log.version).toBe('2.1.0');
    expect(log.$schema).toBe('https://json.schemastore.org/sarif-2.1.0.json');
    valid(renderSarif(report([]), CTX));
    valid(renderSarif(report([dataset('x', [finding('sorted_labels', { label: 2 })])]), { ...CTX, cwd: 'C:\\work\\repo' }));
    // The validator is live: a level SARIF does not know is rejected.
    const bad = JSON.parse(text) as Json;
    bad.runs[0].results[0].level = 'fatal';
    expect(validate(bad)).toBe(false);
  });

  it('describes the tool and one rule per finding kind with its default level', () => {
    const driver = run.tool.driver;
    expect(driver.name).toBe('nanscan');
    expect(driver.version).toBe('0.1.0');
    expect(driver.semanticVersion).toBe('0.1.0');
    expect(driver.informationUri).toMatch(/^https:\/\//);
    expect(driver.rules.map((x: Json) => x.id)).toEqual([...FINDING_KINDS]);
    for (const rule of driver.rules) {
      expect(rule.shortDescription.text.length).toBeGreaterThan(5);
      expect(rule.fullDescription.text.length).toBeGreaterThan(rule.shortDescription.text.length);
      expect(rule.help.text.length).toBeGreaterThan(0);
      expect(rule.defaultConfiguration.level).toBe(DEFAULT_SEVERITY[rule.id as keyof typeof DEFAULT_SEVERITY]);
    }
  });

  it('writes one result per kept finding, with rule, level and the locator in the message', () => {
    expect(results).toHaveLength(kept.length);
    results.forEach((res, i) => {
      const { d, f } = kept[i]!;
      expect(res.ruleId).toBe(f.kind);
      expect(run.tool.driver.rules[res.ruleIndex].id).toBe(f.kind);
      expect(res.level).toBe(f.severity);
      expect(res.message.text.startsWith(`${d.path}: `)).toBe(true);
      expect(res.properties.dataset).toBe(d.path);
    });
    const h5row = results.find((x) => x.ruleId === 'posinf');
    expect(h5row.message.text).toBe('data/features.h5: file data/features.h5, field data, index 17: 1 +Inf in data.');
    expect(h5row.locations[0].logicalLocations).toEqual([
      { name: 'data[17]', fullyQualifiedName: 'data/features.h5:data[17]', kind: 'element' },
    ]);
  });

  it('locates findings by relative, percent-encoded file URIs under %SRCROOT%', () => {
    const loc = (kind: string): Json => results.find((x) => x.ruleId === kind).locations[0].physicalLocation;
    expect(loc('nan').artifactLocation).toEqual({ uri: 'data/train_lmdb', uriBaseId: '%SRCROOT%' });
    // List entries point at their line in the list file; the entry's own file is in the message.
    expect(loc('corrupt_image')).toEqual({
      artifactLocation: { uri: 'data/val%20list%20%231.txt', uriBaseId: '%SRCROOT%' }, region: { startLine: 3 },
    });
    expect(results.find((x) => x.ruleId === 'corrupt_image').message.text).toContain('file images/a b%.jpg, line 3');
    expect(loc('posinf').artifactLocation.uri).toBe('data/features.h5');
    expect(loc('io_error').artifactLocation).toEqual({ uri: 'file:///mnt/shared/broken_lmdb' });
    expect(run.originalUriBaseIds['%SRCROOT%'].uri).toBe('file:///builds/team/data/');
    expect(run.invocations[0].workingDirectory.uri).toBe('file:///builds/team/data/');
  });

  it('names the record key as a logical location, keeping the raw key', () => {
    const byKey = results.filter((x) => x.ruleId === 'nan').map((x) => x.locations[0].logicalLocations[0].name);
    expect(byKey).toEqual(Object.values(NASTY_KEYS));
    const xss = results.find((x) => x.ruleId === 'shape_mismatch');
    expect(xss.message.text).toContain(`key ${NASTY_KEYS.xss}, index 3`);
    // Message text is for people: control characters are shown as escapes, not written raw.
    const nul = results.find((x) => x.properties.key === NASTY_KEYS.nul);
    expect(nul.message.text).toContain('key a\\u0000b, index 0');
  });

  it('gives each result a stable fingerprint that ignores record position when a key is known', () => {
    const prints = results.map((x) => x.partialFingerprints['nanscanFinding/v1']);
    expect(new Set(prints).size).toBe(prints.length);
    const a = finding('nan', { key: 'k1', index: 3 });
    expect(findingFingerprint('db', a)).toBe(findingFingerprint('db', { ...a, index: 9, message: 'other' }));
    expect(findingFingerprint('db', a)).not.toBe(findingFingerprint('db2', a));
    expect(findingFingerprint('db', a)).not.toBe(findingFingerprint('db', { ...a, kind: 'posinf' }));
    const row = finding('nan', { file: 'a.h5', field: 'data', index: 3 });
    expect(findingFingerprint('a.h5', row)).not.toBe(findingFingerprint('a.h5', { ...row, index: 4 }));
    // Results with a line get their line hash from the upload action; the others carry one.
    expect(results.find((x) => x.ruleId === 'corrupt_image').partialFingerprints.primaryLocationLineHash).toBeUndefined();
    expect(results.find((x) => x.ruleId === 'nan').partialFingerprints.primaryLocationLineHash).toMatch(/^[0-9a-f]{16}:1$/);
  });

  it('reports capped kinds and skipped paths as notifications, and the exact counts as run properties', () => {
    const notes: Json[] = run.invocations[0].toolExecutionNotifications;
    expect(notes.map((n) => n.message.text)).toEqual([
      'data/train_lmdb: 25 nan findings, 10 listed (--max-examples).',
      'Skipped README.md: not a dataset',
    ]);
    expect(notes[0].associatedRule).toEqual({ id: 'nan', index: FINDING_KINDS.indexOf('nan') });
    expect(run.properties.summary.findingCounts.nan).toBe(25);
  });

  it('marks an interrupted scan as an unsuccessful execution', () => {
    expect(run.invocations[0].executionSuccessful).toBe(true);
    const partial = valid(renderSarif({ ...r, complete: false }, CTX)).runs[0].invocations[0];
    expect(partial.executionSuccessful).toBe(false);
    expect(partial.toolExecutionNotifications).toContainEqual({
      level: 'error', message: { text: 'The scan was interrupted: the results cover part of the input.' },
    });
  });

  it('is deterministic, with times from the report and the context only', () => {
    expect(renderSarif(sampleReport(), CTX)).toBe(text);
    expect(run.invocations[0].startTimeUtc).toBe('2026-01-02T03:04:00.000Z');
    expect(run.invocations[0].endTimeUtc).toBe('2026-01-02T03:04:05.678Z');
    expect(run.invocations[0].machine).toBe('ci-runner-1');
    expect(run.invocations[0].exitCode).toBe(1);
  });
});

describe('pathUri', () => {
  it('percent-encodes each segment as UTF-8 and keeps relative paths relative', () => {
    expect(pathUri('data/a b#c?d%e.h5')).toEqual({ uri: 'data/a%20b%23c%3Fd%25e.h5', relative: true });
    expect(pathUri('./data/é.lmdb')).toEqual({ uri: 'data/%C3%A9.lmdb', relative: true });
    expect(pathUri('../up/x:y')).toEqual({ uri: '../up/x%3Ay', relative: true });
    expect(pathUri('.')).toEqual({ uri: '.', relative: true });
    expect(pathUri('./')).toEqual({ uri: './', relative: true });
    expect(pathUri('bad\uD800name').uri).toBe('bad%EF%BF%BDname');
  });

  it('turns absolute POSIX and Windows paths into file: URIs', () => {
    expect(pathUri('/data/my set')).toEqual({ uri: 'file:///data/my%20set', relative: false });
    expect(pathUri('C:\\data\\set 1', true)).toEqual({ uri: 'file:///C:/data/set%201', relative: false });
    expect(pathUri('sub\\dir', true)).toEqual({ uri: 'sub/dir', relative: true });
    expect(pathUri('\\\\server\\share\\x', true)).toEqual({ uri: 'file://server/share/x', relative: false });
    // Without Windows semantics a backslash is just a character of the name.
    expect(pathUri('a\\b').uri).toBe('a%5Cb');
  });
});
