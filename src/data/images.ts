// One reader for "a file or folder of images" as users pass them to train, scan and attack eval:
// a folder of PNGs, a uint8 .npy, an IDX image file, or a CIFAR-10 binary batch (labels dropped).
import { existsSync, statSync } from 'node:fs';
import { readCifar10Batch } from './cifar10.js';
import { readIdxImages } from './idx.js';
import type { ImageSet } from './imageset.js';
import { readNpyImages } from './npy.js';
import { readPngFolder } from './pngfolder.js';

export async function readImages(path: string): Promise<ImageSet> {
  if (!existsSync(path)) throw new Error(`${path} does not exist`);
  if (statSync(path).isDirectory()) return readPngFolder(path);
  if (path.endsWith('.npy')) return readNpyImages(path);
  if (/idx3-ubyte(\.gz)?$/.test(path)) return { ...readIdxImages(path), labels: null };
  if (path.endsWith('.bin')) return { ...readCifar10Batch(path), labels: null };
  throw new Error(`${path}: unknown image format (expected a PNG folder, .npy, *idx3-ubyte or a CIFAR-10 .bin)`);
}
