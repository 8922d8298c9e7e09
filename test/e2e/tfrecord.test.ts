/** TFRecord through the CLI: discovery (names, shard folders, a file named otherwise), exit codes and coverage. */
import { describe, expect, it } from 'vitest';
import { ROOT, scanJson } from '../helpers/cli.js';

describe('nanscan scan on TFRecord', () => {
  it('a folder of shards is one tfrecord dataset; clean shards exit 0', () => {
    const { run, report } = scanJson(['fixtures/tfrecord/shards', '--no-progress'], ROOT);
    expect(run.status).toBe(0);
    expect(report.datasets.map((d) => [d.path, d.format, d.records])).toEqual([['fixtures/tfrecord/shards', 'tfrecord', 11]]);
    expect(report.datasets[0]!.findings.filter((f) => f.severity === 'error')).toEqual([]);
  });

  it('a file named otherwise is recognised by its framing when named explicitly', () => {
    const { run, report } = scanJson(['fixtures/tfrecord/other/train-00000-of-00001', '--no-progress'], ROOT);
    expect(run.status).toBe(0);
    expect(report.datasets.map((d) => [d.format, d.records])).toEqual([['tfrecord', 3]]);
  });

  it('damage anywhere in the folder fails the gate (exit 1) and leaves the dataset incomplete', () => {
    const { run, report } = scanJson(['fixtures/tfrecord', '--no-progress'], ROOT);
    expect(run.status).toBe(1);
    // The folder's own files are one dataset; its subfolders of TFRecord files are datasets of their own.
    expect(report.datasets.map((d) => [d.path, d.format])).toEqual([
      ['fixtures/tfrecord', 'tfrecord'], ['fixtures/tfrecord/other', 'tfrecord'], ['fixtures/tfrecord/shards', 'tfrecord'],
    ]);
    // other/data-crc.tfrecord: a record whose data CRC does not match (it was not scanned when the subfolders were skipped).
    expect(report.datasets[1]!.findingCounts.bad_record).toBeGreaterThan(0);
    const kinds = Object.keys(report.datasets[0]!.findingCounts).sort();
    expect(kinds).toEqual(expect.arrayContaining(['corrupt_file', 'nan', 'posinf', 'truncated_image']));
  });

  it('a record that fails its data CRC is a bad record, counted and judged, not listed as not checked', () => {
    const { run, report } = scanJson(['fixtures/tfrecord/other/data-crc.tfrecord', '--no-progress'], ROOT);
    expect(run.status).toBe(1);
    const d = report.datasets[0]!;
    expect(d.findings.filter((f) => f.kind === 'bad_record').map((f) => f.message)).toEqual([expect.stringContaining('fails its data CRC-32C')]);
    expect(d.coverage.checkedRecords).toBe(d.records);
    expect(d.findingCounts.unchecked).toBeUndefined();
  });

  it('a file of records that are not Examples is not called clean: unchecked, and --fail-on warning fails', () => {
    const { run, report } = scanJson(['fixtures/tfrecord/other/text.tfrecord', '--fail-on', 'warning', '--no-progress'], ROOT);
    expect(run.status).toBe(1);
    expect(report.datasets[0]!.findings.map((f) => [f.kind, f.count])).toEqual([['unchecked', 5]]);
  });
});
