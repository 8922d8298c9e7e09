/**
 * Image folders and lists as their loaders see them: a torchvision-style class tree with the usual accidents
 * (a notebook checkpoint folder, an empty class, a stray image, a README, a dangling link, a BMP, a latin-1
 * file name), every format PIL writes, formats nothing here decodes, and a Caffe list with the lines Caffe
 * misreads. Fixtures are written by PIL (Debian's python3); the class numbering oracle is torchvision's
 * documented `find_classes` rule, computed in Python: sorted(e.name for e in os.scandir(root) if e.is_dir()).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM_PYTHON } from '../../scripts/lib/caffe.js';
import type { DatasetReport, Finding } from '../../src/types.js';
import { scanJson } from '../helpers/cli.js';

/**
 * test/helpers/tree.ts's hash, for trees with names that are not UTF-8 (read as bytes) and dangling links
 * (hashed as links: lstat and the target they name).
 */
function hashTree(root: string): string {
  const h = createHash('sha256');
  const walk = (dir: Buffer): void => {
    for (const name of readdirSync(dir, { encoding: 'buffer' }).sort(Buffer.compare)) {
      const p = Buffer.concat([dir, Buffer.from('/'), name]);
      const st = lstatSync(p);
      h.update(p);
      h.update(`\0${st.mode}\0${st.size}\0${st.mtimeMs}\0`);
      if (st.isDirectory()) walk(p);
      else if (st.isSymbolicLink()) h.update(readlinkSync(p, { encoding: 'buffer' }));
      else if (st.isFile()) h.update(readFileSync(p));
    }
  };
  walk(Buffer.from(root));
  return h.digest('hex');
}

let tmp: string;
/** What Python says: ImageFolder's classes, and the PIL-written files' names. */
let oracle: { classes: string[]; formats: string[]; latin: string[] };

const FIXTURES_PY = String.raw`
import io, json, os, struct, sys
import numpy as np
from PIL import Image
root = sys.argv[1]
os.chdir(root)
rng = np.random.default_rng(7)
def rgb(w=16, h=16):
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), 'RGB')

# A torchvision-style class tree.
for d in ['train/cat', 'train/dog', 'train/.ipynb_checkpoints', 'train/empty']:
    os.makedirs(d)
for i in range(3):
    rgb().save(f'train/cat/cat{i}.jpg', quality=90)
    rgb().save(f'train/dog/dog{i}.png')
rgb().save('train/cat/cat-bmp.bmp')
rgb().save('train/.ipynb_checkpoints/x.jpg')
rgb().save('train/stray.jpg')
open('train/dog/README.txt', 'w').write('Dogs, from the shelter.\n')
open('train/cat/.DS_Store', 'wb').write(b'\0\0\0\1Bud1' + bytes(64))
open('train/labels.csv', 'w').write('file,label\n')
open('train/dog/._dog0.png', 'wb').write(b'\0\5\x16\7\0\2\0\0Mac OS X        ' + bytes(64))  # macOS AppleDouble
os.symlink('nowhere.jpg', 'train/cat/gone.jpg')
buf = io.BytesIO(); rgb().save(buf, 'JPEG', quality=90); j = buf.getvalue()
with open(b'train/cat/caf\xe9.jpg', 'wb') as f:   # latin-1 name, not UTF-8; cut short: no EOI
    f.write(j[:len(j) * 2 // 3])
classes = sorted(e.name for e in os.scandir('train') if e.is_dir())

# Class folders whose names are latin-1, not UTF-8 (os.fsencode round-trips them as surrogate escapes).
for c in [b'caf\xe9', b'th\xe9', b'caf\xc3\xa9']:
    os.makedirs(b'latin/' + c)
    rgb().save(b'latin/' + c + b'/a.png', 'PNG')
latin = [n.encode('utf-8', 'surrogateescape') for n in sorted(e.name for e in os.scandir('latin') if e.is_dir())]
latin = [''.join(chr(b) if b < 0x80 else '\\x%02x' % b for b in n) if n != b'caf\xc3\xa9' else 'café' for n in latin]

# One file per format PIL writes, all 16x16 RGB, in a flat folder: none may give an error.
os.makedirs('formats')
im = rgb()
written = []
for name, kw in [('a.jpg', {}), ('b.png', {}), ('c.webp', {'lossless': True}), ('d.gif', {}), ('e.tiff', {}),
                 ('f.bmp', {}), ('g-l.bmp', {}), ('h-p.bmp', {}), ('i-1.bmp', {})]:
    src = im
    if name == 'g-l.bmp': src = im.convert('L').convert('RGB')
    if name == 'h-p.bmp': src = im.convert('P')
    if name == 'i-1.bmp': src = im.convert('1')
    src.save('formats/' + name, **kw)
    written.append(name)
# Every one decodes in PIL (the oracle for what is valid).
for n in written:
    Image.open('formats/' + n).load()

# Formats recognised but not decoded here, in a list (a list names any file) and in a folder.
os.makedirs('other')
im.save('other/icon.ico')
im.save('other/pic.jp2')
im.save('other/pic.ppm')
open('other/photo.heic', 'wb').write(struct.pack('>I', 24) + b'ftypheic' + b'\0\0\0\0' + b'mif1heic' + bytes(64))
open('other/layers.psd', 'wb').write(b'8BPS\0\1' + bytes(64))
with open('other/list.txt', 'w') as f:
    f.write('icon.ico 0\npic.jp2 1\nphoto.heic 0\nlayers.psd 1\npic.ppm 0\n')
json.dump({'classes': classes, 'formats': written, 'latin': latin}, sys.stdout)
`;

const LIST_PY = String.raw`
import io, os, sys
import numpy as np
from PIL import Image
os.chdir(sys.argv[1])
rng = np.random.default_rng(8)
os.makedirs('list/imgs')
def rgb():
    return Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8), 'RGB')
for i in range(4):
    rgb().save(f'list/imgs/{i}.jpg', quality=90)
rgb().save('list/imgs/b.bmp')
buf = io.BytesIO(); rgb().save(buf, 'JPEG', quality=90); j = buf.getvalue()
open(b'list/imgs/caf\xe9.jpg', 'wb').write(j[:len(j) // 2])
lines = [b'# images of the training set',   # 1: a comment Caffe reads as a path
         b'imgs/0.jpg 0',                     # 2
         b'imgs/1.jpg 1',                     # 3
         b'',                                 # 4: blank: Caffe reads an empty path
         b'imgs/missing.jpg 1',               # 5: missing file, still an entry
         b'imgs/2.jpg\t0',                    # 6: tab: Caffe splits at the last space only
         b'imgs/caf\xe9.jpg 1',               # 7: latin-1 path, truncated JPEG
         b'imgs/3.jpg x',                     # 8: label not an integer (atoi reads 0)
         b'imgs/b.bmp 0',                     # 9
         b'imgs/3.jpg 1\r']                   # 10: CRLF is harmless
open('list/train.txt', 'wb').write(b'\n'.join(lines) + b'\n')
`;

function python(script: string): string {
  const r = spawnSync(SYSTEM_PYTHON, ['-c', script, tmp], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
  return r.stdout;
}

let before: string;
beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'nanscan-image-tree-'));
  oracle = JSON.parse(python(FIXTURES_PY)) as typeof oracle;
  python(LIST_PY);
  // AVIF: PIL here cannot write it; sharp (libheif with aom) can, and reads it back.
  const noise = Buffer.from(Array.from({ length: 16 * 16 * 3 }, (_, i) => (i * 97) % 251));
  await sharp(noise, { raw: { width: 16, height: 16, channels: 3 } }).avif({ lossless: true }).toFile(path.join(tmp, 'formats', 'k.avif'));
  oracle.formats.push('k.avif');
  before = hashTree(tmp);
});
afterAll(() => {
  // Nothing was written into the datasets.
  expect(hashTree(tmp)).toBe(before);
  rmSync(tmp, { recursive: true, force: true });
});

const brief = (d: DatasetReport): string[] =>
  d.findings.map((f: Finding) => `${f.kind} ${f.severity} ${f.file ?? ''}${f.line === undefined ? '' : `:${f.line}`}`).sort();

describe('a torchvision-style class tree', () => {
  it('numbers classes as ImageFolder does and reports what ImageFolder does with each folder', () => {
    const { run, report } = scanJson(['train', '--max-examples', '100'], tmp);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(1);
    expect(report.datasets).toHaveLength(1);
    const d = report.datasets[0]!;
    expect(d.format).toBe('image-folder');
    // ImageFolder's classes, hidden and empty ones included, in Python's order.
    expect(oracle.classes).toEqual(['.ipynb_checkpoints', 'cat', 'dog', 'empty']);
    expect(d.labels?.classNames).toEqual(oracle.classes);
    const label = (c: string): string => String(oracle.classes.indexOf(c));
    // cat: 3 JPEGs, the BMP, the latin-1 file and the dangling link; dog: 3 PNGs and an AppleDouble file
    // (ImageFolder loads it: its name ends in .png); the empty class has no records.
    expect(d.labels?.histogram).toEqual({ [label('.ipynb_checkpoints')]: 1, [label('cat')]: 6, [label('dog')]: 4 });
    expect(d.records).toBe(11);
    expect(brief(d)).toEqual([
      'class_folder error train/empty',
      'class_folder warning train/.ipynb_checkpoints',
      'class_folder warning train/stray.jpg',
      'corrupt_image error train/dog/._dog0.png',
      'missing_file error train/cat/gone.jpg',
      'truncated_image error train/cat/caf\\xe9.jpg',
      'unchecked warning train',
    ].sort());
    const byFile = (file: string): Finding => d.findings.find((f) => f.file === file)!;
    expect(byFile('train/.ipynb_checkpoints').message).toContain(`label ${label('.ipynb_checkpoints')} of 4`);
    expect(byFile('train/empty').message).toContain('Found no valid file for the classes empty');
    expect(byFile('train/cat/gone.jpg').message).toContain("symbolic link to 'nowhere.jpg'");
    expect(byFile('train/stray.jpg').message).toContain('never reads it');
    // README.txt and .DS_Store inside class folders are files ImageFolder skips; labels.csv beside the class
    // folders is not in the data at all.
    expect(d.coverage.unchecked).toEqual([expect.objectContaining({
      reason: 'not_an_image', unit: 'file', count: 2, examples: ['train/cat/.DS_Store', 'train/dog/README.txt'],
    })]);
    expect(d.coverage.checkedRecords).toBe(11);
    expect(byFile('train/dog/._dog0.png').message).toContain('AppleDouble');
  });

  it('finds and numbers class folders whose names are not UTF-8, in Python\'s order', () => {
    const { report } = scanJson(['.'], path.join(tmp, 'latin'));
    const d = report.datasets[0]!;
    expect(d.path).toBe('.');
    // Python sorts surrogate escapes (U+DCxx) after 'é' (U+00E9): café, caf\xe9, th\xe9.
    expect(oracle.latin).toEqual(['café', 'caf\\xe9', 'th\\xe9']);
    expect(d.labels?.classNames).toEqual(oracle.latin);
    expect(d.records).toBe(3);
    expect(d.findings).toEqual([]);
  });

  it('checks the same with sharp alone as with the native JPEG decoder', () => {
    const native = scanJson(['train'], tmp).report.datasets[0]!;
    const sharpOnly = scanJson(['train'], tmp, { NANSCAN_NO_NATIVE_JPEG: '1' }).report.datasets[0]!;
    expect(brief(sharpOnly)).toEqual(brief(native));
  });
});

describe('image formats', () => {
  it('decodes every format PIL writes (and AVIF) without an error or an integrity finding', () => {
    const { report } = scanJson(['formats'], tmp);
    const d = report.datasets[0]!;
    expect(d.records).toBe(oracle.formats.length);
    expect(d.coverage.checkedRecords).toBe(oracle.formats.length);
    // Mixed channel counts (a grey BMP among RGB) are warnings about the set, not about any file's integrity.
    expect(d.findings.filter((f) => f.severity === 'error')).toEqual([]);
    expect(d.findings.filter((f) => ['corrupt_image', 'truncated_image', 'unchecked'].includes(f.kind))).toEqual([]);
  });

  it('counts formats it cannot decode as unchecked, never as corrupt', () => {
    const { report } = scanJson(['other', '--max-examples', '100'], tmp);
    const list = report.datasets.find((x) => x.format === 'image-list')!;
    expect(list.records).toBe(5);
    expect(list.findings.filter((f) => f.kind !== 'unchecked')).toEqual([]);
    expect(list.coverage.checkedRecords).toBe(0);
    expect(list.coverage.unchecked).toEqual([expect.objectContaining({
      reason: 'unsupported_image', unit: 'record', count: 5,
      examples: ['other/icon.ico:1', 'other/pic.jp2:2', 'other/photo.heic:3', 'other/layers.psd:4', 'other/pic.ppm:5'],
    })]);
  });
});

describe('a Caffe ImageData list', () => {
  it('has one record per entry and a bad_record for each line Caffe misreads', () => {
    const { report } = scanJson(['list/train.txt'], tmp);
    const d = report.datasets[0]!;
    expect(d.format).toBe('image-list');
    // Lines 2, 3, 5, 7, 9, 10 are entries; the missing file is one of them.
    expect(d.records).toBe(6);
    expect(brief(d)).toEqual([
      'bad_record error list/train.txt:1',
      'bad_record error list/train.txt:4',
      'bad_record error list/train.txt:6',
      'bad_record error list/train.txt:8',
      'missing_file error list/imgs/missing.jpg:5',
      'truncated_image error list/imgs/caf\\xe9.jpg:7',
    ].sort());
    const at = (line: number): string => d.findings.find((f) => f.line === line)!.message;
    expect(at(1)).toContain('Caffe has no comments');
    expect(at(4)).toContain('blank');
    expect(at(6)).toContain('not at a tab');
    expect(at(8)).toContain("atoi reads it as 0");
    expect(d.labels?.histogram).toEqual({ 0: 2, 1: 4 });
  });
});
