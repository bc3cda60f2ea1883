// CIFAR-10 binary version (cifar-10-batches-bin/*.bin); record layout from www.cs.toronto.edu/~kriz/cifar.html.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readWholeFile, requireOneOf, writeFileAtomic, writeFileAtomicWith } from './fileio.js';
import { concatImageSets, type ImageSet, validateImageSet } from './imageset.js';

export const CIFAR10_CLASSES = [
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
];
export const CIFAR10_FOLDER = 'cifar-10-batches-bin';
export const CIFAR10_TRAIN_BATCHES = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
export const CIFAR10_TEST_BATCH = 'test_batch.bin';
export const CIFAR10_META = 'batches.meta.txt';

const SIDE = 32;
const PLANE = SIDE * SIDE;
/** One label byte, then the 1024-byte R, G and B planes, each row-major. */
const RECORD = 1 + 3 * PLANE;

/** Reads one batch file into NHWC; labels must lie in 0..classNames.length-1. */
export function readCifar10Batch(path: string, classNames: readonly string[] = CIFAR10_CLASSES): ImageSet {
  const buf = readWholeFile(path);
  if (buf.length === 0) throw new Error(`${path}: empty file: no CIFAR-10 records`);
  if (buf.length % RECORD !== 0) {
    const whole = Math.floor(buf.length / RECORD);
    throw new Error(
      `${path}: truncated: ${buf.length} bytes is not a whole number of ${RECORD}-byte records ` +
        `(${whole} records and ${buf.length - whole * RECORD} bytes over)`,
    );
  }
  const n = buf.length / RECORD;
  const images = new Uint8Array(n * RECORD - n);
  const labels = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    const base = r * RECORD;
    const label = buf[base];
    if (label >= classNames.length) {
      throw new Error(`${path}: label ${label} in record ${r} out of range 0..${classNames.length - 1}`);
    }
    labels[r] = label;
    const out = r * 3 * PLANE;
    for (let c = 0; c < 3; c++) {
      const plane = base + 1 + c * PLANE;
      for (let p = 0; p < PLANE; p++) images[out + p * 3 + c] = buf[plane + p];
    }
  }
  return {
    images,
    n,
    height: SIDE,
    width: SIDE,
    channels: 3,
    labels,
    numClasses: classNames.length,
    classNames: [...classNames],
  };
}

/** The batch folder: `dir` itself, or `dir/cifar-10-batches-bin` as the archive unpacks. */
export function cifar10Folder(dir: string): string {
  const nested = join(dir, CIFAR10_FOLDER);
  return existsSync(nested) ? nested : dir;
}

/** Class names from batches.meta.txt: one per line, blank lines ignored. */
export function readCifar10Meta(path: string): string[] {
  const names = readFileSync(path, 'utf8')
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length === 0) throw new Error(`${path}: no class names`);
  return names;
}

export function writeCifar10Meta(path: string, names: readonly string[]): void {
  writeFileAtomic(path, Buffer.from(names.join('\n') + '\n\n', 'utf8'));
}

/** Where loadCifar10 looks for each of a split's batch files: in the archive's folder, then in `dir` itself. */
export function cifar10Files(dir: string, split: 'train' | 'test'): string[][] {
  const names = split === 'train' ? CIFAR10_TRAIN_BATCHES : [CIFAR10_TEST_BATCH];
  return names.map((f) => [join(dir, CIFAR10_FOLDER, f), join(dir, f)]);
}

/** Loads the training split (five batches, in order) or the test split. */
export function loadCifar10(dir: string, split: 'train' | 'test'): ImageSet {
  const metaPath = join(cifar10Folder(dir), CIFAR10_META);
  const names = existsSync(metaPath) ? readCifar10Meta(metaPath) : CIFAR10_CLASSES;
  const batches = cifar10Files(dir, split).map((candidates) => readCifar10Batch(requireOneOf(candidates), names));
  return batches.length === 1 ? batches[0] : concatImageSets(batches);
}

/** Writes a 32×32×3 labeled set as one batch file in the dataset's own record layout. */
export function writeCifar10Batch(path: string, set: ImageSet): void {
  validateImageSet(set, path);
  if (set.height !== SIDE || set.width !== SIDE || set.channels !== 3) {
    throw new Error(
      `${path}: wrong dims: CIFAR-10 images are 32×32×3, the set has ${set.height}×${set.width}×${set.channels}`,
    );
  }
  if (set.labels === null) throw new Error(`${path}: CIFAR-10 records need labels, the set has none`);
  if (set.numClasses > 256) throw new Error(`${path}: a label byte holds at most 256 classes, not ${set.numClasses}`);
  const labels = set.labels;
  writeFileAtomicWith(path, (write) => {
    // Encode in blocks so a 50000-image export does not need a second full-size buffer.
    const block = 1024;
    for (let start = 0; start < set.n; start += block) {
      const count = Math.min(block, set.n - start);
      const buf = new Uint8Array(count * RECORD);
      for (let k = 0; k < count; k++) {
        const r = start + k;
        buf[k * RECORD] = labels[r];
        const src = r * 3 * PLANE;
        for (let c = 0; c < 3; c++) {
          const plane = k * RECORD + 1 + c * PLANE;
          for (let p = 0; p < PLANE; p++) buf[plane + p] = set.images[src + p * 3 + c];
        }
      }
      write(buf);
    }
  });
}
