// SVHN cropped digits ({train,test,extra}_32x32.mat, Level 5 MAT-files); layout from ufldl.stanford.edu/housenumbers.
import { join } from 'node:path';
import { requireOneOf } from './fileio.js';
import { type ImageSet, validateImageSet } from './imageset.js';
import { type MatArray, type MatWriteOptions, readMat5, writeMat5 } from './mat5.js';

export const SVHN_CLASSES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
export type SvhnSplit = 'train' | 'test' | 'extra';
export const SVHN_FILES: Record<SvhnSplit, string> = {
  train: 'train_32x32.mat',
  test: 'test_32x32.mat',
  extra: 'extra_32x32.mat',
};

function variable(arrays: Map<string, MatArray>, name: string, path: string): MatArray {
  const a = arrays.get(name);
  if (a === undefined) throw new Error(`${path}: missing variable '${name}' (SVHN files hold X and y)`);
  return a;
}

/**
 * Reads X (H×W×3×N uint8, column-major) into NHWC and y (N×1, digits 1..10 where 10 is the digit 0) into labels 0..9.
 */
export function readSvhnMat(path: string): ImageSet {
  const { arrays } = readMat5(path);
  const x = variable(arrays, 'X', path);
  const y = variable(arrays, 'y', path);
  if (x.cls !== 'uint8') throw new Error(`${path}: unsupported dtype: X has class ${x.cls}, expected uint8`);
  // MATLAB drops trailing singleton dimensions, so a one-image file has X of 32×32×3.
  const dims = x.dims.length === 3 ? [...x.dims, 1] : x.dims;
  if (dims.length !== 4 || dims[2] !== 3) {
    throw new Error(`${path}: wrong dims: X is ${x.dims.join('×')}, expected H×W×3×N`);
  }
  const [height, width, channels, n] = dims;
  if (y.data.length !== n || (y.dims[0] !== n && y.dims[1] !== n)) {
    throw new Error(`${path}: size mismatch: y is ${y.dims.join('×')} for ${n} images`);
  }
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = Number(y.data[i]);
    if (!(Number.isInteger(v) && v >= 1 && v <= 10)) {
      throw new Error(`${path}: label ${v} at index ${i} out of range 1..10`);
    }
    labels[i] = v % 10;
  }
  // Column-major: X(r, c, ch, i) sits at r + H·(c + W·(ch + 3·i)); walk the source in order.
  const src = x.data as Uint8Array;
  const images = new Uint8Array(src.length);
  let s = 0;
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < channels; ch++) {
      for (let c = 0; c < width; c++) {
        for (let r = 0; r < height; r++) images[((i * height + r) * width + c) * channels + ch] = src[s++];
      }
    }
  }
  return { images, n, height, width, channels, labels, numClasses: 10, classNames: [...SVHN_CLASSES] };
}

/** Loads a split from `dir/{train,test,extra}_32x32.mat`. */
export function loadSvhn(dir: string, split: SvhnSplit): ImageSet {
  return readSvhnMat(requireOneOf([join(dir, SVHN_FILES[split])]));
}

export interface SvhnWriteOptions extends MatWriteOptions {
  /** Store y as uint8 values inside its double class (MATLAB's own space saving) instead of doubles. */
  compactLabels?: boolean;
}

/**
 * Writes a labeled RGB set as an SVHN .mat file (X uint8 H×W×3×N, y double N×1 with 10 for the digit 0), compressed
 * unless `compress: false`.
 */
export function writeSvhnMat(path: string, set: ImageSet, opts: SvhnWriteOptions = {}): void {
  validateImageSet(set, path);
  if (set.channels !== 3)
    throw new Error(`${path}: wrong dims: SVHN images are RGB, the set has ${set.channels} channels`);
  if (set.labels === null) throw new Error(`${path}: SVHN files need labels, the set has none`);
  if (set.numClasses !== 10) throw new Error(`${path}: SVHN has 10 classes, the set has ${set.numClasses}`);
  const { n, height, width } = set;
  const x = new Uint8Array(set.images.length);
  let d = 0;
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < 3; ch++) {
      for (let c = 0; c < width; c++) {
        for (let r = 0; r < height; r++) x[d++] = set.images[((i * height + r) * width + c) * 3 + ch];
      }
    }
  }
  const y = Float64Array.from(set.labels, (l) => (l === 0 ? 10 : l));
  writeMat5(
    path,
    [
      { name: 'X', dims: [height, width, 3, n], data: x },
      { name: 'y', dims: [n, 1], data: y, storage: opts.compactLabels ? 'uint8' : undefined },
    ],
    // Compressed by default, as the published files are.
    { compress: opts.compress ?? true },
  );
}
