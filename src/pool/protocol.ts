/** Messages between the main thread and workers. Everything here survives structured clone. */
import type { AnalyzeOptions, PartitionResult } from '../checks/result.js';
import type { Partition, Source } from '../readers/types.js';

export type { AnalyzeOptions, KvValues, PartitionResult, ShapeTally } from '../checks/result.js';

export interface TaskMessage {
  type: 'task';
  taskId: number;
  source: Source;
  partition: Partition;
  options: AnalyzeOptions;
  /** Records (by index) whose decode crashed a worker before: reported, not decoded again. */
  skip?: number[];
  /**
   * Say which record each native decode is for (a 'native' message before it starts): set on a rerun after a
   * crash, where the record that kills the worker must be named. First runs do without: a message per image
   * cost the main process a tenth of a core on a folder of small JPEGs.
   */
  trackNative?: boolean;
  /** Compiled wasm modules the main thread shares (threads only; see wasm-share.ts). */
  modules?: Record<string, object>;
}

export interface CloseMessage {
  type: 'close';
  sourcePath: string;
}

export type ToWorker = TaskMessage | CloseMessage;

export type FromWorker =
  | { type: 'result'; taskId: number; result: PartitionResult }
  | { type: 'ready' }
  | { type: 'progress'; records: number; bytes: number }
  /** A native decode of record `index` is about to start (see pool.ts, crash isolation). */
  | { type: 'native'; taskId: number; index: number }
  /** A worker thread stopped this task at its first native decode: run it in a worker process. */
  | { type: 'isolate'; taskId: number }
  /** The task threw: `name` and `code` tell a bug (SCAN_INTERNAL) from damage in the data (a finding). */
  | { type: 'error'; taskId: number; message: string; name?: string; code?: string; stack?: string };

/** Message of the error a worker thread stops a partition with when it reaches a native decode. */
export const NEEDS_ISOLATION = 'nanscan: native decode needs a worker process';
