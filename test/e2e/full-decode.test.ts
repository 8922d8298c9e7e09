/**
 * JPEGs are decoded at 1/8 scale unless their pixels are needed (ScanOptions.fullDecode): the findings must be
 * exactly those of a scan that decodes every image fully (`--full-decode`, the oracle), on the committed fixtures
 * and on a folder where the scaled path really runs (varied images, then a blank one, a cut one and a damaged one).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadNativeJpeg } from '../../src/decode/jpeg-native.js';
import type { Report } from '../../src/types.js';
import { scanJson } from '../helpers/cli.js';
import { hashTree } from '../helpers/tree.js';

let dir: string;
let mixed: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'nanscan-full-decode-'));
  let seed = 1;
  const next = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296);
  for (let i = 0; i < 150; i++) {
    const cls = path.join(dir, `c${i % 3}`);
    mkdirSync(cls, { recursive: true });
    const px = Buffer.alloc(64 * 48 * 3);
    if (i !== 100) for (let p = 0; p < px.length; p++) px[p] = (p % 192) + next() * 60;
    else px.fill(90);
    let jpeg = await sharp(px, { raw: { width: 64, height: 48, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
    if (i === 110) jpeg = jpeg.subarray(0, Math.floor(jpeg.length * 0.6)); // cut short
    if (i === 120) { // damaged entropy data: decodes with warnings
      jpeg = Buffer.from(jpeg);
      for (let k = jpeg.length - 200; k < jpeg.length - 150; k++) jpeg[k] = 0x00;
    }
    writeFileSync(path.join(cls, `${String(i).padStart(4, '0')}.jpg`), jpeg);
  }
  // One class folder of JPEGs with GIFs among them (sharp decodes those, on its own threads), a blank JPEG and a
  // cut one after them.
  mixed = mkdtempSync(path.join(os.tmpdir(), 'nanscan-mixed-decode-'));
  mkdirSync(path.join(mixed, 'a'));
  for (let i = 0; i < 120; i++) {
    const px = Buffer.alloc(64 * 48 * 3);
    if (i !== 90) for (let p = 0; p < px.length; p++) px[p] = (p % 192) + next() * 60;
    else px.fill(200);
    const img = sharp(px, { raw: { width: 64, height: 48, channels: 3 } });
    const gif = i === 3 || i === 40 || i === 41;
    let bytes = gif ? await img.gif().toBuffer() : await img.jpeg({ quality: 85 }).toBuffer();
    if (i === 100) bytes = bytes.subarray(0, Math.floor(bytes.length * 0.6));
    writeFileSync(path.join(mixed, 'a', `${String(i).padStart(4, '0')}.${gif ? 'gif' : 'jpg'}`), bytes);
  }
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(mixed, { recursive: true, force: true });
});

const findings = (r: Report): string[] => r.datasets.flatMap((d) => d.findings.map((f) => JSON.stringify(f))).sort();

describe('1/8-scale JPEG decoding in scans', () => {
  it.each([['fixtures/images/classes'], ['fixtures/images/list/train.txt'], ['fixtures/lmdb/encoded'], ['fixtures/demo']])(
    '%s: the same findings as with --full-decode', (fixture) => {
      const scaled = scanJson([fixture, '--fail-on', 'none']).report;
      const full = scanJson([fixture, '--fail-on', 'none', '--full-decode']).report;
      expect(findings(scaled)).toEqual(findings(full));
      expect(scaled.datasets.map((d) => d.findingCounts)).toEqual(full.datasets.map((d) => d.findingCounts));
    });

  it.runIf(loadNativeJpeg() !== null)('finds the blank, the cut and the damaged image from thumbnails, as a full decode does', () => {
    const before = hashTree(dir);
    const scaled = scanJson([dir, '--fail-on', 'none', '--workers', '1']).report;
    const full = scanJson([dir, '--fail-on', 'none', '--workers', '1', '--full-decode']).report;
    expect(hashTree(dir)).toBe(before);
    expect(findings(scaled)).toEqual(findings(full));
    const kinds = (r: Report): string[] => r.datasets[0]!.findings.map((f) => `${f.kind} ${path.basename(f.file ?? '')}`).sort();
    expect(kinds(full)).toEqual(['constant_sample 0100.jpg', 'corrupt_image 0120.jpg', 'truncated_image 0110.jpg']);
    // The scaled path ran (most images are checked from thumbnails) and says so; a full decode never does.
    expect(scaled.datasets[0]!.stats?.scaledImages).toBeGreaterThan(100);
    expect(full.datasets[0]!.stats?.scaledImages).toBeUndefined();
    // Block means keep the mean, up to the rounding and clamping of each decode (within 2% here).
    const [a, b] = [scaled.datasets[0]!.stats!.mean!, full.datasets[0]!.stats!.mean!];
    expect(Math.abs(a - b) / b).toBeLessThan(0.02);
  });

  it.runIf(loadNativeJpeg() !== null)('keeps decoding JPEGs natively, in record order, after an image that needs sharp', () => {
    const before = hashTree(mixed);
    const args = [mixed, '--fail-on', 'none', '--workers', '1'];
    const scaled = scanJson(args).report;
    // The oracle: every image decoded at full size.
    const full = scanJson([...args, '--full-decode']).report;
    expect(hashTree(mixed)).toBe(before);
    const d = scaled.datasets[0]!;
    expect(d.records).toBe(120);
    // In the order of the records, not sorted: the queue behind the GIFs keeps it.
    expect(d.findings.map((f) => JSON.stringify(f))).toEqual(full.datasets[0]!.findings.map((f) => JSON.stringify(f)));
    expect(d.findings.map((f) => `${f.kind} ${path.basename(f.file ?? '')}`)).toEqual(['constant_sample 0090.jpg', 'truncated_image 0100.jpg']);
    // All but the first few JPEGs (decoded fully while the per-pixel constant tracking settles) are checked
    // from 1/8-scale native decodes; when images queued behind one in sharp went to sharp too, 56 of 117 were.
    expect(d.stats?.scaledImages).toBeGreaterThan(90);
  });
});
