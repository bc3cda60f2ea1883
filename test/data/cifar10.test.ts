// Tests of the CIFAR-10 binary batch reader and writer against hand-built records.
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CIFAR10_CLASSES,
  loadCifar10,
  readCifar10Batch,
  writeCifar10Batch,
  writeCifar10Meta,
} from '../../src/data/cifar10.js';
import { MissingFileError } from '../../src/data/fileio.js';
import { pixelIndex } from '../../src/data/imageset.js';
import { makeSet, useTempDirs } from './helpers.js';

/** One record: label, then R plane p & 255, G plane = g, B plane (3p) & 255, each 32×32 row-major. */
function record(label: number, g: number): Buffer {
  const b = Buffer.alloc(3073);
  b[0] = label;
  for (let p = 0; p < 1024; p++) {
    b[1 + p] = p & 255;
    b[1 + 1024 + p] = g;
    b[1 + 2048 + p] = (3 * p) & 255;
  }
  return b;
}

describe('CIFAR-10 binary batches', () => {
  const tmp = useTempDirs();

  it('converts the R, G, B planes of each record to NHWC', () => {
    const p = join(tmp(), 'b.bin');
    writeFileSync(p, Buffer.concat([record(7, 100), record(0, 5)]));
    const set = readCifar10Batch(p);
    expect([set.n, set.height, set.width, set.channels]).toEqual([2, 32, 32, 3]);
    expect(Array.from(set.labels!)).toEqual([7, 0]);
    // row 1, column 2 is plane offset 34
    expect(Array.from(set.images.subarray(pixelIndex(set, 0, 1, 2), pixelIndex(set, 0, 1, 2) + 3))).toEqual([
      34, 100, 102,
    ]);
    // row 31, column 31 is offset 1023
    expect(set.images[pixelIndex(set, 1, 31, 31, 0)]).toBe(1023 & 255);
    expect(set.images[pixelIndex(set, 1, 31, 31, 1)]).toBe(5);
    expect(set.images[pixelIndex(set, 1, 31, 31, 2)]).toBe(3069 & 255);
    expect(set.classNames).toEqual(CIFAR10_CLASSES);
  });

  it('writes the exact record layout it reads', () => {
    const dir = tmp();
    const src = Buffer.concat([record(3, 9), record(9, 200), record(1, 0)]);
    writeFileSync(join(dir, 'in.bin'), src);
    const set = readCifar10Batch(join(dir, 'in.bin'));
    writeCifar10Batch(join(dir, 'out.bin'), set);
    expect(readFileSync(join(dir, 'out.bin')).equals(src)).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(['in.bin', 'out.bin']);
  });

  it('rejects truncated files, labels out of range and sets it cannot write', () => {
    const dir = tmp();
    const p = join(dir, 'bad.bin');
    writeFileSync(p, Buffer.concat([record(1, 1), record(2, 2)]).subarray(0, 6141));
    expect(() => readCifar10Batch(p)).toThrow(
      `${p}: truncated: 6141 bytes is not a whole number of 3073-byte records (1 records and 3068 bytes over)`,
    );
    writeFileSync(p, Buffer.alloc(0));
    expect(() => readCifar10Batch(p)).toThrow(`${p}: empty file: no CIFAR-10 records`);
    writeFileSync(p, Buffer.concat([record(1, 1), record(10, 2)]));
    expect(() => readCifar10Batch(p)).toThrow(`${p}: label 10 in record 1 out of range 0..9`);
    expect(() => readCifar10Batch(join(dir, 'nope.bin'))).toThrow(MissingFileError);
    const out = join(dir, 'out.bin');
    expect(() =>
      writeCifar10Batch(
        out,
        makeSet(1, 28, 28, 1, () => 0, [0]),
      ),
    ).toThrow(/wrong dims: .*28×28×1/);
    expect(() =>
      writeCifar10Batch(
        out,
        makeSet(1, 32, 32, 3, () => 0),
      ),
    ).toThrow(/need labels/);
    expect(readdirSync(dir)).toEqual(['bad.bin']);
  });

  it('loads the five training batches in order, and the meta file names the classes', () => {
    const root = tmp();
    const folder = join(root, 'cifar-10-batches-bin');
    mkdirSync(folder);
    for (let b = 1; b <= 5; b++) {
      const set = makeSet(2, 32, 32, 3, (i, y, x, c) => b * 10 + i + y + x + c, [b, b + 1]);
      writeCifar10Batch(join(folder, `data_batch_${b}.bin`), set);
    }
    writeCifar10Meta(
      join(folder, 'batches.meta.txt'),
      CIFAR10_CLASSES.map((c) => c.toUpperCase()),
    );
    const train = loadCifar10(root, 'train');
    expect(train.n).toBe(10);
    expect(Array.from(train.labels!)).toEqual([1, 2, 2, 3, 3, 4, 4, 5, 5, 6]);
    expect(train.images[pixelIndex(train, 9, 0, 0, 0)]).toBe(51);
    expect(train.classNames![0]).toBe('AIRPLANE');
    expect(loadCifar10(folder, 'train').n).toBe(10);
    expect(() => loadCifar10(root, 'test')).toThrow(/file not found: .*cifar-10-batches-bin\/test_batch\.bin/);
  });
});
