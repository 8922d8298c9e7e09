/**
 * The committed fixtures, as data: each names its records and the faults injected into it, so tests assert
 * the scan finds exactly the injected faults (with their keys) and `make-fixtures.ts` regenerates the files.
 */
import sharp from 'sharp';
import { crc32 } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { caffeKey, encodeDatum, mnistDatum, rng, type KV } from './caffe.js';
import type { FindingKind } from '../../src/types.js';

export interface ExpectedFault {
  kind: FindingKind;
  /** Record key, or undefined for file-level findings. */
  key?: string;
  /** For file-based datasets: the file (relative to the fixture folder) and list line. */
  file?: string;
  line?: number;
  severity?: 'error' | 'warning';
}

export interface Damage {
  /** Truncate data.mdb to this fraction of its pages. */
  truncateTo?: number;
  /** Overwrite the n-th leaf page (0-based, in file order) with seeded garbage. */
  garbageLeaf?: number;
  /** LevelDB: flip the byte at this offset of the first table file (inside its first data block). */
  flipTableByte?: number;
  /** Truncate this file (relative to the fixture folder) to half its size. */
  truncateFile?: string;
}

export interface FixtureSpec {
  /** Folder under fixtures/. */
  dir: string;
  description: string;
  format: 'lmdb' | 'leveldb' | 'hdf5' | 'image-folder' | 'image-list' | 'tfrecord';
  /** Database records (LMDB, or LevelDB written the way `leveldbMode` says). */
  records?: () => Promise<KV[]>;
  leveldbMode?: 'caffe' | 'mnist';
  /** Python (run by Debian's python3 with the fixture folder as argv[1]) that writes the files: HDF5 via h5py. */
  python?: string;
  /** Files to write, relative to the fixture folder. */
  files?: () => Promise<[string, Uint8Array][]>;
  /** For list datasets: the list file, relative to the fixture folder (the dataset path). */
  datasetFile?: string;
  faults: ExpectedFault[];
  damage?: Damage;
}

const N_DEMO_MNIST = 600;

/** Injected faults of the float-feature fixtures: key → what is wrong. */
function floatRecords(n: number, seed: number, faults: Record<number, 'nan' | 'posinf' | 'neginf' | 'fp16_overflow' | 'constant_sample' | 'packed'>): KV[] {
  const next = rng(seed);
  const out: KV[] = [];
  for (let i = 0; i < n; i++) {
    const v = new Float32Array(3 * 8 * 8);
    for (let j = 0; j < v.length; j++) v[j] = (next() - 0.5) * 4;
    const f = faults[i];
    if (f === 'nan') { v[5] = NaN; v[40] = NaN; }
    if (f === 'posinf') v[7] = Infinity;
    if (f === 'neginf') v[9] = -Infinity;
    if (f === 'fp16_overflow') v[11] = 70000;
    if (f === 'constant_sample') v.fill(0.5);
    out.push([caffeKey(i), encodeDatum({ channels: 3, height: 8, width: 8, floatData: v, label: i % 5, packed: f === 'packed' })]);
  }
  return out;
}

function floatFaults(faults: Record<number, string>): ExpectedFault[] {
  return Object.entries(faults).filter(([, k]) => k !== 'packed').map(([i, kind]) => ({ kind: kind as FindingKind, key: caffeKey(Number(i)) }));
}

const DEMO_FLOAT_FAULTS = { 17: 'nan', 101: 'posinf', 230: 'neginf', 311: 'fp16_overflow', 402: 'nan' } as const;
const FLOAT_FAULTS = { 3: 'nan', 8: 'posinf', 13: 'neginf', 21: 'fp16_overflow', 34: 'constant_sample', 55: 'packed', 56: 'nan' } as const;

async function jpeg(seed: number, width: number, height: number, channels: 1 | 3 = 3): Promise<Uint8Array> {
  const next = rng(seed);
  const px = new Uint8Array(width * height * channels);
  // Smooth gradients plus noise: compresses like a photo, not like noise.
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < channels; c++) {
    px[(y * width + x) * channels + c] = (x * 3 + y * 2 + c * 40 + next() * 30) & 0xff;
  }
  const img = sharp(px, { raw: { width, height, channels } });
  return new Uint8Array(await (channels === 1 ? img.toColourspace('b-w') : img).jpeg({ quality: 90 }).toBuffer());
}

async function png(seed: number, width: number, height: number, channels: 1 | 3 = 3): Promise<Uint8Array> {
  const next = rng(seed);
  const px = new Uint8Array(width * height * channels).map((_, i) => (i * 7 + next() * 40) & 0xff);
  const img = sharp(px, { raw: { width, height, channels } });
  return new Uint8Array(await (channels === 1 ? img.toColourspace('b-w') : img).png().toBuffer());
}

/** Offset of the first chunk of `type` in a PNG (chunks start at byte 8: length, type, data, CRC). */
function pngChunk(b: Uint8Array, type: string): number {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let at = 8; at + 8 <= b.length; at += 12 + v.getUint32(at)) {
    if (String.fromCharCode(...b.subarray(at + 4, at + 8)) === type) return at;
  }
  throw new Error(`no ${type} chunk`);
}

/** A 67-byte PNG whose header declares width × height (with a valid IHDR CRC): a decompression bomb's header. */
function pngHeader(width: number, height: number): Uint8Array {
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  ihdr.set([8, 0, 0, 0, 0], 8); // 8-bit grayscale
  const chunk = (type: string, data: Uint8Array): Uint8Array => {
    const out = new Uint8Array(12 + data.length);
    const dv = new DataView(out.buffer);
    dv.setUint32(0, data.length);
    out.set(new TextEncoder().encode(type), 4);
    out.set(data, 8);
    dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
    return out;
  };
  const sig = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Uint8Array.from([...sig, ...chunk('IHDR', ihdr), ...chunk('IDAT', Uint8Array.from([0x78, 0x9c, 0x03, 0, 0, 0, 0, 1])), ...chunk('IEND', new Uint8Array(0))]);
}

export const FIXTURES: FixtureSpec[] = [
  {
    dir: 'demo/mnist_lmdb',
    description: `${N_DEMO_MNIST} Fashion-MNIST-sized raw Datums (1×28×28) with two blank images, a short record and a negative label`,
    format: 'lmdb',
    records: async () => {
      const next = rng(1);
      const out: KV[] = [];
      for (let i = 0; i < N_DEMO_MNIST; i++) {
        let v = mnistDatum(i, Math.floor(next() * 10), next);
        if (i === 42 || i === 377) v = encodeDatum({ channels: 1, height: 28, width: 28, data: new Uint8Array(784), label: 3, encoded: false });
        if (i === 128) v = encodeDatum({ channels: 1, height: 28, width: 28, data: new Uint8Array(700).fill(9).map((x, j) => x + (j % 7)), label: 1, encoded: false });
        if (i === 500) v = encodeDatum({ channels: 1, height: 28, width: 28, data: new Uint8Array(784).map((_, j) => j & 0xff), label: -1, encoded: false });
        out.push([caffeKey(i), v]);
      }
      return out;
    },
    faults: [
      { kind: 'constant_sample', key: caffeKey(42) },
      { kind: 'constant_sample', key: caffeKey(377) },
      { kind: 'shape_mismatch', key: caffeKey(128) },
      { kind: 'label_out_of_range', key: caffeKey(500) },
      // The one record labelled -1 is missing from most batches of 64.
      { kind: 'label_missing_in_batches' },
    ],
  },
  {
    dir: 'demo/features_lmdb',
    description: '500 float Datums (3×8×8 float_data) with NaN, ±Inf and a float16 overflow',
    format: 'lmdb',
    records: async () => floatRecords(500, 2, DEMO_FLOAT_FAULTS),
    faults: floatFaults(DEMO_FLOAT_FAULTS),
  },
  {
    dir: 'lmdb/clean',
    description: '300 clean raw Datums',
    format: 'lmdb',
    records: async () => {
      const next = rng(3);
      return Array.from({ length: 300 }, (_, i): KV => [caffeKey(i), mnistDatum(i, i % 10, next)]);
    },
    faults: [],
  },
  {
    dir: 'lmdb/float-faults',
    description: '64 float Datums: NaN, +Inf, -Inf, float16 overflow, a constant sample; one packed float_data',
    format: 'lmdb',
    records: async () => floatRecords(64, 4, FLOAT_FAULTS),
    faults: floatFaults(FLOAT_FAULTS),
  },
  {
    dir: 'lmdb/bad-records',
    description: 'Datums with a truncated varint, a length past the end, a wrong wire type, a shape mismatch; a JSON value among Datums',
    format: 'lmdb',
    records: async () => {
      const next = rng(5);
      const good = (i: number): KV => [caffeKey(i), mnistDatum(i, i % 10, next)];
      const out: KV[] = Array.from({ length: 40 }, (_, i) => good(i));
      out[5] = [caffeKey(5), Uint8Array.from([0x08, 0x81, 0x80, 0x80])];                 // varint runs off the end
      out[9] = [caffeKey(9), Uint8Array.from([0x08, 0x01, 0x22, 0x7f, 1, 2, 3])];       // data length past the end
      out[12] = [caffeKey(12), Uint8Array.from([0x08, 0x01, 0x25, 1, 2, 3, 4])];        // field 4 as fixed32
      out[20] = [caffeKey(20), encodeDatum({ channels: 3, height: 28, width: 28, data: new Uint8Array(784).map((_, j) => j & 0xff), label: 2 })];
      out[30] = [caffeKey(30), new TextEncoder().encode('{"not": "a datum"}')];       // not a Datum, in a Datum database: an error
      return out;
    },
    faults: [
      { kind: 'bad_record', key: caffeKey(5) },
      { kind: 'bad_record', key: caffeKey(9) },
      { kind: 'bad_record', key: caffeKey(12) },
      { kind: 'shape_mismatch', key: caffeKey(20) },
      { kind: 'bad_record', key: caffeKey(30) },
    ],
  },
  {
    dir: 'lmdb/encoded',
    description: 'Encoded JPEG Datums (convert_imageset --encoded): good ones, a truncated one, garbage, a blank image',
    format: 'lmdb',
    records: async () => {
      const out: KV[] = [];
      for (let i = 0; i < 24; i++) {
        let img = await jpeg(100 + i, 32, 32);
        if (i === 6) img = img.subarray(0, Math.floor(img.length / 2));
        if (i === 11) img = Uint8Array.from([0xff, 0xd8, 0xff, ...new Uint8Array(500).map((_, j) => (j * 37) & 0xff)]);
        if (i === 15) img = new Uint8Array(await sharp({ create: { width: 32, height: 32, channels: 3, background: '#808080' } }).jpeg().toBuffer());
        out.push([caffeKey(i, `img${i}.jpg`), encodeDatum({ data: img, label: i % 4, encoded: true })]);
      }
      return out;
    },
    faults: [
      { kind: 'truncated_image', key: caffeKey(6, 'img6.jpg') },
      { kind: 'corrupt_image', key: caffeKey(11, 'img11.jpg') },
      { kind: 'constant_sample', key: caffeKey(15, 'img15.jpg') },
    ],
  },
  {
    dir: 'lmdb/truncated',
    description: '2000 raw Datums, data.mdb cut to 60% of its pages',
    format: 'lmdb',
    records: async () => {
      const next = rng(6);
      return Array.from({ length: 2000 }, (_, i): KV => [caffeKey(i), mnistDatum(i, i % 10, next)]);
    },
    faults: [{ kind: 'corrupt_file' }, { kind: 'record_count_mismatch' }],
    damage: { truncateTo: 0.6 },
  },
  {
    dir: 'lmdb/page-damaged',
    description: '400 raw Datums; the 5th leaf page overwritten with garbage',
    format: 'lmdb',
    records: async () => {
      const next = rng(7);
      return Array.from({ length: 400 }, (_, i): KV => [caffeKey(i), mnistDatum(i, i % 10, next)]);
    },
    faults: [{ kind: 'corrupt_file' }, { kind: 'record_count_mismatch' }],
    damage: { garbageLeaf: 4 },
  },
  {
    dir: 'lmdb/pickled',
    description: 'Pickled samples written the way PyTorch projects write them (py-lmdb, pickle protocols 0–5, __len__/__keys__ metadata): NaN in a float32 array, +Inf in a nested float64 array, a negative label, a truncated JPEG member, a truncated pickle, a torch tensor',
    format: 'lmdb',
    python: `
import io, os, pickle, sys
import lmdb, numpy as np
from PIL import Image
d = sys.argv[1]
rng = np.random.default_rng(21)
def jpeg(seed):
    r = np.random.default_rng(seed)
    b = io.BytesIO()
    Image.fromarray((r.random((16, 16, 3)) * 255).astype('uint8')).save(b, format='JPEG', quality=90)
    return b.getvalue()
env = lmdb.open(d, map_size=1 << 24)
keys = []
with env.begin(write=True) as t:
    for i in range(40):
        img = rng.standard_normal((3, 8, 8)).astype('float32')
        sample = {'img': img, 'label': i % 5}
        if i == 5: img[1, 2, 3] = np.nan
        if i == 9: sample['meta'] = {'depth': np.array([1.0, np.inf, 2.0]), 'name': 'frame9'}
        if i == 12: sample['label'] = -1
        if i == 17: sample = {'img': jpeg(17)[:300], 'label': 2}
        if i == 18: sample = {'img': jpeg(18), 'label': 3}
        if i == 30: sample = (img, 4)
        value = pickle.dumps(sample, protocol=i % 6)
        if i == 21: value = value[:len(value) // 2]
        if i == 25:
            # What torch.save-style pickles hold: a global nanscan does not interpret (never imported or run).
            value = b'\\x80\\x02ctorch._utils\\n_rebuild_tensor_v2\\nq\\x00)R.'
        k = b'%08d' % i
        keys.append(k)
        t.put(k, value)
    t.put(b'__len__', pickle.dumps(len(keys)))
    t.put(b'__keys__', pickle.dumps(keys))
env.close()
`,
    faults: [
      { kind: 'nan', key: '00000005' },
      { kind: 'posinf', key: '00000009' },
      { kind: 'label_out_of_range', key: '00000012' },
      { kind: 'truncated_image', key: '00000017' },
      { kind: 'bad_record', key: '00000021' },
      // The torch tensor at 00000025: not interpreted, so not checked; never damage.
      { kind: 'unchecked' },
    ],
  },
  {
    dir: 'images/classes',
    description: 'Class-per-folder image tree (bird, cat, dog) with every kind of broken image',
    format: 'image-folder',
    files: async () => {
      const files: [string, Uint8Array][] = [];
      const classes = ['bird', 'cat', 'dog'];
      for (const [c, cls] of classes.entries()) {
        for (let i = 0; i < 6; i++) files.push([`${cls}/${cls}${i}.jpg`, await jpeg(200 + 10 * c + i, 32, 32)]);
      }
      const photo = await jpeg(300, 32, 32);
      // Cut at 50% of its bytes: no EOI marker.
      files.push(['cat/cut-half.jpg', photo.subarray(0, Math.floor(photo.length / 2))]);
      // Only the last 2 bytes (the EOI marker) cut.
      files.push(['dog/cut-eoi.jpg', photo.subarray(0, photo.length - 2)]);
      const p = await png(301, 32, 32);
      // PNG cut at 60%: no IEND chunk.
      files.push(['bird/cut.png', p.subarray(0, Math.floor(p.length * 0.6))]);
      // One byte of the IDAT CRC flipped.
      const badCrc = Uint8Array.from(p);
      const idat = pngChunk(badCrc, 'IDAT');
      const idatLen = new DataView(badCrc.buffer).getUint32(idat);
      badCrc[idat + 8 + idatLen] = badCrc[idat + 8 + idatLen]! ^ 0xff;
      files.push(['cat/bad-crc.png', badCrc]);
      files.push(['dog/empty.jpg', new Uint8Array(0)]);
      files.push(['bird/notes.jpg', new TextEncoder().encode('these are my notes, not a JPEG\n')]);
      // 256 bytes of the entropy-coded data zeroed: decodes, with "Corrupt JPEG data" warnings.
      const big = Uint8Array.from(await jpeg(302, 32, 32));
      big.fill(0, Math.floor(big.length / 2), Math.floor(big.length / 2) + 256);
      files.push(['dog/zeroed.jpg', big]);
      files.push(['cat/gray.png', await png(303, 32, 32, 1)]);
      files.push(['dog/larger.jpg', await jpeg(304, 48, 40)]);
      files.push(['bird/blank.png', new Uint8Array(await sharp({ create: { width: 32, height: 32, channels: 3, background: '#336699' } }).png().toBuffer())]);
      files.push(['cat/bomb.png', pngHeader(100_000, 100_000)]);
      files.push(['README.txt', new TextEncoder().encode('Not an image: skipped.\n')]);
      return files;
    },
    faults: [
      { kind: 'truncated_image', file: 'cat/cut-half.jpg' },
      { kind: 'truncated_image', file: 'dog/cut-eoi.jpg' },
      { kind: 'truncated_image', file: 'bird/cut.png' },
      { kind: 'corrupt_image', file: 'cat/bad-crc.png' },
      { kind: 'corrupt_image', file: 'dog/empty.jpg' },
      { kind: 'corrupt_image', file: 'bird/notes.jpg' },
      { kind: 'corrupt_image', file: 'dog/zeroed.jpg', severity: 'warning' },
      { kind: 'channel_mismatch', file: 'cat/gray.png' },
      { kind: 'size_mismatch', file: 'dog/larger.jpg' },
      { kind: 'constant_sample', file: 'bird/blank.png' },
      { kind: 'oversized_image', file: 'cat/bomb.png' },
    ],
  },
  {
    dir: 'images/list',
    description: 'A Caffe ImageData list: a missing file, a malformed line, a label beyond the rest',
    format: 'image-list',
    datasetFile: 'train.txt',
    files: async () => {
      const files: [string, Uint8Array][] = [];
      const lines: string[] = [];
      for (let i = 0; i < 12; i++) {
        files.push([`imgs/${i}.jpg`, await jpeg(400 + i, 24, 24)]);
        lines.push(`imgs/${i}.jpg ${i % 3}`);
      }
      lines.splice(4, 0, 'imgs/missing.jpg 1');   // line 5: names a file that does not exist
      lines.splice(7, 0, 'imgs/3.jpg one');        // line 8: label is not an integer
      files.push(['train.txt', new TextEncoder().encode(lines.join('\n') + '\n')]);
      return files;
    },
    faults: [
      { kind: 'missing_file', file: 'imgs/missing.jpg', line: 5 },
      { kind: 'bad_record', file: 'train.txt', line: 8 },
    ],
  },
  {
    dir: 'leveldb/clean',
    description: '500 raw Datums in a LevelDB written like convert_imageset --backend=leveldb (compacted tables)',
    format: 'leveldb',
    records: async () => {
      const next = rng(8);
      return Array.from({ length: 500 }, (_, i): KV => [caffeKey(i), mnistDatum(i, i % 10, next)]);
    },
    faults: [],
  },
  {
    dir: 'leveldb/mnist-log',
    description: '2500 small raw Datums written like convert_mnist_data (one growing write batch, all in the log)',
    format: 'leveldb',
    leveldbMode: 'mnist',
    records: async () => {
      const next = rng(9);
      const small = (i: number): Uint8Array => encodeDatum({
        channels: 1, height: 8, width: 8, data: new Uint8Array(64).map((_, j) => (j === i % 64 ? 255 : next() * 200) & 0xff),
        label: i % 10, encoded: false,
      });
      const out = Array.from({ length: 2500 }, (_, i): KV => [caffeKey(i), small(i)]);
      const floats = Array.from({ length: 64 }, (_, j) => j / 64);
      floats[9] = NaN;
      out[2100] = [caffeKey(2100), encodeDatum({ channels: 1, height: 8, width: 8, floatData: floats, label: 0 })];
      return out;
    },
    faults: [{ kind: 'nan', key: caffeKey(2100) }],
  },
  {
    dir: 'leveldb/bad-block',
    description: '600 float Datums in a compacted LevelDB; one byte of the first table\'s first data block flipped',
    format: 'leveldb',
    records: async () => floatRecords(600, 10, {}),
    faults: [{ kind: 'corrupt_file' }],
    damage: { flipTableByte: 300 },
  },
  {
    dir: 'hdf5/list',
    description: 'A Caffe HDF5Data list of two gzip-chunked files (NaN in one row, +Inf in another) and a missing file',
    format: 'hdf5',
    datasetFile: 'train.txt',
    python: `
import os, sys
import h5py, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(5)
def write(name, n, nan_row=None, inf_row=None):
    data = rng.normal(size=(n, 3, 8, 8)).astype('float32')
    if nan_row is not None: data[nan_row, 0, 0, 1] = np.nan
    if inf_row is not None: data[inf_row, 1, 2, 3] = np.inf
    label = (np.arange(n) % 4).astype('float32')
    with h5py.File(os.path.join(d, name), 'w', track_order=True) as f:
        f.create_dataset('data', data=data, chunks=(16, 3, 8, 8), compression='gzip', shuffle=True)
        f.create_dataset('label', data=label)
write('train0.h5', 64, nan_row=5)
write('train1.h5', 64, inf_row=17)
with open(os.path.join(d, 'train.txt'), 'w') as f:
    f.write('train0.h5\\ntrain1.h5\\nmissing.h5\\n')
`,
    faults: [
      { kind: 'nan', file: 'train0.h5' },
      { kind: 'posinf', file: 'train1.h5' },
      { kind: 'missing_file', file: 'missing.h5', line: 3 },
    ],
  },
  {
    dir: 'hdf5/plain',
    description: 'A Caffe HDF5Data list of two uncompressed chunked files, read directly: the default format (v1 B-tree) with NaN in one row, the newest (fixed-array index, checksummed headers) with -Inf in another',
    format: 'hdf5',
    datasetFile: 'train.txt',
    python: `
import os, sys
import h5py, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(8)
def write(name, n, libver, nan_row=None, ninf_row=None):
    data = rng.normal(size=(n, 3, 8, 8)).astype('float32')
    if nan_row is not None: data[nan_row, 2, 1, 0] = np.nan
    if ninf_row is not None: data[ninf_row, 0, 7, 7] = -np.inf
    with h5py.File(os.path.join(d, name), 'w', libver=libver) as f:
        f.create_dataset('data', data=data, chunks=(8, 3, 8, 8))
        f.create_dataset('label', data=(np.arange(n) % 5).astype('int32'), chunks=(16,))
write('old.h5', 96, 'earliest', nan_row=41)
write('new.h5', 80, 'latest', ninf_row=66)
with open(os.path.join(d, 'train.txt'), 'w') as f:
    f.write('old.h5\\nnew.h5\\n')
`,
    faults: [
      { kind: 'nan', file: 'old.h5' },
      { kind: 'neginf', file: 'new.h5' },
    ],
  },
  {
    dir: 'hdf5/lengths',
    description: 'One HDF5 file: 10 data rows but 9 labels, and a constant row',
    format: 'hdf5',
    datasetFile: 'extra.h5',
    python: `
import os, sys
import h5py, numpy as np
rng = np.random.default_rng(6)
data = rng.normal(size=(10, 16)).astype('float64')
data[3, :] = 0.25
with h5py.File(os.path.join(sys.argv[1], 'extra.h5'), 'w') as f:
    f.create_dataset('data', data=data)
    f.create_dataset('label', data=np.arange(9, dtype='int32') % 3)
`,
    faults: [{ kind: 'constant_sample', file: 'extra.h5' }, { kind: 'inconsistent_lengths', file: 'extra.h5' }],
  },
  {
    dir: 'hdf5/truncated',
    description: 'An HDF5 file cut to half its size',
    format: 'hdf5',
    datasetFile: 'broken.h5',
    python: `
import os, sys
import h5py, numpy as np
data = np.random.default_rng(7).normal(size=(256, 64)).astype('float32')
with h5py.File(os.path.join(sys.argv[1], 'broken.h5'), 'w') as f:
    f.create_dataset('data', data=data)
`,
    faults: [{ kind: 'corrupt_file', file: 'broken.h5' }],
    damage: { truncateFile: 'broken.h5' },
  },
  {
    dir: 'tfrecord',
    description: 'TFRecord files of tf.train.Examples written by scripts/lib/write_tfrecord.py (its own CRC-32C and Example ' +
      'encoder): NaN and +Inf in a float_list, a truncated JPEG in image/encoded, a data CRC flipped, a length CRC ' +
      'flipped, a file cut mid-record, a record that is not an Example, a gzip stream cut short, clean gzip and zlib ' +
      'files, an empty file; manifest.json says where (shards/ and other/ hold the cases scanned on their own: bad records, text)',
    format: 'tfrecord',
    python: `import runpy, sys
sys.argv = ['write_tfrecord.py', sys.argv[1]]
runpy.run_path(${JSON.stringify(fileURLToPath(new URL('./write_tfrecord.py', import.meta.url)))}, run_name='__main__')`,
    faults: [
      { kind: 'truncated_image', file: 'bad-jpeg.tfrecord' },
      { kind: 'nan', file: 'values.tfrecord' },
      { kind: 'posinf', file: 'values.tfrecord' },
      { kind: 'corrupt_file', file: 'cut.tfrecord.gz' },
      { kind: 'corrupt_file', file: 'length-crc.tfrecord' },
      { kind: 'corrupt_file', file: 'truncated.tfrecord' },
    ],
  },
];

/**
 * The Parquet and Arrow fixtures, written by scripts/make-table-fixtures.ts (DuckDB, apache-arrow), not by
 * make-fixtures.ts: each file is a dataset (paths under fixtures/); `unreadable` when nothing in it can be read.
 */
export const TABLE_FIXTURES: readonly { path: string; unreadable?: boolean }[] = [
  { path: 'arrow/clean.arrow' },
  { path: 'arrow/clean.feather' },
  { path: 'arrow/images.arrow' },
  { path: 'arrow/planted.arrow' },
  { path: 'arrow/truncated.arrow' },
  { path: 'parquet/bad-footer.parquet', unreadable: true },
  { path: 'parquet/clean.parquet' },
  { path: 'parquet/corrupt-page.parquet' },
  { path: 'parquet/images.parquet' },
  { path: 'parquet/planted.parquet' },
  { path: 'parquet/truncated.parquet', unreadable: true },
];

/**
 * Folders inside fixtures/tfrecord that are TFRecord datasets of their own (the folder dataset reads only the
 * files directly in it; discovery finds these when it searches a tree holding them).
 */
export const TFRECORD_SUBFOLDER_DATASETS: readonly string[] = ['tfrecord/other', 'tfrecord/shards'];

/** WebDataset fixtures, written by scripts/make_webdataset_fixtures.py (Python's tarfile and PIL), not by this spec. */
export const WEBDATASET_FIXTURE_DATASETS: readonly string[] = ['webdataset/clean', 'webdataset/damaged', 'webdataset/formats'];
