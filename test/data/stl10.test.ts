// Tests of the STL-10 binary reader and writer: the column-major transpose, labels 1..10, ranges.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  loadStl10,
  readStl10Images,
  readStl10Labels,
  writeStl10Images,
  writeStl10Labels,
} from '../../src/data/stl10.js';
import { pixelIndex } from '../../src/data/imageset.js';
import { useTempDirs } from './helpers.js';

const S = 96;
const IMG = 3 * S * S;
/** A pattern that differs when rows and columns swap. */
const f = (n: number, row: number, col: number, c: number): number => (n * 40 + row * 3 + col * 5 + c * 70) & 255;

/** Builds a file the way the format stores it: file[n][c][col][row], i.e. numpy (N,3,96,96) read as [n,c,b,a]. */
function stlFile(n: number): Buffer {
  const b = Buffer.alloc(n * IMG);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      for (let col = 0; col < S; col++) {
        for (let row = 0; row < S; row++) b[i * IMG + c * S * S + col * S + row] = f(i, row, col, c);
      }
    }
  }
  return b;
}

describe('STL-10 binary files', () => {
  const tmp = useTempDirs();

  it('transposes each column-major channel to NHWC, like the reference loader', () => {
    const p = join(tmp(), 'train_X.bin');
    writeFileSync(p, stlFile(2));
    const set = readStl10Images(p);
    expect([set.n, set.height, set.width, set.channels]).toEqual([2, 96, 96, 3]);
    expect(set.labels).toBeNull();
    // row 1, column 2: 3 + 10; a transposed read would give 6 + 5
    expect(set.images[pixelIndex(set, 0, 1, 2, 0)]).toBe(13);
    // the reference: images.reshape(-1, 3, 96, 96).transpose(0, 3, 2, 1) → out[n, a, b, c] = in[n, c, b, a]
    const raw = readFileSync(p);
    for (let i = 0; i < 2; i++) {
      for (let a = 0; a < S; a += 7) {
        for (let b = 0; b < S; b += 5) {
          for (let c = 0; c < 3; c++) {
            expect(set.images[pixelIndex(set, i, a, b, c)]).toBe(raw[((i * 3 + c) * S + b) * S + a]);
            expect(set.images[pixelIndex(set, i, a, b, c)]).toBe(f(i, a, b, c));
          }
        }
      }
    }
  });

  it('reads a range of images and labels, mapping labels 1..10 to 0..9', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'x.bin'), stlFile(3));
    writeFileSync(join(dir, 'y.bin'), Buffer.from([10, 1, 5]));
    const part = readStl10Images(join(dir, 'x.bin'), { start: 1, count: 2 });
    expect(part.n).toBe(2);
    expect(part.images[pixelIndex(part, 1, 4, 9, 2)]).toBe(f(2, 4, 9, 2));
    expect(Array.from(readStl10Labels(join(dir, 'y.bin')))).toEqual([9, 0, 4]);
    expect(Array.from(readStl10Labels(join(dir, 'y.bin'), { start: 2 }))).toEqual([4]);
    expect(() => readStl10Images(join(dir, 'x.bin'), { start: 2, count: 2 })).toThrow(
      /range start=2 count=2 is outside the file's 3 entries/,
    );
  });

  it('round-trips through the writers byte for byte', () => {
    const dir = tmp();
    const raw = stlFile(2);
    writeFileSync(join(dir, 'in.bin'), raw);
    writeStl10Images(join(dir, 'out.bin'), readStl10Images(join(dir, 'in.bin')));
    expect(readFileSync(join(dir, 'out.bin')).equals(raw)).toBe(true);
    writeStl10Labels(join(dir, 'y.bin'), [0, 9, 3]);
    expect(Array.from(readFileSync(join(dir, 'y.bin')))).toEqual([1, 10, 4]);
    expect(() => writeStl10Labels(join(dir, 'z.bin'), [10])).toThrow(/label 10 at index 0 out of range 0\.\.9/);
  });

  it('rejects truncated image files and labels out of range', () => {
    const dir = tmp();
    const x = join(dir, 'x.bin');
    writeFileSync(x, stlFile(2).subarray(0, IMG + 100));
    expect(() => readStl10Images(x)).toThrow(`${x}: truncated: 27748 bytes is not a whole number of 27648-byte`);
    writeFileSync(x, Buffer.alloc(0));
    expect(() => readStl10Images(x)).toThrow(`${x}: empty file: no STL-10 images`);
    const y = join(dir, 'y.bin');
    writeFileSync(y, Buffer.from([1, 0, 3]));
    expect(() => readStl10Labels(y)).toThrow(`${y}: label 0 at index 1 out of range 1..10`);
    writeFileSync(y, Buffer.from([11]));
    expect(() => readStl10Labels(y)).toThrow(/label 11 at index 0/);
  });

  it('loads splits from the stl10_binary folder', () => {
    const root = tmp();
    const folder = join(root, 'stl10_binary');
    mkdirSync(folder);
    writeFileSync(join(folder, 'test_X.bin'), stlFile(2));
    writeFileSync(join(folder, 'test_y.bin'), Buffer.from([3, 10]));
    writeFileSync(join(folder, 'unlabeled_X.bin'), stlFile(1));
    writeFileSync(join(folder, 'class_names.txt'), 'a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n');
    const test = loadStl10(root, 'test');
    expect(Array.from(test.labels!)).toEqual([2, 9]);
    expect(test.classNames![9]).toBe('j');
    expect(loadStl10(root, 'unlabeled').labels).toBeNull();
    writeFileSync(join(folder, 'test_y.bin'), Buffer.from([3]));
    expect(() => loadStl10(root, 'test')).toThrow(/size mismatch: 1 labels for 2 images/);
    expect(() => loadStl10(root, 'train')).toThrow(/file not found: .*stl10_binary\/train_X\.bin/);
  });
});
