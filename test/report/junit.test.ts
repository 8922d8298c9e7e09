/**
 * JUnit reporter: parsed back with a real XML parser (fast-xml-parser, and Python's expat when python3 exists,
 * which rejects every character XML 1.0 forbids), counts as GitLab and Jenkins read them, and escaping of keys.
 */
import { spawnSync } from 'node:child_process';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { CHECK_FAMILIES, FAMILY_OF_KIND } from '../../src/report/context.js';
import { renderJunit } from '../../src/report/junit.js';
import { printable } from '../../src/report/xml.js';
import { FINDING_KINDS } from '../../src/types.js';
import { CTX, NASTY_KEYS, dataset, finding, report, sampleReport } from './sample-report.js';

interface XmlNode { [k: string]: unknown }

const ARRAYS = new Set(['testsuite', 'testcase', 'failure', 'error', 'property', 'skipped']);
const parser = new XMLParser({
  ignoreAttributes: false, attributeNamePrefix: '@', parseTagValue: false, parseAttributeValue: false,
  trimValues: false, htmlEntities: true, isArray: (name) => ARRAYS.has(name),
});

/** fast-xml-parser accepts control characters; XML 1.0 does not. Checks raw characters and character references. */
function assertXml10(xml: string): void {
  const bad = /[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u.exec(xml);
  expect(bad, `raw character U+${bad?.[0].codePointAt(0)?.toString(16)} at ${bad?.index}`).toBeNull();
  for (const m of xml.matchAll(/&#(x[0-9a-fA-F]+|[0-9]+);/g)) {
    const ref = m[1]!;
    const cp = ref.startsWith('x') ? parseInt(ref.slice(1), 16) : parseInt(ref, 10);
    const ok = cp === 9 || cp === 10 || cp === 13 || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) ||
      (cp >= 0x10000 && cp <= 0x10ffff);
    expect(ok, `character reference ${m[0]}`).toBe(true);
  }
}

function parse(xml: string): XmlNode {
  expect(XMLValidator.validate(xml)).toBe(true);
  assertXml10(xml);
  return parser.parse(xml) as XmlNode;
}

const suitesOf = (doc: XmlNode): XmlNode[] => ((doc.testsuites as XmlNode).testsuite as XmlNode[] | undefined) ?? [];
const casesOf = (suite: XmlNode): XmlNode[] => suite.testcase as XmlNode[];
const caseNamed = (suite: XmlNode, name: string): XmlNode => casesOf(suite).find((c) => c['@name'] === name)!;
const failuresOf = (c: XmlNode): XmlNode[] => (c.failure as XmlNode[] | undefined) ?? [];

const hasPython = spawnSync('python3', ['-c', 'import xml.etree.ElementTree'], { stdio: 'ignore' }).status === 0;

describe('check families', () => {
  it('place every finding kind in exactly one family, and name no other kind', () => {
    for (const kind of FINDING_KINDS) expect(CHECK_FAMILIES).toContain(FAMILY_OF_KIND[kind]);
    expect(Object.keys(FAMILY_OF_KIND).sort()).toEqual([...FINDING_KINDS].sort());
  });
});

describe('renderJunit', () => {
  const r = sampleReport();
  const xml = renderJunit(r, CTX);
  const doc = parse(xml);

  it('writes one testsuite per dataset and one testcase per check family, in order', () => {
    const suites = suitesOf(doc);
    expect(suites.map((s) => s['@name'])).toEqual(r.datasets.map((d) => d.path));
    for (const s of suites) {
      expect(casesOf(s).map((c) => c['@name'])).toEqual([...CHECK_FAMILIES]);
      expect(s['@tests']).toBe(String(CHECK_FAMILIES.length));
      expect(s['@timestamp']).toBe('2026-01-02T03:04:05');
      expect(s['@hostname']).toBe('ci-runner-1');
    }
  });

  it('writes a failure per error finding plus one per capped kind, and counts failed testcases', () => {
    const train = suitesOf(doc)[0]!;
    const values = caseNamed(train, 'values');
    const fails = failuresOf(values);
    // 10 nan examples, then one "… and 15 more" for the 15 capped away; fp16_overflow is a warning.
    expect(fails).toHaveLength(11);
    expect(fails.every((f) => f['@type'] === 'nan')).toBe(true);
    expect(fails[10]!['@message']).toMatch(/^nan: … and 15 more nan findings \(25 in all/);
    expect(values['system-out']).toContain('warning fp16_overflow: key 00000042, index 42: 1 value above 65504');
    expect(failuresOf(caseNamed(train, 'integrity'))).toHaveLength(1);
    // label_missing_in_batches is a warning: the labels testcase passes, with the warning in system-out.
    expect(failuresOf(caseNamed(train, 'labels'))).toHaveLength(0);
    expect(caseNamed(train, 'labels')['system-out']).toContain('label 3: Label 3 is absent');
    expect(train['@failures']).toBe('2');
    expect(train['@errors']).toBe('0');
    expect(train['@skipped']).toBe('0');

    // Every error finding of every dataset is a <failure> or <error>, none is lost.
    let elements = 0;
    for (const s of suitesOf(doc)) for (const c of casesOf(s)) elements += failuresOf(c).length + ((c.error as XmlNode[] | undefined)?.length ?? 0);
    const errorFindings = r.datasets.reduce((n, d) => n + d.findings.filter((f) => f.severity === 'error').length, 0);
    expect(elements).toBe(errorFindings + 1);

    const top = doc.testsuites as XmlNode;
    const sum = (k: string): number => suitesOf(doc).reduce((n, s) => n + Number(s[k]), 0);
    for (const k of ['@tests', '@failures', '@errors', '@skipped']) expect(Number(top[k])).toBe(sum(k));
    expect(top['@tests']).toBe(String(CHECK_FAMILIES.length * r.datasets.length));
  });

  it('puts the locator in the failure: key, file, line, index, field, offset', () => {
    const [train, list, h5] = suitesOf(doc);
    const nan0 = failuresOf(caseNamed(train!, 'values'))[0]!;
    expect(nan0['@message']).toBe('nan: key a\\u0000b, index 0: 2 NaN in float_data, first at element 0.');
    expect(nan0['#text']).toBe('nan (error) in data/train_lmdb\nkey: a\\u0000b\nindex: 0\ncount: 2\n2 NaN in float_data, first at element 0.');
    const img = failuresOf(caseNamed(list!, 'images'))[0]!;
    expect(img['@message']).toBe('corrupt_image: file images/a b%.jpg, line 3, index 2: Not a JPEG: bad magic bytes.');
    const row = failuresOf(caseNamed(h5!, 'values'))[0]!;
    expect(row['@message']).toBe('posinf: file data/features.h5, field data, index 17: 1 +Inf in data.');
    const corrupt = failuresOf(caseNamed(h5!, 'integrity')).find((f) => f['@type'] === 'corrupt_file')!;
    expect(corrupt['@message']).toContain('offset 4096');
    const label = failuresOf(caseNamed(h5!, 'labels'))[0]!;
    expect(label['@message']).toContain('label -1');
  });

  it('escapes markup and makes invalid XML characters visible instead of dropping them', () => {
    const messages = suitesOf(doc).flatMap((s) => casesOf(s).flatMap(failuresOf)).map((f) => String(f['@message']));
    for (const key of Object.values(NASTY_KEYS)) {
      expect(messages.some((m) => m.includes(`key ${printable(key)},`)), key).toBe(true);
    }
    expect(printable(NASTY_KEYS.nul)).toBe('a\\u0000b');
    expect(printable(NASTY_KEYS.loneSurrogate)).toBe('k\\uD800z');
    expect(printable(NASTY_KEYS.nonChar)).toBe('k\\uFFFEz\\uFFFF');
    expect(printable(NASTY_KEYS.c1)).toBe('k\\u0085\\u009Fz');
    expect(printable(NASTY_KEYS.emoji)).toBe(NASTY_KEYS.emoji);
    // Newlines in attributes survive as references (a parser would turn literal ones into spaces).
    expect(messages.some((m) => m.includes('line1\n::error::injected\r\nline2'))).toBe(true);
    expect(xml).not.toContain('<img');
    expect(xml).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });

  it.skipIf(!hasPython)('parses with a strict XML 1.0 parser (expat) and agrees on the counts', () => {
    const script = 'import sys, xml.etree.ElementTree as ET\n' +
      'root = ET.fromstring(sys.stdin.buffer.read())\n' +
      'for s in root.iter("testsuite"):\n' +
      '  print(s.get("name").encode("unicode_escape").decode(), s.get("failures"), len(list(s.iter("failure"))), len(list(s.iter("error"))))\n';
    const run = spawnSync('python3', ['-c', script], { input: xml, encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.stdout.trim().split('\n')).toEqual([
      'data/train_lmdb 2 12 0',
      'data/val list #1.txt 2 2 0',
      'data/features.h5 3 4 0',
      '/mnt/shared/broken_lmdb 0 0 1',
      'data/clean_lmdb 0 0 0',
    ]);
  });

  it('reports an unreadable dataset as a JUnit error and skips the families that could not run', () => {
    const broken = suitesOf(doc)[3]!;
    expect(broken['@errors']).toBe('1');
    expect(broken['@failures']).toBe('0');
    expect(broken['@skipped']).toBe('3');
    const integrity = caseNamed(broken, 'integrity');
    expect((integrity.error as XmlNode[])[0]!['@type']).toBe('io_error');
    expect((caseNamed(broken, 'labels').skipped as XmlNode[])[0]!['@message']).toBe('no record could be read');
  });

  it('passes a clean dataset and skips nothing that ran', () => {
    const clean = suitesOf(doc)[4]!;
    expect([clean['@failures'], clean['@errors'], clean['@skipped']]).toEqual(['0', '0', '0']);
    const props = ((clean.properties as XmlNode).property as XmlNode[]).map((p) => [p['@name'], p['@value']]);
    expect(props).toContainEqual(['records', '64']);
    expect(props).toContainEqual(['complete', 'true']);
  });

  it('fails on warnings too when the report was made with --fail-on warning', () => {
    const strict = parse(renderJunit(sampleReport({ failOn: 'warning' }), CTX));
    const values = caseNamed(suitesOf(strict)[0]!, 'values');
    expect(failuresOf(values).map((f) => f['@type'])).toContain('fp16_overflow');
    expect(values['system-out']).toBeUndefined();
    expect(caseNamed(suitesOf(strict)[0]!, 'labels')['@name']).toBe('labels');
    expect(failuresOf(caseNamed(suitesOf(strict)[0]!, 'labels'))).toHaveLength(1);
  });

  it('lists every capped-away finding even when the report kept no examples (--max-examples 0)', () => {
    const d = dataset('d', [], {}, { nan: 7, sorted_labels: 1 });
    const out = parse(renderJunit(report([d]), CTX));
    const suite = suitesOf(out)[0]!;
    expect(failuresOf(caseNamed(suite, 'values'))[0]!['@message']).toMatch(/^nan: … and 7 more nan findings/);
    expect(caseNamed(suite, 'labels')['system-out']).toMatch(/^warning sorted_labels: … and 1 more sorted_labels finding \(/);
  });

  it('marks every testsuite of an interrupted scan', () => {
    const props = (suite: XmlNode): unknown[][] => ((suite.properties as XmlNode).property as XmlNode[]).map((p) => [p['@name'], p['@value']]);
    expect(props(suitesOf(doc)[0]!).map((p) => p[0])).not.toContain('scanComplete');
    const partial = parse(renderJunit({ ...r, complete: false }, CTX));
    for (const s of suitesOf(partial)) expect(props(s)).toContainEqual(['scanComplete', 'false']);
    // And the run is not green: one testcase errs, saying the scan was interrupted.
    const stop = suitesOf(partial).find((s) => s['@name'] === 'nanscan')!;
    expect([casesOf(stop)[0]!.error].flat().map((e) => (e as XmlNode)['@type'])).toEqual(['interrupted']);
    expect(Number((partial.testsuites as XmlNode)['@errors'])).toBeGreaterThanOrEqual(1);
  });

  it('is deterministic: the same report and context give the same bytes', () => {
    expect(renderJunit(sampleReport(), CTX)).toBe(xml);
    const other = renderJunit(r, { ...CTX, hostname: 'h<&>"', now: () => new Date(0) });
    expect(other).toContain('hostname="h&lt;&amp;&gt;&quot;"');
    expect(other).toContain('timestamp="1970-01-01T00:00:00"');
  });

  it('writes a valid document for a report without datasets, and escapes odd dataset paths', () => {
    const empty = parse(renderJunit(report([]), CTX));
    expect((empty.testsuites as XmlNode)['@tests']).toBe('0');
    const odd = parse(renderJunit(report([dataset('a"b<c>&\u0007.h5', [finding('nan', { key: 'k' })])]), CTX));
    const s = suitesOf(odd)[0]!;
    expect(s['@name']).toBe('a"b<c>&\\u0007.h5');
    expect(casesOf(s)[0]!['@classname']).toBe('nanscan.a"b<c>&\\u0007_h5');
  });
});
