// MATLAB Level 5 MAT-files, real numeric arrays only; layout from MathWorks' "MAT-File Format" (matfile_format.pdf).
import { deflateSync, inflateSync } from 'node:zlib';
import { errorMessage, readWholeFile, writeFileAtomic } from './fileio.js';

export type MatClass =
  | 'double'
  | 'single'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64';
export type MatData =
  | Float64Array
  | Float32Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

export interface MatArray {
  name: string;
  cls: MatClass;
  dims: number[];
  /** The elements in MATLAB's column-major order (byte arrays are views into the file's or the inflated buffer). */
  data: MatData;
  logical: boolean;
}

export interface MatFile {
  header: string;
  arrays: Map<string, MatArray>;
  /** Variables whose class this reader does not decode (cell, struct, char, sparse, object). */
  skipped: { name: string; className: string }[];
}

// Data element types (miXXX) that matter here.
const MI_INT8 = 1;
const MI_UINT32 = 6;
const MI_INT32 = 5;
const MI_MATRIX = 14;
const MI_COMPRESSED = 15;

type Getter = (v: DataView, off: number, le: boolean) => number | bigint;
/** How each numeric data type is stored: bytes per element and how to read one. */
const STORAGE: Record<number, { size: number; get: Getter }> = {
  1: { size: 1, get: (v, o) => v.getInt8(o) },
  2: { size: 1, get: (v, o) => v.getUint8(o) },
  3: { size: 2, get: (v, o, le) => v.getInt16(o, le) },
  4: { size: 2, get: (v, o, le) => v.getUint16(o, le) },
  5: { size: 4, get: (v, o, le) => v.getInt32(o, le) },
  6: { size: 4, get: (v, o, le) => v.getUint32(o, le) },
  7: { size: 4, get: (v, o, le) => v.getFloat32(o, le) },
  9: { size: 8, get: (v, o, le) => v.getFloat64(o, le) },
  12: { size: 8, get: (v, o, le) => v.getBigInt64(o, le) },
  13: { size: 8, get: (v, o, le) => v.getBigUint64(o, le) },
};

interface ClassInfo {
  cls: MatClass;
  /** mxCLASS code in the array flags. */
  mx: number;
  /** The miTYPE that stores this class without conversion. */
  mi: number;
  make: (n: number) => MatData;
}

const CLASSES: ClassInfo[] = [
  { cls: 'double', mx: 6, mi: 9, make: (n) => new Float64Array(n) },
  { cls: 'single', mx: 7, mi: 7, make: (n) => new Float32Array(n) },
  { cls: 'int8', mx: 8, mi: 1, make: (n) => new Int8Array(n) },
  { cls: 'uint8', mx: 9, mi: 2, make: (n) => new Uint8Array(n) },
  { cls: 'int16', mx: 10, mi: 3, make: (n) => new Int16Array(n) },
  { cls: 'uint16', mx: 11, mi: 4, make: (n) => new Uint16Array(n) },
  { cls: 'int32', mx: 12, mi: 5, make: (n) => new Int32Array(n) },
  { cls: 'uint32', mx: 13, mi: 6, make: (n) => new Uint32Array(n) },
  { cls: 'int64', mx: 14, mi: 12, make: (n) => new BigInt64Array(n) },
  { cls: 'uint64', mx: 15, mi: 13, make: (n) => new BigUint64Array(n) },
];
const OTHER_CLASSES: Record<number, string> = { 1: 'cell', 2: 'struct', 3: 'object', 4: 'char', 5: 'sparse' };

const FLAG_COMPLEX = 0x0800;
const FLAG_LOGICAL = 0x0200;
const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

const pad8 = (n: number): number => (n + 7) & ~7;

interface Tag {
  type: number;
  nbytes: number;
  dataOff: number;
  /** Where the next element starts. */
  next: number;
}

class Parser {
  constructor(
    readonly path: string,
    readonly le: boolean,
  ) {}

  u32(buf: Buffer, off: number): number {
    return this.le ? buf.readUInt32LE(off) : buf.readUInt32BE(off);
  }

  tag(buf: Buffer, off: number, end: number): Tag {
    if (off + 8 > end) throw new Error(`${this.path}: truncated: data element tag at offset ${off} runs past the end`);
    const first = this.u32(buf, off);
    // Small data element: byte count in the upper 16 bits, payload in the tag's second word.
    if (first >>> 16 !== 0) {
      const nbytes = first >>> 16;
      if (nbytes > 4) throw new Error(`${this.path}: corrupt small data element at offset ${off} (${nbytes} bytes)`);
      return { type: first & 0xffff, nbytes, dataOff: off + 4, next: off + 8 };
    }
    const nbytes = this.u32(buf, off + 4);
    const dataOff = off + 8;
    if (dataOff + nbytes > end) {
      throw new Error(
        `${this.path}: truncated: data element at offset ${off} claims ${nbytes} bytes, ${end - dataOff} remain`,
      );
    }
    // Compressed elements are not padded; others are padded to 8 bytes (the final padding may be missing).
    const next = first === MI_COMPRESSED ? dataOff + nbytes : Math.min(end, dataOff + pad8(nbytes));
    return { type: first, nbytes, dataOff, next };
  }

  expect(buf: Buffer, off: number, end: number, types: number[], what: string): Tag {
    const t = this.tag(buf, off, end);
    if (!types.includes(t.type)) {
      throw new Error(`${this.path}: corrupt array: ${what} has data type ${t.type} at offset ${off}`);
    }
    return t;
  }

  matrix(buf: Buffer, start: number, nbytes: number, out: MatFile): void {
    if (nbytes === 0) return;
    const end = start + nbytes;
    const flagsTag = this.expect(buf, start, end, [MI_UINT32], 'array flags');
    if (flagsTag.nbytes !== 8) throw new Error(`${this.path}: corrupt array flags at offset ${start}`);
    const flags = this.u32(buf, flagsTag.dataOff);
    const dimsTag = this.expect(buf, flagsTag.next, end, [MI_INT32], 'dimensions');
    const dims: number[] = [];
    for (let i = 0; i < dimsTag.nbytes / 4; i++) {
      const d = this.le ? buf.readInt32LE(dimsTag.dataOff + 4 * i) : buf.readInt32BE(dimsTag.dataOff + 4 * i);
      if (d < 0) throw new Error(`${this.path}: corrupt dimensions (${d}) at offset ${dimsTag.dataOff}`);
      dims.push(d);
    }
    const nameTag = this.expect(buf, dimsTag.next, end, [MI_INT8, 2, 16], 'array name');
    const name = buf.toString('latin1', nameTag.dataOff, nameTag.dataOff + nameTag.nbytes);
    const info = CLASSES.find((c) => c.mx === (flags & 0xff));
    if (info === undefined) {
      out.skipped.push({ name, className: OTHER_CLASSES[flags & 0xff] ?? `class ${flags & 0xff}` });
      return;
    }
    if (flags & FLAG_COMPLEX) throw new Error(`${this.path}: variable '${name}' is complex; only real arrays are read`);
    const real = this.tag(buf, nameTag.next, end);
    const storage = STORAGE[real.type];
    if (storage === undefined) {
      throw new Error(`${this.path}: variable '${name}' has unsupported storage type ${real.type}`);
    }
    const count = dims.reduce((a, b) => a * b, 1);
    if (real.nbytes !== count * storage.size) {
      throw new Error(
        `${this.path}: size mismatch: variable '${name}' is ${dims.join('×')} (${count} values) ` +
          `but its data holds ${real.nbytes / storage.size}`,
      );
    }
    const at = buf.byteOffset + real.dataOff;
    if (real.type === info.mi && (storage.size === 1 || this.le)) {
      // Stored as its own type in our byte order. Bytes are viewed in place, so SVHN's 1.6 GB X is not copied again;
      // wider types are copied, since their offset in the file need not be aligned.
      const data =
        info.cls === 'uint8'
          ? new Uint8Array(buf.buffer, at, count)
          : info.cls === 'int8'
            ? new Int8Array(buf.buffer, at, count)
            : info.make(count);
      if (storage.size > 1) new Uint8Array(data.buffer).set(buf.subarray(real.dataOff, real.dataOff + real.nbytes));
      out.arrays.set(name, { name, cls: info.cls, dims, data, logical: (flags & FLAG_LOGICAL) !== 0 });
      return;
    }
    // MATLAB stores values in the smallest type that holds them (e.g. a double array as miUINT8), and big-endian
    // files need swapping: convert value by value.
    const data = info.make(count);
    const view = new DataView(buf.buffer, at, real.nbytes);
    if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
      for (let i = 0; i < count; i++) data[i] = BigInt(storage.get(view, i * storage.size, this.le));
    } else {
      for (let i = 0; i < count; i++) data[i] = Number(storage.get(view, i * storage.size, this.le));
    }
    out.arrays.set(name, { name, cls: info.cls, dims, data, logical: (flags & FLAG_LOGICAL) !== 0 });
  }
}

function unsupported73(path: string): Error {
  return new Error(
    `${path}: MATLAB v7.3 (HDF5) MAT-files are not supported; re-save it as a Level 5 file (MATLAB: save(f, '-v7'))`,
  );
}

/** Parses a Level 5 MAT-file held in memory; `path` names it in errors. */
export function parseMat5(buf: Buffer, path: string): MatFile {
  if (buf.length >= 8 && buf.subarray(0, 8).equals(HDF5_SIGNATURE)) throw unsupported73(path);
  if (buf.length < 128) throw new Error(`${path}: truncated: ${buf.length} bytes is shorter than the 128-byte header`);
  const header = buf.toString('latin1', 0, 116).replace(/[\s\0]+$/, '');
  if (header.startsWith('MATLAB 7.3')) throw unsupported73(path);
  const endian = buf.toString('latin1', 126, 128);
  if (!header.startsWith('MATLAB') || (endian !== 'IM' && endian !== 'MI')) {
    throw new Error(`${path}: bad magic: not a MATLAB Level 5 MAT-file (header text and endian indicator missing)`);
  }
  const le = endian === 'IM';
  const version = le ? buf.readUInt16LE(124) : buf.readUInt16BE(124);
  if (version === 0x0200) throw unsupported73(path);
  if (version !== 0x0100) throw new Error(`${path}: unsupported MAT-file version 0x${version.toString(16)}`);

  const parser = new Parser(path, le);
  const out: MatFile = { header, arrays: new Map(), skipped: [] };
  let off = 128;
  while (off < buf.length) {
    const t = parser.tag(buf, off, buf.length);
    if (t.type === MI_COMPRESSED) {
      let inner: Buffer;
      try {
        inner = inflateSync(buf.subarray(t.dataOff, t.dataOff + t.nbytes));
      } catch (e) {
        throw new Error(`${path}: corrupt zlib stream in compressed element at offset ${off} (${errorMessage(e)})`);
      }
      const it = parser.expect(inner, 0, inner.length, [MI_MATRIX], 'compressed element');
      parser.matrix(inner, it.dataOff, it.nbytes, out);
    } else if (t.type === MI_MATRIX) {
      parser.matrix(buf, t.dataOff, t.nbytes, out);
    } else {
      throw new Error(`${path}: unexpected top-level data element type ${t.type} at offset ${off}`);
    }
    off = t.next;
  }
  return out;
}

export function readMat5(path: string): MatFile {
  return parseMat5(readWholeFile(path), path);
}

export interface MatArrayInput {
  name: string;
  /** MATLAB dimensions (at least two); `data` is in column-major order. */
  dims: number[];
  data: MatData;
  /** Store the values as this smaller type, as MATLAB does (e.g. a double array of labels as uint8). */
  storage?: MatClass;
  logical?: boolean;
}

export interface MatWriteOptions {
  /** Wrap each variable in a zlib-compressed element (miCOMPRESSED), as MATLAB's default -v7 does. */
  compress?: boolean;
}

function classOfData(data: MatData): ClassInfo {
  const names: [new (n: number) => MatData, MatClass][] = [
    [Float64Array, 'double'],
    [Float32Array, 'single'],
    [Int8Array, 'int8'],
    [Uint8Array, 'uint8'],
    [Int16Array, 'int16'],
    [Uint16Array, 'uint16'],
    [Int32Array, 'int32'],
    [Uint32Array, 'uint32'],
    [BigInt64Array, 'int64'],
    [BigUint64Array, 'uint64'],
  ];
  const cls = names.find(([ctor]) => data instanceof ctor)![1];
  return CLASSES.find((c) => c.cls === cls)!;
}

/** A data element, using the 8-byte small element form for payloads of 1..4 bytes as MATLAB does. */
function element(type: number, payload: Uint8Array): Buffer {
  if (payload.length > 0 && payload.length <= 4) {
    const b = Buffer.alloc(8);
    b.writeUInt32LE((payload.length << 16) | type, 0);
    b.set(payload, 4);
    return b;
  }
  const b = Buffer.alloc(8 + pad8(payload.length));
  b.writeUInt32LE(type, 0);
  b.writeUInt32LE(payload.length, 4);
  b.set(payload, 8);
  return b;
}

function bytesOf(data: MatData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function encodeArray(a: MatArrayInput, compress: boolean): Buffer[] {
  const info = classOfData(a.data);
  const count = a.dims.reduce((x, y) => x * y, 1);
  if (a.dims.length < 2 || count !== a.data.length) {
    throw new Error(`writeMat5: variable '${a.name}' has dims ${a.dims.join('×')} but ${a.data.length} values`);
  }
  let stored: MatData = a.data;
  let mi = info.mi;
  if (a.storage !== undefined && a.storage !== info.cls) {
    const target = CLASSES.find((c) => c.cls === a.storage)!;
    const big = (c: ClassInfo): boolean => c.cls === 'int64' || c.cls === 'uint64';
    if (big(target) || big(info)) throw new Error(`writeMat5: '${a.name}': no storage conversion to or from 64-bit`);
    const narrow = target.make(count) as Exclude<MatData, BigInt64Array | BigUint64Array>;
    for (let i = 0; i < count; i++) {
      narrow[i] = Number(a.data[i]);
      if (narrow[i] !== Number(a.data[i])) {
        throw new Error(`writeMat5: '${a.name}': value ${a.data[i]} does not fit storage type ${a.storage}`);
      }
    }
    stored = narrow;
    mi = target.mi;
  }
  const flags = Buffer.alloc(8);
  flags.writeUInt32LE(info.mx | (a.logical ? FLAG_LOGICAL : 0), 0);
  const dims = Buffer.alloc(4 * a.dims.length);
  a.dims.forEach((d, i) => dims.writeInt32LE(d, 4 * i));
  const content = Buffer.concat([
    element(MI_UINT32, flags),
    element(MI_INT32, dims),
    element(MI_INT8, Buffer.from(a.name, 'latin1')),
    element(mi, bytesOf(stored)),
  ]);
  const head = Buffer.alloc(8);
  head.writeUInt32LE(MI_MATRIX, 0);
  head.writeUInt32LE(content.length, 4);
  if (!compress) return [head, content];
  const z = deflateSync(Buffer.concat([head, content]));
  const ztag = Buffer.alloc(8);
  ztag.writeUInt32LE(MI_COMPRESSED, 0);
  ztag.writeUInt32LE(z.length, 4);
  return [ztag, z];
}

/** The 128-byte header: descriptive text, no subsystem data, version 0x0100, little-endian ('IM'). */
function encodeHeader(): Buffer {
  const h = Buffer.alloc(128, 0);
  const text = `MATLAB 5.0 MAT-file, Platform: semipoison, Created on: ${new Date().toUTCString()}`;
  h.write(text.padEnd(116, ' ').slice(0, 116), 0, 'latin1');
  h.writeUInt16LE(0x0100, 124);
  h.write('IM', 126, 'latin1');
  return h;
}

export function encodeMat5(arrays: readonly MatArrayInput[], opts: MatWriteOptions = {}): Buffer[] {
  return [encodeHeader(), ...arrays.flatMap((a) => encodeArray(a, opts.compress ?? false))];
}

export function writeMat5(path: string, arrays: readonly MatArrayInput[], opts: MatWriteOptions = {}): void {
  writeFileAtomic(path, encodeMat5(arrays, opts));
}
