/**
 * Recognising Parquet and Arrow IPC files without loading their libraries: discovery calls these on every
 * candidate file, so they read 8 bytes and never throw.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { OPEN_FLAGS } from '../files.js';

/** File names Parquet files go by. */
export const PARQUET_EXTENSION = /\.parquet$/i;
/** File names Arrow IPC files and streams go by (Hugging Face `datasets` caches: `.arrow`; Feather v2). */
export const ARROW_EXTENSION = /\.(arrow|arrows|feather|ipc)$/i;

/** `ARROW1`: the start of an Arrow IPC file (Feather v2). */
const ARROW_FILE_MAGIC = Buffer.from('ARROW1');
/** The continuation marker each message of an Arrow IPC stream starts with (since Arrow 0.15). */
const CONTINUATION = 0xffffffff;
/** A schema message longer than this is not believed when sniffing a file by its content alone. */
const MAX_SNIFF_SCHEMA_BYTES = 16 * 1024 * 1024;

function head(file: string): Buffer | null {
  try {
    const fd = openSync(file, OPEN_FLAGS);
    try {
      const b = Buffer.alloc(8);
      return b.subarray(0, readSync(fd, b, 0, 8, 0));
    } finally {
      closeSync(fd);
    }
  } catch {
    return null;
  }
}

/** Whether `file` starts with the Parquet magic `PAR1`. */
export function isParquetFile(file: string): boolean {
  const b = head(file);
  return b !== null && b.length >= 4 && b.toString('latin1', 0, 4) === 'PAR1';
}

/**
 * Whether `file` is an Arrow IPC file (`ARROW1`) or stream: the continuation marker and a schema message length
 * that is a multiple of 8 (messages are padded to 8 bytes) and believable.
 */
export function isArrowFile(file: string): boolean {
  const b = head(file);
  if (b === null || b.length < 8) return false;
  if (b.subarray(0, 6).equals(ARROW_FILE_MAGIC)) return true;
  const len = b.readUInt32LE(4);
  return b.readUInt32LE(0) === CONTINUATION && len > 0 && len % 8 === 0 && len <= MAX_SNIFF_SCHEMA_BYTES;
}
