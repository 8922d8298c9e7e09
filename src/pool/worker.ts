/** Worker-thread entry: takes partition tasks from the main thread and returns their results. Wiring only. */
import { parentPort } from 'node:worker_threads';
import { loadKernel } from '../kernels/scan.js';
import type { FromWorker, ToWorker } from './protocol.js';
import { ReaderCache, runPartition } from './run-partition.js';

const port = parentPort;
if (!port) throw new Error('pool/worker.js must run in a worker thread.');

const readers = new ReaderCache();
const post = (m: FromWorker, transfer?: ArrayBuffer[]): void => port.postMessage(m, transfer ?? []);

// Tasks run one after another: the main thread sends a worker its next task only when it is idle.
let queue: Promise<void> = Promise.resolve();
port.on('message', (msg: ToWorker) => {
  queue = queue.then(async () => {
    if (msg.type === 'close') {
      await readers.close(msg.sourcePath);
      return;
    }
    try {
      const kernel = loadKernel({ forceJs: msg.options.forceJsKernel });
      const reader = await readers.get(msg.source);
      const result = await runPartition(reader, msg.partition, kernel, msg.options, (records, bytes) =>
        post({ type: 'progress', records, bytes }));
      post({ type: 'result', taskId: msg.taskId, result }, [result.labels.buffer as ArrayBuffer]);
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      post({ type: 'error', taskId: msg.taskId, message: err.message, ...(err.stack ? { stack: err.stack } : {}) });
    }
  });
});
