// NumPy .npy files (format 1.0-3.0, little-endian, C order); spec: numpy.lib.format, numpy.org/neps/nep-0001.
import { closeSync, fsyncSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { fileSize, openForRead, readAt, readWholeFile, writeFileAtomic } from './fileio.js';
import type { ImageSet } from './imageset.js';

export type NpyDtype = 'uint8' | 'bool' | 'int32' | 'int64' | 'float16' | 'float32' | 'float64';
/** float16 data is kept as raw IEEE half bits; bool as 0/1 bytes. */
export type NpyData = Uint8Array | Int32Array | BigInt64Array | Uint16Array | Float32Array | Float64Array;

export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  /** Elements in C order; from readNpy, possibly a view with a non-zero byteOffset into the file's buffer. */
  data: NpyData;
}

interface DtypeInfo {
  descr: string;
  size: number;
  /** A view of `length` elements of `buf` from `offset` (which must be aligned for the type). */
  make: (buf: ArrayBuffer, offset?: number, length?: number) => NpyData;
  matches: (d: NpyData) => boolean;
}

const DTYPES: Record<NpyDtype, DtypeInfo> = {
  uint8: { descr: '|u1', size: 1, make: (...a) => new Uint8Array(...a), matches: (d) => d instanceof Uint8Array },
  bool: { descr: '|b1', size: 1, make: (...a) => new Uint8Array(...a), matches: (d) => d instanceof Uint8Array },
  int32: { descr: '<i4', size: 4, make: (...a) => new Int32Array(...a), matches: (d) => d instanceof Int32Array },
  int64: {
    descr: '<i8',
    size: 8,
    make: (...a) => new BigInt64Array(...a),
    matches: (d) => d instanceof BigInt64Array,
  },
  float16: { descr: '<f2', size: 2, make: (...a) => new Uint16Array(...a), matches: (d) => d instanceof Uint16Array },
  float32: { descr: '<f4', size: 4, make: (...a) => new Float32Array(...a), matches: (d) => d instanceof Float32Array },
  float64: { descr: '<f8', size: 8, make: (...a) => new Float64Array(...a), matches: (d) => d instanceof Float64Array },
};

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);
const ALIGN = 64;
// numpy leaves room for the first axis to grow to this many digits, so appending never moves the data.
const GROWTH_AXIS_MAX_DIGITS = 21;

function dtypeFromDescr(descr: string, path: string): NpyDtype {
  // Byte order means nothing for one-byte types: numpy writes '|', other writers '<' or '='.
  const oneByte = /^[|<=>]?(u1|b1)$/.exec(descr);
  const key = oneByte !== null ? '|' + oneByte[1] : descr;
  const found = (Object.keys(DTYPES) as NpyDtype[]).find((k) => DTYPES[k].descr === key);
  if (found !== undefined) return found;
  if (descr.startsWith('>')) {
    throw new Error(
      `${path}: big-endian dtype '${descr}' is not supported; save it little-endian (arr.astype('<...'))`,
    );
  }
  throw new Error(`${path}: unsupported dtype '${descr}' (supported: |u1 |b1 <i4 <i8 <f2 <f4 <f8)`);
}

/** A tiny reader for the Python literal in the header: a dict of strings, booleans and tuples of integers. */
function parseHeaderDict(text: string, path: string): Record<string, unknown> {
  let i = 0;
  const fail = (what: string): never => {
    throw new Error(`${path}: corrupt header: ${what} at column ${i} in ${JSON.stringify(text.trim())}`);
  };
  const peek = (): string | undefined => {
    while (i < text.length && /\s/.test(text[i])) i++;
    return text[i];
  };
  const eat = (ch: string): boolean => {
    if (peek() !== ch) return false;
    i++;
    return true;
  };
  const value = (): unknown => {
    const ch = peek();
    if (ch === "'" || ch === '"') {
      const close = text.indexOf(ch, i + 1);
      if (close < 0) fail('unterminated string');
      const s = text.slice(i + 1, close);
      i = close + 1;
      return s;
    }
    for (const [word, v] of [
      ['True', true],
      ['False', false],
    ] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    if (ch === '(') {
      i++;
      const items: number[] = [];
      while (!eat(')')) {
        const v = value();
        if (typeof v !== 'number') fail('expected an integer');
        items.push(v as number);
        if (!eat(',') && peek() !== ')') fail("expected ',' or ')'");
      }
      return items;
    }
    const m = /^\d+L?/.exec(text.slice(i));
    if (m === null) return fail('unexpected token');
    i += m[0].length;
    return Number(m[0].replace('L', ''));
  };
  if (!eat('{')) fail("expected '{'");
  const dict: Record<string, unknown> = {};
  while (!eat('}')) {
    const key = value();
    if (typeof key !== 'string') fail('expected a string key');
    if (!eat(':')) fail("expected ':'");
    dict[key as string] = value();
    if (!eat(',') && peek() !== '}') fail("expected ',' or '}'");
  }
  return dict;
}

interface Header {
  dtype: NpyDtype;
  shape: number[];
  /** Offset of the first data byte: magic, version, length field and padded dict. */
  dataOffset: number;
  major: number;
}

/** Where the data starts: magic and version (8 bytes), a 2-byte (1.0) or 4-byte (2.0, 3.0) length, then the dict. */
function dataOffsetOf(head: Buffer, path: string): number {
  if (head.length < 10 || !head.subarray(0, 6).equals(MAGIC)) {
    throw new Error(`${path}: bad magic: not a .npy file (expected \\x93NUMPY)`);
  }
  const major = head[6];
  if (major < 1 || major > 3) throw new Error(`${path}: unsupported .npy format version ${major}.${head[7]}`);
  if (major > 1 && head.length < 12) throw new Error(`${path}: truncated header`);
  return major === 1 ? 10 + head.readUInt16LE(8) : 12 + head.readUInt32LE(8);
}

/** Parses the header at the start of `head`, which must hold at least the whole header. */
function parseHeader(head: Buffer, path: string): Header {
  const dataOffset = dataOffsetOf(head, path);
  if (dataOffset > head.length) {
    throw new Error(`${path}: truncated: the header needs ${dataOffset} bytes, file has ${head.length}`);
  }
  const start = head[6] === 1 ? 10 : 12;
  const dict = parseHeaderDict(head.toString(head[6] === 3 ? 'utf8' : 'latin1', start, dataOffset), path);
  if (typeof dict.descr !== 'string') throw new Error(`${path}: corrupt header: no 'descr' string`);
  if (dict.fortran_order === true) {
    throw new Error(`${path}: fortran_order arrays are not supported; save a C-order copy (np.ascontiguousarray)`);
  }
  if (dict.fortran_order !== false) throw new Error(`${path}: corrupt header: no 'fortran_order' boolean`);
  if (!Array.isArray(dict.shape)) throw new Error(`${path}: corrupt header: no 'shape' tuple`);
  return { dtype: dtypeFromDescr(dict.descr, path), shape: dict.shape as number[], dataOffset, major: head[6] };
}

function count(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function readNpy(path: string): NpyArray {
  const buf = readWholeFile(path);
  const h = parseHeader(buf, path);
  const info = DTYPES[h.dtype];
  const expected = h.dataOffset + count(h.shape) * info.size;
  if (buf.length < expected) {
    throw new Error(
      `${path}: truncated: shape (${h.shape.join(', ')}) needs ${expected} bytes, file has ${buf.length}`,
    );
  }
  if (buf.length > expected) {
    throw new Error(`${path}: size mismatch: ${buf.length - expected} bytes follow the (${h.shape.join(', ')}) data`);
  }
  const start = buf.byteOffset + h.dataOffset;
  const n = count(h.shape);
  // A file read into its own buffer is viewed in place (numpy's 64-byte header keeps the data aligned), sparing a
  // second copy of a large array; a small file shares Node's buffer pool, so it is copied out.
  const ownBuffer = buf.byteOffset === 0 && buf.buffer.byteLength === buf.length;
  const data =
    ownBuffer && start % info.size === 0
      ? info.make(buf.buffer as ArrayBuffer, start, n)
      : info.make(buf.buffer.slice(start, start + n * info.size) as ArrayBuffer);
  return { dtype: h.dtype, shape: h.shape, data };
}

function shapeRepr(shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
}

interface PinnedHeader {
  length: number;
  major: number;
}

/**
 * The header exactly as numpy writes it: the dict, room for the first axis to grow, spaces and a newline up to a
 * multiple of 64 bytes. `pinned` keeps an existing header's size and version so an appender can rewrite it in place.
 */
function encodeHeader(dtype: NpyDtype, shape: readonly number[], pinned?: PinnedHeader): Buffer {
  const dict = `{'descr': '${DTYPES[dtype].descr}', 'fortran_order': False, 'shape': ${shapeRepr(shape)}, }`;
  const growth = shape.length > 0 ? Math.max(0, GROWTH_AXIS_MAX_DIGITS - String(shape[0]).length) : 0;
  const hlen = dict.length + growth + 1;
  // numpy pads by 1..64 bytes (a full 64 when already aligned), and moves to version 2.0 past a 16-bit length.
  const padded = (prefix: number): number => prefix + hlen + (ALIGN - ((prefix + hlen) % ALIGN));
  const major = pinned?.major ?? (padded(10) - 10 <= 0xffff ? 1 : 2);
  const prefix = major === 1 ? 10 : 12;
  const total = pinned?.length ?? padded(prefix);
  if (prefix + dict.length + 1 > total) throw new Error(`npy: shape ${shapeRepr(shape)} no longer fits the header`);
  const out = Buffer.alloc(total, 0x20);
  MAGIC.copy(out, 0);
  out[6] = major;
  out[7] = 0;
  if (major === 1) out.writeUInt16LE(total - prefix, 8);
  else out.writeUInt32LE(total - prefix, 8);
  out.write(dict, prefix, 'latin1');
  out[total - 1] = 0x0a;
  return out;
}

function checkArray(a: NpyArray, path: string): void {
  const info = DTYPES[a.dtype];
  if (info === undefined) throw new Error(`${path}: unsupported dtype '${a.dtype}'`);
  if (!info.matches(a.data)) throw new Error(`${path}: data is a ${a.data.constructor.name}, not ${a.dtype} data`);
  if (!a.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new Error(`${path}: wrong dims: shape (${a.shape.join(', ')})`);
  }
  if (count(a.shape) !== a.data.length) {
    throw new Error(
      `${path}: size mismatch: shape (${a.shape.join(', ')}) needs ${count(a.shape)} values, got ${a.data.length}`,
    );
  }
}

function bytesOf(data: NpyData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Writes atomically (temp file + rename), version 1.0 unless the header needs 2.0. */
export function writeNpy(path: string, a: NpyArray): void {
  checkArray(a, path);
  writeFileAtomic(path, [encodeHeader(a.dtype, a.shape), bytesOf(a.data)]);
}

export interface NpyAppenderOptions {
  /** fsync the data before each header update, and the header after it. */
  fsync?: boolean;
}

/**
 * A .npy file whose first axis grows one slice at a time (e.g. a prediction log epochs × examples × classes). The
 * header is padded once, like numpy's own, so each append writes the slice at the end and rewrites only the shape; the
 * file is a valid .npy after every append.
 */
export class NpyAppender {
  private fd: number | null;
  private rows: number;

  private constructor(
    readonly path: string,
    readonly dtype: NpyDtype,
    readonly sliceShape: readonly number[],
    private readonly header: PinnedHeader,
    rows: number,
    fd: number,
    private readonly fsync: boolean,
  ) {
    this.fd = fd;
    this.rows = rows;
  }

  /** Creates (or replaces, atomically) a file of shape (0, ...sliceShape). */
  static create(
    path: string,
    dtype: NpyDtype,
    sliceShape: readonly number[],
    opts: NpyAppenderOptions = {},
  ): NpyAppender {
    checkArray({ dtype, shape: [0, ...sliceShape], data: DTYPES[dtype].make(new ArrayBuffer(0)) }, path);
    const header = encodeHeader(dtype, [0, ...sliceShape]);
    writeFileAtomic(path, header, { fsync: opts.fsync });
    const pinned = { length: header.length, major: header[6] };
    return new NpyAppender(path, dtype, sliceShape, pinned, 0, openSync(path, 'r+'), opts.fsync ?? false);
  }

  /** Reopens a file to append more; bytes past the recorded shape (an append cut short by a crash) are dropped. */
  static open(path: string, opts: NpyAppenderOptions = {}): NpyAppender {
    const probe = openForRead(path);
    let h: Header;
    let size: number;
    try {
      size = fileSize(probe);
      const start = readAt(probe, 0, Math.min(size, 12), path);
      h = parseHeader(readAt(probe, 0, Math.min(size, dataOffsetOf(start, path)), path), path);
    } finally {
      closeSync(probe);
    }
    if (h.shape.length === 0) throw new Error(`${path}: wrong dims: a 0-d array has no axis to append along`);
    const expected = h.dataOffset + count(h.shape) * DTYPES[h.dtype].size;
    if (size < expected) throw new Error(`${path}: truncated: shape (${h.shape.join(', ')}) needs ${expected} bytes`);
    const fd = openSync(path, 'r+');
    if (size > expected) ftruncateSync(fd, expected);
    const pinned = { length: h.dataOffset, major: h.major };
    return new NpyAppender(path, h.dtype, h.shape.slice(1), pinned, h.shape[0], fd, opts.fsync ?? false);
  }

  /** Slices written so far (the first dimension). */
  get length(): number {
    return this.rows;
  }

  get shape(): number[] {
    return [this.rows, ...this.sliceShape];
  }

  append(slice: NpyData): void {
    if (this.fd === null) throw new Error(`${this.path}: appender is closed`);
    checkArray({ dtype: this.dtype, shape: [...this.sliceShape], data: slice }, this.path);
    const bytes = bytesOf(slice);
    const at = this.header.length + this.rows * bytes.length;
    for (let done = 0; done < bytes.length; ) done += writeSync(this.fd, bytes, done, bytes.length - done, at + done);
    // Data first, header second: a crash in between leaves the old shape with stray bytes after it, which open() drops.
    if (this.fsync) fsyncSync(this.fd);
    const header = encodeHeader(this.dtype, [this.rows + 1, ...this.sliceShape], this.header);
    writeSync(this.fd, header, 0, header.length, 0);
    if (this.fsync) fsyncSync(this.fd);
    this.rows++;
  }

  /** Drops slices past the first `rows` (a resumed run rewinds its log to its checkpoint). */
  truncate(rows: number): void {
    if (this.fd === null) throw new Error(`${this.path}: appender is closed`);
    if (!Number.isInteger(rows) || rows < 0 || rows > this.rows) {
      throw new Error(`${this.path}: cannot truncate ${this.rows} slices to ${rows}`);
    }
    if (rows === this.rows) return;
    const sliceBytes = count(this.sliceShape) * DTYPES[this.dtype].size;
    const header = encodeHeader(this.dtype, [rows, ...this.sliceShape], this.header);
    writeSync(this.fd, header, 0, header.length, 0);
    ftruncateSync(this.fd, this.header.length + rows * sliceBytes);
    if (this.fsync) fsyncSync(this.fd);
    this.rows = rows;
  }

  close(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
  }
}

/** Reads a uint8 array of N×H×W (one channel) or N×H×W×C as an unlabeled image set. */
export function readNpyImages(path: string, numClasses = 10): ImageSet {
  const a = readNpy(path);
  if (a.dtype !== 'uint8') throw new Error(`${path}: unsupported dtype: images must be uint8, got ${a.dtype}`);
  if (a.shape.length !== 3 && a.shape.length !== 4) {
    throw new Error(`${path}: wrong dims: images must be N×H×W or N×H×W×C, got (${a.shape.join(', ')})`);
  }
  const [n, height, width, channels = 1] = a.shape;
  if (height === 0 || width === 0 || channels === 0) throw new Error(`${path}: wrong dims: (${a.shape.join(', ')})`);
  return { images: a.data as Uint8Array, n, height, width, channels, labels: null, numClasses };
}

/** Writes images as a uint8 N×H×W×C array (labels, if any, are not stored). */
export function writeNpyImages(path: string, set: ImageSet): void {
  writeNpy(path, { dtype: 'uint8', shape: [set.n, set.height, set.width, set.channels], data: set.images });
}

/** IEEE 754 half-precision bits to a number. */
export function float16ToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

export function float16ToFloat32(bits: Uint16Array): Float32Array {
  return Float32Array.from(bits, float16ToNumber);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** A number to half-precision bits, rounding to nearest even (as numpy's astype(float16) does). */
export function numberToFloat16(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half: the value is m·2^-24 with m = full mantissa shifted right.
    if (e < -10) return sign;
    const full = mant | 0x800000;
    const shift = 14 - e;
    let h = full >>> shift;
    const rem = full & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  // A carry out of the mantissa correctly bumps the exponent (up to infinity).
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

export function float32ToFloat16(values: ArrayLike<number>): Uint16Array {
  return Uint16Array.from(values, numberToFloat16);
}
