// IDX files of MNIST and Fashion-MNIST, raw or gzipped; layout from yann.lecun.com/exdb/mnist ("FILE FORMATS").
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { gunzipIfNeeded, readWholeFile, requireOneOf, writeFileAtomic } from './fileio.js';
import { checkLabelRange, type ImageSet, validateImageSet } from './imageset.js';

/** Unsigned-byte data (0x08) with 3 dimensions: N×rows×cols. */
export const IDX_IMAGES_MAGIC = 0x00000803;
/** Unsigned-byte data (0x08) with 1 dimension: N. */
export const IDX_LABELS_MAGIC = 0x00000801;

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';
export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];
export const MNIST_CLASSES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

function hex32(v: number): string {
  return '0x' + v.toString(16).padStart(8, '0');
}

/** Checks the magic and the sizes, and returns the dimensions and the data bytes. */
function parseIdx(buf: Buffer, path: string, magic: number, what: string): { dims: number[]; data: Uint8Array } {
  if (buf.length < 4) throw new Error(`${path}: truncated: ${buf.length} bytes is too short for an IDX header`);
  const got = buf.readUInt32BE(0);
  if (got !== magic) {
    throw new Error(`${path}: bad magic number ${hex32(got)}, expected ${hex32(magic)} (IDX ${what})`);
  }
  const ndim = magic & 0xff;
  const headerLen = 4 + 4 * ndim;
  if (buf.length < headerLen) throw new Error(`${path}: truncated: IDX header needs ${headerLen} bytes`);
  const dims = Array.from({ length: ndim }, (_, i) => buf.readUInt32BE(4 + 4 * i));
  const expected = headerLen + dims.reduce((a, b) => a * b, 1);
  if (buf.length < expected) {
    throw new Error(`${path}: truncated: header says ${dims.join('×')} (${expected} bytes), file has ${buf.length}`);
  }
  if (buf.length > expected) {
    throw new Error(`${path}: size mismatch: ${buf.length - expected} bytes follow the ${dims.join('×')} data`);
  }
  return { dims, data: buf.subarray(headerLen, expected) };
}

/** Reads an IDX image file (N×H×W uint8) as a one-channel, unlabeled set. */
export function readIdxImages(path: string, numClasses = 10): ImageSet {
  const { dims, data } = parseIdx(gunzipIfNeeded(readWholeFile(path), path), path, IDX_IMAGES_MAGIC, 'images');
  const [n, height, width] = dims;
  if (height === 0 || width === 0) throw new Error(`${path}: wrong dims: images are ${height}×${width}`);
  // Copy so the result does not pin the (possibly much larger, pooled) decompression buffer.
  return { images: new Uint8Array(data), n, height, width, channels: 1, labels: null, numClasses };
}

/** Reads an IDX label file; every label must lie in 0..numClasses-1. */
export function readIdxLabels(path: string, numClasses = 10): Int32Array {
  const { data } = parseIdx(gunzipIfNeeded(readWholeFile(path), path), path, IDX_LABELS_MAGIC, 'labels');
  const labels = Int32Array.from(data);
  checkLabelRange(labels, numClasses, path);
  return labels;
}

function candidates(dir: string, base: string): string[] {
  return [join(dir, `${base}.gz`), join(dir, base)];
}

/** Where loadMnistLike looks for a split's files, gzipped first. */
export function mnistLikeFiles(dir: string, split: 'train' | 'test'): { images: string[]; labels: string[] } {
  const prefix = split === 'train' ? 'train' : 't10k';
  return {
    images: candidates(dir, `${prefix}-images-idx3-ubyte`),
    labels: candidates(dir, `${prefix}-labels-idx1-ubyte`),
  };
}

/** Loads a split of an MNIST-layout folder (`train-*` / `t10k-*` IDX files, gzipped or not). */
export function loadMnistLike(
  dir: string,
  split: 'train' | 'test',
  classNames: readonly string[] = MNIST_CLASSES,
): ImageSet {
  const files = mnistLikeFiles(dir, split);
  const imagesPath = requireOneOf(files.images);
  const labelsPath = requireOneOf(files.labels);
  const set = readIdxImages(imagesPath, classNames.length);
  const labels = readIdxLabels(labelsPath, classNames.length);
  if (labels.length !== set.n) {
    throw new Error(`${labelsPath}: size mismatch: ${labels.length} labels for ${set.n} images in ${imagesPath}`);
  }
  return { ...set, labels, classNames: [...classNames] };
}

function writeIdx(path: string, dims: readonly number[], data: Uint8Array): void {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE(0x0800 | dims.length, 0);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  const raw = Buffer.concat([header, data]);
  writeFileAtomic(path, path.endsWith('.gz') ? gzipSync(raw) : raw);
}

/** Writes a one-channel set as IDX images; gzipped when `path` ends in `.gz`. */
export function writeIdxImages(path: string, set: ImageSet): void {
  validateImageSet(set, path);
  if (set.channels !== 1) throw new Error(`${path}: IDX images are grayscale, the set has ${set.channels} channels`);
  writeIdx(path, [set.n, set.height, set.width], set.images);
}

/** Writes labels (0..255) as an IDX label file; gzipped when `path` ends in `.gz`. */
export function writeIdxLabels(path: string, labels: ArrayLike<number>): void {
  checkLabelRange(labels, 256, path);
  writeIdx(path, [labels.length], Uint8Array.from(labels));
}
