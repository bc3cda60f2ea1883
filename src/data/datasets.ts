// Registry of the datasets semipoison reads: default folder, image shape, classes, splits and a loader for each.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CIFAR10_CLASSES, loadCifar10 } from './cifar10.js';
import { MissingFileError } from './fileio.js';
import { FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, loadMnistLike, MNIST_CLASSES } from './idx.js';
import type { ImageSet } from './imageset.js';
import { loadStl10, STL10_CLASSES } from './stl10.js';
import { loadSvhn, SVHN_CLASSES } from './svhn.js';

/** Where downloaded datasets go unless a folder is given: $SEMIPOISON_DATA_DIR, else ~/.cache/semipoison/datasets. */
export const DATA_ROOT = process.env.SEMIPOISON_DATA_DIR ?? join(homedir(), '.cache', 'semipoison', 'datasets');

export interface DatasetSpec<S extends string = string> {
  title: string;
  defaultDir: string;
  height: number;
  width: number;
  channels: number;
  classNames: readonly string[];
  splits: readonly S[];
  /** Whether `semipoison data download` can fetch it. */
  downloadable: boolean;
  /** Whether random horizontal flips suit its images (not digits: the reference turns them off for SVHN). */
  mirror: boolean;
  /** Loads a split from `dir` (default `defaultDir`); a missing file says where it looked and how to get it. */
  load(split: S, dir?: string): Promise<ImageSet>;
}

function define<S extends string>(
  name: string,
  spec: Omit<DatasetSpec<S>, 'load'>,
  read: (dir: string, split: S) => ImageSet,
): DatasetSpec<S> {
  return {
    ...spec,
    async load(split: S, dir: string = spec.defaultDir): Promise<ImageSet> {
      if (!spec.splits.includes(split)) {
        throw new Error(`${spec.title} has no split '${split}' (splits: ${spec.splits.join(', ')})`);
      }
      let set: ImageSet;
      try {
        set = read(dir, split);
      } catch (e) {
        if (!(e instanceof MissingFileError)) throw e;
        const how = spec.downloadable
          ? `Run \`semipoison data download ${name} --dir ${dir}\` to fetch it.`
          : `Put the dataset's files in that folder (this dataset has no built-in download).`;
        throw new Error(`${spec.title} ${split} split: missing ${e.paths.join(' or ')} (looked in ${dir}). ${how}`);
      }
      if (set.height !== spec.height || set.width !== spec.width || set.channels !== spec.channels) {
        throw new Error(
          `${spec.title} ${split} split in ${dir}: wrong dims: images are ${set.height}×${set.width}×${set.channels}, ` +
            `expected ${spec.height}×${spec.width}×${spec.channels}`,
        );
      }
      return set;
    },
  };
}

export const DATASETS = {
  'fashion-mnist': define(
    'fashion-mnist',
    {
      title: 'Fashion-MNIST',
      defaultDir: FASHION_MNIST_DIR,
      height: 28,
      width: 28,
      channels: 1,
      classNames: FASHION_MNIST_CLASSES,
      splits: ['train', 'test'] as const,
      downloadable: false,
      mirror: true,
    },
    (dir, split) => loadMnistLike(dir, split, FASHION_MNIST_CLASSES),
  ),
  mnist: define(
    'mnist',
    {
      title: 'MNIST',
      defaultDir: join(DATA_ROOT, 'mnist'),
      height: 28,
      width: 28,
      channels: 1,
      classNames: MNIST_CLASSES,
      splits: ['train', 'test'] as const,
      downloadable: false,
      mirror: false,
    },
    (dir, split) => loadMnistLike(dir, split, MNIST_CLASSES),
  ),
  cifar10: define(
    'cifar10',
    {
      title: 'CIFAR-10',
      defaultDir: join(DATA_ROOT, 'cifar10'),
      height: 32,
      width: 32,
      channels: 3,
      classNames: CIFAR10_CLASSES,
      splits: ['train', 'test'] as const,
      downloadable: true,
      mirror: true,
    },
    loadCifar10,
  ),
  svhn: define(
    'svhn',
    {
      title: 'SVHN',
      defaultDir: join(DATA_ROOT, 'svhn'),
      height: 32,
      width: 32,
      channels: 3,
      classNames: SVHN_CLASSES,
      splits: ['train', 'test', 'extra'] as const,
      downloadable: true,
      mirror: false,
    },
    loadSvhn,
  ),
  stl10: define(
    'stl10',
    {
      title: 'STL-10',
      defaultDir: join(DATA_ROOT, 'stl10'),
      height: 96,
      width: 96,
      channels: 3,
      classNames: STL10_CLASSES,
      splits: ['train', 'test', 'unlabeled'] as const,
      downloadable: true,
      mirror: true,
    },
    (dir, split) => loadStl10(dir, split),
  ),
};

export type DatasetName = keyof typeof DATASETS;
export type DatasetSplit<N extends DatasetName> = (typeof DATASETS)[N]['splits'][number];

export function isDatasetName(name: string): name is DatasetName {
  return Object.hasOwn(DATASETS, name);
}

/** Loads `split` of the named dataset from `dir` (default: the dataset's default folder). */
export function loadDataset<N extends DatasetName>(name: N, split: DatasetSplit<N>, dir?: string): Promise<ImageSet> {
  return (DATASETS[name] as DatasetSpec).load(split, dir);
}
