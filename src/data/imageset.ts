// The in-memory image set every dataset reader returns (N×H×W×C uint8, NHWC), with helpers to check and slice it.

export interface ImageSet {
  /** N×H×W×C, row-major, NHWC, 8-bit pixels. */
  images: Uint8Array;
  n: number;
  height: number;
  width: number;
  channels: number;
  /** null for unlabeled sets (STL-10 unlabeled, flat PNG folders, unlabeled .npy). */
  labels: Int32Array | null;
  numClasses: number;
  classNames?: string[];
  /** Each image's file, relative to the folder it was read from (PNG folders only; other readers leave it out). */
  files?: string[];
}

/** Bytes one image takes. */
export function imageSize(set: Pick<ImageSet, 'height' | 'width' | 'channels'>): number {
  return set.height * set.width * set.channels;
}

/** Offset of pixel (y, x, c) of image i in `images`. */
export function pixelIndex(set: ImageSet, i: number, y: number, x: number, c = 0): number {
  return ((i * set.height + y) * set.width + x) * set.channels + c;
}

function isCount(v: number): boolean {
  return Number.isSafeInteger(v) && v >= 0;
}

/** Throws if the set's fields disagree with each other; `source` names the file or set in the message. */
export function validateImageSet(set: ImageSet, source = 'image set'): void {
  for (const key of ['n', 'height', 'width', 'channels', 'numClasses'] as const) {
    if (!isCount(set[key])) throw new Error(`${source}: ${key} must be a non-negative integer, got ${set[key]}`);
  }
  if (set.height === 0 || set.width === 0 || set.channels === 0) {
    throw new Error(`${source}: image dimensions must be positive, got ${set.height}×${set.width}×${set.channels}`);
  }
  if (!(set.images instanceof Uint8Array)) throw new Error(`${source}: images must be a Uint8Array`);
  const expected = set.n * imageSize(set);
  if (set.images.length !== expected) {
    throw new Error(
      `${source}: images hold ${set.images.length} bytes but ${set.n}×${set.height}×${set.width}×${set.channels} needs ${expected}`,
    );
  }
  if (set.labels !== null) {
    if (!(set.labels instanceof Int32Array)) throw new Error(`${source}: labels must be an Int32Array or null`);
    if (set.labels.length !== set.n) {
      throw new Error(`${source}: ${set.labels.length} labels for ${set.n} images`);
    }
    checkLabelRange(set.labels, set.numClasses, source);
  }
  if (set.files !== undefined && set.files.length !== set.n) {
    throw new Error(`${source}: ${set.files.length} file names for ${set.n} images`);
  }
  if (set.classNames !== undefined && set.classNames.length !== set.numClasses) {
    throw new Error(`${source}: ${set.classNames.length} class names for ${set.numClasses} classes`);
  }
}

/** Throws on the first label outside 0..numClasses-1, naming its index. */
export function checkLabelRange(labels: ArrayLike<number>, numClasses: number, source: string): void {
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (!(Number.isInteger(l) && l >= 0 && l < numClasses)) {
      throw new Error(`${source}: label ${l} at index ${i} out of range 0..${numClasses - 1}`);
    }
  }
}

/** Copies the images (and labels) at `indices`, in that order; repeats are allowed. */
export function subset(set: ImageSet, indices: ArrayLike<number>): ImageSet {
  const size = imageSize(set);
  const images = new Uint8Array(indices.length * size);
  const labels = set.labels === null ? null : new Int32Array(indices.length);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    if (!(Number.isInteger(i) && i >= 0 && i < set.n)) {
      throw new Error(`subset: index ${i} at position ${k} out of range 0..${set.n - 1}`);
    }
    images.set(set.images.subarray(i * size, (i + 1) * size), k * size);
    if (labels !== null) labels[k] = set.labels![i];
  }
  const out: ImageSet = { ...set, images, labels, n: indices.length };
  if (set.files !== undefined) out.files = Array.from(indices, (i) => set.files![i]);
  return out;
}

/** Joins sets of one image shape (e.g. CIFAR-10's five training batches); labels are kept if every set has them. */
export function concatImageSets(sets: readonly ImageSet[]): ImageSet {
  if (sets.length === 0) throw new Error('concatImageSets: no sets given');
  const first = sets[0];
  for (const s of sets) {
    if (s.height !== first.height || s.width !== first.width || s.channels !== first.channels) {
      throw new Error(
        `concatImageSets: shape ${s.height}×${s.width}×${s.channels} differs from ${first.height}×${first.width}×${first.channels}`,
      );
    }
  }
  const n = sets.reduce((acc, s) => acc + s.n, 0);
  const images = new Uint8Array(n * imageSize(first));
  const labelled = sets.every((s) => s.labels !== null);
  const labels = labelled ? new Int32Array(n) : null;
  let at = 0;
  for (const s of sets) {
    images.set(s.images, at * imageSize(first));
    if (labels !== null) labels.set(s.labels!, at);
    at += s.n;
  }
  const out: ImageSet = { ...first, images, labels, n };
  // File names only where every part has them (they name files of different folders otherwise alike).
  if (sets.every((s) => s.files !== undefined)) out.files = sets.flatMap((s) => s.files!);
  else delete out.files;
  return out;
}

/** Number of images per class (the set must be labeled). */
export function classCounts(set: ImageSet): number[] {
  if (set.labels === null) throw new Error('classCounts: the set has no labels');
  const counts = new Array<number>(set.numClasses).fill(0);
  for (const l of set.labels) counts[l]++;
  return counts;
}
