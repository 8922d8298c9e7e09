/** The values a pickle decodes to (src/decode/pickle.ts), numpy's included. */

/** A Python float (kept apart from ints, which are plain numbers or bigints). */
export class PyFloat {
  constructor(readonly value: number) {}
}
export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}
/** A dict (or OrderedDict): keys are strings, numbers, bigints, booleans or null; other keys by identity. */
export class PyDict {
  readonly map = new Map<unknown, PyValue>();
}
/** A set or frozenset, in pickle order. */
export class PySet {
  constructor(readonly items: PyValue[]) {}
}
/** An allowed global as a value (a class or function not applied): never called, only named. */
export class PyGlobal {
  constructor(readonly name: string) {}
}
/** An int too large to be worth holding (more than MAX_INT_BYTES bytes). */
export class PyHugeInt {}

export type PyValue =
  | null | boolean | number | bigint | string | Uint8Array | PyFloat | PyValue[] | PyTuple | PyDict | PySet | NdArray
  | PyDtype | PyGlobal | PyHugeInt;

/** A numpy dtype: `typestr` is dtype(...)'s first argument ('f4', 'i8', 'b1', 'U20'), `endian` its state's. */
export class PyDtype {
  endian = '|';
  /** Structured or sub-array dtype (names, fields or a subdescr): not a plain number. */
  structured = false;
  constructor(readonly typestr: string) {}

  get descr(): string {
    // '=' (native) is read as little-endian: pickles written on big-endian hosts say '>' for their native order.
    return `${this.endian === '=' ? '<' : this.endian}${this.typestr}`;
  }

  get itemsize(): number {
    const m = /(\d+)$/.exec(this.typestr);
    return m ? Number(m[1]) : 0;
  }
}

const NO_BYTES = new Uint8Array(0);

/** A rebuilt ndarray or numpy scalar (shape []): `data` is a view into the pickle, `dtype` a descr like '<f4'. */
export class NdArray {
  dtype = '';
  shape: number[] = [];
  fortranOrder = false;
  data: Uint8Array = NO_BYTES;
  /** Set until BUILD gives the state (a `_reconstruct` result). */
  pending = true;
  structured = false;
}
