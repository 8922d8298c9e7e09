/**
 * The merge LevelDB's iterator performs (LEVELDB.md §10, `MergingIterator` + `DBIter::FindNextUserEntry`): all
 * streams ordered by (user key ascending, sequence descending, stream order); the first entry of each user key
 * decides; a deletion hides the key. Emits `RecordBatch`es of at most `BATCH_RECORDS` records or about
 * `BATCH_BYTES` of values, with the damage met while producing them.
 */
import type { Damage } from '../../records.js';
import type { KvRecord, RecordBatch } from '../types.js';
import type { Source } from './source.js';

/** About 1000 records a batch (the reader contract), or fewer when values are large. */
const BATCH_RECORDS = 1000;
const BATCH_BYTES = 8 * 1024 * 1024;
/** Keys are copied into per-batch arenas of this size (block keys are prefix-compressed, so not views). */
const ARENA_BYTES = 64 * 1024;

/** Heap order: smaller user key first; for equal keys the newer entry, then the stream listed first. */
function less(a: Source, b: Source): boolean {
  const ak = a.key;
  const bk = b.key;
  const al = a.keyLength;
  const bl = b.keyLength;
  const n = al < bl ? al : bl;
  for (let i = 0; i < n; i++) {
    const d = ak[i]! - bk[i]!;
    if (d !== 0) return d < 0;
  }
  if (al !== bl) return al < bl;
  if (a.seq !== b.seq) return a.seq > b.seq;
  return a.order < b.order;
}

function siftDown(heap: Source[], i: number): void {
  const n = heap.length;
  const x = heap[i]!;
  for (;;) {
    let c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && less(heap[c + 1]!, heap[c]!)) c++;
    if (!less(heap[c]!, x)) break;
    heap[i] = heap[c]!;
    i = c;
  }
  heap[i] = x;
}

/**
 * Merge `sources` into batches. `damage` is drained into each batch as it is yielded; a last batch carries what
 * is left even when it has no records. Closes every source when done or abandoned.
 */
export function* mergeSources(sources: Source[], damage: Damage[]): Generator<RecordBatch> {
  try {
    const heap: Source[] = [];
    for (const s of sources) if (s.next()) heap.push(s);
    for (let i = (heap.length >>> 1) - 1; i >= 0; i--) siftDown(heap, i);

    let records: KvRecord[] = [];
    let bytes = 0;
    let index = 0;
    let arena = new Uint8Array(ARENA_BYTES);
    let used = 0;
    while (heap.length > 0) {
      const top = heap[0]!;
      const kl = top.keyLength;
      if (used + kl > arena.length) {
        arena = new Uint8Array(Math.max(ARENA_BYTES, kl));
        used = 0;
      }
      const tk = top.key;
      for (let i = 0; i < kl; i++) arena[used + i] = tk[i]!;
      const key = arena.subarray(used, used + kl);
      used += kl;
      const deleted = top.deleted;
      const data = top.data;
      const vo = top.valueOffset;
      const vl = top.valueLength;
      // Skip every older entry of this user key, in every stream.
      do {
        const s = heap[0]!;
        if (s.next()) siftDown(heap, 0);
        else {
          const last = heap.pop()!;
          if (heap.length > 0) {
            heap[0] = last;
            siftDown(heap, 0);
          }
        }
      } while (heap.length > 0 && sameKey(heap[0]!, key));
      if (deleted) continue;
      // A plain Uint8Array view: Buffer#subarray costs a FastBuffer construction per record.
      records.push({ kind: 'kv', index: index++, key, value: new Uint8Array(data.buffer, data.byteOffset + vo, vl) });
      bytes += vl;
      if (records.length >= BATCH_RECORDS || bytes >= BATCH_BYTES) {
        yield batch(records, damage);
        records = [];
        bytes = 0;
        // Views handed out stay valid until the next yield; a fresh arena keeps them valid longer, cheaply.
        arena = new Uint8Array(ARENA_BYTES);
        used = 0;
      }
    }
    if (records.length > 0 || damage.length > 0) yield batch(records, damage);
  } finally {
    for (const s of sources) s.close();
  }
}

function sameKey(s: Source, key: Uint8Array): boolean {
  const n = s.keyLength;
  if (n !== key.length) return false;
  const k = s.key;
  for (let i = n - 1; i >= 0; i--) if (k[i] !== key[i]) return false;
  return true;
}

function batch(records: KvRecord[], damage: Damage[]): RecordBatch {
  if (damage.length === 0) return { records };
  return { records, damage: damage.splice(0) };
}
