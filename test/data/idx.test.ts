// Tests of the IDX (MNIST / Fashion-MNIST) reader and writer, including the real Fashion-MNIST test split.
import { copyFileSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { MissingFileError } from '../../src/data/fileio.js';
import {
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_DIR,
  loadMnistLike,
  readIdxImages,
  readIdxLabels,
  writeIdxImages,
  writeIdxLabels,
} from '../../src/data/idx.js';
import { classCounts } from '../../src/data/imageset.js';
import { makeSet, sameBytes, useTempDirs } from './helpers.js';

function idx(magic: number, dims: number[], data: number[]): Buffer {
  const b = Buffer.alloc(4 + 4 * dims.length + data.length);
  b.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => b.writeUInt32BE(d, 4 + 4 * i));
  Buffer.from(data).copy(b, 4 + 4 * dims.length);
  return b;
}

describe('IDX reader and writer', () => {
  const tmp = useTempDirs();

  it('reads a hand-built file row-major', () => {
    const dir = tmp();
    const p = join(dir, 'imgs');
    // 2 images of 2 rows × 3 columns, bytes 0..11
    writeFileSync(p, idx(0x803, [2, 2, 3], [...Array(12).keys()]));
    const set = readIdxImages(p);
    expect([set.n, set.height, set.width, set.channels]).toEqual([2, 2, 3, 1]);
    expect(set.images[(1 * 2 + 1) * 3 + 2]).toBe(11);
    expect(set.images[(0 * 2 + 1) * 3 + 0]).toBe(3);
    expect(set.labels).toBeNull();
  });

  it('round-trips raw and gzipped files, detecting gzip by its magic', () => {
    const dir = tmp();
    const set = makeSet(3, 5, 4, 1, (i, y, x) => i * 50 + y * 7 + x);
    for (const name of ['a-idx3-ubyte', 'a-idx3-ubyte.gz']) {
      writeIdxImages(join(dir, name), set);
      expect(readIdxImages(join(dir, name)).images).toEqual(set.images);
    }
    expect(readFileSync(join(dir, 'a-idx3-ubyte.gz')).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    copyFileSync(join(dir, 'a-idx3-ubyte.gz'), join(dir, 'renamed'));
    expect(readIdxImages(join(dir, 'renamed')).images).toEqual(set.images);
    writeIdxLabels(join(dir, 'l.gz'), [9, 0, 4]);
    expect(Array.from(readIdxLabels(join(dir, 'l.gz')))).toEqual([9, 0, 4]);
    // the atomic writer leaves no temp files behind
    expect(readdirSync(dir).sort()).toEqual(['a-idx3-ubyte', 'a-idx3-ubyte.gz', 'l.gz', 'renamed']);
  });

  it('rejects bad magic, truncation, trailing bytes, bad labels and corrupt gzip', () => {
    const dir = tmp();
    const p = join(dir, 'f');
    writeFileSync(p, idx(0x801, [2], [1, 2]));
    expect(() => readIdxImages(p)).toThrow(`${p}: bad magic number 0x00000801, expected 0x00000803 (IDX images)`);
    writeFileSync(p, idx(0x803, [2, 2, 2], [1, 2, 3, 4, 5, 6, 7]));
    expect(() => readIdxImages(p)).toThrow(/f: truncated: header says 2×2×2 \(24 bytes\), file has 23/);
    writeFileSync(p, idx(0x803, [1, 1, 1], [1]).subarray(0, 10));
    expect(() => readIdxImages(p)).toThrow(/truncated: IDX header needs 16 bytes/);
    writeFileSync(p, idx(0x801, [2], [1, 2, 3]));
    expect(() => readIdxLabels(p)).toThrow(/size mismatch: 1 bytes follow the 2 data/);
    writeFileSync(p, idx(0x801, [3], [1, 12, 3]));
    expect(() => readIdxLabels(p)).toThrow(`${p}: label 12 at index 1 out of range 0..9`);
    const gz = gzipSync(idx(0x801, [200], Array(200).fill(1)));
    gz.fill(0x55, 12, 30);
    writeFileSync(p, gz);
    expect(() => readIdxLabels(p)).toThrow(/f: corrupt gzip stream/);
    writeFileSync(p, gzipSync(idx(0x801, [200], Array(200).fill(1))).subarray(0, 20));
    expect(() => readIdxLabels(p)).toThrow(/corrupt gzip stream \(unexpected end of file\)/);
    expect(() =>
      writeIdxImages(
        p,
        makeSet(1, 2, 2, 3, () => 0),
      ),
    ).toThrow(/IDX images are grayscale/);
  });

  it('loads an MNIST-layout folder and checks the pair', () => {
    const dir = tmp();
    const set = makeSet(4, 28, 28, 1, (i, y, x) => i + y + x);
    writeIdxImages(join(dir, 'train-images-idx3-ubyte.gz'), set);
    writeIdxLabels(join(dir, 'train-labels-idx1-ubyte'), [1, 2, 3, 4]);
    const loaded = loadMnistLike(dir, 'train', FASHION_MNIST_CLASSES);
    expect(sameBytes(loaded.images, set.images)).toBe(true);
    expect(Array.from(loaded.labels!)).toEqual([1, 2, 3, 4]);
    expect(loaded.classNames![0]).toBe('T-shirt/top');
    expect(() => loadMnistLike(dir, 'test')).toThrow(MissingFileError);
    expect(() => loadMnistLike(dir, 'test')).toThrow(/t10k-images-idx3-ubyte\.gz or .*t10k-images-idx3-ubyte$/);
    writeIdxLabels(join(dir, 'train-labels-idx1-ubyte'), [1, 2, 3]);
    expect(() => loadMnistLike(dir, 'train')).toThrow(/size mismatch: 3 labels for 4 images/);
  });

  it('reads the real Fashion-MNIST test split', () => {
    const set = loadMnistLike(FASHION_MNIST_DIR, 'test', FASHION_MNIST_CLASSES);
    expect([set.n, set.height, set.width, set.channels]).toEqual([10000, 28, 28, 1]);
    expect(classCounts(set)).toEqual(Array(10).fill(1000));
    expect(Array.from(set.labels!.subarray(0, 10))).toEqual([9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
    // Sums computed once with numpy from the same files.
    expect(set.images.subarray(0, 784).reduce((a, b) => a + b, 0)).toBe(33456);
    expect(set.images.reduce((a, b) => a + b, 0)).toBe(573469082);
    expect(set.classNames![9]).toBe('Ankle boot');
  });
});
