/** Builders of literal Report objects for reporter tests, with the untrusted strings real datasets hold. */
import { DEFAULT_SEVERITY } from '../../src/checks/severity.js';
import type { ReportContext } from '../../src/report/context.js';
import type {
  DatasetReport, Finding, FindingKind, MissingInBatches, Report, ReportOptions, Severity,
} from '../../src/types.js';

/** A fixed clock, host and folder: reporters must be deterministic given these. */
export const CTX: ReportContext = {
  now: () => new Date('2026-01-02T03:04:05.678Z'),
  hostname: 'ci-runner-1',
  cwd: '/builds/team/data',
};

/** Keys that break naive XML, HTML, JSON or workflow-command output. */
export const NASTY_KEYS = {
  nul: 'a\u0000b',
  escape: 'x\u001b[31mred',
  xss: '<img src=x onerror=alert(1)>',
  quotes: `a&b"c'd<e>`,
  newline: 'line1\n::error::injected\r\nline2',
  loneSurrogate: 'k\uD800z',
  nonChar: 'k\uFFFEz\uFFFF',
  c1: 'k\u0085\u009Fz',
  hex: 'hex:ff00fe',
  emoji: 'k😀z',
} as const;

/** A label's batch numbers from its two fractions, as the label analysis derives them. */
export function miss(shuffled: number, sequential: number, fullBatches: number): MissingInBatches {
  return {
    shuffled, sequential, expectedBatchesWithout: shuffled * fullBatches,
    pEpochHasOne: 1 - (1 - shuffled) ** fullBatches, sequentialBatchesWithout: Math.round(sequential * fullBatches),
  };
}

export function finding(kind: FindingKind, over: Partial<Finding> = {}): Finding {
  return { kind, severity: DEFAULT_SEVERITY[kind], message: `${kind} found.`, ...over };
}

/** A dataset whose exact counts are its findings plus `extra` (findings capped away by --max-examples). */
export function dataset(
  path: string, findings: Finding[], over: Partial<DatasetReport> = {}, extra: Partial<Record<FindingKind, number>> = {},
): DatasetReport {
  const findingCounts: Partial<Record<FindingKind, number>> = {};
  const severityCounts: Record<Severity, number> = { error: 0, warning: 0 };
  for (const f of findings) {
    findingCounts[f.kind] = (findingCounts[f.kind] ?? 0) + 1;
    severityCounts[f.severity]++;
  }
  for (const [kind, n] of Object.entries(extra) as [FindingKind, number][]) {
    findingCounts[kind] = (findingCounts[kind] ?? 0) + n;
    const sev = findings.find((f) => f.kind === kind)?.severity ?? DEFAULT_SEVERITY[kind];
    severityCounts[sev] += n;
  }
  return {
    path, format: 'lmdb', records: 100, bytes: 4096, durationMs: 12, complete: true, labels: null, stats: null,
    coverage: { records: over.records ?? 100, checkedRecords: over.records ?? 100, unchecked: [] },
    findingCounts, severityCounts, findings, ...over,
  };
}

export function report(datasets: DatasetReport[], over: Partial<Report> = {}, options: Partial<ReportOptions> = {}): Report {
  const findingCounts: Partial<Record<FindingKind, number>> = {};
  let errors = 0;
  let warnings = 0;
  for (const d of datasets) {
    for (const [kind, n] of Object.entries(d.findingCounts) as [FindingKind, number][]) {
      findingCounts[kind] = (findingCounts[kind] ?? 0) + n;
    }
    errors += d.severityCounts.error;
    warnings += d.severityCounts.warning;
  }
  const opts: ReportOptions = {
    batchSize: 64, numClasses: null, failOn: 'error', maxExamples: 20, workers: 2, maxWarnings: null, missingThreshold: 0.05,
    imageStrictness: 'warning', severity: {}, ...options,
  };
  const failing = opts.failOn === 'none' ? 0 : opts.failOn === 'warning' ? errors + warnings : errors;
  return {
    tool: { name: 'nanscan', version: '0.1.0' },
    schemaVersion: 1,
    startedAt: '2026-01-02T03:04:00.000Z',
    durationMs: 5678,
    options: opts,
    summary: {
      datasets: datasets.length,
      records: datasets.reduce((n, d) => n + d.records, 0),
      bytes: datasets.reduce((n, d) => n + d.bytes, 0),
      errors, warnings, findingCounts, skipped: over.skipped?.length ?? 0,
    },
    complete: true,
    datasets,
    skipped: [],
    kernel: 'wasm-simd',
    exitCode: failing > 0 ? 1 : 0,
    ...over,
  };
}

/** Five datasets covering every locator style, capped kinds, an unreadable dataset, a clean one, and nasty keys. */
export function sampleReport(options: Partial<ReportOptions> = {}): Report {
  const keyed = Object.values(NASTY_KEYS).map((key, i) =>
    finding('nan', { key, index: i, count: 2, message: `2 NaN in float_data, first at element ${i}.` }));
  const lmdb = dataset('data/train_lmdb', [
    ...keyed,
    finding('fp16_overflow', { key: '00000042', index: 42, count: 1, message: '1 value above 65504 in float_data.' }),
    finding('shape_mismatch', { key: NASTY_KEYS.xss, index: 3, message: 'channels*height*width = 12 but data holds 10 bytes.' }),
    finding('label_missing_in_batches', { label: 3, message: 'Label 3 is absent from 12 of 15 batches (storage order).' }),
  ], {
    records: 1000, bytes: 1 << 20, declaredRecords: 1000,
    labels: {
      histogram: { '0': 400, '1': 350, '2': 249, '5': 1 }, records: 1000, numClasses: 6, numClassesSource: 'inferred',
      batchSize: 64,
      missingInBatches: {
        '0': miss(1e-12, 0.6, 15),
        '1': miss(1e-10, 0.6, 15),
        '2': miss(1e-8, 0.8, 15),
        '3': miss(1, 1, 15),
        '4': miss(1, 1, 15),
        '5': miss(0.936, 14 / 15, 15),
      },
      missingThreshold: 0.05, recommendedBatchSize: null, blockingLabels: [3, 4, 5], imbalanceRatio: 400,
      fullBatches: 15, partialBatch: 40, labelChanges: 3, expectedLabelChanges: 651.5, singleLabelBatchShare: 0.8,
      sortedLabels: true,
    },
    stats: { values: 784000, min: -1, max: 70000, mean: 0.5, std: 0.25, nan: 20, posinf: 0, neginf: 0, fp16Overflow: 1, fp32Overflow: 0 },
    shapes: { '1x28x28': 999, '1x28x27': 1 },
  }, { nan: 15 });
  const list = dataset('data/val list #1.txt', [
    finding('corrupt_image', { file: 'images/a b%.jpg', line: 3, index: 2, message: 'Not a JPEG: bad magic bytes.' }),
    finding('missing_file', { file: 'images/gone,now:here.png', line: 7, index: 6, message: 'No such file.' }),
    finding('truncated_image', { severity: 'warning', file: 'images/é.jpg', line: 9, index: 8, message: 'Premature end of JPEG file.' }),
    finding('size_mismatch', { file: 'images/big.jpg', line: 11, index: 10, message: '640x480 among 224x224 images.' }),
  ], {
    format: 'image-list', records: 12, bytes: 40960,
    labels: { histogram: { '0': 6, '1': 6 }, records: 12, numClasses: 2, numClassesSource: 'option', batchSize: 64 },
    stats: { values: 1000, min: 0, max: 255, mean: 120, std: 60, nan: 0, posinf: 0, neginf: 0, fp16Overflow: 0, fp32Overflow: 0 },
    shapes: { '3x224x224': 11, '3x480x640': 1 },
  });
  const h5 = dataset('data/features.h5', [
    finding('posinf', { file: 'data/features.h5', field: 'data', index: 17, count: 1, message: '1 +Inf in data.' }),
    finding('inconsistent_lengths', { file: 'data/features.h5', message: 'data has 100 rows but label has 99.' }),
    finding('label_out_of_range', { file: 'data/features.h5', field: 'label', index: 4, label: -1, message: 'negative label -1' }),
    finding('corrupt_file', { file: 'data/features.h5', offset: 4096, message: 'Bad B-tree node signature.' }),
  ], {
    format: 'hdf5', records: 100,
    labels: { histogram: { '-1': 1, '0': 50, '1': 49 }, records: 100, numClasses: 2, numClassesSource: 'inferred', batchSize: 64 },
    stats: { values: 6400, min: -3, max: 12, mean: 0, std: 1, nan: 0, posinf: 1, neginf: 0, fp16Overflow: 0, fp32Overflow: 0 },
  });
  const broken = dataset('/mnt/shared/broken_lmdb', [
    finding('io_error', { file: '/mnt/shared/broken_lmdb', message: 'Could not open the dataset: EACCES: permission denied.' }),
  ], { records: 0, bytes: 0, complete: false });
  const clean = dataset('data/clean_lmdb', [], {
    records: 64, labels: { histogram: { '0': 32, '1': 32 }, records: 64, numClasses: 2, numClassesSource: 'inferred', batchSize: 64 },
    stats: { values: 64, min: 0, max: 1, mean: 0.5, std: 0.5, nan: 0, posinf: 0, neginf: 0, fp16Overflow: 0, fp32Overflow: 0 },
    shapes: { '1x1x1': 64 },
  });
  return report([lmdb, list, h5, broken, clean], { skipped: [{ path: 'README.md', reason: 'not a dataset' }] }, options);
}

/** Every finding the report keeps, with its dataset. */
export function keptFindings(r: Report): { d: DatasetReport; f: Finding }[] {
  return r.datasets.flatMap((d) => d.findings.map((f) => ({ d, f })));
}

/** A large report: `datasets` datasets with every kind counted `perKind` times and `kept` examples of each. */
export function bigReport(datasets: number, perKind: number, kept: number, kinds: readonly FindingKind[]): Report {
  const ds: DatasetReport[] = [];
  for (let i = 0; i < datasets; i++) {
    const findings: Finding[] = [];
    const extra: Partial<Record<FindingKind, number>> = {};
    for (const kind of kinds) {
      for (let j = 0; j < kept; j++) {
        findings.push(finding(kind, {
          key: `${String(j).padStart(8, '0')}_${kind}`, index: j, message: `A ${kind.replaceAll('_', ' ')} in record ${j}.`,
        }));
      }
      if (perKind > kept) extra[kind] = perKind - kept;
    }
    const histogram: Record<string, number> = {};
    for (let k = 0; k < 1000; k++) histogram[String(k)] = 50 + (k % 7);
    ds.push(dataset(`data/set_${i}_lmdb`, findings, {
      records: 54000,
      labels: { histogram, records: 54000, numClasses: 1000, numClassesSource: 'inferred', batchSize: 64 },
      stats: { values: 1e6, min: 0, max: 1, mean: 0.5, std: 0.2, nan: 0, posinf: 0, neginf: 0, fp16Overflow: 0, fp32Overflow: 0 },
    }, extra));
  }
  return report(ds);
}
