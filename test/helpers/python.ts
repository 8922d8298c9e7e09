/**
 * Runs a Python script with Debian's interpreter, the one that sees the system's lmdb, plyvel, h5py, numpy and
 * PIL modules (another python3 comes first on PATH). For writing fixtures with the formats' own libraries.
 */
import { spawnSync } from 'node:child_process';

export const PYTHON = '/usr/bin/python3';

/**
 * Python that encodes a Caffe Datum by hand (protobuf wire format; Debian has no caffe_pb2): prepend it to a script.
 * `datum(c, h, w, floats, label)` gives a Datum of float_data (field 6, packed) with its shape and label.
 */
export const PY_DATUM = String.raw`
import struct
def varint(n):
    out = b''
    while True:
        b = n & 0x7f
        n >>= 7
        if not n:
            return out + bytes([b])
        out += bytes([b | 0x80])
def field(no, wire, payload):
    return varint(no << 3 | wire) + payload
def datum(c, h, w, floats, label):
    body = struct.pack('<%df' % len(floats), *floats)
    return (field(1, 0, varint(c)) + field(2, 0, varint(h)) + field(3, 0, varint(w)) + field(5, 0, varint(label))
            + field(6, 2, varint(len(body)) + body))
`;

/** Runs `script` (source text) with `args` as sys.argv[1:]; returns its stdout, throws with its stderr on failure. */
export function runPython(script: string, args: readonly string[] = []): string {
  const r = spawnSync(PYTHON, ['-c', script, ...args], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${PYTHON} failed (${r.status ?? r.signal}): ${r.stderr}${r.error?.message ?? ''}`);
  return r.stdout;
}
