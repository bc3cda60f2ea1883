// Tests of the dataset registry: specs, missing-file hints, shape checks, the real Fashion-MNIST.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DATASETS, isDatasetName, loadDataset } from '../../src/data/datasets.js';
import { FASHION_MNIST_DIR, writeIdxImages, writeIdxLabels } from '../../src/data/idx.js';
import { writeSvhnMat } from '../../src/data/svhn.js';
import { makeSet, useTempDirs } from './helpers.js';

describe('dataset registry', () => {
  const tmp = useTempDirs();

  it('describes every dataset', () => {
    expect(Object.keys(DATASETS).sort()).toEqual(['cifar10', 'fashion-mnist', 'mnist', 'stl10', 'svhn']);
    expect(DATASETS.cifar10).toMatchObject({ height: 32, width: 32, channels: 3, downloadable: true });
    expect(DATASETS['fashion-mnist']).toMatchObject({ height: 28, channels: 1, defaultDir: FASHION_MNIST_DIR });
    expect(DATASETS.stl10.splits).toEqual(['train', 'test', 'unlabeled']);
    expect(DATASETS.svhn.splits).toContain('extra');
    for (const spec of Object.values(DATASETS)) expect(spec.classNames).toHaveLength(10);
    expect(isDatasetName('svhn')).toBe(true);
    expect(isDatasetName('imagenet')).toBe(false);
    expect(isDatasetName('toString')).toBe(false);
  });

  it('says where it looked and how to fetch a missing dataset', async () => {
    const dir = tmp();
    await expect(DATASETS.cifar10.load('train', dir)).rejects.toThrow(
      `CIFAR-10 train split: missing ${join(dir, 'cifar-10-batches-bin', 'data_batch_1.bin')} or ` +
        `${join(dir, 'data_batch_1.bin')} (looked in ${dir}). ` +
        `Run \`semipoison data download cifar10 --dir ${dir}\` to fetch it.`,
    );
    await expect(loadDataset('stl10', 'unlabeled', dir)).rejects.toThrow(/semipoison data download stl10 --dir /);
    await expect(loadDataset('mnist', 'test', dir)).rejects.toThrow(
      /MNIST test split: missing .*t10k-images-idx3-ubyte\.gz or .*t10k-images-idx3-ubyte .*no built-in download/,
    );
  });

  it('loads a split and checks it has the dataset’s image shape', async () => {
    const dir = tmp();
    writeSvhnMat(
      join(dir, 'test_32x32.mat'),
      makeSet(2, 32, 32, 3, (i) => i, [1, 0]),
    );
    const set = await loadDataset('svhn', 'test', dir);
    expect(Array.from(set.labels!)).toEqual([1, 0]);
    writeIdxImages(
      join(dir, 't10k-images-idx3-ubyte'),
      makeSet(1, 20, 20, 1, () => 0),
    );
    writeIdxLabels(join(dir, 't10k-labels-idx1-ubyte'), [3]);
    await expect(loadDataset('mnist', 'test', dir)).rejects.toThrow(
      `MNIST test split in ${dir}: wrong dims: images are 20×20×1, expected 28×28×1`,
    );
    await expect(DATASETS.svhn.load('valid' as 'test', dir)).rejects.toThrow(/SVHN has no split 'valid'/);
  });

  it('loads Fashion-MNIST from its default folder', async () => {
    const set = await loadDataset('fashion-mnist', 'test');
    expect(set.n).toBe(10000);
    expect(set.classNames).toEqual(DATASETS['fashion-mnist'].classNames);
  });
});
