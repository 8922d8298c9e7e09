/**
 * TFRecord reader against independent oracles: the fixtures are written by scripts/lib/write_tfrecord.py (its own
 * CRC-32C and Example encoder), their framing is read back by that script's own reader, every Example the reader
 * yields is compared with protobufjs's decoding of the same bytes, and the findings of a scan are compared with
 * the faults the writer planted (its manifest: record numbers and byte offsets).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync, gzipSync, inflateSync } from 'node:zlib';
import { crc32c } from '@node-rs/crc32';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { listFiles, planPieces, tfrecordReader } from '../../../src/readers/tfrecord/index.js';
import { decodeExample, WireError } from '../../../src/readers/tfrecord/example.js';
import type { Partition, RecordBatch, SampleRecord, Source } from '../../../src/readers/types.js';
import type { Finding } from '../../../src/types.js';
import { ROOT, scanJson } from '../../helpers/cli.js';
import { hashTree } from '../../helpers/tree.js';
import { damageFinding } from '../../../src/checks/severity.js';

const DIR = path.join(ROOT, 'fixtures/tfrecord');
const SYSTEM_PYTHON = '/usr/bin/python3';
const WRITER = path.join(ROOT, 'scripts/lib/write_tfrecord.py');

interface Manifest {
  [file: string]: { records: number; nan?: number[]; posinf?: number[]; label?: number[]; image?: number[]; bad?: number[]; lost?: number[]; resumed?: number; cut?: number[] };
}
const manifest = JSON.parse(readFileSync(path.join(DIR, 'manifest.json'), 'utf8')) as Manifest;

/** tf.train.Example (tensorflow/core/example/example.proto, feature.proto). */
const PROTO = `syntax = "proto3";
message BytesList { repeated bytes value = 1; }
message FloatList { repeated float value = 1 [packed = true]; }
message Int64List { repeated int64 value = 1 [packed = true]; }
message Feature { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3; } }
message Features { map<string, Feature> feature = 1; }
message Example { Features features = 1; }`;
const Example = protobuf.parse(PROTO).root.lookupType('Example');

interface PyFrame { offset: number; length: number; ok: boolean }
function pythonFrames(file: string): { records: PyFrame[]; end: number; size: number } {
  const r = spawnSync(SYSTEM_PYTHON, [WRITER, '--read', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as { records: PyFrame[]; end: number; size: number };
}

async function readAll(file: string): Promise<{ records: SampleRecord[]; damage: Finding[]; batches: RecordBatch[] }> {
  const abs = path.join(DIR, file);
  const source: Source = { format: 'tfrecord', path: abs, absPath: abs };
  const reader = await tfrecordReader.open(source);
  const out = { records: [] as SampleRecord[], damage: [] as Finding[], batches: [] as RecordBatch[] };
  for (const p of reader.plan(1)) {
    for await (const b of reader.read(p)) {
      out.batches.push(b);
      for (const r of b.records) if (r.kind === 'sample') out.records.push(r);
      out.damage.push(...(b.damage ?? []).map(damageFinding));
    }
  }
  reader.close();
  return out;
}

/** The fields protobufjs decodes, in nanscan's terms (names sorted). */
function oracleFields(data: Uint8Array): string[] {
  const ex = Example.toObject(Example.decode(data), { longs: String, bytes: Array, defaults: false }) as {
    features?: { feature?: Record<string, { bytesList?: { value: number[][] }; floatList?: { value: number[] }; int64List?: { value: string[] } }> };
  };
  const out: string[] = [];
  for (const [name, f] of Object.entries(ex.features?.feature ?? {})) {
    if (f.floatList) out.push(`${name} f32 ${f.floatList.value.map((v) => Math.fround(v)).join(',')}`);
    else if (f.int64List) {
      const v = f.int64List.value;
      const label = v.length === 1 && ['label', 'class'].includes(name.slice(name.lastIndexOf('/') + 1));
      out.push(label ? `${name} label ${v[0]}` : `${name} i64 ${v.join(',')}`);
    } else if (f.bytesList) {
      f.bytesList.value.forEach((b, i) => {
        const shown = f.bytesList!.value.length === 1 ? name : `${name}[${i}]`;
        const isJpeg = b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;
        out.push(isJpeg ? `${shown} image ${Buffer.from(b).toString('hex')}` : `${shown} opaque`);
      });
    }
  }
  return out.sort();
}

function ourFields(r: SampleRecord): string[] {
  return r.fields.map((f) => {
    if (f.type === 'array') return `${f.name} ${f.dtype} ${Array.from(f.data as ArrayLike<number | bigint>, String).join(',')}`;
    if (f.type === 'label') return `${f.name} label ${f.value}`;
    if (f.type === 'image') return `${f.name} image ${Buffer.from(f.bytes).toString('hex')}`;
    return `${f.name} opaque`;
  }).sort();
}

function streamOf(file: string): Buffer {
  const b = readFileSync(path.join(DIR, file));
  return file.endsWith('.gz') ? gunzipSync(b) : file.endsWith('.zlib') ? inflateSync(b) : b;
}

describe('TFRecord records against the Python framing reader and protobufjs', () => {
  const CLEAN = ['shards/train.tfrecord-00000-of-00002', 'shards/train.tfrecord-00001-of-00002', 'values.tfrecord',
    'bad-jpeg.tfrecord', 'train.tfrecord.gz', 'train.tfrecord.zlib', 'other/train-00000-of-00001', 'empty.tfrecord'];
  it.each(CLEAN)('%s: every record at the offset the Python reader finds, with the fields protobufjs decodes', async (file) => {
    const py = pythonFrames(path.join(DIR, file));
    expect(py.end).toBe(py.size);
    const { records, damage } = await readAll(file);
    expect(damage).toEqual([]);
    expect(records.map((r) => r.offset)).toEqual(py.records.map((f) => f.offset));
    expect(records.map((r) => r.index)).toEqual(py.records.map((_, i) => i));
    const stream = streamOf(file);
    records.forEach((r, i) => {
      const f = py.records[i]!;
      expect(ourFields(r)).toEqual(oracleFields(stream.subarray(f.offset + 12, f.offset + 12 + f.length)));
    });
  });

  it('reads the shards of a folder as one dataset, in sorted order, indexes counting on across shards', async () => {
    const { records } = await readAll('shards');
    const a = pythonFrames(path.join(DIR, 'shards/train.tfrecord-00000-of-00002')).records.length;
    const b = pythonFrames(path.join(DIR, 'shards/train.tfrecord-00001-of-00002')).records.length;
    expect(records.length).toBe(a + b);
    expect(records.map((r) => path.basename(r.file))).toEqual([
      ...Array<string>(a).fill('train.tfrecord-00000-of-00002'), ...Array<string>(b).fill('train.tfrecord-00001-of-00002')]);
    expect(records.map((r) => r.index)).toEqual(records.map((_, i) => i));
  });

  it('counts a file of records that are not Examples as unchecked, never as damage', async () => {
    const { records, damage } = await readAll('other/text.tfrecord');
    expect(damage).toEqual([]);
    expect(records).toHaveLength(manifest['other/text.tfrecord']!.records);
    expect(records.every((r) => r.fields.every((f) => f.type === 'opaque'))).toBe(true);
  });
});

describe('TFRecord partitions', () => {
  it.each(['other/data-crc.tfrecord', 'length-crc.tfrecord', 'values.tfrecord', 'shards'])(
    '%s split at record boundaries reads what one partition reads, once each, indexes rebased by record counts', async (file) => {
      const abs = path.join(DIR, file);
      const source: Source = { format: 'tfrecord', path: abs, absPath: abs };
      const whole = await readAll(file);
      const reader = await tfrecordReader.open(source, 'read');
      for (const max of [2, 3, 5, 64]) {
        const plan = planPieces(listFiles(source), max, 1000);
        expect(plan.length).toBeLessThanOrEqual(max);
        if (file !== 'length-crc.tfrecord' && file !== 'values.tfrecord') expect(plan.length).toBeGreaterThan(1);
        const got: string[] = [];
        const damage: Finding[] = [];
        let base = 0;
        for (const [index, pieces] of plan.entries()) {
          const spec = structuredClone({ tfrecord: pieces }) as unknown as Partition['spec'];
          let n = 0;
          for await (const b of reader.read({ index, spec })) {
            for (const r of b.records) { if (r.kind === 'sample') { got.push(`${r.file} ${r.offset} ${r.index + base}`); n++; } }
            damage.push(...(b.damage ?? []).map(damageFinding).map((f) => (f.index === undefined ? f : { ...f, index: f.index + base })));
          }
          base += n;
        }
        expect(got).toEqual(whole.records.map((r) => `${r.file} ${r.offset} ${r.index}`));
        // Messages name the record number only where it is known (later pieces of a split file start at an
        // offset whose record number was not counted); the locators are the same.
        const loc = (fs: Finding[]): Finding[] => fs.map((f) => ({ ...f, message: '' }));
        expect(loc(damage)).toEqual(loc(whole.damage));
      }
      reader.close();
    });
});

describe('TFRecord lengths that lie', () => {
  const mask = (c: number): number => ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
  it.each([['plain', false], ['gzip', true]] as const)('%s: a verified length of 900 MB in a tiny file is a truncation, not an allocation', async (_, gz) => {
    const head = Buffer.alloc(12);
    head.writeBigUInt64LE(900_000_000n);
    head.writeUInt32LE(mask(crc32c(head.subarray(0, 8))), 8);
    const body = Buffer.concat([head, Buffer.alloc(100, 1)]);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'nanscan-tfrecord-'));
    try {
      const file = path.join(dir, gz ? 'x.tfrecord.gz' : 'x.tfrecord');
      writeFileSync(file, gz ? gzipSync(body) : body);
      const reader = await tfrecordReader.open({ format: 'tfrecord', path: file, absPath: file });
      const damage: Finding[] = [];
      const rss = process.memoryUsage().rss;
      for (const p of reader.plan(2)) for await (const b of reader.read(p)) damage.push(...(b.damage ?? []).map(damageFinding));
      expect(damage.map((f) => [f.kind, f.offset])).toEqual([['corrupt_file', 0]]);
      expect(damage[0]!.message).toContain('900000000 bytes of data');
      expect(process.memoryUsage().rss - rss).toBeLessThan(200 << 20);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Example decoding', () => {
  it('decodes unpacked floats and int64s as protobufjs does, and rejects wire damage with WireError', () => {
    const w = protobuf.Writer.create();
    // Example{features{feature{key:"v" value{float_list{value: 1.5 (unpacked), value: -2}}}}}
    const floats = protobuf.Writer.create().uint32((1 << 3) | 5).float(1.5).uint32((1 << 3) | 5).float(-2).finish();
    const feature = protobuf.Writer.create().uint32((2 << 3) | 2).bytes(floats).finish();
    const entry = protobuf.Writer.create().uint32((1 << 3) | 2).string('v').uint32((2 << 3) | 2).bytes(feature).finish();
    const features = protobuf.Writer.create().uint32((1 << 3) | 2).bytes(entry).finish();
    const bytes = w.uint32((1 << 3) | 2).bytes(features).finish();
    const ours = decodeExample(bytes);
    expect(ours.fields).toHaveLength(1);
    expect(Array.from(ours.fields[0]!.type === 'array' ? ours.fields[0]!.data as Float32Array : [])).toEqual([1.5, -2]);
    expect(oracleFields(bytes)).toEqual(['v f32 1.5,-2']);
    const ints = Example.encode(Example.fromObject({ features: { feature: { big: { int64List: { value: ['-9007199254740993', '18'] } } } } })).finish();
    expect(ourFields({ kind: 'sample', index: 0, file: '', fields: decodeExample(ints).fields })).toEqual(['big i64 -9007199254740993,18']);
    for (const bad of [[0x0a, 0x05, 0x01], [0x0a], [0x08, 0x01], [0x0a, 0x02, 0x0a, 0x7f], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]]) {
      expect(() => decodeExample(Uint8Array.from(bad)), JSON.stringify(bad)).toThrow(WireError);
    }
  });
});

describe('TFRecord findings against the planted faults', () => {
  const scan = (file: string): Finding[] => {
    const { report } = scanJson([path.join('fixtures/tfrecord', file), '--num-classes', '10', '--no-progress'], ROOT);
    return report.datasets[0]!.findings;
  };
  const pick = (fs: Finding[], kind: string): Pick<Finding, 'file' | 'index' | 'offset' | 'kind'>[] =>
    fs.filter((f) => f.kind === kind).map(({ kind: k, file, index, offset }) => ({ kind: k, file, index, offset }));
  const shown = (file: string): string => path.join('fixtures/tfrecord', file);

  it('NaN and +Inf in a float_list, a label out of range', () => {
    const m = manifest['values.tfrecord']!;
    const fs = scan('values.tfrecord');
    expect(pick(fs, 'nan')).toEqual([{ kind: 'nan', file: shown('values.tfrecord'), index: m.nan![0], offset: m.nan![1] }]);
    expect(pick(fs, 'posinf')).toEqual([{ kind: 'posinf', file: shown('values.tfrecord'), index: m.posinf![0], offset: m.posinf![1] }]);
    const label = fs.filter((f) => f.kind === 'label_out_of_range');
    expect(label.map((f) => [f.index, f.offset, f.label])).toEqual([m.label]);
  });

  it('a truncated JPEG in image/encoded', () => {
    const m = manifest['bad-jpeg.tfrecord']!;
    const fs = scan('bad-jpeg.tfrecord').filter((f) => f.kind === 'truncated_image' || f.kind === 'corrupt_image');
    expect(fs.map((f) => [f.kind, f.index, f.offset, f.field])).toEqual([['truncated_image', m.image![0], m.image![1], 'image/encoded']]);
  });

  it('a data CRC flip: bad_record at that record, the records after it still read', () => {
    const m = manifest['other/data-crc.tfrecord']!;
    const { report } = scanJson(['fixtures/tfrecord/other/data-crc.tfrecord', '--no-progress'], ROOT);
    const fs = report.datasets[0]!.findings;
    expect(pick(fs, 'bad_record')).toEqual([{ kind: 'bad_record', file: shown('other/data-crc.tfrecord'), index: m.bad![0], offset: m.bad![1] }]);
    expect(report.datasets[0]!.records).toBe(m.records);
    expect(pick(fs, 'corrupt_file')).toEqual([]);
  });

  it('a length CRC flip: corrupt_file at that offset, reading resumed at the next record', () => {
    const m = manifest['length-crc.tfrecord']!;
    const { report } = scanJson(['fixtures/tfrecord/length-crc.tfrecord', '--no-progress'], ROOT);
    const fs = report.datasets[0]!.findings;
    expect(pick(fs, 'corrupt_file')).toEqual([{ kind: 'corrupt_file', file: shown('length-crc.tfrecord'), index: undefined, offset: m.lost![1] }]);
    const msg = fs.find((f) => f.kind === 'corrupt_file')!.message;
    expect(msg).toContain(`record ${m.lost![0]} at byte offset ${m.lost![1]}`);
    expect(msg).toContain(`found again at byte offset ${m.resumed}`);
    expect(report.datasets[0]!.records).toBe(m.records);
  });

  it('a truncated file: corrupt_file at the cut record, every record before it read', () => {
    const m = manifest['truncated.tfrecord']!;
    const { report } = scanJson(['fixtures/tfrecord/truncated.tfrecord', '--no-progress'], ROOT);
    expect(pick(report.datasets[0]!.findings, 'corrupt_file')).toEqual([{ kind: 'corrupt_file', file: shown('truncated.tfrecord'), index: undefined, offset: m.cut![1] }]);
    expect(report.datasets[0]!.records).toBe(m.records);
  });

  it('a record that is not an Example in a file of Examples: bad_record', () => {
    const m = manifest['other/not-example.tfrecord']!;
    expect(pick(scan('other/not-example.tfrecord'), 'bad_record')).toEqual([{ kind: 'bad_record', file: shown('other/not-example.tfrecord'), index: m.bad![0], offset: m.bad![1] }]);
  });

  it('gzip: a clean stream reads; a cut one is corrupt_file after the records it holds', () => {
    const { report: good } = scanJson(['fixtures/tfrecord/train.tfrecord.gz', '--no-progress'], ROOT);
    expect(good.datasets[0]!.records).toBe(manifest['train.tfrecord.gz']!.records);
    expect(good.datasets[0]!.findings.filter((f) => f.severity === 'error')).toEqual([]);
    const { report } = scanJson(['fixtures/tfrecord/cut.tfrecord.gz', '--no-progress'], ROOT);
    const full = pythonFrames(path.join(DIR, 'train.tfrecord.gz')).records;
    // The bytes Python's zlib inflates from the cut stream: the records wholly inside them were read.
    const z = spawnSync(SYSTEM_PYTHON, ['-c', 'import sys,zlib; d=zlib.decompressobj(31); print(len(d.decompress(open(sys.argv[1],"rb").read())))',
      path.join(DIR, 'cut.tfrecord.gz')], { encoding: 'utf8' });
    const avail = Number(z.stdout.trim());
    expect(avail).toBeGreaterThan(0);
    expect(report.datasets[0]!.records).toBe(full.filter((f) => f.offset + 16 + f.length <= avail).length);
    expect(pick(report.datasets[0]!.findings, 'corrupt_file')).toEqual([{ kind: 'corrupt_file', file: shown('cut.tfrecord.gz'), index: undefined, offset: undefined }]);
  });

  it('an empty file: 0 records, nothing wrong', () => {
    const { report, run } = scanJson(['fixtures/tfrecord/empty.tfrecord', '--no-progress'], ROOT);
    expect(run.status).toBe(0);
    expect(report.datasets[0]!.records).toBe(0);
    expect(report.datasets[0]!.findings).toEqual([]);
  });

  it('reads without writing anything in or beside the data', () => {
    const before = hashTree(DIR);
    scanJson(['fixtures/tfrecord', '--no-progress'], ROOT);
    expect(hashTree(DIR)).toBe(before);
  });
});
