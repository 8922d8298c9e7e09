/** Reads one partition and analyses every record in it. Runs in a worker, or in-process with `workers: 0`. */
import { PartitionAnalyzer, type RecordObserver } from '../checks/record.js';
import type { Kernel } from '../kernels/scan.js';
import { loadReader } from '../readers/registry.js';
import type { Partition, Reader, RecordBatch, Source } from '../readers/types.js';
import type { AnalyzeOptions, PartitionResult } from './protocol.js';

/** Open readers by source path: a worker usually reads several partitions of the same source. */
export class ReaderCache {
  private readonly open = new Map<string, Promise<Reader>>();

  get(source: Source): Promise<Reader> {
    let r = this.open.get(source.absPath);
    if (r === undefined) {
      r = loadReader(source.format).then((m) => m.open(source, 'read'));
      this.open.set(source.absPath, r);
    }
    return r;
  }

  async close(absPath: string): Promise<void> {
    const r = this.open.get(absPath);
    this.open.delete(absPath);
    if (r) (await r.catch(() => undefined))?.close();
  }

  async closeAll(): Promise<void> {
    for (const p of [...this.open.keys()]) await this.close(p);
  }
}

export interface PartitionHooks {
  progress?: (records: number, bytes: number) => void;
  /** Called before a native decoder starts on record `index`. */
  nativeStart?: (index: number) => void;
  /** Records not to decode: they crashed a worker before. */
  skip?: readonly number[];
  /** Observers of the analysis, for test worker entries (see RecordObserver); production workers pass none. */
  observer?: RecordObserver;
}

/** How often, in records, a partition reports progress. */
const PROGRESS_EVERY = 8192;

export async function runPartition(
  reader: Reader, partition: Partition, kernel: Kernel, options: AnalyzeOptions, hooks: PartitionHooks = {},
): Promise<PartitionResult> {
  const analyzer = new PartitionAnalyzer(kernel, options, hooks.nativeStart, hooks.skip, hooks.observer);
  const progress = hooks.progress;
  let sinceProgress = 0;
  let bytesSince = 0;
  // A reader's batches are walked synchronously when it returns a plain iterable: `for await` would cost a
  // promise and a microtask per batch (~1 µs; 14,000 batches a worker on a 6 GB HDF5 file).
  const batches = reader.read(partition, kernel.arena);
  const sync = Symbol.iterator in batches ? (batches as Iterable<RecordBatch>)[Symbol.iterator]() : undefined;
  const async = sync === undefined ? (batches as AsyncIterable<RecordBatch>)[Symbol.asyncIterator]() : undefined;
  let done = false;
  try {
    for (;;) {
      const step = sync !== undefined ? sync.next() : await (async as AsyncIterator<RecordBatch>).next();
      if (step.done === true) {
        done = true;
        break;
      }
      const batch = step.value;
      if (batch.damage) analyzer.damage(batch.damage);
      if (batch.uncounted) analyzer.uncounted += batch.uncounted;
      if (batch.tableRows) analyzer.countRecords(batch.tableRows);
      if (batch.unchecked) analyzer.unchecked(batch.unchecked);
      for (const rec of batch.records) {
        if (rec.kind === 'kv') {
          bytesSince += rec.value.length;
          const wait = analyzer.kv(rec);
          if (wait) await wait;
        } else if (rec.kind === 'file') {
          bytesSince += rec.bytes.length;
          const wait = analyzer.file(rec);
          if (wait) await wait;
        } else if (rec.kind === 'sample') {
          const wait = analyzer.sample(rec);
          if (wait) await wait;
        } else {
          bytesSince += rec.data.byteLength;
          analyzer.rows(rec);
        }
      }
      sinceProgress += batch.records.length;
      if (progress && sinceProgress >= PROGRESS_EVERY) {
        progress(sinceProgress, bytesSince);
        sinceProgress = 0;
        bytesSince = 0;
      }
    }
  } finally {
    // Left early (a throw): let the reader run its own cleanup (close files), as for-of would, and keep the
    // error that got us here rather than one of the cleanup's.
    if (!done) {
      try {
        if (sync !== undefined) sync.return?.();
        else await async?.return?.();
      } catch {
        // the first error is the one thrown on
      }
    }
  }
  if (progress && sinceProgress > 0) progress(sinceProgress, bytesSince);
  return analyzer.finish();
}
