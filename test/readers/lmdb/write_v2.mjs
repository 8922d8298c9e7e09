/**
 * Writes data-format-2 LMDB environments with the npm `lmdb` package (prebuilt: LMDB 0.9.90 = format 2) and dumps
 * what it iterates, for the reader's cross-check. Run as a child process: node write_v2.mjs OUTDIR
 * For each env NAME: OUTDIR/NAME/data.mdb, OUTDIR/NAME.dump ("keyhex valuehex" per record of the main DB, in
 * cursor order, named-DB entries left out, then each named DB's records) and OUTDIR/NAME.json ({ entries, names }).
 */
import fs from 'node:fs';
import path from 'node:path';
import { open } from 'lmdb';

const out = process.argv[2];

/** Deterministic bytes (xorshift32). */
function rng(seed) {
  let x = seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  return {
    int: (lo, hi) => lo + (next() % (hi - lo + 1)),
    bytes: (n) => {
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i++) b[i] = next() & 255;
      return b;
    },
  };
}

async function write(name, options, fill, names = []) {
  const dir = path.join(out, name);
  const env = open({ path: dir, keyEncoding: 'binary', encoding: 'binary', ...options });
  await fill(env);
  const lines = [];
  for (const { key, value } of env.getRange({})) {
    if (names.some((n) => Buffer.from(n + '\0').equals(key))) continue;
    lines.push(`${Buffer.from(key).toString('hex')} ${Buffer.from(value).toString('hex')}\n`);
  }
  // Records declared: main md_entries without the named-DB entries, plus each named DB's own; its records follow.
  let entries = env.getStats().entryCount - names.length;
  for (const n of [...names].sort()) {
    const db = env.openDB(n, { keyEncoding: 'binary', encoding: 'binary' });
    entries += db.getStats().entryCount;
    for (const { key, value } of db.getRange({})) lines.push(`${Buffer.from(key).toString('hex')} ${Buffer.from(value).toString('hex')}\n`);
  }
  await env.close();
  fs.writeFileSync(path.join(out, `${name}.dump`), lines.join(''));
  fs.writeFileSync(path.join(out, `${name}.json`), JSON.stringify({ entries, names }));
}

await write('v2main', {}, async (env) => {
  const r = rng(11);
  // Several transactions, values from empty to overflow runs of many pages.
  for (let t = 0; t < 6; t++) {
    await env.transaction(() => {
      for (let i = 0; i < 1000; i++) {
        const j = t * 1000 + i;
        const size = j % 97 === 0 ? r.int(3000, 60000) : r.int(0, 400);
        env.put(Buffer.from(`v2-${String((j * 7919) % 6000).padStart(6, '0')}`), r.bytes(size));
      }
    });
  }
});

await write('v2dup', { dupSort: true }, async (env) => {
  const r = rng(12);
  await env.transaction(() => {
    for (let i = 0; i < 200; i++) {
      const n = i === 100 ? 3000 : r.int(1, 10);
      for (let k = 0; k < n; k++) env.put(Buffer.from(`dup${String(i).padStart(4, '0')}`), r.bytes(r.int(1, 30)));
    }
  });
});

await write(
  'v2named',
  {},
  async (env) => {
    const r = rng(13);
    const sub = env.openDB('subone', { keyEncoding: 'binary', encoding: 'binary' });
    await env.transaction(() => {
      for (let i = 0; i < 300; i++) {
        env.put(Buffer.from(`m${String(i).padStart(4, '0')}`), r.bytes(r.int(1, 50)));
        sub.put(Buffer.from(`s${i}`), r.bytes(10));
      }
    });
  },
  ['subone'],
);
