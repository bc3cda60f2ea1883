// STL-10 binary version (stl10_binary/*.bin); layout from cs.stanford.edu/~acoates/stl10 and its loader stl10_input.py.
import { closeSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileSize, openForRead, readAt, readWholeFile, requireOneOf, writeFileAtomicWith } from './fileio.js';
import { type ImageSet, validateImageSet } from './imageset.js';

export const STL10_CLASSES = ['airplane', 'bird', 'car', 'cat', 'deer', 'dog', 'horse', 'monkey', 'ship', 'truck'];
export const STL10_FOLDER = 'stl10_binary';
export type Stl10Split = 'train' | 'test' | 'unlabeled';

const SIDE = 96;
const PLANE = SIDE * SIDE;
const IMAGE_BYTES = 3 * PLANE;
// Images are converted this many at a time, so the 2.7 GB unlabeled file is never held twice.
const BLOCK = 1024;

export interface Stl10Range {
  /** First image to read. */
  start?: number;
  /** How many images to read (default: to the end). */
  count?: number;
}

function resolveRange(total: number, range: Stl10Range, path: string): { start: number; count: number } {
  const start = range.start ?? 0;
  const count = range.count ?? total - start;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(count) || start < 0 || count < 0 || start + count > total) {
    throw new Error(`${path}: range start=${start} count=${count} is outside the file's ${total} entries`);
  }
  return { start, count };
}

/**
 * Each channel is stored column-major (the reference loader reshapes to (-1,3,96,96) and transposes (0,3,2,1)), so
 * file byte c·9216 + x·96 + y is pixel (row y, column x, channel c).
 */
function fileToNhwc(src: Uint8Array, dst: Uint8Array, count: number): void {
  for (let i = 0; i < count; i++) {
    const s = i * IMAGE_BYTES;
    for (let c = 0; c < 3; c++) {
      for (let x = 0; x < SIDE; x++) {
        const col = s + c * PLANE + x * SIDE;
        for (let y = 0; y < SIDE; y++) dst[s + (y * SIDE + x) * 3 + c] = src[col + y];
      }
    }
  }
}

/** Reads images (optionally a range of them) as an unlabeled 96×96×3 set. */
export function readStl10Images(path: string, range: Stl10Range = {}): ImageSet {
  const fd = openForRead(path);
  try {
    const size = fileSize(fd);
    if (size === 0) throw new Error(`${path}: empty file: no STL-10 images`);
    if (size % IMAGE_BYTES !== 0) {
      throw new Error(
        `${path}: truncated: ${size} bytes is not a whole number of ${IMAGE_BYTES}-byte images (3×96×96), ` +
          `${size % IMAGE_BYTES} bytes over`,
      );
    }
    const { start, count } = resolveRange(size / IMAGE_BYTES, range, path);
    const images = new Uint8Array(count * IMAGE_BYTES);
    for (let done = 0; done < count; done += BLOCK) {
      const k = Math.min(BLOCK, count - done);
      const raw = readAt(fd, (start + done) * IMAGE_BYTES, k * IMAGE_BYTES, path);
      fileToNhwc(raw, images.subarray(done * IMAGE_BYTES), k);
    }
    const classNames = [...STL10_CLASSES];
    return { images, n: count, height: SIDE, width: SIDE, channels: 3, labels: null, numClasses: 10, classNames };
  } finally {
    closeSync(fd);
  }
}

/** Reads labels 1..10 from the file and returns them as 0..9. */
export function readStl10Labels(path: string, range: Stl10Range = {}): Int32Array {
  const buf = readWholeFile(path);
  const { start, count } = resolveRange(buf.length, range, path);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const l = buf[start + i];
    if (l < 1 || l > 10) throw new Error(`${path}: label ${l} at index ${start + i} out of range 1..10`);
    labels[i] = l - 1;
  }
  return labels;
}

/** The data folder: `dir` itself, or `dir/stl10_binary` as the archive unpacks. */
export function stl10Folder(dir: string): string {
  const nested = join(dir, STL10_FOLDER);
  return existsSync(nested) ? nested : dir;
}

/** Where loadStl10 looks for a split's files: in the archive's folder, then in `dir` itself. */
export function stl10Files(dir: string, split: Stl10Split): { images: string[]; labels: string[] | null } {
  const places = (f: string): string[] => [join(dir, STL10_FOLDER, f), join(dir, f)];
  return { images: places(`${split}_X.bin`), labels: split === 'unlabeled' ? null : places(`${split}_y.bin`) };
}

/** Loads a split; 'unlabeled' has no labels. class_names.txt, when present, supplies the class names. */
export function loadStl10(dir: string, split: Stl10Split, range: Stl10Range = {}): ImageSet {
  const files = stl10Files(dir, split);
  const imagesPath = requireOneOf(files.images);
  const set = readStl10Images(imagesPath, range);
  const namesPath = join(stl10Folder(dir), 'class_names.txt');
  if (existsSync(namesPath)) {
    const names = readFileSync(namesPath, 'utf8')
      .split(/\r?\n/)
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
    if (names.length !== 10) throw new Error(`${namesPath}: expected 10 class names, found ${names.length}`);
    set.classNames = names;
  }
  if (files.labels === null) return set;
  const labelsPath = requireOneOf(files.labels);
  const labels = readStl10Labels(labelsPath, range);
  if (labels.length !== set.n) {
    throw new Error(`${labelsPath}: size mismatch: ${labels.length} labels for ${set.n} images in ${imagesPath}`);
  }
  return { ...set, labels };
}

/** Writes a 96×96×3 set in the file's column-major layout. */
export function writeStl10Images(path: string, set: ImageSet): void {
  validateImageSet(set, path);
  if (set.height !== SIDE || set.width !== SIDE || set.channels !== 3) {
    throw new Error(
      `${path}: wrong dims: STL-10 images are 96×96×3, the set has ${set.height}×${set.width}×${set.channels}`,
    );
  }
  writeFileAtomicWith(path, (write) => {
    for (let done = 0; done < set.n; done += BLOCK) {
      const k = Math.min(BLOCK, set.n - done);
      const src = set.images.subarray(done * IMAGE_BYTES);
      const buf = new Uint8Array(k * IMAGE_BYTES);
      for (let i = 0; i < k; i++) {
        const s = i * IMAGE_BYTES;
        for (let c = 0; c < 3; c++) {
          for (let x = 0; x < SIDE; x++) {
            const col = s + c * PLANE + x * SIDE;
            for (let y = 0; y < SIDE; y++) buf[col + y] = src[s + (y * SIDE + x) * 3 + c];
          }
        }
      }
      write(buf);
    }
  });
}

/** Writes labels 0..9 as the file's 1..10. */
export function writeStl10Labels(path: string, labels: ArrayLike<number>): void {
  const buf = new Uint8Array(labels.length);
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (!(Number.isInteger(l) && l >= 0 && l < 10))
      throw new Error(`${path}: label ${l} at index ${i} out of range 0..9`);
    buf[i] = l + 1;
  }
  writeFileAtomicWith(path, (write) => write(buf));
}
