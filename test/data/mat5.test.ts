// Tests of the MAT-file Level 5 reader and writer against scipy-written fixtures and hand-built files.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeMat5, parseMat5, readMat5, writeMat5 } from '../../src/data/mat5.js';
import { FIXTURES, useTempDirs } from './helpers.js';

const H = 8;
const W = 6;
const N = 2;
const xAt = (r: number, c: number, ch: number, n: number): number => (r * 31 + c * 7 + ch * 3 + n * 101) % 256;

/** The scipy fixture's X in column-major order. */
function fixtureX(): Uint8Array {
  const x = new Uint8Array(H * W * 3 * N);
  for (let n = 0; n < N; n++)
    for (let ch = 0; ch < 3; ch++)
      for (let c = 0; c < W; c++) for (let r = 0; r < H; r++) x[r + H * (c + W * (ch + 3 * n))] = xAt(r, c, ch, n);
  return x;
}

/** A big-endian ('MI') file holding one 1×2 double array named 'v', built by hand from the spec. */
function bigEndianFile(): Buffer {
  const b = Buffer.alloc(128 + 8 + 16 + 16 + 8 + 24);
  b.write('MATLAB 5.0 MAT-file, big-endian test'.padEnd(116, ' '), 0, 'latin1');
  b.writeUInt16BE(0x0100, 124);
  b.write('MI', 126, 'latin1');
  let o = 128;
  const u32 = (v: number): void => {
    b.writeUInt32BE(v, o);
    o += 4;
  };
  u32(14);
  u32(16 + 16 + 8 + 24);
  u32(6); // miUINT32 flags
  u32(8);
  u32(6); // mxDOUBLE_CLASS
  u32(0);
  u32(5); // miINT32 dims
  u32(8);
  u32(1);
  u32(2);
  u32((1 << 16) | 1); // small element: 1 byte of miINT8 name
  b.write('v', o, 'latin1');
  o += 4;
  u32(9); // miDOUBLE
  u32(16);
  b.writeDoubleBE(1.5, o);
  b.writeDoubleBE(-2, o + 8);
  return b;
}

describe('MAT-file Level 5 reader and writer', () => {
  const tmp = useTempDirs();

  it('reads the files scipy.io.savemat writes, compressed or not', () => {
    for (const name of ['svhn_scipy_compressed.mat', 'svhn_scipy_plain.mat']) {
      const m = readMat5(join(FIXTURES, name));
      const x = m.arrays.get('X')!;
      expect(x.cls).toBe('uint8');
      expect(x.dims).toEqual([H, W, 3, N]);
      expect(x.data).toEqual(fixtureX());
      const y = m.arrays.get('y')!;
      expect(y.cls).toBe('double');
      expect(y.dims).toEqual([2, 1]);
      expect(Array.from(y.data as Float64Array)).toEqual([10, 3]);
      expect(m.skipped).toEqual([{ name: 'note', className: 'char' }]);
      expect(m.header).toMatch(/^MATLAB 5\.0 MAT-file/);
    }
  });

  it('writes the same data elements as scipy', () => {
    const ours = Buffer.concat(
      encodeMat5([
        { name: 'X', dims: [H, W, 3, N], data: fixtureX() },
        { name: 'y', dims: [2, 1], data: Float64Array.from([10, 3]) },
      ]),
    );
    const scipy = readFileSync(join(FIXTURES, 'svhn_scipy_plain.mat'));
    expect(ours.subarray(128).equals(scipy.subarray(128, ours.length))).toBe(true);
    expect(ours.readUInt16LE(124)).toBe(0x0100);
    expect(ours.toString('latin1', 126, 128)).toBe('IM');
  });

  it('round-trips every numeric class, compressed and not, with small and long names', () => {
    const dir = tmp();
    const arrays = [
      { name: 'd', dims: [2, 2], data: Float64Array.from([1.5, -2, 1e300, 0]) },
      { name: 'single_values', dims: [1, 3], data: Float32Array.from([0.25, -1, 3]) },
      { name: 'i8', dims: [3, 1], data: Int8Array.from([-128, 0, 127]) },
      { name: 'u16', dims: [1, 1], data: Uint16Array.from([65535]) },
      { name: 'i32', dims: [1, 2], data: Int32Array.from([-7, 2 ** 31 - 1]) },
      { name: 'i64', dims: [1, 2], data: BigInt64Array.from([-1n, 2n ** 40n]) },
      { name: 'empty', dims: [0, 0], data: new Float64Array(0) },
      { name: 'compact', dims: [1, 4], data: Float64Array.from([1, 2, 10, 255]), storage: 'uint8' as const },
      { name: 'flags', dims: [1, 2], data: Uint8Array.from([1, 0]), logical: true },
    ];
    for (const compress of [false, true]) {
      const p = join(dir, `${compress}.mat`);
      writeMat5(p, arrays, { compress });
      const m = readMat5(p);
      for (const a of arrays) {
        const got = m.arrays.get(a.name)!;
        expect(got.dims).toEqual(a.dims);
        expect(got.data).toEqual(a.data);
      }
      expect(m.arrays.get('compact')!.cls).toBe('double');
      expect(m.arrays.get('flags')!.logical).toBe(true);
    }
    expect(() =>
      writeMat5(join(dir, 'x.mat'), [{ name: 'z', dims: [1, 1], data: Float64Array.from([300]), storage: 'uint8' }]),
    ).toThrow(/value 300 does not fit storage type uint8/);
  });

  it('reads big-endian files', () => {
    const m = parseMat5(bigEndianFile(), 'be.mat');
    expect(Array.from(m.arrays.get('v')!.data as Float64Array)).toEqual([1.5, -2]);
  });

  it('rejects v7.3, foreign files, truncation, size mismatches and corrupt zlib streams', () => {
    const dir = tmp();
    const v73 = Buffer.alloc(600);
    v73.write('MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 .', 0);
    v73.writeUInt16LE(0x0200, 124);
    v73.write('IM', 126, 'latin1');
    Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]).copy(v73, 512);
    const p = join(dir, 'f.mat');
    writeFileSync(p, v73);
    expect(() => readMat5(p)).toThrow(`${p}: MATLAB v7.3 (HDF5) MAT-files are not supported`);
    expect(() => parseMat5(v73.subarray(512), 'h5.mat')).toThrow(/h5\.mat: MATLAB v7\.3 \(HDF5\)/);
    expect(() => parseMat5(Buffer.alloc(200, 7), 'junk.mat')).toThrow(/junk\.mat: bad magic: not a MATLAB Level 5/);
    expect(() => parseMat5(Buffer.alloc(20), 'tiny.mat')).toThrow(/tiny\.mat: truncated: 20 bytes/);

    const plain = Buffer.concat(encodeMat5([{ name: 'X', dims: [4, 4], data: new Uint8Array(16).fill(9) }]));
    expect(() => parseMat5(plain.subarray(0, plain.length - 20), 'cut.mat')).toThrow(
      /cut\.mat: truncated: data element at offset 128 claims 64 bytes, 44 remain/,
    );
    const wrongDims = Buffer.from(plain);
    wrongDims.writeInt32LE(5, 128 + 8 + 16 + 8);
    expect(() => parseMat5(wrongDims, 'dims.mat')).toThrow(
      /dims\.mat: size mismatch: variable 'X' is 5×4 \(20 values\) but its data holds 16/,
    );
    const complex = Buffer.from(plain);
    complex.writeUInt32LE(9 | 0x0800, 128 + 16);
    expect(() => parseMat5(complex, 'c.mat')).toThrow(/variable 'X' is complex/);

    const packed = Buffer.concat(
      encodeMat5([{ name: 'X', dims: [40, 40], data: new Uint8Array(1600).fill(3) }], { compress: true }),
    );
    const corrupt = Buffer.from(packed);
    corrupt.fill(0xaa, 128 + 8 + 2, 128 + 8 + 12);
    expect(() => parseMat5(corrupt, 'z.mat')).toThrow(
      /z\.mat: corrupt zlib stream in compressed element at offset 128/,
    );
    expect(() => parseMat5(packed.subarray(0, packed.length - 3), 'zc.mat')).toThrow(/truncated/);
  });
});
