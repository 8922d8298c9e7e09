/**
 * The worker side: takes partition tasks and returns their results, as a worker thread or as a child process (see
 * pool.ts for which runs where). worker.ts is the entry that starts it; tests start it with observers.
 *
 * In a thread, a partition that reaches an encoded image stops before decoding it and answers `isolate`: native
 * decoders (libvips through sharp) can crash on hostile input, and a crash in a thread would take the whole scan
 * down, while a dead child process only fails its task. The pool reruns such partitions in processes.
 */
import { parentPort } from 'node:worker_threads';
import { codeCachePoint } from '../bundle-host.js';
import { loadKernel } from '../kernels/scan.js';
import { NEEDS_ISOLATION, type FromWorker, type ToWorker } from './protocol.js';
import { ReaderCache, runPartition } from './run-partition.js';
import { receiveModules } from '../wasm-share.js';
import type { RecordObserver } from '../checks/record.js';

/** Starts answering the pool's messages in this thread or process. */
export function startWorker(observer?: RecordObserver): void {

  const inThread = parentPort !== null;
  const post: (m: FromWorker) => void = parentPort !== null
    ? (m) => { parentPort!.postMessage(m); }
    : (() => {
      const send = process.send?.bind(process);
      if (!send) throw new Error('pool/worker.js must run as a worker thread or a child process with an IPC channel.');
      return (m: FromWorker) => { send(m); };
    })();

  class NeedsIsolation extends Error {
    constructor() {
      super(NEEDS_ISOLATION);
    }
  }

  const readers = new ReaderCache();

  // Tasks run one after another: the pool sends a worker its next task only when it is idle.
  let queue: Promise<void> = Promise.resolve();
  const onMessage = (msg: ToWorker): void => {
    queue = queue.then(async () => {
      if (msg.type === 'close') {
        await readers.close(msg.sourcePath);
        return;
      }
      if (msg.modules !== undefined) receiveModules(msg.modules);
      try {
        const kernel = loadKernel({ forceJs: msg.options.forceJsKernel });
        const reader = await readers.get(msg.source);
        const result = await runPartition(reader, msg.partition, kernel, msg.options, {
          progress: (records, bytes) => post({ type: 'progress', records, bytes }),
          // In a process rerunning a task after a crash: said before each native decode starts, so that if it kills
          // this process the pool knows which record did. In a thread: no native decode at all.
          ...(inThread
            ? { nativeStart: () => { throw new NeedsIsolation(); } }
            : msg.trackNative === true ? { nativeStart: (index: number) => post({ type: 'native', taskId: msg.taskId, index }) } : {}),
          skip: msg.skip ?? [],
          ...(observer === undefined ? {} : { observer }),
        });
        post({ type: 'result', taskId: msg.taskId, result });
        codeCachePoint();
      } catch (e) {
        if (e instanceof NeedsIsolation) {
          post({ type: 'isolate', taskId: msg.taskId });
          return;
        }
        const err = e instanceof Error ? e : new Error(String(e));
        // Name and code let the pool tell a bug (TypeError…: the scan fails) from damage (a finding).
        const code = (err as { code?: unknown }).code;
        post({
          type: 'error', taskId: msg.taskId, message: err.message, name: err.name,
          ...(typeof code === 'string' ? { code } : {}), ...(err.stack ? { stack: err.stack } : {}),
        });
      }
    });
  };

  if (parentPort !== null) {
    parentPort.on('message', onMessage);
  } else {
    process.on('message', onMessage);
    // The main process went away: nothing left to do.
    process.on('disconnect', () => process.exit(0));
    // Ctrl-C reaches the whole process group: the main process decides (it stops us and writes the report).
    process.on('SIGINT', () => undefined);
  }
  // Messages sent before a 'message' listener exists are lost: the pool sends tasks only after this.
  post({ type: 'ready' });
}
