// Tests of the SVHN .mat reader and writer: column-major X, label 10 as digit 0, malformed files.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MissingFileError } from '../../src/data/fileio.js';
import { pixelIndex } from '../../src/data/imageset.js';
import { readMat5, writeMat5 } from '../../src/data/mat5.js';
import { loadSvhn, readSvhnMat, writeSvhnMat } from '../../src/data/svhn.js';
import { FIXTURES, makeSet, sameBytes, useTempDirs } from './helpers.js';

const xAt = (r: number, c: number, ch: number, n: number): number => (r * 31 + c * 7 + ch * 3 + n * 101) % 256;

describe('SVHN .mat files', () => {
  const tmp = useTempDirs();

  it('reads the MATLAB column-major X into NHWC, pixel by pixel, and maps label 10 to 0', () => {
    for (const name of ['svhn_scipy_compressed.mat', 'svhn_scipy_plain.mat']) {
      const set = readSvhnMat(join(FIXTURES, name));
      expect([set.n, set.height, set.width, set.channels]).toEqual([2, 8, 6, 3]);
      expect(Array.from(set.labels!)).toEqual([0, 3]);
      for (let n = 0; n < 2; n++)
        for (let r = 0; r < 8; r++)
          for (let c = 0; c < 6; c++)
            for (let ch = 0; ch < 3; ch++) expect(set.images[pixelIndex(set, n, r, c, ch)]).toBe(xAt(r, c, ch, n));
    }
  });

  it('writes X column-major and y with 10 for the digit 0, in both element forms', () => {
    const dir = tmp();
    const set = makeSet(3, 32, 32, 3, (i, y, x, c) => i * 90 + y * 3 + x * 5 + c * 60, [0, 7, 9]);
    for (const opts of [{ compress: true }, { compress: false }, { compress: true, compactLabels: true }]) {
      const p = join(dir, `train_32x32-${JSON.stringify(opts).replace(/\W/g, '')}.mat`);
      writeSvhnMat(p, set, opts);
      const back = readSvhnMat(p);
      expect(sameBytes(back.images, set.images)).toBe(true);
      expect(Array.from(back.labels!)).toEqual([0, 7, 9]);
      const { arrays } = readMat5(p);
      const x = arrays.get('X')!;
      expect(x.dims).toEqual([32, 32, 3, 3]);
      // X(r=1, c=2, ch=1, n=2) sits at 1 + 32·(2 + 32·(1 + 3·2))
      expect(x.data[1 + 32 * (2 + 32 * (1 + 3 * 2))]).toBe((2 * 90 + 3 + 10 + 60) & 255);
      expect(Array.from(arrays.get('y')!.data as Float64Array)).toEqual([10, 7, 9]);
      expect(arrays.get('y')!.cls).toBe('double');
    }
  });

  it('loads a split by file name and reports a missing one', () => {
    const dir = tmp();
    writeSvhnMat(
      join(dir, 'test_32x32.mat'),
      makeSet(1, 32, 32, 3, () => 4, [5]),
    );
    const set = loadSvhn(dir, 'test');
    expect(set.n).toBe(1);
    expect(set.classNames![0]).toBe('0');
    expect(() => loadSvhn(dir, 'extra')).toThrow(MissingFileError);
    expect(readdirSync(dir)).toEqual(['test_32x32.mat']);
  });

  it('rejects missing variables, labels out of range, wrong dtypes and wrong dims', () => {
    const dir = tmp();
    const p = join(dir, 'bad.mat');
    const x = { name: 'X', dims: [2, 2, 3, 2], data: new Uint8Array(24) };
    writeMat5(p, [x]);
    expect(() => readSvhnMat(p)).toThrow(`${p}: missing variable 'y' (SVHN files hold X and y)`);
    writeMat5(p, [x, { name: 'y', dims: [2, 1], data: Float64Array.from([1, 11]) }]);
    expect(() => readSvhnMat(p)).toThrow(`${p}: label 11 at index 1 out of range 1..10`);
    writeMat5(p, [x, { name: 'y', dims: [2, 1], data: Float64Array.from([0, 1]) }]);
    expect(() => readSvhnMat(p)).toThrow(/label 0 at index 0 out of range 1\.\.10/);
    writeMat5(p, [x, { name: 'y', dims: [3, 1], data: Float64Array.from([1, 1, 1]) }]);
    expect(() => readSvhnMat(p)).toThrow(/size mismatch: y is 3×1 for 2 images/);
    const y = { name: 'y', dims: [2, 1], data: Float64Array.from([1, 2]) };
    writeMat5(p, [{ ...x, data: new Float64Array(24) }, y]);
    expect(() => readSvhnMat(p)).toThrow(/unsupported dtype: X has class double, expected uint8/);
    writeMat5(p, [{ ...x, dims: [4, 6] }, y]);
    expect(() => readSvhnMat(p)).toThrow(/wrong dims: X is 4×6, expected H×W×3×N/);
    expect(() =>
      writeSvhnMat(
        join(dir, 'g.mat'),
        makeSet(1, 4, 4, 1, () => 0, [1]),
      ),
    ).toThrow(/SVHN images are RGB/);
  });
});
