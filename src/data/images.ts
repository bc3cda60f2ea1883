// One reader for "a file or folder of images" as users pass them to train, scan and attack eval:
// a folder of PNGs, a uint8 .npy, an IDX image file, a CIFAR-10 binary batch (labels dropped), or an
// STL-10 image file (train_X.bin, test_X.bin, unlabeled_X.bin), or a split of a known dataset by name
// (`cifar10:train`, `stl10:unlabeled`, `fashion-mnist:test`).
import { existsSync, statSync } from 'node:fs';
import { readCifar10Batch } from './cifar10.js';
import { DATASETS, isDatasetName, loadDataset, type DatasetName, type DatasetSplit } from './datasets.js';
import { readIdxImages } from './idx.js';
import type { ImageSet } from './imageset.js';
import { readNpyImages } from './npy.js';
import { readPngFolder } from './pngfolder.js';
import { readStl10Images } from './stl10.js';

/** Bytes of one CIFAR-10 record (label + 3×32×32) and of one STL-10 image (3×96×96). */
const CIFAR_RECORD = 1 + 3 * 32 * 32;
const STL10_IMAGE = 3 * 96 * 96;

export async function readImages(path: string, opts: { dataDir?: string } = {}): Promise<ImageSet> {
  if (!existsSync(path)) {
    const named = /^([a-z0-9-]+):([a-z]+)$/.exec(path);
    if (named && isDatasetName(named[1])) {
      const name: DatasetName = named[1];
      const splits: readonly string[] = DATASETS[name].splits;
      if (!splits.includes(named[2])) {
        throw new Error(`${path}: ${DATASETS[name].title} has no split '${named[2]}' (splits: ${splits.join(', ')})`);
      }
      const set = await loadDataset(name, named[2] as DatasetSplit<typeof name>, opts.dataDir);
      return { ...set, labels: null };
    }
    throw new Error(`${path} does not exist (nor is it a dataset split such as cifar10:train)`);
  }
  if (statSync(path).isDirectory()) return readPngFolder(path);
  if (path.endsWith('.npy')) return readNpyImages(path);
  if (/idx3-ubyte(\.gz)?$/.test(path)) return { ...readIdxImages(path), labels: null };
  if (path.endsWith('.bin')) {
    // STL-10 names its image files *_X.bin; otherwise the size tells the two layouts apart.
    const size = statSync(path).size;
    const stl = /_X\.bin$/.test(path) || (size % CIFAR_RECORD !== 0 && size % STL10_IMAGE === 0);
    return stl ? readStl10Images(path) : { ...readCifar10Batch(path), labels: null };
  }
  throw new Error(
    `${path}: unknown image format (expected a PNG folder, .npy, *idx3-ubyte, a CIFAR-10 .bin or an STL-10 *_X.bin)`,
  );
}
