// Crafting a poisoned unlabeled set from a dataset: picks x′ by the paper's threat model (a random
// labeled example of the desired class) unless one is given, sizes the budget from a count or a
// share of the unlabeled set, runs a variant, and writes the poisons with a separate ground-truth
// manifest so that a scanner under test cannot see which files are poisons.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeDirAtomic } from '../util/atomic.js';
import {
  concatImageSets,
  imageSize,
  writeCifar10Batch,
  writeIdxImages,
  writeNpyImages,
  writePngFolder,
  type ImageSet,
} from '../data/index.js';
import { resolveParams } from '../util/params.js';
import { seededRandom } from '../util/random.js';
import { DEFAULT_DENSITY, resolveDensity, densityCdf } from './density.js';
import { VARIANTS, isVariantName, type Poison, type VariantInput, type VariantName } from './variants.js';

export interface CraftOptions {
  /** The target x*: an image of the test set (index), with its true label. */
  targetIndex: number;
  /** The label y* the attacker wants x* to get. */
  desired: number;
  /** Poison count, or a share of the unlabeled set (exactly one of the two). */
  count?: number;
  ratio?: number;
  density?: string;
  variant?: VariantName;
  params?: Record<string, unknown>;
  seed: number;
  /** The source x′ as an index into the labeled set; by default a random labeled image of class y*. */
  sourceIndex?: number;
  /** A path builder that replaces the variant's (e.g. the GAN-latent bridge, which needs a trained generator). */
  custom?: { name: string; craft: (input: VariantInput) => Poison[] };
  /** A crafted source x′ instead (H×W×C pixels), e.g. the transfer attack's x* + δ. */
  sourceImage?: { pixels: Uint8Array; description: string };
}

export interface CraftInput {
  test: ImageSet;
  /** The victim's labeled set (the paper's threat model: the attacker knows one labeled example of y*). */
  labeled: ImageSet;
  /** Size of the clean unlabeled set, for ratio budgets and the manifest. */
  unlabeledSize: number;
  /** The attacker's own images of class y* for zero-knowledge and multi-path variants (default: labeled ones). */
  attackerPool?: ImageSet;
}

export interface Manifest {
  format: 'semipoison-manifest/1';
  /** How the victim's data was split (dataset, labels, unlabeled cap, seed), so a trial can be recomputed. */
  split?: Record<string, unknown>;
  variant: VariantName | string;
  params: Record<string, unknown>;
  density: string;
  seed: number;
  target: { split: 'test'; index: number; true_label: number };
  desired: number;
  /** Classes of the dataset (a prediction log scanned against this manifest must have as many). */
  num_classes?: number;
  source: { split: 'labeled'; index: number; label: number } | { split: 'crafted'; description: string };
  count: number;
  unlabeled_size: number;
  ratio: number;
  poisons: { index: number; alpha: number; path: number }[];
}

export interface Crafted {
  poisons: ImageSet;
  manifest: Manifest;
}

function image(set: ImageSet, i: number): Uint8Array {
  const s = imageSize(set);
  return set.images.slice(i * s, (i + 1) * s);
}

export function craftPoisons(input: CraftInput, o: CraftOptions): Crafted {
  const { test, labeled } = input;
  const variant = o.variant ?? 'linear';
  if (!isVariantName(variant))
    throw new Error(`craft: unknown variant '${variant}' (${Object.keys(VARIANTS).join(', ')})`);
  const density = o.density ?? DEFAULT_DENSITY;
  densityCdf(resolveDensity(density), `density '${density}'`);
  if (!test.labels || !labeled.labels) throw new Error('craft: the test and labeled sets need labels');
  if (!Number.isInteger(o.targetIndex) || o.targetIndex < 0 || o.targetIndex >= test.n) {
    throw new Error(`craft: target index ${o.targetIndex} is outside the test set (0..${test.n - 1})`);
  }
  const trueLabel = test.labels[o.targetIndex];
  if (!Number.isInteger(o.desired) || o.desired < 0 || o.desired >= test.numClasses) {
    throw new Error(`craft: desired label ${o.desired} is not a class (0..${test.numClasses - 1})`);
  }
  if (o.desired === trueLabel) {
    throw new Error(`craft: the desired label ${o.desired} is already the target's true label`);
  }
  if ((o.count === undefined) === (o.ratio === undefined))
    throw new Error('craft: give exactly one of count and ratio');
  const budget = o.count ?? Math.round(o.ratio! * input.unlabeledSize);
  if (!Number.isInteger(budget) || budget < 1) {
    throw new Error(
      `craft: the budget must be at least one poison, got ${o.count ?? `${o.ratio} × ${input.unlabeledSize}`}`,
    );
  }
  if (budget > input.unlabeledSize) {
    throw new Error(`craft: ${budget} poisons exceed the ${input.unlabeledSize} images of the unlabeled set`);
  }
  if (labeled.height !== test.height || labeled.width !== test.width || labeled.channels !== test.channels) {
    throw new Error('craft: labeled and test images differ in shape');
  }
  const def = VARIANTS[variant];
  const params = resolveParams(`variant ${variant}`, def.params, o.params ?? {});
  const random = seededRandom(o.seed);
  const ofClass = Array.from({ length: labeled.n }, (_, i) => i).filter((i) => labeled.labels![i] === o.desired);
  let sourceIndex = o.sourceIndex;
  if (o.sourceImage) {
    if (o.sourceImage.pixels.length !== imageSize(test))
      throw new Error('craft: the crafted source has the wrong size');
    sourceIndex = -1;
  } else if (sourceIndex === undefined) {
    if (ofClass.length === 0) throw new Error(`craft: the labeled set has no image of class ${o.desired}`);
    sourceIndex = ofClass[Math.floor(random() * ofClass.length)];
  } else if (!Number.isInteger(sourceIndex) || sourceIndex < 0 || sourceIndex >= labeled.n) {
    throw new Error(`craft: source index ${sourceIndex} is outside the labeled set`);
  }
  const pool = input.attackerPool ?? labeled;
  const poolOfClass = pool.labels
    ? Array.from({ length: pool.n }, (_, i) => i).filter(
        (i) => pool.labels![i] === o.desired && (pool !== labeled || i !== sourceIndex),
      )
    : [];
  const needed = (def.others as (p: unknown) => number)(params);
  if (poolOfClass.length < needed) {
    throw new Error(
      `craft: variant ${variant} needs ${needed} more images of class ${o.desired}, ${poolOfClass.length} available`,
    );
  }
  const others = Array.from({ length: needed }, (_, k) =>
    image(pool, poolOfClass[(Math.floor(random() * poolOfClass.length) + k) % poolOfClass.length]),
  );
  const shape = { height: test.height, width: test.width, channels: test.channels };
  const variantInput: VariantInput = {
    target: image(test, o.targetIndex),
    source: o.sourceImage ? o.sourceImage.pixels : image(labeled, sourceIndex),
    others,
    budget,
    density,
    shape,
    seed: o.seed,
  };
  const poisons: Poison[] = o.custom
    ? o.custom.craft(variantInput)
    : (def.craft as (i: unknown, p: unknown) => Poison[])(variantInput, params);
  if (poisons.length !== budget)
    throw new Error(`craft: the path builder made ${poisons.length} poisons, the budget is ${budget}`);
  const size = imageSize(test);
  const images = new Uint8Array(poisons.length * size);
  poisons.forEach((p, k) => images.set(p.image, k * size));
  return {
    poisons: {
      ...shape,
      images,
      n: poisons.length,
      labels: null,
      numClasses: test.numClasses,
      classNames: test.classNames,
    },
    manifest: {
      format: 'semipoison-manifest/1',
      variant: o.custom?.name ?? variant,
      params,
      density,
      seed: o.seed,
      target: { split: 'test', index: o.targetIndex, true_label: trueLabel },
      desired: o.desired,
      num_classes: test.numClasses,
      source: o.sourceImage
        ? { split: 'crafted', description: o.sourceImage.description }
        : { split: 'labeled', index: sourceIndex, label: labeled.labels[sourceIndex] },
      count: poisons.length,
      unlabeled_size: input.unlabeledSize,
      ratio: poisons.length / input.unlabeledSize,
      poisons: poisons.map((p, index) => ({ index, alpha: p.alpha, path: p.path })),
    },
  };
}

/**
 * A manifest as read back from disk: ours (written by writeCrafted, with the poison file's name) or
 * another tool's, of which only the poisons list is required.
 */
export type ManifestFile = Partial<Manifest> & Pick<Manifest, 'poisons'> & { file?: string };

/** Reads a manifest.json, naming the file in every error. */
export function readManifest(path: string): ManifestFile {
  let m: unknown;
  try {
    m = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`${path}: not a readable JSON manifest (${(err as Error).message})`);
  }
  if (!m || typeof m !== 'object' || !Array.isArray((m as ManifestFile).poisons)) {
    throw new Error(`${path}: not a poison manifest (no "poisons" list)`);
  }
  return m as ManifestFile;
}

export type PoisonFormat = 'npy' | 'png' | 'idx' | 'cifar10';

/**
 * Writes poisons (poisons.npy, poisons/ PNGs, poisons-idx3-ubyte or poisons.bin) and manifest.json into dir, atomically.
 * With `unlabeled`, also unlabeled-poisoned.npy: the clean unlabeled set with the poisons appended (at index
 * manifest.unlabeled_size), the file a scanner under test reads.
 */
export async function writeCrafted(
  dir: string,
  crafted: Crafted,
  format: PoisonFormat = 'npy',
  unlabeled?: ImageSet,
): Promise<string> {
  if (!['npy', 'png', 'idx', 'cifar10'].includes(format)) throw new Error(`unknown poison format '${format}'`);
  let file = '';
  await writeDirAtomic(dir, async (tmp) => {
    if (format === 'npy') {
      file = 'poisons.npy';
      writeNpyImages(join(tmp, file), crafted.poisons);
    } else if (format === 'png') {
      file = 'poisons';
      await writePngFolder(join(tmp, file), crafted.poisons);
    } else if (format === 'idx') {
      if (crafted.poisons.channels !== 1) throw new Error('idx output holds one-channel images only');
      file = 'poisons-idx3-ubyte';
      writeIdxImages(join(tmp, file), crafted.poisons);
    } else {
      if (crafted.poisons.channels !== 3 || crafted.poisons.height !== 32 || crafted.poisons.width !== 32) {
        throw new Error('cifar10 output holds 32×32×3 images only');
      }
      file = 'poisons.bin';
      // CIFAR records need a label byte; unlabeled data has none, so it is 0 (never the desired label, which would leak).
      writeCifar10Batch(join(tmp, file), { ...crafted.poisons, labels: new Int32Array(crafted.poisons.n) });
    }
    if (unlabeled) {
      if (unlabeled.n !== crafted.manifest.unlabeled_size) {
        throw new Error(`the unlabeled set has ${unlabeled.n} images, the manifest ${crafted.manifest.unlabeled_size}`);
      }
      writeNpyImages(join(tmp, 'unlabeled-poisoned.npy'), concatImageSets([unlabeled, crafted.poisons]));
    }
    writeFileSync(join(tmp, 'manifest.json'), JSON.stringify({ ...crafted.manifest, file }, null, 2) + '\n');
  });
  return join(dir, file);
}
