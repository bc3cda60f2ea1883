// readImages: every image format a user can pass to train, scan or attack eval, and a clear error otherwise.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  readImages,
  writeCifar10Batch,
  writeIdxImages,
  writeIdxLabels,
  writeNpyImages,
  writePngFolder,
  writeStl10Images,
  type ImageSet,
} from '../../src/data/index.js';

function set(h: number, c: number): ImageSet {
  const images = Uint8Array.from({ length: 3 * h * h * c }, (_, i) => (i * 7) % 256);
  return { images, n: 3, height: h, width: h, channels: c, labels: Int32Array.of(0, 1, 2), numClasses: 10 };
}

describe('readImages', () => {
  it('reads npy, PNG folders, IDX, CIFAR-10 and STL-10 binaries as unlabeled sets', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'imgs-'));
    const gray = set(28, 1);
    const rgb = set(32, 3);
    writeNpyImages(join(dir, 'a.npy'), gray);
    await writePngFolder(join(dir, 'png'), gray);
    writeIdxImages(join(dir, 'x-idx3-ubyte'), gray);
    writeCifar10Batch(join(dir, 'b.bin'), rgb);
    const stl = set(96, 3);
    writeStl10Images(join(dir, 'unlabeled_X.bin'), stl);
    // STL-10 images under another name: told apart from CIFAR-10 records by the file's size.
    writeStl10Images(join(dir, 'mine.bin'), stl);
    for (const [file, expected] of [
      ['a.npy', gray],
      ['png', gray],
      ['x-idx3-ubyte', gray],
      ['b.bin', rgb],
      ['unlabeled_X.bin', stl],
      ['mine.bin', stl],
    ] as const) {
      const r = await readImages(join(dir, file));
      expect(r.labels, file).toBeNull();
      expect(Buffer.from(r.images).equals(Buffer.from(expected.images)), file).toBe(true);
    }
    writeFileSync(join(dir, 'x.txt'), 'hi');
    await expect(readImages(join(dir, 'x.txt'))).rejects.toThrow(/unknown image format/);
    await expect(readImages(join(dir, 'missing.npy'))).rejects.toThrow(/does not exist/);
  });

  it('reads a dataset split by name, labels dropped, from --data-dir', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'imgs-mnist-'));
    const gray = { ...set(28, 1), labels: Int32Array.of(3, 1, 4) };
    for (const prefix of ['train', 't10k']) {
      writeIdxImages(join(dir, `${prefix}-images-idx3-ubyte`), gray);
      writeIdxLabels(join(dir, `${prefix}-labels-idx1-ubyte`), gray.labels);
    }
    const r = await readImages('mnist:test', { dataDir: dir });
    expect(r.n).toBe(3);
    expect(r.labels).toBeNull();
    expect(Buffer.from(r.images).equals(Buffer.from(gray.images))).toBe(true);
    await expect(readImages('mnist:extra', { dataDir: dir })).rejects.toThrow(
      /MNIST has no split 'extra' \(splits: train, test\)/,
    );
    await expect(readImages('nosuch:train')).rejects.toThrow(/does not exist \(nor is it a dataset split/);
  });
});
