/**
 * SARIF 2.1.0 reporter, for GitHub code scanning (`github/codeql-action/upload-sarif`) and other SARIF viewers:
 * one rule per finding kind, one result per kept finding, located by file URI plus the record in the message.
 */
import { findingFingerprint } from '../baseline.js';
import { DEFAULT_SEVERITY } from '../checks/severity.js';
import { FINDING_KINDS, type DatasetReport, type Finding, type FindingKind, type Report } from '../types.js';
import { FAMILY_OF_KIND, describeFinding, findingArtifact, remainders, type ReportContext } from './context.js';
import { printable } from './xml.js';

/** Where the rules' "more information" link points; the package page until the project has a documentation site. */
export const INFORMATION_URI = 'https://www.npmjs.com/package/nanscan';

export const SARIF_SCHEMA_URI = 'https://json.schemastore.org/sarif-2.1.0.json';

/** What each finding kind means and why it matters: the rules' descriptions. */
export const RULE_TEXT: Readonly<Record<FindingKind, { short: string; full: string }>> = {
  nan: {
    short: 'NaN in data or labels',
    full: 'A record holds NaN (not a number). One NaN input makes the loss NaN and poisons every weight on the first update.',
  },
  posinf: {
    short: '+Infinity in data or labels',
    full: 'A record holds +Infinity. The loss and gradients become Inf or NaN on the first batch that contains it.',
  },
  neginf: {
    short: '-Infinity in data or labels',
    full: 'A record holds -Infinity. The loss and gradients become Inf or NaN on the first batch that contains it.',
  },
  fp16_overflow: {
    short: 'Value overflows float16',
    full: 'A value has magnitude above 65504, the largest finite float16. It becomes Inf as soon as the data, or a ' +
      'product of it, is cast to float16 (mixed-precision training).',
  },
  constant_sample: {
    short: 'Constant (zero-variance) sample',
    full: 'Every value of the sample is the same. Per-sample normalisation divides by a zero standard deviation.',
  },
  shape_mismatch: {
    short: 'Declared shape does not match the data size',
    full: 'channels x height x width differs from the number of values the record holds. Reshaping fails, or data ' +
      'is silently misaligned.',
  },
  bad_record: {
    short: 'Record cannot be decoded',
    full: 'The record is not a valid sample (for example not a Caffe Datum). The data layer throws mid-epoch or ' +
      'feeds garbage.',
  },
  label_out_of_range: {
    short: 'Label out of range',
    full: 'A class label is negative, not below the number of classes, not an integer, or NaN. On a GPU this is an ' +
      'index error, often an opaque device-side assert; elsewhere silent garbage.',
  },
  corrupt_image: {
    short: 'Image cannot be decoded',
    full: 'The image decoder rejects the file or record. Data loaders throw mid-epoch, or skip it silently.',
  },
  truncated_image: {
    short: 'Truncated image',
    full: 'The image data ends early. Decoders throw, or silently return a partly grey image.',
  },
  channel_mismatch: {
    short: 'Mixed channel counts',
    full: 'Records have different channel counts (for example grayscale among RGB). Batching crashes, or the ' +
      'model silently broadcasts.',
  },
  size_mismatch: {
    short: 'Mixed image sizes',
    full: 'Records have different heights or widths. Batching without a resize crashes.',
  },
  missing_file: {
    short: 'Missing file',
    full: 'A file that the dataset names does not exist. The data loader fails when it reaches that entry.',
  },
  corrupt_file: {
    short: 'Corrupt dataset file',
    full: 'A dataset file is damaged (bad page, checksum or header). The records stored there cannot be read.',
  },
  inconsistent_lengths: {
    short: 'Sibling arrays of different lengths',
    full: 'Arrays that must align (for example HDF5 data and label) have different first dimensions, so data and ' +
      'labels are misaligned or the loader fails.',
  },
  label_missing_in_batches: {
    short: 'Label absent from many batches',
    full: 'At the configured batch size, a class is missing from many batches. A loss normalised by per-batch ' +
      'label frequency then computes 0/0.',
  },
  sorted_labels: {
    short: 'Dataset stored sorted by label',
    full: 'Records are stored in long runs of a single label. Read in storage order (as Caffe data layers do), ' +
      'batches hold one class, which breaks BatchNorm statistics and training.',
  },
  io_error: {
    short: 'Part of the dataset could not be read',
    full: 'nanscan could not read part of the dataset (I/O error, or a failed worker). The records there were not ' +
      'checked.',
  },
  record_count_mismatch: {
    short: 'Record count differs from the declared count',
    full: 'The database declares more (or fewer) records than could be read. The difference is unreachable data.',
  },
  oversized_image: {
    short: 'Image too large to decode safely',
    full: 'An image declares more pixels than the decoder limit (--limit-input-pixels). Decoding it would run the ' +
      'data loader out of memory.',
  },
};

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
  if (f.key !== undefined) return { name: f.key, fullyQualifiedName: `${d.path}:${f.key}` };
  if (f.field !== undefined && f.index !== undefined) {
    const name = `${f.field}[${f.index}]`;
    return { name, fullyQualifiedName: `${f.file ?? d.path}:${name}`, kind: 'element' };
  }
  return null;
}

function locatorFields(f: Finding): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const k of ['key', 'index', 'file', 'line', 'field', 'label', 'count', 'page', 'offset'] as const) {
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
