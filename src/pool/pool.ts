/** The worker pool: worker threads and processes, or the same partition code in this thread (`workers: 0`). */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { fork } from 'node:child_process';
import { internalError, isInternalError, ScanError } from '../errors.js';
import { loadKernel } from '../kernels/scan.js';
import { Worker } from 'node:worker_threads';
import type { FromWorker, PartitionResult, TaskMessage, ToWorker } from './protocol.js';
import type { Source } from '../readers/types.js';
import { packageFile } from '../package-root.js';
import { ReaderCache, runPartition } from './run-partition.js';
import { sharedModuleCount, sharedModules } from '../wasm-share.js';

export type Task = Omit<TaskMessage, 'type' | 'taskId'>;

export interface Pool {
  run(task: Task): Promise<PartitionResult>;
  /** Lets workers close their readers of a finished source. */
  closeSource(absPath: string): void;
  /**
   * A source is about to be planned: start the workers it will need. `isolated`: its reader declares that its
   * records go to native decoders (ReaderModule.isolated), so all its partitions run in worker processes.
   */
  prepare(source: Source, isolated: boolean): void;
  destroy(): Promise<void>;
}

function aborted(): ScanError {
  return new ScanError('SCAN_ABORTED', 'The scan was stopped.');
}

export type ProgressListener = (records: number, bytes: number) => void;

/**
 * Resolves the worker entry: the compiled `worker.js` beside this module (dist/pool/), or in the command's bundle
 * its own bundled worker, `worker.cjs` (dist/bundle/: scripts/bundle.mjs). Run from source (tests under
 * vitest), this module is `src/pool/pool.ts` and Node cannot run a TypeScript worker by itself
 * (vitest-dev/vitest#6040), so the built `dist/pool/worker.js` is used: `npm test` builds first.
 */
export function defaultWorkerEntry(): URL {
  for (const name of ['./worker.cjs', './worker.js']) {
    const beside = new URL(name, import.meta.url);
    if (existsSync(fileURLToPath(beside))) return beside;
  }
  const built = packageFile('dist/pool/worker.js');
  if (existsSync(fileURLToPath(built))) return built;
  throw new ScanError('SCAN_INTERNAL', `No compiled worker at ${fileURLToPath(built)}: run 'npm run build'.`);
}

/**
 * Workers that die before saying 'ready' this many times in a row (a broken install, a worker entry that
 * throws on load, a system out of threads or processes) fail the scan with SCAN_INTERNAL instead of being
 * started again forever. A worker that starts and then dies on a record is crash isolation's business.
 */
export const MAX_START_FAILURES = 3;

export interface WorkerPoolOptions {
  /** Workers at most (threads and processes each). */
  size: number;
  onProgress?: ProgressListener;
  /** The worker entry module. Default: the compiled pool/worker.js (defaultWorkerEntry). */
  entry?: URL;
}

/** A worker's error message as the error it stands for: SCAN_INTERNAL for a bug, else SCAN_WORKER_FAILED. */
function workerError(m: { message: string; stack?: string; name?: string; code?: string }): ScanError {
  const original = Object.assign(new (globalErrorClass(m.name))(m.message), m.code === undefined ? {} : { code: m.code });
  if (m.stack !== undefined) original.stack = m.stack;
  if (m.name === 'ScanError' && m.code === 'SCAN_INTERNAL') {
    return new ScanError('SCAN_INTERNAL', m.message, { cause: original, data: { stack: m.stack } });
  }
  if (isInternalError(original)) {
    return new ScanError('SCAN_INTERNAL', `${original.name} in a worker: ${m.message}`, { cause: original, data: { stack: m.stack } });
  }
  return new ScanError('SCAN_WORKER_FAILED', m.message, { data: { stack: m.stack } });
}

function globalErrorClass(name: string | undefined): ErrorConstructor {
  switch (name) {
    case 'TypeError': return TypeError;
    case 'RangeError': return RangeError;
    case 'ReferenceError': return ReferenceError;
    case 'SyntaxError': return SyntaxError;
    case 'EvalError': return EvalError;
    default: return Error;
  }
}

interface Pending {
  msg: TaskMessage;
  resolve: (r: PartitionResult) => void;
  reject: (e: Error) => void;
  /** Runs of this task that ended with its worker dying. */
  crashes: number;
  /** Runs in a worker process (it may decode with a native library), not a thread. */
  isolate: boolean;
}

type WorkerKind = 'thread' | 'process';

/** One worker, thread or process, behind the few operations the pool needs. */
interface Slot {
  kind: WorkerKind;
  send(m: ToWorker): void;
  /** Whether messages can still be sent. */
  alive(): boolean;
  kill(): Promise<void>;
  /** Keeps the main process alive (busy) or not (idle). */
  hold(busy: boolean): void;
  task: Pending | undefined;
  /** The record whose native decode started last in this worker (for crash isolation). */
  lastNative: number | undefined;
  /** The end of the worker's stderr, for the message when it dies. */
  stderr: string;
  /** The worker listens for tasks (it said 'ready'). */
  ready: boolean;
  /** Shared wasm modules sent to it so far. */
  modulesSent: number;
}

/**
 * Crash isolation: a task whose worker dies is run again in a fresh worker with one image decode at a time;
 * if it dies again, the record being decoded is the culprit and is skipped (reported as a finding) on the next
 * run. After this many deaths the partition is given up (an io_error finding).
 */
const MAX_CRASHES = 6;

/**
 * Old-generation heap cap per worker. A worker past it dies (a thread with ERR_WORKER_OUT_OF_MEMORY, a process
 * with a V8 fatal error): its partition is retried once, then reported, and the scan goes on. Record buffers are
 * not on this heap; readers bound those themselves (LMDB values over 1 GiB, HDF5 rows over 512 MiB, images over
 * the pixel limit are findings). NANSCAN_WORKER_HEAP_MB overrides it.
 */
export const WORKER_HEAP_MB = Number(process.env['NANSCAN_WORKER_HEAP_MB']) || 2048;

/**
 * Main side of the worker pool: a FIFO of partition tasks, one task per idle worker, at most `size` tasks at once.
 * It knows nothing about formats or checks; it moves TaskMessages and PartitionResults.
 *
 * Two kinds of workers. Threads start fast and cost little per message, and run everything that is pure
 * JavaScript or WebAssembly (our LMDB and LevelDB readers, h5wasm, the kernel): measured, `size` threads scan
 * raw Datums 1.3–1.4× faster than processes. Processes contain crashes: image formats go to them from the
 * start, and a key/value partition that meets an encoded image in a thread is rerun in a process (as is the
 * rest of that source). Each kind starts when a source first needs it (prepare(); processes also for a task waiting for one).
 */
export class WorkerPool implements Pool {
  private readonly threads: Slot[] = [];
  private readonly processes: Slot[] = [];
  private readonly queue: Pending[] = [];
  /** Sources whose reader is isolated, or found to hold encoded images: their (remaining) partitions run in processes. */
  private readonly isolatedSources = new Set<string>();
  private nextId = 0;
  private destroyed = false;
  private readonly size: number;
  private readonly onProgress: ProgressListener | undefined;
  private readonly entry: URL | undefined;
  /** Workers in a row that died before they were ready (reset by any 'ready'). */
  private startFailures = 0;
  /** Set when workers cannot start: every task rejects with it. */
  private failure: ScanError | undefined;

  constructor(options: WorkerPoolOptions) {
    this.size = options.size;
    this.onProgress = options.onProgress;
    this.entry = options.entry;
  }

  private workerEntry(): URL {
    return this.entry ?? defaultWorkerEntry();
  }

  run(task: Task): Promise<PartitionResult> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.destroyed) return Promise.reject(aborted());
    const isolate = this.isolatedSources.has(task.source.absPath);
    return new Promise((resolve, reject) => {
      this.queue.push({ msg: { type: 'task', taskId: this.nextId++, ...task }, resolve, reject, crashes: 0, isolate });
      this.dispatch();
    });
  }

  /**
   * Starts the workers a source will need while the main thread opens and plans it: processes for image
   * sources, threads for the others (an image scan starts no thread, a database scan no process).
   */
  prepare(source: Source, isolated: boolean): void {
    if (this.destroyed || this.failure !== undefined) return;
    if (isolated) {
      this.isolatedSources.add(source.absPath);
      while (this.processes.length < this.size) this.processes.push(this.spawn('process'));
    } else if (this.threads.length < this.size) {
      while (this.threads.length < this.size) this.threads.push(this.spawn('thread'));
    }
  }

  closeSource(absPath: string): void {
    this.isolatedSources.delete(absPath);
    for (const s of this.slots()) if (s.alive()) s.send({ type: 'close', sourcePath: absPath });
  }

  /** Stops every worker now; queued and running tasks reject with `SCAN_ABORTED`. Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    const all = this.slots();
    const pending = [...this.queue.splice(0), ...all.flatMap((s) => (s.task ? [s.task] : []))];
    for (const s of all) s.task = undefined;
    for (const t of pending) t.reject(aborted());
    await Promise.all(all.map((s) => s.kill()));
  }

  private slots(): Slot[] {
    return [...this.threads, ...this.processes];
  }

  /** Starts a worker. Node refusing to (a bad entry path, no threads or processes left) is SCAN_INTERNAL. */
  private spawn(kind: WorkerKind): Slot {
    try {
      return kind === 'thread' ? this.threadSlot() : this.processSlot();
    } catch (e) {
      throw internalError(`Starting a worker ${kind}`, e);
    }
  }

  private threadSlot(): Slot {
    const w = new Worker(this.workerEntry(), {
      stderr: true, resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
    });
    let exited = false;
    const slot: Slot = {
      kind: 'thread', task: undefined, lastNative: undefined, stderr: '', ready: false, modulesSent: 0,
      send: (m) => w.postMessage(m),
      alive: () => !exited,
      kill: async () => { if (!exited) await w.terminate(); },
      hold: (busy) => { if (busy) w.ref(); else w.unref(); },
    };
    this.listen(slot, w.stderr, (on) => w.on('message', on));
    // A thread that throws outside a task or runs out of heap emits 'error' and then 'exit'.
    w.on('error', (e) => { slot.stderr = `${slot.stderr}${e.message}\n`.slice(-2000); });
    w.on('exit', (code) => {
      exited = true;
      this.died(slot, `exited with code ${code}`);
    });
    return slot;
  }

  private processSlot(): Slot {
    // 'advanced' serialization: typed arrays (labels) cross the IPC channel as typed arrays.
    const child = fork(fileURLToPath(this.workerEntry()), [], {
      serialization: 'advanced', stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      execArgv: [...process.execArgv, `--max-old-space-size=${WORKER_HEAP_MB}`],
    });
    const gone = (): boolean => child.exitCode !== null || child.signalCode !== null;
    const slot: Slot = {
      kind: 'process', task: undefined, lastNative: undefined, stderr: '', ready: false, modulesSent: 0,
      send: (m) => { child.send(m); },
      alive: () => child.connected,
      kill: () => new Promise<void>((resolve) => {
        if (gone()) { resolve(); return; }
        child.once('exit', () => resolve());
        // An idle worker is unreferenced: reference it again, or its exit may never be waited for.
        child.ref();
        child.kill();
      }),
      hold: (busy) => {
        if (busy) { child.ref(); child.channel?.ref(); } else { child.unref(); child.channel?.unref(); }
      },
    };
    this.listen(slot, child.stderr, (on) => child.on('message', on));
    child.on('exit', (code, signal) => this.died(slot, signal ? `killed by ${signal}` : `exited with code ${code}`));
    child.on('error', () => { /* 'exit' follows and handles it */ });
    return slot;
  }

  private listen(slot: Slot, stderr: NodeJS.ReadableStream | null, onMessage: (f: (m: FromWorker) => void) => void): void {
    stderr?.setEncoding('utf8');
    stderr?.on('data', (d: string) => {
      slot.stderr = (slot.stderr + d).slice(-2000);
    });
    onMessage((m) => {
      if (m.type === 'ready') {
        slot.ready = true;
        this.startFailures = 0;
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
        else if (m.type === 'isolate') {
          // Progress already counted from the thread's run is counted again: progress is a hint, results exact.
          const source = t.msg.source.absPath;
          this.isolatedSources.add(source);
          t.isolate = true;
          for (const q of this.queue) if (q.msg.source.absPath === source) q.isolate = true;
          this.queue.unshift(t);
        } else t.reject(workerError(m));
      }
      this.dispatch();
    });
  }

  /** A worker exited: replace it, and rerun or give up its task. */
  private died(slot: Slot, how: string): void {
    if (this.destroyed || this.failure !== undefined) return;
    const list = slot.kind === 'thread' ? this.threads : this.processes;
    const i = list.indexOf(slot);
    if (i < 0) return;
    if (!slot.ready && ++this.startFailures >= MAX_START_FAILURES) {
      // The error without its stack (stacks are for --debug) and Node's version banner.
      const tail = slot.stderr.split('\n').map((l) => l.trim())
        .filter((l) => l !== '' && !/^at /.test(l) && !/^Node\.js v/.test(l)).slice(-2).join(' | ');
      this.fail(new ScanError('SCAN_INTERNAL',
        `nanscan's worker ${slot.kind === 'thread' ? 'threads' : 'processes'} could not start (${MAX_START_FAILURES} tried; the last ${how}${tail ? `: ${tail}` : ''})`,
        { data: { stderr: slot.stderr } }));
      return;
    }
    try {
      list[i] = this.spawn(slot.kind);
    } catch (e) {
      // In an event handler: fail the tasks (the scan rejects) rather than throw where no one catches.
      this.fail(e as ScanError);
      return;
    }
    const t = slot.task;
    slot.task = undefined;
    if (t) this.crashed(t, slot, how);
    this.dispatch();
  }

  /** Workers cannot start: reject everything with `e`, stop the others, start no more. */
  private fail(e: ScanError): void {
    this.failure = e;
    const all = this.slots();
    const pending = [...this.queue.splice(0), ...all.flatMap((s) => (s.task ? [s.task] : []))];
    for (const s of all) s.task = undefined;
    for (const t of pending) t.reject(e);
    for (const s of all) void s.kill();
  }

  /** A worker died running `t`: run it again, isolating and skipping the record that killed it. */
  private crashed(t: Pending, slot: Slot, how: string): void {
    t.crashes++;
    const culprit = slot.lastNative;
    if (t.crashes > MAX_CRASHES || (t.crashes > 1 && culprit === undefined)) {
      const tail = slot.stderr.trim().split('\n').slice(-3).join(' | ');
      t.reject(new ScanError('SCAN_WORKER_FAILED', `the worker ${slot.kind} ${how}${tail ? ` (${tail})` : ''}`));
      return;
    }
    // First death: the record is unknown (several decodes were in flight); run again one decode at a time.
    // Later deaths: the record being decoded is the one, since only one was.
    const skip = [...(t.msg.skip ?? [])];
    if (t.crashes > 1 && culprit !== undefined && !skip.includes(culprit)) skip.push(culprit);
    t.msg = { ...t.msg, skip, trackNative: true, options: { ...t.msg.options, imageConcurrency: 1 } };
    this.queue.unshift(t);
  }

  private dispatch(): void {
    // After destroy() the workers are being killed and awaited: a late message must not unreference them.
    if (this.destroyed || this.failure !== undefined) return;
    let busy = this.slots().filter((s) => s.task !== undefined).length;
    for (let qi = 0; qi < this.queue.length && busy < this.size;) {
      const t = this.queue[qi]!;
      const list = t.isolate ? this.processes : this.threads;
      const slot = list.find((s) => s.task === undefined && s.ready && s.alive());
      if (slot === undefined) {
        qi++;
        continue;
      }
      this.queue.splice(qi, 1);
      slot.task = t;
      slot.lastNative = undefined;
      slot.hold(true);
      // Threads get the compiled wasm modules this thread has shared since their last task.
      const shared = sharedModuleCount();
      if (slot.kind === 'thread' && shared > slot.modulesSent) {
        slot.modulesSent = shared;
        slot.send({ ...t.msg, modules: sharedModules() });
      } else slot.send(t.msg);
      busy++;
    }
    // Threads start in prepare(). Processes also start when a database source turns out to hold encoded
    // images: as many as tasks wait for one (at most `size`).
    const waiting = this.queue.filter((t) => t.isolate).length;
    let starting = this.processes.filter((s) => !s.ready).length;
    while (this.processes.length < this.size && starting < waiting) {
      try {
        this.processes.push(this.spawn('process'));
      } catch (e) {
        this.fail(e as ScanError);
        return;
      }
      starting++;
    }
    // A worker still starting stays referenced while tasks wait: its 'ready' must be able to arrive.
    for (const s of this.slots()) if (s.task === undefined && (s.ready || this.queue.length === 0)) s.hold(false);
  }
}

/**
 * Thrown by an InProcessPool made with `refuseNative` when a partition reaches a native decode: the task must run
 * in a worker process instead (a hostile image can crash a native decoder, and must not take this process along).
 */
export class NativeDecodeRefused extends Error {
  constructor() {
    super('nanscan: a native decode must run in a worker process');
  }
}

/**
 * The same partition code, in this thread: `workers: 0` (debugging, tiny inputs), and small sources of a scan with
 * workers (reading them costs less than starting worker threads). With `refuseNative`, a partition that reaches a
 * native image decode stops with NativeDecodeRefused.
 */
export class InProcessPool implements Pool {
  private readonly readers = new ReaderCache();

  constructor(private readonly onProgress?: ProgressListener, private readonly refuseNative = false) {}

  /** Tasks run one at a time, as in a worker: readers lend views into shared buffers while a partition runs. */
  private tail: Promise<unknown> = Promise.resolve();

  private destroyed = false;

  run(task: Task): Promise<PartitionResult> {
    const next = this.tail.then(async () => {
      if (this.destroyed) throw aborted();
      const reader = await this.readers.get(task.source);
      const kernel = loadKernel({ forceJs: task.options.forceJsKernel });
      return runPartition(reader, task.partition, kernel, task.options, {
        ...(this.onProgress ? { progress: this.onProgress } : {}),
        ...(this.refuseNative ? { nativeStart: () => { throw new NativeDecodeRefused(); } } : {}),
      });
    });
    this.tail = next.catch(() => undefined);
    return next;
  }

  closeSource(absPath: string): void {
    void this.readers.close(absPath);
  }

  prepare(): void {}

  async destroy(): Promise<void> {
    this.destroyed = true;
    await this.readers.closeAll();
  }
}
