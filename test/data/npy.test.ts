// Tests of the .npy reader, writer and appender against numpy-written fixtures and the format spec.
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  float16ToFloat32,
  float16ToNumber,
  float32ToFloat16,
  NpyAppender,
  readNpy,
  readNpyImages,
  writeNpy,
  writeNpyImages,
  type NpyArray,
} from '../../src/data/npy.js';
import { FIXTURES, makeSet, sameBytes, useTempDirs } from './helpers.js';

const fixture = (name: string): string => join(FIXTURES, name);

/** Checks the header against the format spec and returns its dict text and the data offset. */
function headerOf(buf: Buffer): { dict: string; dataOffset: number; major: number } {
  expect(buf.subarray(0, 6).equals(Buffer.from('\x93NUMPY', 'latin1'))).toBe(true);
  const major = buf[6];
  expect(buf[7]).toBe(0);
  const prefix = major === 1 ? 10 : 12;
  const len = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const dataOffset = prefix + len;
  expect(dataOffset % 64).toBe(0);
  expect(buf[dataOffset - 1]).toBe(0x0a);
  return { dict: buf.toString('latin1', prefix, dataOffset).trimEnd(), dataOffset, major };
}

describe('.npy reader', () => {
  it('reads the files numpy writes, for every supported dtype', () => {
    const u1 = readNpy(fixture('u1_3d.npy'));
    expect(u1).toEqual({ dtype: 'uint8', shape: [2, 3, 4], data: Uint8Array.from({ length: 24 }, (_, i) => i) });
    const f4 = readNpy(fixture('f4_2d.npy'));
    expect(f4.shape).toEqual([2, 3]);
    expect(Array.from(f4.data as Float32Array)).toEqual([1.5, -2.25, Math.fround(3e-8), Infinity, -0, 65504]);
    const f2 = readNpy(fixture('f2_1d.npy'));
    expect(f2.dtype).toBe('float16');
    const halves = Array.from(float16ToFloat32(f2.data as Uint16Array));
    expect(halves.slice(0, 8)).toEqual([0, 1, -2, 0.5, 65504, 2 ** -24, Infinity, -Infinity]);
    expect(halves[8]).toBeCloseTo(0.1, 3);
    expect(halves[9]).toBeCloseTo(-1e-5, 7);
    expect(readNpy(fixture('f8_scalar.npy'))).toEqual({
      dtype: 'float64',
      shape: [],
      data: Float64Array.from([Math.PI]),
    });
    expect(readNpy(fixture('i8_2d.npy')).data).toEqual(BigInt64Array.from([-1n, 2n ** 40n, 3n, -(2n ** 62n)]));
    expect(readNpy(fixture('i4_1d.npy'))).toEqual({ dtype: 'int32', shape: [3], data: Int32Array.from([-5, 0, 7]) });
    expect(readNpy(fixture('b1_2d.npy'))).toEqual({ dtype: 'bool', shape: [1, 3], data: Uint8Array.from([1, 0, 1]) });
    const v2 = readNpy(fixture('f4_v2.npy'));
    expect(readFileSync(fixture('f4_v2.npy'))[6]).toBe(2);
    expect(v2).toEqual({ dtype: 'float32', shape: [3, 2], data: Float32Array.from([0, 1, 2, 3, 4, 5]) });
  });

  it('refuses fortran order and big-endian data with clear messages', () => {
    expect(() => readNpy(fixture('fortran.npy'))).toThrow(/fortran\.npy: fortran_order arrays are not supported/);
    expect(() => readNpy(fixture('bigendian.npy'))).toThrow(/bigendian\.npy: big-endian dtype '>f4' is not supported/);
  });

  it('rounds float32 to float16 exactly as numpy does', () => {
    const src = readNpy(fixture('f16_src_f4.npy')).data as Float32Array;
    const ref = readNpy(fixture('f16_ref_f2.npy'));
    expect(ref.dtype).toBe('float16');
    expect(float32ToFloat16(src)).toEqual(ref.data);
    expect(float16ToNumber(0x7e00)).toBeNaN();
    expect(float16ToNumber(0x8001)).toBe(-(2 ** -24));
  });
});

describe('.npy writer and appender', () => {
  const tmp = useTempDirs();

  it('writes files byte-identical to numpy', () => {
    const dir = tmp();
    for (const name of ['u1_3d', 'f4_2d', 'f2_1d', 'f8_scalar', 'i8_2d', 'i4_1d', 'b1_2d']) {
      const a = readNpy(fixture(`${name}.npy`));
      writeNpy(join(dir, `${name}.npy`), a);
      expect(readFileSync(join(dir, `${name}.npy`)).equals(readFileSync(fixture(`${name}.npy`)))).toBe(true);
    }
    expect(readdirSync(dir)).toHaveLength(7);
  });

  it('writes headers that follow the spec', () => {
    const p = join(tmp(), 'a.npy');
    writeNpy(p, { dtype: 'float32', shape: [2, 3], data: new Float32Array(6) });
    const buf = readFileSync(p);
    const h = headerOf(buf);
    expect(h.major).toBe(1);
    expect(h.dict).toBe("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }");
    expect(buf.length).toBe(h.dataOffset + 24);
    writeNpy(p, { dtype: 'int64', shape: [5], data: new BigInt64Array(5) });
    expect(headerOf(readFileSync(p)).dict).toBe("{'descr': '<i8', 'fortran_order': False, 'shape': (5,), }");
  });

  it('round-trips a large array (read as a view of the file buffer)', () => {
    const p = join(tmp(), 'big.npy');
    const data = Float32Array.from({ length: 20000 }, (_, i) => i / 3);
    writeNpy(p, { dtype: 'float32', shape: [2000, 10], data });
    const back = readNpy(p);
    expect(back.shape).toEqual([2000, 10]);
    expect(back.data).toBeInstanceOf(Float32Array);
    expect(sameBytes(back.data, data)).toBe(true);
    expect(back.data.byteOffset % 4).toBe(0);
  });

  it('rejects data that does not match the dtype or shape, leaving no file', () => {
    const dir = tmp();
    const p = join(dir, 'x.npy');
    expect(() => writeNpy(p, { dtype: 'float32', shape: [2], data: new Float64Array(2) })).toThrow(
      /data is a Float64Array, not float32 data/,
    );
    expect(() => writeNpy(p, { dtype: 'uint8', shape: [2, 2], data: new Uint8Array(3) })).toThrow(
      /size mismatch: shape \(2, 2\) needs 4 values, got 3/,
    );
    expect(readdirSync(dir)).toEqual([]);
  });

  it('rejects truncated files, trailing bytes, bad magic and corrupt headers', () => {
    const dir = tmp();
    const p = join(dir, 'x.npy');
    writeNpy(p, { dtype: 'int32', shape: [4], data: Int32Array.from([1, 2, 3, 4]) });
    const good = readFileSync(p);
    writeFileSync(p, good.subarray(0, good.length - 1));
    expect(() => readNpy(p)).toThrow(`${p}: truncated: shape (4) needs 144 bytes, file has 143`);
    writeFileSync(p, Buffer.concat([good, Buffer.alloc(4)]));
    expect(() => readNpy(p)).toThrow(/size mismatch: 4 bytes follow the \(4\) data/);
    writeFileSync(p, good.subarray(0, 40));
    expect(() => readNpy(p)).toThrow(/truncated: the header needs 128 bytes, file has 40/);
    writeFileSync(p, Buffer.from('PK\x03\x04 not an npy file'));
    expect(() => readNpy(p)).toThrow(`${p}: bad magic: not a .npy file`);
    const badDtype = Buffer.from(good);
    badDtype.write("'<c8'", good.indexOf("'<i4'"), 'latin1');
    writeFileSync(p, badDtype);
    expect(() => readNpy(p)).toThrow(/unsupported dtype '<c8'/);
    const badDict = Buffer.from(good);
    badDict.write('[', good.indexOf('{'), 'latin1');
    writeFileSync(p, badDict);
    expect(() => readNpy(p)).toThrow(/corrupt header: expected '\{'/);
  });

  it('appends slices in place: valid after each append, earlier bytes untouched', () => {
    const dir = tmp();
    const p = join(dir, 'log.npy');
    const app = NpyAppender.create(p, 'float32', [2, 3]);
    const first = readFileSync(p);
    const { dataOffset } = headerOf(first);
    expect(first.length).toBe(dataOffset);
    expect(readNpy(p).shape).toEqual([0, 2, 3]);
    const slices = [0, 1, 2].map((k) => Float32Array.from({ length: 6 }, (_, i) => k * 10 + i + 0.5));
    let slice0: Buffer | null = null;
    for (let k = 0; k < 3; k++) {
      app.append(slices[k]);
      const buf = readFileSync(p);
      const h = headerOf(buf);
      expect(h.dataOffset).toBe(dataOffset);
      expect(h.dict).toBe(`{'descr': '<f4', 'fortran_order': False, 'shape': (${k + 1}, 2, 3), }`);
      expect(statSync(p).size).toBe(dataOffset + (k + 1) * 24);
      const a = readNpy(p);
      expect(a.shape).toEqual([k + 1, 2, 3]);
      expect(a.data).toEqual(Float32Array.from(slices.slice(0, k + 1).flatMap((s) => Array.from(s))));
      const bytes0 = buf.subarray(dataOffset, dataOffset + 24);
      if (slice0 === null) slice0 = Buffer.from(bytes0);
      expect(bytes0.equals(slice0)).toBe(true);
    }
    expect(app.length).toBe(3);
    expect(() => app.append(new Float32Array(5))).toThrow(/size mismatch/);
    app.close();
    expect(() => app.append(slices[0])).toThrow(/appender is closed/);
  });

  it('reopens an appendable file, dropping a slice cut short', () => {
    const p = join(tmp(), 'log.npy');
    const app = NpyAppender.create(p, 'uint8', [4], { fsync: true });
    app.append(Uint8Array.from([1, 2, 3, 4]));
    app.close();
    // a crash between the data write and the header update leaves stray bytes after the recorded shape
    writeFileSync(p, Buffer.concat([readFileSync(p), Buffer.from([9, 9])]));
    const again = NpyAppender.open(p);
    expect(again.shape).toEqual([1, 4]);
    again.append(Uint8Array.from([5, 6, 7, 8]));
    again.close();
    expect(readNpy(p)).toEqual({ dtype: 'uint8', shape: [2, 4], data: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]) });
    writeFileSync(p, readFileSync(fixture('f8_scalar.npy')));
    expect(() => NpyAppender.open(p)).toThrow(/a 0-d array has no axis to append along/);
  });

  it('reads and writes uint8 image arrays as unlabeled image sets', () => {
    const dir = tmp();
    const gray = readNpyImages(fixture('u1_3d.npy'));
    expect([gray.n, gray.height, gray.width, gray.channels, gray.labels]).toEqual([2, 3, 4, 1, null]);
    const set = makeSet(2, 3, 5, 3, (i, y, x, c) => i + y * 2 + x * 3 + c * 4);
    writeNpyImages(join(dir, 'i.npy'), set);
    const back = readNpyImages(join(dir, 'i.npy'));
    expect(back.images).toEqual(set.images);
    expect(back.channels).toBe(3);
    expect(() => readNpyImages(fixture('f4_2d.npy'))).toThrow(/images must be uint8, got float32/);
    const flat: NpyArray = { dtype: 'uint8', shape: [6], data: new Uint8Array(6) };
    writeNpy(join(dir, 'f.npy'), flat);
    expect(() => readNpyImages(join(dir, 'f.npy'))).toThrow(/wrong dims: images must be N×H×W or N×H×W×C, got \(6\)/);
  });
});
