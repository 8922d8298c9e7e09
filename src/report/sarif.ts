/**
 * SARIF 2.1.0 reporter, for GitHub code scanning (`github/codeql-action/upload-sarif`) and other SARIF viewers:
 * one rule per finding kind, one result per kept finding, located by file URI plus the record in the message.
 */
import { findingFingerprint } from '../baseline.js';
import { DEFAULT_SEVERITY } from '../kinds.js';
import { FINDING_KINDS, KINDS, type DatasetReport, type Finding, type FindingKind, type Report } from '../types.js';
import { FAMILY_OF_KIND, describeFinding, findingArtifact, remainders, type ReportContext } from './context.js';
import { printable } from './xml.js';

/** Where the rules' "more information" link points; the package page until the project has a documentation site. */
export const INFORMATION_URI = 'https://www.npmjs.com/package/nanscan';

export const SARIF_SCHEMA_URI = 'https://json.schemastore.org/sarif-2.1.0.json';

/** What each finding kind means and why it matters: the rules' descriptions, from the table of kinds. */
export const RULE_TEXT: Readonly<Record<FindingKind, { short: string; full: string }>> = Object.fromEntries(
  FINDING_KINDS.map((k) => [k, { short: KINDS[k].title, full: KINDS[k].help }]),
) as Record<FindingKind, { short: string; full: string }>;

export function renderSarif(report: Report, ctx: ReportContext): string {
  const windows = isWindowsPath(ctx.cwd);
  const cwdUri = directoryUri(ctx.cwd, windows);
  const results: unknown[] = [];
  const notifications: unknown[] = [];
  for (const d of report.datasets) {
    for (const f of d.findings) results.push(result(d, f, windows));
    for (const r of remainders(d)) {
      notifications.push({
        level: 'note',
        message: { text: printable(`${d.path}: ${r.total} ${r.kind} findings, ${r.listed} listed (--max-examples).`) },
        associatedRule: { id: r.kind, index: FINDING_KINDS.indexOf(r.kind) },
      });
    }
  }
  if (!report.complete) {
    notifications.push({ level: 'error', message: { text: 'The scan was interrupted: the results cover part of the input.' } });
  }
  for (const s of report.skipped) {
    notifications.push({ level: 'note', message: { text: printable(`Skipped ${s.path}: ${s.reason}`) } });
  }

  const startedAt = new Date(report.startedAt);
  const version = report.tool.version;
  const log = {
    $schema: SARIF_SCHEMA_URI,
    version: '2.1.0',
    runs: [{
      tool: {
        driver: {
          name: report.tool.name,
          fullName: 'nanscan dataset integrity scanner',
          version,
          ...(SEMVER.test(version) ? { semanticVersion: version } : {}),
          informationUri: INFORMATION_URI,
          rules: FINDING_KINDS.map(rule),
        },
      },
      invocations: [{
        // Findings are results, not failures of the tool; an interrupted scan did not do its job.
        executionSuccessful: report.complete,
        exitCode: report.exitCode,
        ...(Number.isNaN(startedAt.getTime()) ? {} : { startTimeUtc: startedAt.toISOString() }),
        endTimeUtc: ctx.now().toISOString(),
        machine: ctx.hostname,
        ...(cwdUri === null ? {} : { workingDirectory: { uri: cwdUri } }),
        ...(notifications.length > 0 ? { toolExecutionNotifications: notifications } : {}),
      }],
      ...(cwdUri === null ? {} : {
        originalUriBaseIds: {
          '%SRCROOT%': { uri: cwdUri, description: { text: 'The folder nanscan ran in; dataset paths are relative to it.' } },
        },
      }),
      results,
      properties: {
        schemaVersion: report.schemaVersion,
        complete: report.complete,
        summary: report.summary,
        failOn: report.options.failOn,
      },
    }],
  };
  return `${JSON.stringify(log, null, 2)}\n`;
}

function rule(kind: FindingKind): unknown {
  const text = RULE_TEXT[kind];
  const level = DEFAULT_SEVERITY[kind];
  return {
    id: kind,
    name: kind,
    shortDescription: { text: text.short },
    fullDescription: { text: text.full },
    help: { text: `${text.full} (check family: ${FAMILY_OF_KIND[kind]})` },
    defaultConfiguration: { level },
    properties: { tags: ['data', FAMILY_OF_KIND[kind]], precision: 'very-high', 'problem.severity': level },
  };
}

function result(d: DatasetReport, f: Finding, windows: boolean): unknown {
  const artifact = findingArtifact(d, f);
  const target = pathUri(artifact.path, windows);
  const logical = logicalLocation(d, f);
  const fingerprint = findingFingerprint(d.path, f);
  return {
    ruleId: f.kind,
    ruleIndex: FINDING_KINDS.indexOf(f.kind),
    level: f.severity,
    message: { text: printable(`${d.path}: ${describeFinding(f)}`) },
    locations: [{
      physicalLocation: {
        artifactLocation: target.relative ? { uri: target.uri, uriBaseId: '%SRCROOT%' } : { uri: target.uri },
        ...(artifact.line !== undefined ? { region: { startLine: artifact.line } } : {}),
      },
      ...(logical !== null ? { logicalLocations: [logical] } : {}),
    }],
    partialFingerprints: {
      'nanscanFinding/v1': fingerprint,
      // The upload action hashes source lines to track alerts, but only for results with a line; dataset files
      // are binary (and large), so results without one carry their own stable identity instead.
      ...(artifact.line === undefined ? { primaryLocationLineHash: `${fingerprint.slice(0, 16)}:1` } : {}),
    },
    properties: {
      dataset: d.path,
      format: d.format,
      ...locatorFields(f),
    },
  };
}

function logicalLocation(d: DatasetReport, f: Finding): unknown {
  if (f.key !== undefined) {
    return { name: f.key, fullyQualifiedName: f.database === undefined ? `${d.path}:${f.key}` : `${d.path}:${f.database}:${f.key}` };
  }
  if (f.field !== undefined && f.index !== undefined) {
    const name = `${f.field}[${f.index}]`;
    return { name, fullyQualifiedName: `${f.file ?? d.path}:${name}`, kind: 'element' };
  }
  return null;
}

function locatorFields(f: Finding): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const k of ['database', 'key', 'index', 'file', 'line', 'field', 'label', 'count', 'page', 'offset'] as const) {
    const v = f[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}


const SEMVER = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

function isWindowsPath(p: string): boolean {
  return /^[A-Za-z]:[\\/]/.test(p) || p.startsWith('\\\\');
}

/**
 * A report path as a URI reference. Relative paths stay relative (resolved against %SRCROOT%, the cwd); absolute
 * ones become file: URIs. Each segment is percent-encoded as UTF-8, so spaces, '#', '?', '%' and ':' survive.
 */
export function pathUri(path: string, windows = false): { uri: string; relative: boolean } {
  let p = wellFormed(windows ? path.replaceAll('\\', '/') : path);
  const drive = /^([A-Za-z]):\//.exec(p);
  if (drive !== null) return { uri: `file:///${drive[1]}:/${encodeSegments(p.slice(3))}`, relative: false };
  if (p.startsWith('//')) return { uri: `file://${encodeSegments(p.slice(2))}`, relative: false };
  if (p.startsWith('/')) return { uri: `file:///${encodeSegments(p.slice(1))}`, relative: false };
  while (p.startsWith('./')) p = p.slice(2);
  const uri = encodeSegments(p);
  return { uri: uri === '' ? './' : uri, relative: true };
}

/** The file: URI of an absolute folder, ending in '/' as a base URI must; null when the folder is not absolute. */
function directoryUri(dir: string, windows: boolean): string | null {
  const { uri, relative } = pathUri(dir, windows);
  if (relative) return null;
  return uri.endsWith('/') ? uri : `${uri}/`;
}

function encodeSegments(p: string): string {
  return p.split('/').map((s) => encodeURIComponent(s)).join('/');
}

/** Lone surrogates (which encodeURIComponent rejects) become U+FFFD, as a UTF-8 decoder would have made them. */
function wellFormed(s: string): string {
  return s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

export { findingFingerprint };
