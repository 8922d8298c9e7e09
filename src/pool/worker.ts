/**
 * Worker entry: a child process that takes partition tasks from the main process and returns their results.
 * A process, not a thread: native decoders (libvips through sharp) can crash on hostile input, and a crash in
 * a worker thread would take the whole scan down, while a dead child only fails its task. Wiring only.
 */
import { loadKernel } from '../kernels/scan.js';
import type { FromWorker, ToWorker } from './protocol.js';
import { ReaderCache, runPartition } from './run-partition.js';

const send = process.send?.bind(process);
if (!send) throw new Error('pool/worker.js must run as a child process with an IPC channel.');
const post = (m: FromWorker): void => { send(m); };

const readers = new ReaderCache();

// Tasks run one after another: the main process sends a worker its next task only when it is idle.
let queue: Promise<void> = Promise.resolve();
process.on('message', (msg: ToWorker) => {
  queue = queue.then(async () => {
    if (msg.type === 'close') {
      await readers.close(msg.sourcePath);
      return;
    }
    try {
      const kernel = loadKernel({ forceJs: msg.options.forceJsKernel });
      const reader = await readers.get(msg.source);
      const result = await runPartition(reader, msg.partition, kernel, msg.options, {
        progress: (records, bytes) => post({ type: 'progress', records, bytes }),
        // Said before each native decode starts, so that if it kills this process the main one knows which.
        nativeStart: (index) => post({ type: 'native', taskId: msg.taskId, index }),
        skip: msg.skip ?? [],
      });
      post({ type: 'result', taskId: msg.taskId, result });
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      post({ type: 'error', taskId: msg.taskId, message: err.message, ...(err.stack ? { stack: err.stack } : {}) });
    }
  });
});
// The main process went away: nothing left to do.
process.on('disconnect', () => process.exit(0));
// Ctrl-C reaches the whole process group: the main process decides (it stops us and writes the report).
process.on('SIGINT', () => undefined);
// Messages sent before a 'message' listener exists are lost: the main process sends tasks only after this.
post({ type: 'ready' });
