/**
 * The log container shared by `NNNNNN.log` and `MANIFEST-NNNNNN` (LEVELDB.md §4): 32 KiB blocks of CRC-checked
 * physical records that carry FULL or FIRST/MIDDLE…/LAST fragments of logical records. The state machine mirrors
 * `db/log_reader.cc` — `ReadPhysicalRecord`/`ReadRecord` (§4.5) so that we keep exactly the records LevelDB keeps;
 * every case LevelDB reports, and the silent ones in the middle of a file, become problems with a byte offset.
 */
import { readFully } from '../files.js';
import { crc32cOf, unmask } from './crc32c.js';
import { fixed32 } from './varint.js';

/** §4.1 `db/log_format.h` — `kBlockSize`. */
export const LOG_BLOCK_SIZE = 32768;
/** §4.2 `kHeaderSize`: masked CRC (4), length (2), type (1). */
const HEADER_SIZE = 7;
/** §4.2 header field offsets. */
const LENGTH_OFFSET = 4;
const TYPE_OFFSET = 6;
/** §4.2 `enum RecordType`, plus the reader's private codes 5 and 6 that LevelDB does not tell apart (§4.5). */
const ZERO_TYPE = 0;
const FULL_TYPE = 1;
const FIRST_TYPE = 2;
const MIDDLE_TYPE = 3;
const LAST_TYPE = 4;
const EOF_CODE = 5;
const BAD_RECORD_CODE = 6;
/** Read this many blocks per system call: big enough to amortise the call, small enough for huge Caffe logs (§14). */
const CHUNK_BLOCKS = 32;

export interface LogProblem {
  /** File offset where the problem starts. */
  offset: number;
  /** Bytes LevelDB drops there (0 when nothing is dropped). */
  bytes: number;
  message: string;
  /** Set for what a crash leaves behind (a torn tail) and for oddities that lose nothing (see Damage.minor). */
  minor?: true;
}

export interface LogRecord {
  data: Uint8Array;
  /** File offset of the record's first fragment header. */
  offset: number;
}

/**
 * Logical records of a log file, in order. Each `data` is an owned copy of exactly the record (the read buffer is
 * reused: fresh 1 MiB buffers cost page faults and GC on logs of hundreds of MB). Reads only the first `size`
 * bytes; never throws for damage (I/O errors do throw).
 */
export function* readLogRecords(fd: number, size: number, report: (p: LogProblem) => void): Generator<LogRecord> {
  // Fragments of the record being assembled, copied here because the read buffer is reused.
  let assembly = new Uint8Array(0);
  let partsBytes = 0;
  let inFragment = false;
  let recordOffset = 0;
  // "missing start of fragmented record" comes once per orphan MIDDLE/LAST; coalesced into one problem (§4.5).
  let orphanOffset = -1;
  let orphanCount = 0;
  let orphanBytes = 0;

  const flushOrphans = (): void => {
    if (orphanCount === 0) return;
    report({
      offset: orphanOffset, bytes: orphanBytes, message: `${orphanCount} fragment(s) of a record whose start was lost (${orphanBytes} bytes) dropped`,
    });
    orphanCount = 0;
    orphanBytes = 0;
  };
  const dropPartial = (why: string): void => {
    if (inFragment && partsBytes > 0) {
      report({ offset: recordOffset, bytes: partsBytes, message: `record at offset ${recordOffset} lost: ${why}` });
    }
    inFragment = false;
    partsBytes = 0;
  };
  const append = (fragment: Uint8Array): void => {
    if (partsBytes + fragment.length > assembly.length) {
      // Doubling keeps appends linear; capped by the file size, which bounds every record.
      const grown = new Uint8Array(Math.max(partsBytes + fragment.length, Math.min(size, assembly.length * 2)));
      grown.set(assembly.subarray(0, partsBytes));
      assembly = grown;
    }
    assembly.set(fragment, partsBytes);
    partsBytes += fragment.length;
  };

  const buffer = new Uint8Array(Math.min(CHUNK_BLOCKS * LOG_BLOCK_SIZE, size));
  for (let chunkStart = 0; chunkStart < size; chunkStart += CHUNK_BLOCKS * LOG_BLOCK_SIZE) {
    const want = Math.min(CHUNK_BLOCKS * LOG_BLOCK_SIZE, size - chunkStart);
    const chunk = buffer.subarray(0, want);
    const got = readFully(fd, chunk, chunkStart).length;
    for (let blockStart = 0; blockStart < got; blockStart += LOG_BLOCK_SIZE) {
      const len = Math.min(LOG_BLOCK_SIZE, got - blockStart);
      // §4.5: LevelDB's `eof_` is set by a short block read; only there is a short record a torn tail.
      const eof = len < LOG_BLOCK_SIZE;
      const block = chunk.subarray(blockStart, blockStart + len);
      const fileBlock = chunkStart + blockStart;
      let pos = 0;
      for (;;) {
        const left = len - pos;
        if (left < HEADER_SIZE) {
          if (!eof) {
            // §4.3: the writer zero-fills a trailer of < 7 bytes; anything else is damage or a foreign file (L2).
            for (let i = pos; i < len; i++) {
              if (block[i] !== 0) {
                report({ offset: fileBlock + pos, bytes: left, minor: true, message: 'non-zero block trailer skipped' });
                break;
              }
            }
            break;
          }
          if (left > 0) tornTail(report, fileBlock + pos, left, 'a torn record header');
          finish();
          return;
        }
        const length = block[pos + LENGTH_OFFSET]! | (block[pos + LENGTH_OFFSET + 1]! << 8);
        const type = block[pos + TYPE_OFFSET]!;
        const at = fileBlock + pos;
        if (HEADER_SIZE + length > left) {
          if (!eof) {
            report({ offset: at, bytes: left, message: `bad record length ${length}: rest of the 32 KiB block dropped` });
            dropPartial('the log block holding its next fragment is damaged');
            break;
          }
          tornTail(report, at, left, `a record of ${length} bytes cut short`);
          finish();
          return;
        }
        if (type === ZERO_TYPE && length === 0) {
          // LevelDB drops the rest of the block silently (zero-filled space, §4.5); say so.
          report({ offset: at, bytes: left, minor: true, message: 'zero-filled space: rest of the 32 KiB block skipped' });
          dropPartial('zero-filled space follows its fragment');
          break;
        }
        // §4.2: the CRC covers the type byte and the payload, which are contiguous in the block.
        const crc = crc32cOf(block.subarray(pos + TYPE_OFFSET, pos + HEADER_SIZE + length));
        if (crc !== unmask(fixed32(block, pos))) {
          report({ offset: at, bytes: left, message: 'checksum mismatch: rest of the 32 KiB block dropped' });
          dropPartial('the log block holding its next fragment is damaged');
          break;
        }
        const fragment = block.subarray(pos + HEADER_SIZE, pos + HEADER_SIZE + length);
        pos += HEADER_SIZE + length;
        switch (type) {
          case FULL_TYPE:
            flushOrphans();
            dropPartial('a new record starts before its last fragment');
            yield { data: fragment.slice(), offset: at };
            break;
          case FIRST_TYPE:
            flushOrphans();
            dropPartial('a new record starts before its last fragment');
            inFragment = true;
            recordOffset = at;
            append(fragment);
            break;
          case MIDDLE_TYPE:
          case LAST_TYPE:
            if (!inFragment) {
              if (orphanCount === 0) orphanOffset = at;
              orphanCount++;
              orphanBytes += length;
            } else {
              append(fragment);
              if (type === LAST_TYPE) {
                const data = assembly.slice(0, partsBytes);
                inFragment = false;
                partsBytes = 0;
                yield { data, offset: recordOffset };
              }
            }
            break;
          case EOF_CODE:
            // LevelDB cannot tell a stored 5 from its private end-of-file code: the log ends here (§4.5).
            flushOrphans();
            report({
              offset: at, bytes: size - at, message: 'record type 5 (a foreign writer?) ends the log as LevelDB reads it; the rest is ignored',
            });
            inFragment = false;
            return;
          case BAD_RECORD_CODE:
            // LevelDB drops it silently, like a damaged record (§4.5).
            report({ offset: at, bytes: length, message: 'record type 6 (a foreign writer?) dropped' });
            dropPartial('a record of type 6 interrupts it');
            break;
          default:
            report({ offset: at, bytes: length + (inFragment ? partsBytes : 0), message: `unknown record type ${type} dropped` });
            inFragment = false;
            partsBytes = 0;
        }
      }
    }
    if (got < want) {
      // The file shrank while we read it (a live writer?): treat as end of file.
      finish();
      return;
    }
  }
  finish();

  function finish(): void {
    flushOrphans();
    if (inFragment) {
      // §4.5: end of file inside a fragmented record is a writer that died mid-record; LevelDB drops it silently.
      tornTail(report, recordOffset, partsBytes, 'its last record incomplete');
      inFragment = false;
    }
  }
}

function tornTail(report: (p: LogProblem) => void, offset: number, bytes: number, what: string): void {
  report({
    offset, bytes, minor: true,
    message: `torn tail: ${what} (${bytes} bytes) at the end of the log, as a crash leaves it; LevelDB drops it too`,
  });
}

