/**
 * Values stored in overflow runs (`F_BIGDATA`, LMDB.md §7, §16.3; checks O1–O3 of §15.3). The run is checked
 * against the database and the file before anything is allocated; values up to one read-ahead block come back
 * as a view into the block cache, bigger ones get their own buffer (one read, never cached).
 */
import type { Damage } from '../../records.js';
import { MAX_VALUE_BYTES } from './constants.js';
import { showKey } from './keys.js';
import { formatKey } from '../../keys.js';
import { u32, u64 } from './layout.js';
import { checkHeader, copyBytes, view } from './page.js';
import type { WalkContext } from './walk.js';

/**
 * The value of a `F_BIGDATA` node whose data (page number, or `MDB_ovpage` in format 2) is at `b[d]`, or
 * undefined after reporting why it cannot be read.
 */
export function readOverflow(ctx: WalkContext, b: Uint8Array, d: number, dsize: number, key: Uint8Array, leafPgno: number): Uint8Array | undefined {
  const { layout: L, file, lastPg, visited } = ctx;
  const psize = L.psize;
  // Both formats start with the run's first page number (op_pgno in format 2).
  const pg = u64(b, d);
  const report = (what: string, page = pg): undefined => {
    const f: Damage = {
      kind: 'corrupt_file',
      file: ctx.display,
      page,
      key: formatKey(key),
      message: `LMDB overflow page ${pg}, holding the ${dsize}-byte value of key ${showKey(key)} (leaf page ${leafPgno}), ${what}; the record was skipped.`,
    };
    ctx.sink.push(f);
    return undefined;
  };
  if (dsize > MAX_VALUE_BYTES) return report(`is not read: the value is larger than the ${MAX_VALUE_BYTES >>> 20} MiB limit`);
  // OVPAGES(d) = floor((PAGEHDRSZ - 1 + d) / psize) + 1 (§7, §16.3).
  const need = Math.floor((L.hdr - 1 + dsize) / psize) + 1;
  if (!(pg >= 2 && pg + need - 1 <= lastPg)) return report(`is corrupt: the run of ${need} pages is outside the database's pages 2..${lastPg}`);
  if (pg + need > file.pages) {
    // Truncation loses every value stored past the cut: one finding for all of them (flushLostValues).
    const lost = ctx.lostValues;
    if (lost === undefined) ctx.lostValues = { count: 1, firstPage: pg, firstKey: copyBytes(key), lastKey: copyBytes(key) };
    else {
      lost.count++;
      lost.lastKey = copyBytes(key);
    }
    return undefined;
  }
  for (let i = 0; i < need; i++) {
    if (!visited.mark(pg + i)) return report(`is corrupt: page ${pg + i} of the run was already reached from another page`, pg + i);
  }
  let ob: Uint8Array;
  let op: number;
  try {
    if (need <= file.blockPages) {
      const blk = file.block(pg, need);
      ob = blk.buf;
      op = (pg - blk.first) * psize;
    } else {
      ob = file.readBytes(pg * psize, need * psize);
      op = 0;
      if (ob.length < need * psize) return report(`could not be read in full: ${ctx.display} shrank while it was being read`);
    }
  } catch (err) {
    ctx.sink.push({
      kind: 'io_error',
      file: ctx.display,
      page: pg,
      key: formatKey(key),
      message: `Could not read overflow page ${pg} of ${ctx.display}: ${(err as Error).message}.`,
    });
    return undefined;
  }
  const bad = checkHeader(L, ob, op, pg, 'overflow');
  if (bad !== undefined) return report(`is corrupt: ${bad}`);
  const pages = u32(ob, op + L.offPages);
  if (pages < need || pg + pages - 1 > lastPg) return report(`is corrupt: its run length ${pages} does not fit the value (needs ${need}) or the database`);
  return view(ob, op + L.hdr, dsize);
}

/** Reports the overflow values lost to truncation, if any (one finding per read). */
export function flushLostValues(ctx: WalkContext): void {
  const lost = ctx.lostValues;
  if (lost === undefined) return;
  ctx.lostValues = undefined;
  const which =
    lost.count === 1 ? `the value of key ${showKey(lost.firstKey)}` : `${lost.count} values (keys ${showKey(lost.firstKey)} to ${showKey(lost.lastKey)})`;
  ctx.sink.push({
    kind: 'corrupt_file',
    file: ctx.display,
    page: lost.firstPage,
    key: formatKey(lost.firstKey),
    count: lost.count,
    message: `LMDB overflow pages holding ${which} lie beyond the end of ${ctx.display}, which is truncated (the first is page ${lost.firstPage}); those records were skipped.`,
  });
}
