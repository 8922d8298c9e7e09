/**
 * The image-folder reader (src/readers/image-folder.ts) against torchvision's ImageFolder. torchvision is not
 * installed here, so the oracle is its algorithm, copied below from torchvision/datasets/folder.py
 * (`find_classes`, `make_dataset`, `has_file_allowed_extension`, IMG_EXTENSIONS; v0.15–0.20) and run by
 * Debian's Python on trees of PNG, JPEG and BMP files written by PIL.
 */
import { isUtf8 } from 'node:buffer';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { damageFinding } from '../../src/checks/severity.js';
import { imageFolderReader, listImageFolder } from '../../src/readers/image-folder.js';
import type { FileRecord, Reader, RecordBatch, Source } from '../../src/readers/types.js';
import { scan } from '../../src/scan.js';
import { runPython } from '../helpers/python.js';
import { hashTree } from '../helpers/tree.js';

/**
 * torchvision's ImageFolder indexing, as in torchvision/datasets/folder.py. Prints JSON: the classes, and the
 * samples as [relative path bytes in hex, class index], or the error ImageFolder raises.
 */
const TORCHVISION_ORACLE = String.raw`
import json, os, sys
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")

def has_file_allowed_extension(filename, extensions):
    return filename.lower().endswith(extensions if isinstance(extensions, str) else tuple(extensions))

def find_classes(directory):
    classes = sorted(entry.name for entry in os.scandir(directory) if entry.is_dir())
    if not classes:
        raise FileNotFoundError(f"Couldn't find any class folder in {directory}.")
    class_to_idx = {cls_name: i for i, cls_name in enumerate(classes)}
    return classes, class_to_idx

def make_dataset(directory, class_to_idx, extensions=IMG_EXTENSIONS, allow_empty=False):
    directory = os.path.expanduser(directory)
    def is_valid_file(x):
        return has_file_allowed_extension(x, extensions)
    instances = []
    available_classes = set()
    for target_class in sorted(class_to_idx.keys()):
        class_index = class_to_idx[target_class]
        target_dir = os.path.join(directory, target_class)
        if not os.path.isdir(target_dir):
            continue
        for root, _, fnames in sorted(os.walk(target_dir, followlinks=True)):
            for fname in sorted(fnames):
                path = os.path.join(root, fname)
                if is_valid_file(path):
                    instances.append((path, class_index))
                    if target_class not in available_classes:
                        available_classes.add(target_class)
    empty_classes = set(class_to_idx.keys()) - available_classes
    if empty_classes and not allow_empty:
        msg = f"Found no valid file for the classes {', '.join(sorted(empty_classes))}. "
        raise FileNotFoundError(msg)
    return instances

root = sys.argv[1]
classes, class_to_idx = find_classes(root)
try:
    samples = make_dataset(root, class_to_idx)
    print(json.dumps({"classes": classes, "samples": [[os.fsencode(os.path.relpath(p, root)).hex(), t] for p, t in samples]}))
except FileNotFoundError as e:
    print(json.dumps({"classes": classes, "error": str(e)}))
`;

interface Oracle {
  classes: string[];
  samples?: [string, number][];
  error?: string;
}

/** Writes images with PIL: argv[1] is the root, then pairs of relative path and colour; format by extension. */
const WRITE_IMAGES = String.raw`
import os, sys
from PIL import Image
root = sys.argv[1]
args = sys.argv[2:]
for rel, colour in zip(args[0::2], args[1::2]):
    p = os.path.join(os.fsencode(root), bytes.fromhex(rel))
    os.makedirs(os.path.dirname(p), exist_ok=True)
    Image.new('RGB', (8, 6), tuple(int(colour[i:i + 2], 16) for i in (0, 2, 4))).save(p.decode('utf-8', 'surrogateescape'))
`;

const hex = (s: string | Buffer): string => (typeof s === 'string' ? Buffer.from(s) : s).toString('hex');

function writeImages(root: string, files: Record<string, string>): void {
  runPython(WRITE_IMAGES, [root, ...Object.entries(files).flatMap(([rel, colour]) => [hex(Buffer.from(rel, 'latin1')), colour])]);
}

function oracle(root: string): Oracle {
  return JSON.parse(runPython(TORCHVISION_ORACLE, [root])) as Oracle;
}

async function readAll(source: Source): Promise<{ reader: Reader; records: FileRecord[] }> {
  const reader = await imageFolderReader.open(source, 'plan');
  const records: FileRecord[] = [];
  for (const p of reader.plan(3)) {
    for (const batch of reader.read(p) as Iterable<RecordBatch>) {
      for (const r of batch.records) if (r.kind === 'file') records.push(r);
    }
  }
  return { reader, records };
}

let tmp: string;
let outside: string;
let root: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nanscan-imgfolder-'));
  root = path.join(tmp, 'train');
  outside = path.join(tmp, 'elsewhere');
  // Paths are latin1 strings of their bytes ('caf\xe9' is not UTF-8).
  writeImages(root, {
    'cat/b.png': 'ff0000', 'cat/a.jpg': '00ff00', 'cat/Z.PNG': '0000ff',
    // sorted(os.walk()): folders in the order of their whole paths: cat/sub, cat/sub-a, cat/sub/x.
    'cat/sub/c.bmp': '101010', 'cat/sub-a/d.png': '202020', 'cat/sub/x/e.jpeg': '303030',
    'cat/caf\xe9.png': '404040',
    'dog/1.png': '505050', 'dog/10.png': '606060', 'dog/2.png': '707070',
    // UTF-8 ('été.png'): sorted by code point, shown as text.
    'dog/\xc3\xa9t\xc3\xa9.png': '757575',
    // A hidden folder is a class to ImageFolder (and label 0: '.' sorts first).
    '.hidden/h.png': '808080',
    // Beside the class folders: ImageFolder never reads it.
    'stray.png': '909090',
  });
  writeImages(outside, { 'p1.png': 'a0a0a0', 'deeper/p2.bmp': 'b0b0b0' });
  // A class that is a link to a folder (followed by scandir's is_dir and os.walk(followlinks=True)).
  fs.symlinkSync(outside, path.join(root, 'bird'));
  // A link to nothing: os.walk lists it as a file, so ImageFolder has it as a sample (that fails to load).
  fs.symlinkSync(path.join(tmp, 'gone.png'), path.join(root, 'dog', 'gone.png'));
  // Not images: skipped by both.
  fs.writeFileSync(path.join(root, 'cat', 'README.txt'), 'cats\n');
  fs.writeFileSync(path.join(root, 'dog', 'labels.csv'), 'x,y\n');
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('image folder classes and order, against torchvision ImageFolder', () => {
  it('has torchvision\'s classes, samples and targets, in its order', async () => {
    const want = oracle(root);
    expect(want.error).toBeUndefined();
    expect(want.classes).toEqual(['.hidden', 'bird', 'cat', 'dog']);
    const listing = listImageFolder(root);
    expect(listing.classNames).toEqual(want.classes);
    expect(listing.files.map((f) => hex(Buffer.from(f, 'latin1')))).toEqual(want.samples!.map(([p]) => p));
    expect(listing.labels).toEqual(want.samples!.map(([, t]) => t));
    // The order spelled out, so that a change in the oracle's reading shows here too.
    expect(listing.files.map((f) => Buffer.from(f, 'latin1').toString('latin1'))).toEqual([
      '.hidden/h.png', 'bird/p1.png', 'bird/deeper/p2.bmp',
      'cat/Z.PNG', 'cat/a.jpg', 'cat/b.png', 'cat/caf\xe9.png', 'cat/sub/c.bmp', 'cat/sub-a/d.png', 'cat/sub/x/e.jpeg',
      'dog/1.png', 'dog/10.png', 'dog/2.png', 'dog/gone.png', 'dog/\xc3\xa9t\xc3\xa9.png',
    ]);
  });

  it('reports the hidden class and the stray image, and counts the files that are not images', () => {
    const listing = listImageFolder(root, new Set(), 'train');
    // Readers yield damage without a severity; the host's (checks/severity.ts) is what the report shows.
    expect(listing.findings.map((f) => [f.kind, damageFinding(f).severity, f.file])).toEqual([
      ['class_folder', 'warning', 'train/.hidden'],
      ['class_folder', 'warning', 'train/stray.png'],
    ]);
    expect(listing.findings[0]!.message).toContain('label 0 of 4 under ImageFolder');
    expect(listing.notImages).toEqual({ count: 2, examples: ['train/cat/README.txt', 'train/dog/labels.csv'] });
  });

  it('reads every sample as a record with its label, in order, across partitions', async () => {
    const want = oracle(root);
    const before = hashTree(outside);
    const { reader, records } = await readAll({ format: 'image-folder', path: 'train', absPath: root });
    expect(records.map((r) => r.index)).toEqual(want.samples!.map((_, i) => i));
    expect(records.map((r) => r.label)).toEqual(want.samples!.map(([, t]) => t));
    expect(records.map((r) => r.file)).toEqual(want.samples!.map(([p]) => {
      const bytes = Buffer.from(p, 'hex');
      const shown = isUtf8(bytes) ? bytes.toString('utf8')
        : bytes.toString('latin1').replace(/[\x80-\xff]/g, (c) => `\\x${c.charCodeAt(0).toString(16)}`);
      return path.join('train', shown);
    }));
    for (const r of records) {
      if (r.file.endsWith('gone.png')) {
        expect(r.unreadable?.kind).toBe('missing_file');
        expect(r.bytes.length).toBe(0);
      } else {
        expect(r.unreadable).toBeUndefined();
      }
    }
    const jpg = records.find((r) => r.file === 'train/cat/a.jpg')!;
    expect(Buffer.from(jpg.bytes).equals(fs.readFileSync(path.join(root, 'cat/a.jpg')))).toBe(true);
    expect(reader.info().classNames).toEqual(want.classes);
    expect(reader.info().expectedRecords).toBe(want.samples!.length);
    reader.close();
    expect(hashTree(outside)).toBe(before);
  });

  it('reports a class torchvision cannot load as an error, as ImageFolder raises for it', () => {
    const dir = path.join(tmp, 'empty-class');
    writeImages(dir, { 'a/1.png': '000000', 'c/2.png': '111111' });
    fs.mkdirSync(path.join(dir, 'b'));
    fs.writeFileSync(path.join(dir, 'b', 'notes.txt'), 'nothing\n');
    writeImages(dir, { 'b/pic.gif': '222222' });
    const want = oracle(dir);
    expect(want.error).toBe('Found no valid file for the classes b. ');
    const listing = listImageFolder(dir, new Set(), 'empty-class');
    expect(listing.classNames).toEqual(want.classes);
    expect(listing.findings).toHaveLength(1);
    expect(listing.findings[0]).toMatchObject({ kind: 'class_folder', loaderFails: true, file: 'empty-class/b' });
    expect(damageFinding(listing.findings[0]!).severity).toBe('error');
    expect(listing.findings[0]!.message).toContain('Found no valid file for the classes b');
  });

  it('reads images directly in the folder as a flat, unlabelled dataset', () => {
    const dir = path.join(tmp, 'flat');
    writeImages(dir, { 'b.png': '000000', 'a.bmp': '111111', 'c.jpg': '222222', 'more/d.png': '333333' });
    const listing = listImageFolder(dir);
    expect(listing.files).toEqual(['a.bmp', 'b.png', 'c.jpg', 'more/d.png']);
    expect(listing.labels).toBeNull();
    expect(listing.classNames).toBeNull();
  });
});

describe('scan() of an image folder', () => {
  it('reports torchvision\'s class histogram, the dangling link as missing, and writes nothing', async () => {
    const want = oracle(root);
    const before = hashTree(outside);
    const report = await scan('train', { cwd: tmp, workers: 0, batchSize: 4, severity: { class_folder: 'off' } });
    expect(report.datasets).toHaveLength(1);
    const d = report.datasets[0]!;
    expect(d).toMatchObject({ path: 'train', format: 'image-folder', records: want.samples!.length });
    const histogram: Record<string, number> = {};
    for (const [, t] of want.samples!) histogram[String(t)] = (histogram[String(t)] ?? 0) + 1;
    expect(d.labels?.histogram).toEqual(histogram);
    expect(d.labels?.classNames).toEqual(want.classes);
    expect(d.findingCounts).toMatchObject({ missing_file: 1 });
    expect(d.findings.filter((f) => f.kind === 'missing_file').map((f) => f.file)).toEqual(['train/dog/gone.png']);
    expect(d.findingCounts.corrupt_image ?? 0).toBe(0);
    expect(hashTree(outside)).toBe(before);
  });
});
