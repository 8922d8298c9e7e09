/**
 * Regenerates the committed fixtures under fixtures/ from scripts/lib/fixture-spec.ts, with the real liblmdb
 * (Debian's python3-lmdb). Deterministic: seeded data, fixed damage. Run: `npm run fixtures`.
 */
import { spawnSync } from 'node:child_process';
import {
  closeSync, existsSync, fstatSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync,
  truncateSync, writeFileSync, writeSync,
} from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { rng, SYSTEM_PYTHON, writeLevelDb, writeLmdb } from './lib/caffe.js';
import { FIXTURES, type Damage } from './lib/fixture-spec.js';

/** Classic LMDB page: 4 KiB; page header (v1) is pgno u64, pad u16, flags u16 (LMDB.md §4). */
const PAGE = 4096;
const FLAGS_OFFSET = 10;
const P_LEAF = 0x02;

export const FIXTURES_ROOT = fileURLToPath(new URL('../fixtures/', import.meta.url));

export async function makeFixture(root: string, spec: (typeof FIXTURES)[number]): Promise<string> {
  const dir = path.join(root, spec.dir);
  if (existsSync(dir)) rmSync(dir, { recursive: true });
  mkdirSync(dir, { recursive: true });
  if (spec.records && spec.format === 'leveldb') await writeLevelDb(dir, await spec.records(), spec.leveldbMode);
  else if (spec.records) await writeLmdb(dir, await spec.records());
  if (spec.python !== undefined) {
    const r = spawnSync(SYSTEM_PYTHON, ['-c', spec.python, dir], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${spec.dir}: ${r.stderr}`);
  }
  for (const [rel, bytes] of (await spec.files?.()) ?? []) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), bytes);
  }
  if (spec.damage) damage(dir, spec.damage);
  return dir;
}

function damage(dir: string, d: Damage): void {
  if (d.flipTableByte !== undefined) {
    const table = readdirSync(dir).filter((n) => /^\d+\.(ldb|sst)$/.test(n)).sort()[0];
    if (table === undefined) throw new Error(`${dir} has no table file`);
    const bytes = readFileSync(path.join(dir, table));
    bytes[d.flipTableByte] = bytes[d.flipTableByte]! ^ 0xff;
    writeFileSync(path.join(dir, table), bytes);
    return;
  }
  if (d.truncateFile !== undefined) {
    const f = path.join(dir, d.truncateFile);
    truncateSync(f, Math.floor(statSync(f).size / 2));
    return;
  }
  const file = path.join(dir, 'data.mdb');
  const fd = openSync(file, 'r+');
  try {
    const pages = Math.floor(fstatSync(fd).size / PAGE);
    if (d.truncateTo !== undefined) ftruncateSync(fd, Math.floor(pages * d.truncateTo) * PAGE);
    if (d.garbageLeaf !== undefined) {
      const head = Buffer.alloc(16);
      let seen = 0;
      for (let p = 2; p < pages; p++) {
        readSync(fd, head, 0, 16, p * PAGE);
        if ((head.readUInt16LE(FLAGS_OFFSET) & P_LEAF) === 0) continue;
        if (seen++ < d.garbageLeaf) continue;
        const next = rng(99);
        const junk = Buffer.alloc(PAGE);
        for (let i = 0; i < PAGE; i++) junk[i] = (next() * 256) & 0xff;
        writeSync(fd, junk, 0, PAGE, p * PAGE);
        return;
      }
      throw new Error(`${file} has fewer than ${d.garbageLeaf + 1} leaf pages`);
    }
  } finally {
    closeSync(fd);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  for (const spec of FIXTURES) {
    const dir = await makeFixture(FIXTURES_ROOT, spec);
    console.log(`${path.relative(process.cwd(), dir)}: ${spec.description}`);
  }
}
