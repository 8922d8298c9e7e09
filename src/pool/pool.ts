/**
 * Main-thread side of the worker pool: N workers, a FIFO of partition tasks, one task per idle worker.
 * It knows nothing about formats or checks; it moves TaskMessages and PartitionResults.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ScanError } from '../errors.js';
import { loadKernel } from '../kernels/scan.js';
import type { FromWorker, PartitionResult, TaskMessage } from './protocol.js';
import { ReaderCache, runPartition } from './run-partition.js';

export type Task = Omit<TaskMessage, 'type' | 'taskId'>;

export interface Pool {
  run(task: Task): Promise<PartitionResult>;
  /** Lets workers close their readers of a finished source. */
  closeSource(absPath: string): void;
  destroy(): Promise<void>;
}

function aborted(): ScanError {
  return new ScanError('SCAN_ABORTED', 'The scan was stopped.');
}

export type ProgressListener = (records: number, bytes: number) => void;

interface Pending {
  msg: TaskMessage;
  resolve: (r: PartitionResult) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  task: Pending | undefined;
}

/**
 * Resolves the worker entry: the compiled `worker.js` beside this module. Run from source (tests under
 * vitest), this module is `src/pool/pool.ts`, and Node cannot load a TypeScript worker by itself
 * (vitest-dev/vitest#6040), so the built `dist/pool/worker.js` is used: `npm test` builds first.
 */
function workerEntry(): URL {
  const beside = new URL('./worker.js', import.meta.url);
  if (existsSync(fileURLToPath(beside))) return beside;
  const built = new URL('../../dist/pool/worker.js', import.meta.url);
  if (existsSync(fileURLToPath(built))) return built;
  throw new ScanError('SCAN_WORKER_FAILED', `No compiled worker at ${fileURLToPath(built)}: run 'npm run build'.`);
}

export class WorkerPool implements Pool {
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private nextId = 0;
  private destroyed = false;

  constructor(size: number, private readonly onProgress?: ProgressListener) {
    for (let i = 0; i < size; i++) this.slots.push(this.spawn());
  }

  run(task: Task): Promise<PartitionResult> {
    if (this.destroyed) return Promise.reject(aborted());
    return new Promise((resolve, reject) => {
      this.queue.push({ msg: { type: 'task', taskId: this.nextId++, ...task }, resolve, reject });
      this.dispatch();
    });
  }

  closeSource(absPath: string): void {
    for (const s of this.slots) s.worker.postMessage({ type: 'close', sourcePath: absPath });
  }

  /** Stops every worker now; queued and running tasks reject with `SCAN_ABORTED`. Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    const pending = [...this.queue.splice(0), ...this.slots.flatMap((s) => (s.task ? [s.task] : []))];
    for (const s of this.slots) s.task = undefined;
    for (const t of pending) t.reject(aborted());
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private spawn(): Slot {
    const worker = new Worker(workerEntry());
    const slot: Slot = { worker, task: undefined };
    worker.on('message', (m: FromWorker) => {
      if (m.type === 'progress') {
        this.onProgress?.(m.records, m.bytes);
        return;
      }
      const t = slot.task;
      slot.task = undefined;
      if (t) {
        if (m.type === 'result') t.resolve(m.result);
        else t.reject(new ScanError('SCAN_WORKER_FAILED', m.message, { data: { stack: m.stack } }));
      }
      this.dispatch();
    });
    // A worker that dies (an uncaught error, or a native crash it could report) fails its task only;
    // a fresh worker takes its place for the rest of the queue.
    const replace = (err: Error): void => {
      const t = slot.task;
      slot.task = undefined;
      if (this.destroyed) return;
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots[i] = this.spawn();
      t?.reject(new ScanError('SCAN_WORKER_FAILED', `Worker failed: ${err.message}`, { cause: err }));
      this.dispatch();
    };
    worker.on('error', replace);
    worker.on('exit', (code) => {
      if (!this.destroyed && this.slots.includes(slot)) replace(new Error(`worker exited with code ${code}`));
    });
    worker.unref();
    return slot;
  }

  private dispatch(): void {
    for (const s of this.slots) {
      if (s.task !== undefined) continue;
      const next = this.queue.shift();
      if (next === undefined) return;
      s.task = next;
      s.worker.ref();
      s.worker.postMessage(next.msg);
    }
    // Idle workers must not keep a library user's process alive.
    for (const s of this.slots) if (s.task === undefined) s.worker.unref();
  }
}

/** `workers: 0`: the same partition code, in this thread. For debugging and tiny inputs. */
export class InProcessPool implements Pool {
  private readonly readers = new ReaderCache();

  constructor(private readonly onProgress?: ProgressListener) {}

  /** Tasks run one at a time, as in a worker: readers lend views into shared buffers while a partition runs. */
  private tail: Promise<unknown> = Promise.resolve();

  private destroyed = false;

  run(task: Task): Promise<PartitionResult> {
    const next = this.tail.then(async () => {
      if (this.destroyed) throw aborted();
      const reader = await this.readers.get(task.source);
      const kernel = loadKernel({ forceJs: task.options.forceJsKernel });
      return runPartition(reader, task.partition, kernel, task.options, this.onProgress);
    });
    this.tail = next.catch(() => undefined);
    return next;
  }

  closeSource(absPath: string): void {
    void this.readers.close(absPath);
  }

  async destroy(): Promise<void> {
    this.destroyed = true;
    await this.readers.closeAll();
  }
}
