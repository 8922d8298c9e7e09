/**
 * The message framing of an Arrow IPC stream or file (arrow/format/Columnar.rst "Serialization and
 * Interprocess Communication"), walked with pread so that planning reads only message headers:
 * - stream: messages, each `0xFFFFFFFF` (continuation), an int32 metadata length, the flatbuffer `Message`
 *   (padded to 8 bytes) and `bodyLength` body bytes; a zero length ends the stream. Streams written before Arrow
 *   0.15 have no continuation marker (the length comes first): read too.
 * - file (Feather v2, `RecordBatchFileWriter`): `ARROW1\0\0`, a stream, then a footer and `ARROW1`. The footer's
 *   block index is not needed: walking the stream finds the same batches, and still finds them when the footer is
 *   lost to truncation.
 * Hugging Face `datasets` cache files (`data-00000-of-00003.arrow`, `cache-*.arrow`) are streams.
 */
import { readSync } from 'node:fs';
import { Message } from 'apache-arrow';

export const CONTINUATION = 0xffffffff;
const FILE_MAGIC = 'ARROW1';
/** `ARROW1` plus padding to 8 bytes. */
const FILE_PREAMBLE = 8;
/** Header types (arrow/format/Message.fbs `MessageHeader`). */
export const SCHEMA = 1;
export const DICTIONARY_BATCH = 2;
export const RECORD_BATCH = 3;
/** Metadata longer than this is not believed (schemas and batch headers are KiB). */
const MAX_METADATA_BYTES = 64 * 1024 * 1024;

export interface MessageSpan {
  /** Offset of the message's first byte (its continuation marker or length). */
  offset: number;
  /** Bytes of the whole message: framing, metadata and body. */
  length: number;
  type: number;
  /** Rows of a record batch. */
  rows: number;
  /** Whether a record batch's body is compressed (LZ4/ZSTD buffers). */
  compressed: boolean;
}

export interface MessageWalk {
  file: boolean;
  messages: MessageSpan[];
  /** Where and why the walk stopped early, when it did. */
  damage: { offset: number; reason: string } | null;
  /** Whether the end-of-stream marker was met. */
  ended: boolean;
}

/** Walks every message of the open file `fd` of `size` bytes. Never throws for damage. */
export function walkMessages(fd: number, size: number): MessageWalk {
  const head = Buffer.alloc(8);
  const got = readSync(fd, head, 0, 8, 0);
  const file = got >= 6 && head.toString('latin1', 0, 6) === FILE_MAGIC;
  const out: MessageWalk = { file, messages: [], damage: null, ended: false };
  let at = file ? FILE_PREAMBLE : 0;
  while (at < size) {
    if (size - at < 4) {
      out.damage = { offset: at, reason: `${size - at} stray bytes where a message should start` };
      break;
    }
    const n = readSync(fd, head, 0, Math.min(8, size - at), at);
    let frame = 4;
    let metaLen = head.readUInt32LE(0);
    if (metaLen === CONTINUATION) {
      if (n < 8) {
        out.damage = { offset: at, reason: 'message length cut off by the end of the file' };
        break;
      }
      frame = 8;
      metaLen = head.readUInt32LE(4);
    }
    if (metaLen === 0) {
      out.ended = true;
      break;
    }
    if (metaLen > MAX_METADATA_BYTES || at + frame + metaLen > size) {
      out.damage = { offset: at, reason: `message metadata of ${metaLen} bytes runs past the end of the file (${size} bytes)` };
      break;
    }
    const meta = Buffer.alloc(metaLen);
    readSync(fd, meta, 0, metaLen, at + frame);
    let msg: Message;
    try {
      msg = Message.decode(meta);
    } catch (e) {
      out.damage = { offset: at, reason: `message metadata does not parse: ${(e as Error).message}` };
      break;
    }
    const body = Number(msg.bodyLength);
    const end = at + frame + metaLen + body;
    if (!(body >= 0) || end > size) {
      out.damage = { offset: at, reason: `message body of ${body} bytes runs past the end of the file (${size} bytes)` };
      break;
    }
    let rows = 0;
    let compressed = false;
    if (msg.headerType === RECORD_BATCH) {
      try {
        const h = (msg as Message<typeof msg.headerType>).header() as { length: number; compression: unknown };
        rows = Number(h.length);
        compressed = h.compression !== null && h.compression !== undefined;
      } catch (e) {
        out.damage = { offset: at, reason: `record batch header does not parse: ${(e as Error).message}` };
        break;
      }
      if (!(rows >= 0 && Number.isSafeInteger(rows))) {
        out.damage = { offset: at, reason: `record batch declares ${rows} rows` };
        break;
      }
    }
    out.messages.push({ offset: at, length: end - at, type: msg.headerType, rows, compressed });
    at = end;
  }
  return out;
}
