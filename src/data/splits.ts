// Labeled / unlabeled / validation splits as in the FixMatch reference: a seeded, class-balanced
// labeled subset; the unlabeled set is the training set without labels, which by the reference's
// convention still contains the labeled images (option `labeledInUnlabeled`).
import { seededRandom, shuffled } from '../util/random.js';
import { concatImageSets, subset, type ImageSet } from './imageset.js';

export interface SplitOptions {
  /** Total labels, spread evenly over the classes (40, 250, 4000 in the paper). */
  labels: number;
  seed: number;
  /** Examples held out for validation, taken before the labeled ones (default 0). */
  validation?: number;
  /**
   * Cap on the unlabeled set size (a CPU-scale budget); all remaining examples by default. The cap
   * keeps the first examples of the shuffled order, with the labeled ones among them when they
   * belong there (they replace the last unlabeled-only examples if the cap would leave any out).
   */
  unlabeled?: number;
  /** Whether the labeled images also appear (without labels) in the unlabeled set; the reference's default is yes. */
  labeledInUnlabeled?: boolean;
}

export interface Split {
  labeled: ImageSet;
  unlabeled: ImageSet;
  validation: ImageSet | null;
  /** Indices into the training set of each part, for manifests and experiments. */
  indices: { labeled: number[]; unlabeled: number[]; validation: number[] };
}

export function splitDataset(train: ImageSet, opts: SplitOptions): Split {
  if (!train.labels) throw new Error('splitDataset: the training set has no labels');
  const k = train.numClasses;
  const { labels } = opts;
  const validation = opts.validation ?? 0;
  if (!Number.isInteger(labels) || labels < k) {
    throw new Error(`splitDataset: labels must be an integer of at least one per class (${k}), got ${labels}`);
  }
  if (!Number.isInteger(validation) || validation < 0) {
    throw new Error(`splitDataset: validation must be a non-negative integer, got ${validation}`);
  }
  if (labels + validation > train.n) {
    throw new Error(
      `splitDataset: ${labels} labels and ${validation} validation examples exceed the ${train.n} images`,
    );
  }
  const random = seededRandom(opts.seed);
  const order = shuffled(
    Array.from({ length: train.n }, (_, i) => i),
    random,
  );
  const valIdx = order.slice(0, validation);
  const rest = order.slice(validation);
  const byClass: number[][] = Array.from({ length: k }, () => []);
  for (const i of rest) byClass[train.labels[i]].push(i);
  const labeledIdx: number[] = [];
  for (let c = 0; c < k; c++) {
    // The remainder of labels / k goes to the first classes, so any N is possible.
    const want = Math.floor(labels / k) + (c < labels % k ? 1 : 0);
    if (byClass[c].length < want) {
      throw new Error(`splitDataset: class ${c} has ${byClass[c].length} examples, ${want} labels asked of it`);
    }
    labeledIdx.push(...byClass[c].slice(0, want));
  }
  const labeledSet = new Set(labeledIdx);
  let unlabeledIdx = opts.labeledInUnlabeled === false ? rest.filter((i) => !labeledSet.has(i)) : rest;
  if (opts.unlabeled !== undefined) {
    if (!Number.isInteger(opts.unlabeled) || opts.unlabeled < 1) {
      throw new Error(`splitDataset: unlabeled must be a positive integer, got ${opts.unlabeled}`);
    }
    if (opts.unlabeled > unlabeledIdx.length) {
      throw new Error(`splitDataset: ${opts.unlabeled} unlabeled examples asked, ${unlabeledIdx.length} available`);
    }
    const cap = opts.unlabeled;
    const kept = unlabeledIdx.slice(0, cap);
    if (opts.labeledInUnlabeled !== false) {
      // The convention holds under a cap too: every labeled image is also unlabeled.
      const inKept = new Set(kept);
      const missing = labeledIdx.filter((i) => !inKept.has(i));
      if (labeledIdx.length > cap) {
        throw new Error(`splitDataset: ${cap} unlabeled examples cannot hold the ${labeledIdx.length} labeled ones`);
      }
      for (let at = kept.length - 1; missing.length > 0 && at >= 0; at--) {
        if (!labeledSet.has(kept[at])) kept[at] = missing.pop()!;
      }
    }
    unlabeledIdx = kept;
  }
  const unlabeled = subset(train, unlabeledIdx);
  return {
    labeled: subset(train, labeledIdx),
    unlabeled: { ...unlabeled, labels: null },
    validation: validation ? subset(train, valIdx) : null,
    indices: { labeled: labeledIdx, unlabeled: unlabeledIdx, validation: valIdx },
  };
}

/** Appends extra unlabeled images (e.g. a crafted poison set) after checking they have the same shape. */
export function extendUnlabeled(unlabeled: ImageSet, extra: ImageSet, source = 'extra images'): ImageSet {
  if (extra.height !== unlabeled.height || extra.width !== unlabeled.width || extra.channels !== unlabeled.channels) {
    throw new Error(
      `${source}: images are ${extra.height}×${extra.width}×${extra.channels}, the dataset's are ` +
        `${unlabeled.height}×${unlabeled.width}×${unlabeled.channels}`,
    );
  }
  return concatImageSets([
    { ...unlabeled, labels: null },
    { ...extra, labels: null, numClasses: unlabeled.numClasses },
  ]);
}
