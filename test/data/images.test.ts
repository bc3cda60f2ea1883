// readImages: every image format a user can pass to train, scan or attack eval, and a clear error otherwise.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  readImages,
  writeCifar10Batch,
  writeIdxImages,
  writeNpyImages,
  writePngFolder,
  type ImageSet,
} from '../../src/data/index.js';

function set(h: number, c: number): ImageSet {
  const images = Uint8Array.from({ length: 3 * h * h * c }, (_, i) => (i * 7) % 256);
  return { images, n: 3, height: h, width: h, channels: c, labels: Int32Array.of(0, 1, 2), numClasses: 10 };
}

describe('readImages', () => {
  it('reads npy, PNG folders, IDX and CIFAR-10 binaries as unlabeled sets', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'imgs-'));
    const gray = set(28, 1);
    const rgb = set(32, 3);
    writeNpyImages(join(dir, 'a.npy'), gray);
    await writePngFolder(join(dir, 'png'), gray);
    writeIdxImages(join(dir, 'x-idx3-ubyte'), gray);
    writeCifar10Batch(join(dir, 'b.bin'), rgb);
    for (const [file, expected] of [
      ['a.npy', gray],
      ['png', gray],
      ['x-idx3-ubyte', gray],
      ['b.bin', rgb],
    ] as const) {
      const r = await readImages(join(dir, file));
      expect(r.labels, file).toBeNull();
      expect(Buffer.from(r.images).equals(Buffer.from(expected.images)), file).toBe(true);
    }
    writeFileSync(join(dir, 'x.txt'), 'hi');
    await expect(readImages(join(dir, 'x.txt'))).rejects.toThrow(/unknown image format/);
    await expect(readImages(join(dir, 'missing.npy'))).rejects.toThrow(/does not exist/);
  });
});
