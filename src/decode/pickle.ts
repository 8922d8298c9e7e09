/**
 * A safe reader of Python pickles (protocols 0 to 5), for the values PyTorch projects store in LMDB:
 * `pickle.dumps({'img': ndarray, 'label': int})`, pickled tuples and lists.
 *
 * It interprets the opcodes (CPython `Lib/pickle.py`, `Lib/pickletools.py`) into plain JS values and never runs
 * code: a GLOBAL or STACK_GLOBAL is accepted only from a fixed allow-list (what numpy arrays, numpy scalars,
 * protocol-2 bytes and OrderedDicts pickle to), and REDUCE, NEWOBJ and BUILD only apply those. Any other global,
 * persistent ids, extension codes, out-of-band buffers and old-style instances make the whole value
 * `unsupported` (a torch tensor, a PIL image, a custom class): valid perhaps, but not ours to interpret, and never
 * damage. A truncated or malformed pickle (one `pickle.loads` raises on) is `invalid`, with the byte offset.
 * Nothing throws out of `decodePickle`.
 */
import { buildArray, buildDtype, callNumpy, isNumpyGlobal } from './pickle-numpy.js';
import { NdArray, PyDict, PyDtype, PyFloat, PyGlobal, PyHugeInt, PySet, PyTuple, type PyValue } from './pickle-values.js';

export { ndarrayToTyped } from './pickle-numpy.js';
export * from './pickle-values.js';

export type PickleResult =
  | { status: 'ok'; value: PyValue }
  | { status: 'unsupported'; reason: string }
  | { status: 'invalid'; reason: string; offset: number };

/** Ints longer than this (LONG1/LONG4/text) are not parsed: no sample holds one, and BigInt parsing is not free. */
const MAX_INT_BYTES = 64;
/** Nesting of MARKs; a sample is a few levels deep. */
const MAX_MARKS = 1000;
/** Memo entries (a PUT costs at least 2 bytes, so a value cannot exceed this by much anyway). */
const MAX_MEMO = 1 << 20;

const ALLOWED_GLOBALS = new Set([
  'collections.OrderedDict', '_codecs.encode', 'builtins.bytearray', '__builtin__.bytearray', 'builtins.bytes',
  '__builtin__.bytes', 'builtins.set', '__builtin__.set', 'builtins.frozenset', '__builtin__.frozenset',
]);

/** True when `b` starts like a pickle a sample is: PROTO 2–5, or a protocol 0/1 container or global opcode. */
export function looksLikePickle(b: Uint8Array): boolean {
  if (b.length < 2) return false;
  if (b[0] === 0x80) return b[1]! >= 2 && b[1]! <= 5;
  // '(' MARK, '}' EMPTY_DICT, ']' EMPTY_LIST, ')' EMPTY_TUPLE, 'c' GLOBAL: how protocol 0/1 samples begin.
  return b[0] === 0x28 || b[0] === 0x7d || b[0] === 0x5d || b[0] === 0x29 || b[0] === 0x63;
}

class Invalid {
  constructor(readonly reason: string, readonly offset: number) {}
}
class Unsupported {
  constructor(readonly reason: string) {}
}

const latin1 = new TextDecoder('latin1');
/** Allowed globals met so far by module and name, one value each (they are immutable names). */
const GLOBALS = new Map<string, Map<string, PyGlobal>>();

/** Recent short strings by a hash of their bytes: the same keys and module names recur in every value. */
const STRINGS: (string | undefined)[] = new Array<string | undefined>(512);

/**
 * Short ASCII text without a TextDecoder call (which costs more than the few characters of a key or a name),
 * and without building it again when it is the string last seen with its hash.
 */
function ascii(b: Uint8Array, start: number, end: number): string | null {
  const n = end - start;
  if (n > 64) return null;
  let h = n;
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    if (c >= 0x80) return null;
    h = (h * 31 + c) | 0;
  }
  const slot = h & 511;
  const known = STRINGS[slot];
  if (known !== undefined && known.length === n) {
    let same = true;
    for (let i = 0; i < n; i++) if (known.charCodeAt(i) !== b[start + i]) { same = false; break; }
    if (same) return known;
  }
  let s = '';
  for (let i = start; i < end; i++) s += String.fromCharCode(b[i]!);
  STRINGS[slot] = s;
  return s;
}
const utf8 = new TextDecoder('utf-8', { fatal: true });

let machine: Machine | undefined;

export function decodePickle(buf: Uint8Array): PickleResult {
  try {
    return { status: 'ok', value: (machine ??= new Machine()).reset(buf).run() };
  } catch (e) {
    if (e instanceof Invalid) return { status: 'invalid', reason: e.reason, offset: e.offset };
    if (e instanceof Unsupported) return { status: 'unsupported', reason: e.reason };
    // A RangeError from a hostile nesting or a bug in this file: never damage, never an escape.
    return { status: 'unsupported', reason: `not interpreted (${e instanceof Error ? e.message : String(e)})` };
  }
}

/** One machine, reset per value: decoding runs ~100k times a second, and allocates only the values. */
class Machine {
  private buf: Uint8Array = new Uint8Array(0);
  private pos = 0;
  private stack: PyValue[] = [];
  private marks: PyValue[][] = [];
  /** Memo by index: picklers number entries 0, 1, 2, … (MEMOIZE, or PUT with the next index). */
  private memo: PyValue[] = [];
  /** Offset of the opcode being run, for messages. */
  private at = 0;

  reset(buf: Uint8Array): this {
    this.buf = buf;
    this.pos = 0;
    this.at = 0;
    this.stack = [];
    this.marks = [];
    this.memo = [];
    return this;
  }

  bad(reason: string): Invalid {
    return new Invalid(reason, this.at);
  }

  private need(n: number): number {
    if (n > this.buf.length - this.pos) throw new Invalid(`truncated: ${n} bytes needed, ${this.buf.length - this.pos} left`, this.pos);
    const p = this.pos;
    this.pos += n;
    return p;
  }
  private u8(): number { return this.buf[this.need(1)]!; }
  private u16(): number { const p = this.need(2); return this.buf[p]! | (this.buf[p + 1]! << 8); }
  private u32(): number { const p = this.need(4); const b = this.buf; return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16)) + b[p + 3]! * 0x1000000; }
  private i32(): number { const p = this.need(4); const b = this.buf; return b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24); }
  private u64(): number {
    const lo = this.u32();
    const hi = this.u32();
    if (hi >= 0x200000) throw this.bad('a length beyond 2^53');
    return hi * 0x100000000 + lo;
  }
  private bytes(n: number): Uint8Array { const p = this.need(n); return this.buf.subarray(p, p + n); }
  private line(): string {
    const end = this.buf.indexOf(0x0a, this.pos);
    if (end < 0) throw new Invalid('truncated: a line without its end', this.pos);
    const s = ascii(this.buf, this.pos, end) ?? latin1.decode(this.buf.subarray(this.pos, end));
    this.pos = end + 1;
    return s;
  }

  private push(v: PyValue): void { this.stack.push(v); }
  private pop(): PyValue {
    if (this.stack.length === 0) throw this.bad('stack underflow');
    return this.stack.pop()!;
  }
  private top(): PyValue {
    if (this.stack.length === 0) throw this.bad('stack underflow');
    return this.stack[this.stack.length - 1]!;
  }
  private popMark(): PyValue[] {
    const items = this.stack;
    const prev = this.marks.pop();
    if (prev === undefined) throw this.bad('no MARK');
    this.stack = prev;
    return items;
  }
  private put(i: number): void {
    // Indexes far beyond the entries so far would make a sparse array: no pickler writes them.
    if (i >= MAX_MEMO || i > this.memo.length + 1024) throw new Unsupported(`memo index ${i}`);
    this.memo[i] = this.top();
  }
  private get(i: number): void {
    const v = i < this.memo.length ? this.memo[i] : undefined;
    if (v === undefined) throw this.bad(`memo key ${i} was never stored`);
    this.push(v);
  }

  run(): PyValue {
    const b = this.buf;
    for (;;) {
      this.at = this.pos;
      if (this.pos >= b.length) throw new Invalid('truncated: no STOP opcode', b.length);
      const op = b[this.pos++]!;
      switch (op) {
        case 0x2e: { // '.' STOP
          const v = this.pop();
          return v;
        }
        case 0x80: { // PROTO
          const p = this.u8();
          if (p > 5) throw this.bad(`unsupported protocol ${p}`);
          break;
        }
        case 0x95: { // FRAME: CPython's C unpickler only checks that the frame's bytes are there
          const n = this.u64();
          if (n > b.length - this.pos) throw new Invalid(`truncated: a frame of ${n} bytes, ${b.length - this.pos} left`, this.at);
          break;
        }
        case 0x28: // '(' MARK
          if (this.marks.length >= MAX_MARKS) throw new Unsupported('nested too deep');
          this.marks.push(this.stack);
          this.stack = [];
          break;
        case 0x30: this.pop(); break; // '0' POP
        case 0x31: this.popMark(); break; // '1' POP_MARK
        case 0x32: this.push(this.top()); break; // '2' DUP
        case 0x4e: this.push(null); break; // 'N' NONE
        case 0x88: this.push(true); break; // NEWTRUE
        case 0x89: this.push(false); break; // NEWFALSE
        case 0x4a: this.push(this.i32()); break; // 'J' BININT
        case 0x4b: this.push(this.u8()); break; // 'K' BININT1
        case 0x4d: this.push(this.u16()); break; // 'M' BININT2
        case 0x49: this.push(this.textInt(this.line(), false)); break; // 'I' INT
        case 0x4c: this.push(this.textInt(this.line(), true)); break; // 'L' LONG
        case 0x8a: this.push(this.binLong(this.u8())); break; // LONG1
        case 0x8b: this.push(this.binLong(this.i32())); break; // LONG4
        case 0x46: { // 'F' FLOAT
          const s = this.line().trim();
          const v = pyFloat(s);
          if (v === null) throw this.lenient('float', s);
          this.push(new PyFloat(v));
          break;
        }
        case 0x47: { // 'G' BINFLOAT: big-endian double
          const p = this.need(8);
          this.push(new PyFloat(new DataView(b.buffer, b.byteOffset + p, 8).getFloat64(0, false)));
          break;
        }
        case 0x53: this.push(this.quoted(this.line())); break; // 'S' STRING
        case 0x54: this.push(latin1.decode(this.bytes(this.len32()))); break; // 'T' BINSTRING
        case 0x55: this.push(latin1.decode(this.bytes(this.u8()))); break; // 'U' SHORT_BINSTRING
        case 0x56: this.push(rawUnicodeEscape(this.line())); break; // 'V' UNICODE
        case 0x58: this.push(this.text(this.len32())); break; // 'X' BINUNICODE
        case 0x8c: this.push(this.text(this.u8())); break; // SHORT_BINUNICODE
        case 0x8d: this.push(this.text(this.u64())); break; // BINUNICODE8
        case 0x42: this.push(this.bytes(this.len32())); break; // 'B' BINBYTES
        case 0x43: this.push(this.bytes(this.u8())); break; // 'C' SHORT_BINBYTES
        case 0x8e: case 0x96: this.push(this.bytes(this.u64())); break; // BINBYTES8, BYTEARRAY8
        case 0x5d: this.push([]); break; // ']' EMPTY_LIST
        case 0x29: this.push(new PyTuple([])); break; // ')' EMPTY_TUPLE
        case 0x7d: this.push(new PyDict()); break; // '}' EMPTY_DICT
        case 0x8f: this.push(new PySet([])); break; // EMPTY_SET
        case 0x6c: this.push(this.popMark()); break; // 'l' LIST
        case 0x74: this.push(new PyTuple(this.popMark())); break; // 't' TUPLE
        case 0x85: this.push(new PyTuple([this.pop()])); break; // TUPLE1
        case 0x86: { const y = this.pop(); const x = this.pop(); this.push(new PyTuple([x, y])); break; } // TUPLE2
        case 0x87: { const z = this.pop(); const y = this.pop(); const x = this.pop(); this.push(new PyTuple([x, y, z])); break; } // TUPLE3
        case 0x91: this.push(new PySet(this.popMark())); break; // FROZENSET
        case 0x64: { // 'd' DICT
          const items = this.popMark();
          const d = new PyDict();
          this.setItems(d, items);
          this.push(d);
          break;
        }
        case 0x61: { const v = this.pop(); this.list(this.top()).push(v); break; } // 'a' APPEND
        case 0x65: { // 'e' APPENDS
          const items = this.popMark();
          const l = this.list(this.top());
          for (const v of items) l.push(v);
          break;
        }
        case 0x73: { // 's' SETITEM
          const v = this.pop();
          const k = this.pop();
          this.setItems(this.top(), [k, v]);
          break;
        }
        case 0x75: { const items = this.popMark(); this.setItems(this.top(), items); break; } // 'u' SETITEMS
        case 0x90: { // ADDITEMS
          const items = this.popMark();
          const s = this.top();
          if (!(s instanceof PySet)) throw this.bad('ADDITEMS to something not a set');
          s.items.push(...items);
          break;
        }
        case 0x67: this.get(this.index(this.line())); break; // 'g' GET
        case 0x68: this.get(this.u8()); break; // 'h' BINGET
        case 0x6a: this.get(this.u32()); break; // 'j' LONG_BINGET
        case 0x70: this.put(this.index(this.line())); break; // 'p' PUT
        case 0x71: this.put(this.u8()); break; // 'q' BINPUT
        case 0x72: this.put(this.u32()); break; // 'r' LONG_BINPUT
        case 0x94: this.put(this.memo.length); break; // MEMOIZE
        case 0x63: { // 'c' GLOBAL
          const module = this.line();
          this.push(this.global(module, this.line()));
          break;
        }
        case 0x93: { // STACK_GLOBAL
          const name = this.pop();
          const module = this.pop();
          if (typeof module !== 'string' || typeof name !== 'string') throw this.bad('STACK_GLOBAL of non-strings');
          this.push(this.global(module, name));
          break;
        }
        case 0x52: { // 'R' REDUCE
          const args = this.pop();
          const f = this.pop();
          this.push(this.call(f, args));
          break;
        }
        case 0x81: { // NEWOBJ
          const args = this.pop();
          const cls = this.pop();
          this.push(this.call(cls, args, true));
          break;
        }
        case 0x92: { // NEWOBJ_EX
          const kwargs = this.pop();
          const args = this.pop();
          const cls = this.pop();
          if (!(kwargs instanceof PyDict) || kwargs.map.size > 0) throw new Unsupported('NEWOBJ_EX with keyword arguments');
          this.push(this.call(cls, args, true));
          break;
        }
        case 0x62: { // 'b' BUILD
          const state = this.pop();
          const inst = this.top();
          if (state === null) break; // BUILD with None changes nothing (pickle.py load_build)
          if (inst instanceof NdArray || inst instanceof PyDtype) {
            const err = inst instanceof NdArray ? buildArray(inst, state) : buildDtype(inst, state);
            if (err !== null) throw err.unsupported ? new Unsupported(err.reason) : this.bad(err.reason);
          } else {
            throw new Unsupported(`BUILD of ${describe(inst)}`);
          }
          break;
        }
        case 0x50: case 0x51: throw new Unsupported('persistent ids (PERSID)');
        case 0x82: case 0x83: case 0x84: throw new Unsupported('extension codes (EXT)');
        case 0x69: case 0x6f: throw new Unsupported('old-style instances (INST/OBJ)');
        case 0x97: case 0x98: throw new Unsupported('out-of-band buffers (protocol 5 PICKLE_BUFFER)');
        default:
          throw this.bad(`unknown opcode 0x${op.toString(16).padStart(2, '0')}`);
      }
    }
  }

  private len32(): number {
    const n = this.i32();
    if (n < 0) throw this.bad(`negative length ${n}`);
    return n;
  }

  private text(n: number): string {
    const p = this.need(n);
    // No subarray for the common short ASCII key or module name: a view per string costs more than the string.
    const fast = ascii(this.buf, p, p + n);
    if (fast !== null) return fast;
    try {
      return utf8.decode(this.buf.subarray(p, p + n));
    } catch {
      throw this.bad('string is not UTF-8');
    }
  }

  private index(s: string): number {
    if (!/^\d{1,10}$/.test(s)) throw this.lenient('memo index', s);
    return Number(s);
  }

  /**
   * A text number (protocol 0) this reader does not parse. CPython's C unpickler reads them with strtol/int()
   * (base 0, stopping at a NUL, allowing spaces and underscores): what it accepts is not worth copying, and what
   * it may accept must never be called damage.
   */
  private lenient(what: string, s: string): Unsupported {
    return new Unsupported(`${what} '${s.slice(0, 20).replace(/[^\x20-\x7e]/g, '?')}' in text form`);
  }

  /** INT and LONG lines: `I01`/`I00` are True/False (protocol 0 bools); LONG may end in 'L'. */
  private textInt(s: string, long: boolean): PyValue {
    if (!long && s === '01') return true;
    if (!long && s === '00') return false;
    const t = long && s.endsWith('L') ? s.slice(0, -1) : s;
    if (!/^[+-]?\d+$/.test(t)) throw this.lenient('integer', s);
    if (t.length > MAX_INT_BYTES * 2.5) return new PyHugeInt();
    const n = Number(t);
    return Number.isSafeInteger(n) ? n : BigInt(t);
  }

  /** LONG1/LONG4: little-endian two's complement of `n` bytes. */
  private binLong(n: number): PyValue {
    if (n < 0) throw this.bad(`negative length ${n}`);
    const raw = this.bytes(n);
    if (n > MAX_INT_BYTES) return new PyHugeInt();
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(raw[i]!);
    if (n > 0 && raw[n - 1]! >= 0x80) v -= 1n << BigInt(8 * n);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  /** STRING: a Python 2 str repr in quotes; read as Python 3 does (encoding 'ASCII' → str). */
  private quoted(s: string): string {
    const q = s[0];
    if (s.length < 2 || (q !== "'" && q !== '"') || s[s.length - 1] !== q) throw this.bad('STRING not quoted');
    const body = s.slice(1, -1);
    const out = body.replace(/\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)/gs, (_, e: string) => {
      if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
      if (/^[0-7]/.test(e)) return String.fromCharCode(parseInt(e, 8) & 0xff);
      return ESCAPES[e] ?? `\\${e}`;
    });
    return out;
  }

  private list(v: PyValue): PyValue[] {
    if (!Array.isArray(v)) throw this.bad(`APPEND to ${describe(v)}`);
    return v;
  }

  private setItems(d: PyValue, items: PyValue[]): void {
    if (!(d instanceof PyDict)) throw this.bad(`SETITEM on ${describe(d)}`);
    if (items.length % 2 !== 0) throw this.bad('odd number of items for a dict');
    for (let i = 0; i < items.length; i += 2) d.map.set(items[i], items[i + 1]!);
  }

  private global(module: string, name: string): PyValue {
    const known = GLOBALS.get(module)?.get(name);
    if (known !== undefined) return known;
    const full = `${module}.${name}`;
    if (ALLOWED_GLOBALS.has(full) || isNumpyGlobal(full)) {
      const g = new PyGlobal(full);
      let names = GLOBALS.get(module);
      if (names === undefined) GLOBALS.set(module, (names = new Map()));
      names.set(name, g);
      return g;
    }
    throw new Unsupported(`global '${full.slice(0, 100)}'`);
  }

  /** REDUCE / NEWOBJ of an allowed global: rebuilds the value, runs nothing. */
  private call(f: PyValue, argsV: PyValue, newobj = false): PyValue {
    if (!(f instanceof PyGlobal)) throw new Unsupported(`call of ${describe(f)}`);
    if (!(argsV instanceof PyTuple)) throw this.bad(`${f.name} called with ${describe(argsV)}, not a tuple`);
    const args = argsV.items;
    switch (f.name) {
      case 'collections.OrderedDict':
        if (args.length === 0) return new PyDict();
        throw new Unsupported('OrderedDict built from arguments');
      case '_codecs.encode': {
        // Protocol 0–2 bytes: encode(str(b, 'latin1'), 'latin1').
        const [s, enc] = args;
        if (typeof s === 'string' && (enc === 'latin1' || enc === 'latin-1') && args.length === 2) return latin1Bytes(s, this);
        throw new Unsupported(`_codecs.encode with ${describe(enc ?? null)}`);
      }
      case 'builtins.bytes': case '__builtin__.bytes': case 'builtins.bytearray': case '__builtin__.bytearray': {
        if (args.length === 0) return new Uint8Array(0);
        const [x, enc] = args;
        if (x instanceof Uint8Array && args.length === 1) return x;
        if (typeof x === 'string' && (enc === 'latin-1' || enc === 'latin1') && args.length === 2) return latin1Bytes(x, this);
        throw new Unsupported(`${f.name} of ${describe(x ?? null)}`);
      }
      case 'builtins.set': case '__builtin__.set': case 'builtins.frozenset': case '__builtin__.frozenset': {
        // Protocols 0–3 write sets as set([items]).
        if (args.length === 0) return new PySet([]);
        if (Array.isArray(args[0]) && args.length === 1) return new PySet(args[0].slice());
        throw new Unsupported(`${f.name} of ${describe(args[0]!)}`);
      }
      default: {
        if (newobj) throw new Unsupported(`NEWOBJ of ${f.name}`);
        const r = callNumpy(f.name, args);
        if ('reason' in r) throw r.unsupported ? new Unsupported(r.reason) : this.bad(r.reason);
        return r.value;
      }
    }
  }
}

const ESCAPES: Record<string, string> = { '\\': '\\', "'": "'", '"': '"', n: '\n', r: '\r', t: '\t', a: '\x07', b: '\b', f: '\f', v: '\v', '\n': '' };

/** Python's float() of a FLOAT line: decimals (with `_` between digits), inf, infinity, nan. */
function pyFloat(s: string): number | null {
  const m = /^([+-]?)(inf|infinity|nan)$/i.exec(s);
  if (m) return m[2]!.toLowerCase() === 'nan' ? NaN : m[1] === '-' ? -Infinity : Infinity;
  if (!/^[+-]?(\d(_?\d)*(\.(\d(_?\d)*)?)?|\.\d(_?\d)*)([eE][+-]?\d(_?\d)*)?$/.test(s)) return null;
  return Number(s.replace(/_/g, ''));
}

function latin1Bytes(s: string, m: { bad(r: string): Invalid }): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) throw m.bad('bytes encoded as latin1 hold a character beyond U+00FF');
    out[i] = c;
  }
  return out;
}

/** Protocol 0 UNICODE: latin1 text with `\uXXXX` and `\UXXXXXXXX` escapes (raw-unicode-escape). */
function rawUnicodeEscape(s: string): string {
  if (!s.includes('\\')) return s;
  return s.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (m, u: string | undefined, U: string | undefined) => {
    const cp = parseInt(u ?? U!, 16);
    return cp <= 0x10ffff ? String.fromCodePoint(cp) : m;
  });
}


export function describe(v: PyValue): string {
  if (v === null) return 'None';
  if (typeof v === 'boolean') return 'a bool';
  if (typeof v === 'number' || typeof v === 'bigint') return 'an int';
  if (typeof v === 'string') return 'a str';
  if (v instanceof Uint8Array) return 'bytes';
  if (Array.isArray(v)) return 'a list';
  if (v instanceof PyFloat) return 'a float';
  if (v instanceof PyTuple) return 'a tuple';
  if (v instanceof PyDict) return 'a dict';
  if (v instanceof PySet) return 'a set';
  if (v instanceof NdArray) return 'an ndarray';
  if (v instanceof PyDtype) return 'a dtype';
  if (v instanceof PyGlobal) return `'${v.name}'`;
  return 'a huge int';
}
