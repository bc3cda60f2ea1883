// Folders of PNG images, flat (unlabeled) or one subfolder per class (torchvision ImageFolder layout), via sharp.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import sharp from 'sharp';
import { errorMessage } from './fileio.js';
import { type ImageSet, validateImageSet } from './imageset.js';

export interface PngFolderReadOptions {
  /** 1 reads grayscale, 3 reads RGB; default: whatever the first image is (gray or gray+alpha → 1, else 3). */
  channels?: 1 | 3;
  /** Defaults to the number of class folders (or the largest numeric folder name + 1). */
  numClasses?: number;
}

// Decoding is I/O plus libvips threads; a few images in flight keep both busy without flooding memory.
const IN_FLIGHT = 4;

/** Runs task(0..count-1) a few at a time; after a failure the rest are skipped, and once all stop it is thrown. */
async function forEachPooled(count: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < count) {
      const i = next++;
      try {
        await task(i);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  const results = await Promise.allSettled(Array.from({ length: IN_FLIGHT }, worker));
  const failure = results.find((r) => r.status === 'rejected');
  if (failure !== undefined) throw (failure as PromiseRejectedResult).reason;
}

const natural = new Intl.Collator('en', { numeric: true }).compare;
const isPng = (name: string): boolean => name.toLowerCase().endsWith('.png') && !name.startsWith('.');

interface Listing {
  files: string[];
  labels: Int32Array | null;
  classNames?: string[];
  numClasses: number;
}

async function pngsIn(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && isPng(e.name))
    .map((e) => e.name)
    .sort(natural)
    .map((name) => join(dir, name));
}

/** Lists the images and, for class subfolders, their labels: numeric folder names are the labels, others are sorted. */
async function list(dir: string, numClasses?: number): Promise<Listing> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    throw new Error(`${dir}: cannot read the PNG folder (${errorMessage(e)})`);
  }
  const subdirs = entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
  const flat = await pngsIn(dir);
  if (subdirs.length > 0 && flat.length > 0) {
    throw new Error(`${dir}: mixes PNG files with subfolders; use either class subfolders or a flat folder`);
  }
  if (subdirs.length === 0) {
    if (flat.length === 0) throw new Error(`${dir}: no PNG images found`);
    return { files: flat, labels: null, numClasses: numClasses ?? 10 };
  }
  const numeric = subdirs.every((s) => /^\d+$/.test(s));
  const indices = numeric ? subdirs.map((s) => Number(s)) : subdirs.map((_, i) => i);
  const classes = numClasses ?? Math.max(...indices) + 1;
  const files: string[] = [];
  const labels: number[] = [];
  for (let k = 0; k < subdirs.length; k++) {
    if (indices[k] >= classes) {
      throw new Error(`${join(dir, subdirs[k])}: label ${indices[k]} out of range 0..${classes - 1}`);
    }
    for (const f of await pngsIn(join(dir, subdirs[k]))) {
      files.push(f);
      labels.push(indices[k]);
    }
  }
  if (files.length === 0) throw new Error(`${dir}: no PNG images found in its class folders`);
  const classNames = numeric ? undefined : subdirs;
  if (classNames !== undefined && classNames.length !== classes) {
    throw new Error(`${dir}: ${subdirs.length} class folders but numClasses is ${classes}`);
  }
  return { files, labels: Int32Array.from(labels), classNames, numClasses: classes };
}

async function decode(file: string, channels: 1 | 3): Promise<{ data: Buffer; width: number; height: number }> {
  try {
    let img = sharp(file).removeAlpha();
    img = channels === 1 ? img.toColourspace('b-w') : img.toColourspace('srgb');
    const { data, info } = await img.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== channels) throw new Error(`decoded to ${info.channels} channels, wanted ${channels}`);
    return { data, width: info.width, height: info.height };
  } catch (e) {
    throw new Error(`${file}: cannot decode PNG (${errorMessage(e)})`);
  }
}

/** Reads every PNG under `dir`; all must have one size. */
export async function readPngFolder(dir: string, opts: PngFolderReadOptions = {}): Promise<ImageSet> {
  const listing = await list(dir, opts.numClasses);
  let channels = opts.channels;
  if (channels === undefined) {
    const meta = await sharp(listing.files[0])
      .metadata()
      .catch((e: unknown) => {
        throw new Error(`${listing.files[0]}: cannot decode PNG (${errorMessage(e)})`);
      });
    channels = (meta.channels ?? 3) <= 2 ? 1 : 3;
  }
  const first = await decode(listing.files[0], channels);
  const { width, height } = first;
  const size = width * height * channels;
  const images = new Uint8Array(listing.files.length * size);
  images.set(first.data, 0);
  await forEachPooled(listing.files.length - 1, async (k) => {
    const i = k + 1;
    const img = await decode(listing.files[i], channels);
    if (img.width !== width || img.height !== height) {
      throw new Error(
        `${listing.files[i]}: size mismatch: ${img.width}×${img.height}, but ${listing.files[0]} is ${width}×${height}`,
      );
    }
    images.set(img.data, i * size);
  });
  const set: ImageSet = {
    images,
    n: listing.files.length,
    height,
    width,
    channels,
    labels: listing.labels,
    numClasses: listing.numClasses,
  };
  if (listing.classNames !== undefined) set.classNames = listing.classNames;
  set.files = listing.files.map((f) => relative(dir, f));
  return set;
}

export interface PngFolderWriteOptions {
  /** File names without the extension, one per image; default zero-padded indices (00000.png, 00001.png, ...). */
  names?: string[];
  /** Put each image in a subfolder named by its label (0, 1, ...), which readPngFolder reads back as that label. */
  byClass?: boolean;
  /** Replace an existing folder (default: refuse). */
  overwrite?: boolean;
}

function fileNames(set: ImageSet, names: string[] | undefined, dir: string): string[] {
  if (names === undefined) {
    const width = Math.max(5, String(Math.max(0, set.n - 1)).length);
    return Array.from({ length: set.n }, (_, i) => String(i).padStart(width, '0'));
  }
  if (names.length !== set.n) throw new Error(`${dir}: ${names.length} names for ${set.n} images`);
  for (const name of names) {
    if (name === '' || name === '.' || name === '..' || /[/\\\0]/.test(name)) {
      throw new Error(`${dir}: invalid image name ${JSON.stringify(name)}`);
    }
  }
  if (new Set(names).size !== names.length) throw new Error(`${dir}: image names are not unique`);
  return names;
}

/**
 * Writes one PNG per image into a temporary folder beside `dir`, then renames it into place, so `dir` is either absent,
 * the old folder, or complete.
 */
export async function writePngFolder(dir: string, set: ImageSet, opts: PngFolderWriteOptions = {}): Promise<void> {
  validateImageSet(set, dir);
  if (set.channels > 4) throw new Error(`${dir}: PNG holds 1 to 4 channels, the set has ${set.channels}`);
  if (opts.byClass && set.labels === null) throw new Error(`${dir}: byClass needs labels, the set has none`);
  if (existsSync(dir) && !opts.overwrite) throw new Error(`${dir}: already exists (pass overwrite to replace it)`);
  const names = fileNames(set, opts.names, dir);
  const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const tmp = join(dirname(dir), `.${basename(dir)}.tmp-${tag}`);
  await mkdir(tmp, { recursive: true });
  try {
    const size = set.height * set.width * set.channels;
    const raw = { width: set.width, height: set.height, channels: set.channels as 1 | 2 | 3 | 4 };
    if (opts.byClass) {
      for (const l of new Set(set.labels)) await mkdir(join(tmp, String(l)));
    }
    await forEachPooled(set.n, async (i) => {
      const folder = opts.byClass ? join(tmp, String(set.labels![i])) : tmp;
      const pixels = set.images.subarray(i * size, (i + 1) * size);
      let img = sharp(pixels, { raw });
      // sharp writes raw single-channel input as RGB unless told the data is grayscale.
      if (set.channels <= 2) img = img.toColourspace('b-w');
      await img.png().toFile(join(folder, `${names[i]}.png`));
    });
    if (existsSync(dir)) {
      const old = join(dirname(dir), `.${basename(dir)}.old-${tag}`);
      await rename(dir, old);
      await rename(tmp, dir);
      await rm(old, { recursive: true, force: true });
    } else {
      await rename(tmp, dir);
    }
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}
