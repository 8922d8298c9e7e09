/**
 * HDF5 reader throughput (not a test): reads every row of FILE through the reader, touching one value per 4 KiB
 * page (the read itself is what is measured), in this thread (plan(1)) and with 2 worker threads sharing the
 * file (plan(2), each worker opening it itself; timed from a common start, after the workers have loaded).
 * Prints GB/s of dataset bytes and peak RSS.
 *
 * usage: node test/readers/hdf5/ts-entry.mjs test/readers/hdf5/bench.ts FILE [REPEATS]
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { hdf5Reader } from '../../../src/readers/hdf5/index.js';
import type { Partition, Reader, RecordBatch, Source } from '../../../src/readers/types.js';

/** Elements between touches: one 4-byte value per 4 KiB page. */
const TOUCH_STRIDE = 1024;
const ENTRY = fileURLToPath(new URL('./ts-entry.mjs', import.meta.url));

async function readPartition(reader: Reader, part: Partition): Promise<{ bytes: number; acc: number }> {
  let bytes = 0;
  let acc = 0;
  for await (const batch of reader.read(part) as AsyncIterable<RecordBatch>) {
    for (const rec of batch.records) {
      if (rec.kind !== 'rows') continue;
      const d = rec.data;
      bytes += d.byteLength;
      if (d instanceof Float32Array || d instanceof Int32Array) for (let i = 0; i < d.length; i += TOUCH_STRIDE) acc += d[i] as number;
    }
  }
  return { bytes, acc };
}

if (!isMainThread) {
  const { source, part } = workerData as { source: Source; part: Partition };
  const reader = await hdf5Reader.open(source);
  parentPort?.once('message', () => {
    void readPartition(reader, part).then((r) => parentPort?.postMessage(r));
  });
  parentPort?.postMessage('ready');
} else {
  const file = path.resolve(process.argv[2] ?? '');
  const repeats = Number(process.argv[3] ?? 3);
  const source: Source = { format: 'hdf5', path: file, absPath: file };
  const reader = await hdf5Reader.open(source);
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const one: number[] = [];
  const two: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const [p] = reader.plan(1);
    let t = performance.now();
    const res = await readPartition(reader, p as Partition);
    one.push(res.bytes / ((performance.now() - t) / 1000) / 1e9);

    const workers = reader.plan(2).map((part) => new Worker(ENTRY, { argv: [fileURLToPath(import.meta.url)], workerData: { source, part } }));
    await Promise.all(workers.map((w) => new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    })));
    t = performance.now();
    const got = await Promise.all(workers.map((w) => new Promise<{ bytes: number }>((resolve) => {
      w.once('message', resolve);
      w.postMessage('go');
    })));
    two.push(got.reduce((a, g) => a + g.bytes, 0) / ((performance.now() - t) / 1000) / 1e9);
    await Promise.all(workers.map((w) => w.terminate()));
  }
  const rss = process.resourceUsage().maxRSS / 1024;
  console.log(`${path.basename(file)} (${(statSync(file).size / 1e9).toFixed(2)} GB): 1 thread ${median(one).toFixed(2)} GB/s ` +
    `[${one.map((x) => x.toFixed(2)).join(' ')}], 2 workers ${median(two).toFixed(2)} GB/s [${two.map((x) => x.toFixed(2)).join(' ')}], ` +
    `peak RSS ${rss.toFixed(0)} MB (process, all threads)`);
}
