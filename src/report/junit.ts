/**
 * JUnit XML reporter, for GitLab (`artifacts:reports:junit`) and Jenkins: one testsuite per dataset, one testcase
 * per check family, a `<failure>` per failing finding, warnings in `<system-out>`.
 */
import type { DatasetReport, Finding, FindingKind, Report, Severity } from '../types.js';
import {
  CHECK_FAMILIES, FAMILY_OF_KIND, describeFinding, locatorParts, remainders, type CheckFamily, type ReportContext,
} from './context.js';
import { xmlAttr, xmlText } from './xml.js';

type CaseStatus = 'passed' | 'failed' | 'error' | 'skipped';

interface Problem {
  kind: FindingKind;
  message: string;
  body: string;
}

interface Tally {
  tests: number;
  failures: number;
  errors: number;
  skipped: number;
}

/**
 * Testcase status counts follow JUnit: `failures` counts failed testcases (not `<failure>` elements), `errors`
 * counts testcases that nanscan could not carry out (only io_error findings), `skipped` counts families with
 * nothing to check (no labels, no values, no shaped records). Warnings fail too when the report's failOn is
 * 'warning', so that the JUnit view agrees with the exit code.
 */
export function renderJunit(report: Report, ctx: ReportContext): string {
  const timestamp = junitTimestamp(ctx.now());
  const failing = (s: Severity): boolean => s === 'error' || report.options.failOn === 'warning';
  const total: Tally = { tests: 0, failures: 0, errors: 0, skipped: 0 };
  const suites: string[] = [];
  report.datasets.forEach((d, i) => {
    const { xml, tally } = testsuite(d, i, failing, timestamp, ctx.hostname, report.complete);
    suites.push(xml);
    total.tests += tally.tests;
    total.failures += tally.failures;
    total.errors += tally.errors;
    total.skipped += tally.skipped;
  });
  if (!report.complete) {
    // A CI view of an interrupted scan must not be green: one testcase nanscan could not finish, as a JUnit error.
    const message = `The scan was interrupted (exit ${report.exitCode}): the datasets it did not finish were not checked.`;
    suites.push(`  <testsuite name="nanscan" tests="1" failures="0" errors="1" skipped="0" time="${secs(report.durationMs)}" ` +
      `timestamp="${timestamp}" hostname="${xmlAttr(ctx.hostname)}" id="${suites.length}">\n` +
      '    <properties>\n      <property name="scanComplete" value="false"/>\n    </properties>\n' +
      `    <testcase name="scan" classname="nanscan" time="${secs(report.durationMs)}">\n` +
      `      <error type="interrupted" message="${xmlAttr(message)}">${xmlText(message)}</error>\n` +
      '    </testcase>\n  </testsuite>\n');
    total.tests++;
    total.errors++;
  }
  return '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<testsuites name="${xmlAttr(`${report.tool.name} ${report.tool.version}`)}" ${counts(total)} ` +
    `time="${secs(report.durationMs)}">\n${suites.join('')}</testsuites>\n`;
}

function testsuite(
  d: DatasetReport, id: number, failing: (s: Severity) => boolean, timestamp: string, hostname: string,
  scanComplete: boolean,
): { xml: string; tally: Tally } {
  const tally: Tally = { tests: 0, failures: 0, errors: 0, skipped: 0 };
  // Jenkins splits classnames at dots into package and class; dataset paths often hold dots (train.h5).
  const classname = `nanscan.${d.path.replaceAll('.', '_')}`;
  const cases: string[] = [];
  for (const family of CHECK_FAMILIES) {
    const c = testcase(d, family, classname, failing);
    tally.tests++;
    if (c.status === 'failed') tally.failures++;
    else if (c.status === 'error') tally.errors++;
    else if (c.status === 'skipped') tally.skipped++;
    cases.push(c.xml);
  }
  const props: [string, string | number | boolean | undefined][] = [
    ['format', d.format],
    ['records', d.records],
    ['checkedRecords', d.coverage.checkedRecords],
    ['declaredRecords', d.declaredRecords],
    ['bytes', d.bytes],
    ['complete', d.complete],
    ['errorFindings', d.severityCounts.error],
    ['warningFindings', d.severityCounts.warning],
    // Only when interrupted (Ctrl-C, SIGTERM): the run covers part of the input.
    ['scanComplete', scanComplete ? undefined : false],
  ];
  const properties = props.filter((p): p is [string, string | number | boolean] => p[1] !== undefined)
    .map(([name, value]) => `      <property name="${xmlAttr(name)}" value="${xmlAttr(String(value))}"/>\n`).join('');
  const xml = `  <testsuite name="${xmlAttr(d.path)}" ${counts(tally)} time="${secs(d.durationMs)}" ` +
    `timestamp="${timestamp}" hostname="${xmlAttr(hostname)}" id="${id}">\n` +
    `    <properties>\n${properties}    </properties>\n${cases.join('')}  </testsuite>\n`;
  return { xml, tally };
}

function testcase(
  d: DatasetReport, family: CheckFamily, classname: string, failing: (s: Severity) => boolean,
): { status: CaseStatus; xml: string } {
  const problems: Problem[] = [];
  const notes: string[] = [];
  for (const f of d.findings) {
    if (FAMILY_OF_KIND[f.kind] !== family) continue;
    if (failing(f.severity)) problems.push({ kind: f.kind, message: `${f.kind}: ${describeFinding(f)}`, body: detail(d, f) });
    else notes.push(`${f.severity} ${f.kind}: ${describeFinding(f)}`);
  }
  for (const r of remainders(d)) {
    if (FAMILY_OF_KIND[r.kind] !== family) continue;
    const text = `… and ${r.more} more ${r.kind} finding${r.more === 1 ? '' : 's'} ` +
      `(${r.total} in all; the report keeps ${r.listed} as examples, see --max-examples)`;
    if (failing(r.severity)) problems.push({ kind: r.kind, message: `${r.kind}: ${text}`, body: `${r.kind} in ${d.path}\n${text}` });
    else notes.push(`${r.severity} ${r.kind}: ${text}`);
  }

  const open = `    <testcase name="${family}" classname="${xmlAttr(classname)}" time="0"`;
  const out = notes.length > 0 ? `      <system-out>${xmlText(notes.join('\n'))}</system-out>\n` : '';
  if (problems.length > 0) {
    // A testcase nanscan could not carry out (unreadable data) is a JUnit error; one that found damage fails.
    // Mixed, it fails: GitLab then shows only <failure> texts, so io errors are written as failures too.
    const status: CaseStatus = problems.every((p) => p.kind === 'io_error') ? 'error' : 'failed';
    const tag = status === 'error' ? 'error' : 'failure';
    const body = problems.map((p) =>
      `      <${tag} type="${xmlAttr(p.kind)}" message="${xmlAttr(p.message)}">${xmlText(p.body)}</${tag}>\n`).join('');
    return { status, xml: `${open}>\n${body}${out}    </testcase>\n` };
  }
  const skip = notes.length === 0 ? skipReason(d, family) : null;
  if (skip !== null) {
    return { status: 'skipped', xml: `${open}>\n      <skipped message="${xmlAttr(skip)}"/>\n    </testcase>\n` };
  }
  return { status: 'passed', xml: out === '' ? `${open}/>\n` : `${open}>\n${out}    </testcase>\n` };
}

/** Why a family had nothing to check in this dataset, or null when it ran. */
function skipReason(d: DatasetReport, family: CheckFamily): string | null {
  if (family === 'integrity' || family === 'coverage') return null;
  if (d.records === 0) return d.complete ? 'the dataset holds no records' : 'no record could be read';
  switch (family) {
    case 'values': {
      const s = d.stats;
      return s === null || s.values + s.nan + s.posinf + s.neginf === 0 ? 'no numeric values were read' : null;
    }
    case 'images':
      return d.shapes === undefined || Object.keys(d.shapes).length === 0 ? 'no images or shaped records' : null;
    case 'labels':
      return d.labels === null ? 'no class labels' : null;
  }
}

/** The failure body: where, then what. */
function detail(d: DatasetReport, f: Finding): string {
  const lines = [`${f.kind} (${f.severity}) in ${d.path}`];
  for (const part of locatorParts(f)) {
    const at = part.indexOf(' ');
    lines.push(`${part.slice(0, at)}: ${part.slice(at + 1)}`);
  }
  if (f.count !== undefined) lines.push(`count: ${f.count}`);
  lines.push(f.message);
  return lines.join('\n');
}

function counts(t: Tally): string {
  return `tests="${t.tests}" failures="${t.failures}" errors="${t.errors}" skipped="${t.skipped}"`;
}

const secs = (ms: number): string => (Math.max(0, ms) / 1000).toFixed(3);

/** The JUnit schema's timestamp: ISO 8601 without fraction or zone (here always UTC). */
function junitTimestamp(d: Date): string {
  return Number.isNaN(d.getTime()) ? '1970-01-01T00:00:00' : d.toISOString().slice(0, 19);
}
