// Public entry point of the dataset readers and writers (plain in-memory image sets, no tensors).
export * from './imageset.js';
export { MissingFileError, writeFileAtomic, writeFileAtomicWith } from './fileio.js';
export * from './idx.js';
export * from './cifar10.js';
export * from './stl10.js';
export * from './mat5.js';
export * from './svhn.js';
export * from './npy.js';
export * from './pngfolder.js';
export * from './tar.js';
export * from './download.js';
export * from './datasets.js';
export * from './tensors.js';
export * from './augment.js';
export * from './splits.js';
export * from './images.js';
