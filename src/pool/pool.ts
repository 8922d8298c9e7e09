/** The worker pool: worker processes, or the same partition code in this thread (`workers: 0`). */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { fork, type ChildProcess } from 'node:child_process';
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

/**
 * Resolves the worker entry: the compiled `worker.js` beside this module. Run from source (tests under
 * vitest), this module is `src/pool/pool.ts` and Node cannot run a TypeScript worker by itself
 * (vitest-dev/vitest#6040), so the built `dist/pool/worker.js` is used: `npm test` builds first.
 */
function workerEntry(): URL {
  const beside = new URL('./worker.js', import.meta.url);
  if (existsSync(fileURLToPath(beside))) return beside;
  const built = new URL('../../dist/pool/worker.js', import.meta.url);
  if (existsSync(fileURLToPath(built))) return built;
  throw new ScanError('SCAN_WORKER_FAILED', `No compiled worker at ${fileURLToPath(built)}: run 'npm run build'.`);
}

interface Pending {
  msg: TaskMessage;
  resolve: (r: PartitionResult) => void;
  reject: (e: Error) => void;
  /** Runs of this task that ended with the worker process dying. */
  crashes: number;
}

interface Slot {
  child: ChildProcess;
  task: Pending | undefined;
  /** The record whose native decode started last in this worker (for crash isolation). */
  lastNative: number | undefined;
  /** The end of the worker's stderr, for the message when it dies. */
  stderr: string;
  /** The worker listens for tasks (it said 'ready'). */
  ready: boolean;
}

/**
 * Crash isolation: a task whose worker dies is run again in a fresh worker with one image decode at a time;
 * if it dies again, the record being decoded is the culprit and is skipped (reported as a finding) on the next
 * run. After this many deaths the partition is given up (an io_error finding).
 */
const MAX_CRASHES = 6;

/**
 * Main side of the worker pool: N worker processes, a FIFO of partition tasks, one task per idle worker.
 * It knows nothing about formats or checks; it moves TaskMessages and PartitionResults.
 */
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
      this.queue.push({ msg: { type: 'task', taskId: this.nextId++, ...task }, resolve, reject, crashes: 0 });
      this.dispatch();
    });
  }

  closeSource(absPath: string): void {
    for (const s of this.slots) if (s.child.connected) s.child.send({ type: 'close', sourcePath: absPath });
  }

  /** Stops every worker now; queued and running tasks reject with `SCAN_ABORTED`. Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    const pending = [...this.queue.splice(0), ...this.slots.flatMap((s) => (s.task ? [s.task] : []))];
    for (const s of this.slots) s.task = undefined;
    for (const t of pending) t.reject(aborted());
    await Promise.all(this.slots.map((s) => new Promise<void>((resolve) => {
      if (s.child.exitCode !== null || s.child.signalCode !== null) { resolve(); return; }
      s.child.once('exit', () => resolve());
      // An idle worker is unreferenced: reference it again, or its exit may never be waited for.
      s.child.ref();
      s.child.kill();
    })));
  }

  private spawn(): Slot {
    // 'advanced' serialization: typed arrays (labels) cross the IPC channel as typed arrays.
    const child = fork(fileURLToPath(workerEntry()), [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
    const slot: Slot = { child, task: undefined, lastNative: undefined, stderr: '', ready: false };
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => {
      slot.stderr = (slot.stderr + d).slice(-2000);
    });
    child.on('message', (m: FromWorker) => {
      if (m.type === 'ready') {
        slot.ready = true;
        this.dispatch();
        return;
      }
      if (m.type === 'progress') {
        this.onProgress?.(m.records, m.bytes);
        return;
      }
      if (m.type === 'native') {
        slot.lastNative = m.index;
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
    child.on('exit', (code, signal) => {
      if (this.destroyed) return;
      const i = this.slots.indexOf(slot);
      if (i < 0) return;
      this.slots[i] = this.spawn();
      const t = slot.task;
      slot.task = undefined;
      if (t) this.crashed(t, slot, signal ? `killed by ${signal}` : `exited with code ${code}`);
      this.dispatch();
    });
    child.on('error', () => { /* 'exit' follows and handles it */ });
    return slot;
  }

  /** A worker died running `t`: run it again, isolating and skipping the record that killed it. */
  private crashed(t: Pending, slot: Slot, how: string): void {
    t.crashes++;
    const culprit = slot.lastNative;
    if (t.crashes > MAX_CRASHES || (t.crashes > 1 && culprit === undefined)) {
      const tail = slot.stderr.trim().split('\n').slice(-3).join(' | ');
      t.reject(new ScanError('SCAN_WORKER_FAILED', `the worker process ${how}${tail ? ` (${tail})` : ''}`));
      return;
    }
    // First death: the record is unknown (several decodes were in flight); run again one decode at a time.
    // Later deaths: the record being decoded is the one, since only one was.
    const skip = [...(t.msg.skip ?? [])];
    if (t.crashes > 1 && culprit !== undefined && !skip.includes(culprit)) skip.push(culprit);
    t.msg = { ...t.msg, skip, options: { ...t.msg.options, imageConcurrency: 1 } };
    this.queue.unshift(t);
  }

  private dispatch(): void {
    // After destroy() the workers are being killed and awaited: a late message must not unreference them.
    if (this.destroyed) return;
    for (const s of this.slots) {
      if (s.task !== undefined || !s.ready || !s.child.connected) continue;
      const next = this.queue.shift();
      if (next === undefined) break;
      s.task = next;
      s.lastNative = undefined;
      s.child.ref();
      s.child.channel?.ref();
      s.child.send(next.msg);
    }
    // A worker still starting stays referenced: its 'ready' must be able to arrive while a task waits for it.
    for (const s of this.slots) if (s.task === undefined && (s.ready || this.queue.length === 0)) this.idle(s);
  }

  /** Idle workers must not keep a library user's process alive. */
  private idle(s: Slot): void {
    s.child.unref();
    s.child.channel?.unref();
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
      return runPartition(reader, task.partition, kernel, task.options, this.onProgress ? { progress: this.onProgress } : {});
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
