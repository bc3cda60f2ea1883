// Crafting a poisoned unlabeled set from a dataset: picks x′ by the paper's threat model (a random
// labeled example of the desired class; for the zero-knowledge variant, of section 4.1, one of the
// attacker's own images) unless one is given, sizes the budget from a count or a share of the
// unlabeled set, runs a variant, and writes the poisons with a separate ground-truth manifest so
// that a scanner under test cannot see which files are poisons.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeDirAtomic } from '../util/atomic.js';
import {
  imageSize,
  subset,
  writeCifar10Batch,
  writeIdxImages,
  writeNpyImages,
  writePngFolder,
  type ImageSet,
  type Split,
} from '../data/index.js';
import { resolveParams } from '../util/params.js';
import { seededRandom, shuffled } from '../util/random.js';
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
  /**
   * The source x′ as an index into the labeled set (for zero-knowledge: into the attacker pool);
   * by default a random image of class y* there.
   */
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
  /**
   * The attacker's own images: zero-knowledge draws x′ and its support images from them (and needs
   * them); the multi-path variant its other sources (default: the labeled set).
   */
  attackerPool?: AttackerPool;
}

export interface AttackerPool {
  /** With labels, only those of class y* are used; without, every image is taken to be of class y*. */
  images: ImageSet;
  /** Where the images come from, recorded in the manifest (e.g. 'train-not-labeled' or a file). */
  from: string;
  /** Each image's index in the set it was taken from (e.g. the training set), recorded for x′. */
  indices?: readonly number[];
}

/**
 * The default pool of the zero-knowledge attacker, as in the paper's section 4.1 ("an arbitrary
 * unlabeled example x′ (that should belong to class y*, despite this label not being attached)"):
 * every training image the victim does not hold as labeled (or validation), with its true label,
 * which the attacker knows for its own images. At the paper's scale these are the unlabeled set.
 */
export function nonLabeledTrainingImages(train: ImageSet, split: Split): AttackerPool {
  const labeled = new Set([...split.indices.labeled, ...split.indices.validation]);
  const indices = Array.from({ length: train.n }, (_, i) => i).filter((i) => !labeled.has(i));
  return { images: subset(train, indices), from: 'train-not-labeled', indices };
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
  source:
    | { split: 'labeled'; index: number; label: number }
    | { split: 'crafted'; description: string }
    /** One of the attacker's own images (zero-knowledge): index in the pool, and in the set the pool came from. */
    | { split: 'attacker'; from: string; index: number; label: number; from_index: number | null };
  count: number;
  unlabeled_size: number;
  ratio: number;
  /** Each poison's index in the poison file, α along its path, and path (0 is x′ → x*). */
  poisons: { index: number; alpha: number; path: number }[];
  /**
   * Where the poisons sit in the poisoned unlabeled set (unlabeled-poisoned.npy, and the set
   * `attack eval` trains on): poison k at positions[k], seeded random slots among the clean images.
   * Absent: the poisons are appended, poison k at unlabeled_size + k.
   */
  positions?: number[];
  /** The transfer attack: θ_init's weights, and the share of the unlabeled set it saw (the victim fine-tunes on the rest). */
  init?: { path: string; share: number };
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
  const zeroKnowledge = variant === 'zero-knowledge' && !o.custom;
  const pool = input.attackerPool;
  if (
    pool &&
    (pool.images.height !== test.height || pool.images.width !== test.width || pool.images.channels !== test.channels)
  ) {
    throw new Error(`craft: the attacker's images (${pool.from}) differ in shape from the dataset's`);
  }
  if (zeroKnowledge && !pool) {
    throw new Error("craft: variant zero-knowledge draws x′ from the attacker's own images; none were given");
  }
  /** Indices of a set's images of class y* (every image of an unlabeled pool). */
  const ofDesired = (set: ImageSet): number[] =>
    Array.from({ length: set.n }, (_, i) => i).filter((i) => set.labels === null || set.labels[i] === o.desired);
  const needed = (def.others as (p: unknown) => number)(params);
  const sourceSet = zeroKnowledge ? pool!.images : labeled;
  const sourceWhere = zeroKnowledge ? `the attacker's images (${pool!.from})` : 'the labeled set';
  let sourceIndex = o.sourceIndex;
  if (o.sourceImage) {
    if (o.sourceImage.pixels.length !== imageSize(test))
      throw new Error('craft: the crafted source has the wrong size');
    sourceIndex = -1;
  } else if (sourceIndex === undefined) {
    const candidates = ofDesired(sourceSet);
    if (candidates.length === 0) {
      throw new Error(`craft: no image of class ${o.desired} in ${sourceWhere}`);
    }
    sourceIndex = candidates[Math.floor(random() * candidates.length)];
  } else if (!Number.isInteger(sourceIndex) || sourceIndex < 0 || sourceIndex >= sourceSet.n) {
    throw new Error(`craft: source index ${sourceIndex} is outside ${sourceWhere} (0..${sourceSet.n - 1})`);
  }
  const otherSet = pool?.images ?? labeled;
  const otherOfClass = ofDesired(otherSet).filter((i) => otherSet !== sourceSet || i !== sourceIndex);
  if (otherOfClass.length < needed) {
    throw new Error(
      `craft: variant ${variant} needs ${needed} more images of class ${o.desired}, ${otherOfClass.length} available` +
        (pool ? ` among the attacker's images (${pool.from})` : ' in the labeled set'),
    );
  }
  const others = Array.from({ length: needed }, (_, k) =>
    image(otherSet, otherOfClass[(Math.floor(random() * otherOfClass.length) + k) % otherOfClass.length]),
  );
  const shape = { height: test.height, width: test.width, channels: test.channels };
  const variantInput: VariantInput = {
    target: image(test, o.targetIndex),
    source: o.sourceImage ? o.sourceImage.pixels : image(sourceSet, sourceIndex),
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
        : zeroKnowledge
          ? {
              split: 'attacker',
              from: pool!.from,
              index: sourceIndex,
              label: pool!.images.labels?.[sourceIndex] ?? o.desired,
              from_index: pool!.indices?.[sourceIndex] ?? null,
            }
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

/**
 * Seeded slots for `count` poisons among `unlabeledSize` clean images: poison k goes to
 * positions[k] of the poisoned set, so that neither its place nor its order gives it away.
 */
export function poisonPositions(seed: number, unlabeledSize: number, count: number): number[] {
  if (!Number.isInteger(unlabeledSize) || unlabeledSize < 0 || !Number.isInteger(count) || count < 0) {
    throw new Error(`poisonPositions: sizes must be non-negative integers, got ${unlabeledSize} and ${count}`);
  }
  const slots = Array.from({ length: unlabeledSize + count }, (_, i) => i);
  // Its own stream, apart from the one that picked x′ and shaped the poisons.
  return shuffled(slots, seededRandom(seed ^ 0x51075)).slice(0, count);
}

/** Where each poison sits in the poisoned unlabeled set: the recorded positions, or appended after the clean images. */
export function poisonSlots(m: Pick<ManifestFile, 'poisons' | 'positions' | 'unlabeled_size'>): number[] {
  if (m.positions) return m.poisons.map((p) => m.positions![p.index]);
  return m.poisons.map((p) => (m.unlabeled_size ?? 0) + p.index);
}

/** The clean unlabeled images with poison k at positions[k] and the clean ones, in order, in the other slots. */
export function insertPoisons(
  unlabeled: ImageSet,
  poisons: ImageSet,
  positions: readonly number[],
  source = 'poisons',
): ImageSet {
  if (
    poisons.height !== unlabeled.height ||
    poisons.width !== unlabeled.width ||
    poisons.channels !== unlabeled.channels
  ) {
    throw new Error(
      `${source}: images are ${poisons.height}×${poisons.width}×${poisons.channels}, the dataset's are ` +
        `${unlabeled.height}×${unlabeled.width}×${unlabeled.channels}`,
    );
  }
  if (positions.length !== poisons.n) {
    throw new Error(`${source}: ${positions.length} positions recorded for ${poisons.n} poisons`);
  }
  const n = unlabeled.n + poisons.n;
  const poisonAt = new Int32Array(n).fill(-1);
  positions.forEach((slot, k) => {
    if (!Number.isInteger(slot) || slot < 0 || slot >= n) {
      throw new Error(`${source}: poison ${k}'s position ${slot} is outside the ${n} images of the poisoned set`);
    }
    if (poisonAt[slot] >= 0) throw new Error(`${source}: poisons ${poisonAt[slot]} and ${k} share position ${slot}`);
    poisonAt[slot] = k;
  });
  const size = imageSize(unlabeled);
  const images = new Uint8Array(n * size);
  let clean = 0;
  for (let slot = 0; slot < n; slot++) {
    const k = poisonAt[slot];
    const from = k >= 0 ? poisons.images : unlabeled.images;
    const i = k >= 0 ? k : clean++;
    images.set(from.subarray(i * size, (i + 1) * size), slot * size);
  }
  return { ...unlabeled, images, n, labels: null };
}

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
  const { positions, poisons } = m as ManifestFile;
  if (positions !== undefined) {
    const count = poisons.length ? Math.max(...poisons.map((p) => p.index)) + 1 : 0;
    if (!Array.isArray(positions) || !positions.every((v) => Number.isInteger(v) && v >= 0)) {
      throw new Error(`${path}: "positions" must be a list of non-negative integers`);
    }
    if (positions.length < count) {
      throw new Error(`${path}: "positions" places ${positions.length} poisons, the manifest lists ${count}`);
    }
  }
  return m as ManifestFile;
}

export type PoisonFormat = 'npy' | 'png' | 'idx' | 'cifar10';

/**
 * Writes poisons (poisons.npy, poisons/ PNGs, poisons-idx3-ubyte or poisons.bin) and manifest.json into dir, atomically.
 * With `unlabeled`, also unlabeled-poisoned.npy, the file a scanner under test reads: the clean
 * unlabeled set with the poisons at seeded random positions (`poisonPositions`, or the manifest's
 * own), which the written manifest records.
 */
export async function writeCrafted(
  dir: string,
  crafted: Crafted,
  format: PoisonFormat = 'npy',
  unlabeled?: ImageSet,
  /** Writes further files into the folder before it appears (e.g. the GAN variant's generator). */
  extra?: (tmpDir: string) => void | Promise<void>,
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
    let manifest: Manifest = crafted.manifest;
    if (unlabeled) {
      if (unlabeled.n !== manifest.unlabeled_size) {
        throw new Error(`the unlabeled set has ${unlabeled.n} images, the manifest ${manifest.unlabeled_size}`);
      }
      const positions = manifest.positions ?? poisonPositions(manifest.seed, unlabeled.n, crafted.poisons.n);
      manifest = { ...manifest, positions };
      writeNpyImages(join(tmp, 'unlabeled-poisoned.npy'), insertPoisons(unlabeled, crafted.poisons, positions));
    }
    writeFileSync(join(tmp, 'manifest.json'), JSON.stringify({ ...manifest, file }, null, 2) + '\n');
    await extra?.(tmp);
  });
  return join(dir, file);
}
