// Batched, seeded data augmentation on N×C×H×W tensors, as the SSL trainers of the FixMatch
// reference (google-research/fixmatch `libml/augment.py`) use it: the weak flip-and-shift, RandAugment
// and CTAugment strong augmentations (in ./augment/), MixUp for MixMatch and input noise for the
// Π-model and Mean Teacher. Every random draw comes from libtorch's global generator, so
// manualSeed(s) reproduces a batch exactly. Pixels are only touched by batched tensor ops; JS sees
// no more than each image's op choices and parameters.
// Image augmentations work on pixels in [0, 1]: augment first, normalise afterwards.
import {
  arange,
  bernoulli,
  callOp,
  checkFinite,
  FLOAT_DTYPES,
  full,
  randint,
  randn,
  randperm,
  tidy,
  where,
  type Tensor,
} from '../tensor/index.js';
import { checkImages } from './augment/ops.js';
import { randAugment } from './augment/randaugment.js';

export * from './augment/ops.js';
export * from './augment/policy.js';
export * from './augment/randaugment.js';
export * from './augment/ctaugment.js';

export interface WeakAugmentOptions {
  /** Random horizontal flip (off for SVHN, whose digits mirror into other shapes). */
  flip?: boolean;
  /** Probability of flipping each image (0.5; tests set 1 to force it). */
  flipProbability?: number;
  /** Largest shift as a fraction of the size: 0.125 pads 32 px images by 4 px, 96 px ones by 12. */
  translate?: number;
}

/**
 * FixMatch's weak augmentation on a batch in [0, 1]: a horizontal flip with probability 0.5, then
 * a shift by a whole number of pixels in [−pad, pad] per axis, where pad = round(translate·size):
 * the reference pads with reflection and crops a random window back (tf.random_crop). Here the
 * flip, the padding and the crop of the whole batch are one gather with per-image reflected source
 * indices (same result, about 7× faster than padding then cropping); shifts are exact, no blur.
 */
export function weakAugment(x: Tensor, opts: WeakAugmentOptions = {}): Tensor {
  checkImages('weakAugment', x);
  const flip = opts.flip ?? true;
  const flipProbability = opts.flipProbability ?? 0.5;
  const translate = opts.translate ?? 0.125;
  checkFinite('weakAugment', 'flipProbability', flipProbability);
  checkFinite('weakAugment', 'translate', translate);
  if (flipProbability < 0 || flipProbability > 1) {
    throw new Error(`weakAugment: flipProbability must be in [0, 1], got ${flipProbability}`);
  }
  const [n, c, h, w] = x.shape;
  const padH = Math.round(translate * h);
  const padW = Math.round(translate * w);
  if (translate < 0 || padH >= h || padW >= w) {
    throw new Error(
      `weakAugment: translate ${translate} gives a reflection pad of ${padH}×${padW} px, ` +
        `which must be non-negative and smaller than the ${h}×${w} image`,
    );
  }
  if (n === 0 || (!flip && padH === 0 && padW === 0)) return x.clone();
  return tidy(() => {
    const device = x.device;
    // Reflection without repeating the edge (as tf.pad REFLECT): −1 → 1, size → size − 2.
    const reflect = (k: Tensor, size: number): Tensor =>
      k
        .abs()
        .neg()
        .add(size - 1)
        .abs()
        .neg()
        .add(size - 1);
    const mirrored = flip ? bernoulli(flipProbability, [n, 1, 1], { device }).gt(0.5) : null;
    const dy = randint(-padH, padH + 1, [n, 1, 1], { device });
    const dx = randint(-padW, padW + 1, [n, 1, 1], { device });
    const rows = reflect(dy.add(arange(0, h, 1, { device }).reshape([1, h, 1])), h);
    const shifted = reflect(dx.add(arange(0, w, 1, { device }).reshape([1, 1, w])), w);
    // Flipping first then shifting reads column w − 1 − (shifted column) of the original.
    const cols = mirrored ? where(mirrored, shifted.neg().add(w - 1), shifted) : shifted;
    const index = rows
      .mul(w)
      .add(cols)
      .reshape([n, 1, h * w])
      .expand([n, c, h * w]);
    return x.flatten(2).gather(2, index).reshape([n, c, h, w]);
  });
}

/** x + std·N(0, 1) (Π-model / Mean Teacher input noise), in whatever space x is in; no clipping. */
export function gaussianNoise(x: Tensor, std: number): Tensor {
  if (!FLOAT_DTYPES.includes(x.dtype)) throw new Error(`gaussianNoise: expected a float tensor, got ${x.dtype}`);
  checkFinite('gaussianNoise', 'std', std);
  if (std < 0) throw new Error(`gaussianNoise: std must be >= 0, got ${std}`);
  return tidy(() => x.add(randn(x.shape, { dtype: x.dtype, device: x.device }).mul(std)));
}

/**
 * Beta(α, α) draws as G₁/(G₁ + G₂), with Gamma(α) draws from libtorch's seeded generator
 * (aten::_standard_gamma, the sampler behind torch.distributions; the tensor layer has no wrapper for it).
 */
export function sampleBeta(alpha: number, count: number, device?: string): Tensor {
  checkFinite('sampleBeta', 'alpha', alpha);
  if (alpha <= 0) throw new Error(`sampleBeta: alpha must be > 0, got ${alpha}`);
  return tidy(() => {
    const shape = full([count], alpha, { dtype: 'float64', device });
    const g1 = callOp<Tensor>('_standard_gamma', '', [shape, null]);
    const g2 = callOp<Tensor>('_standard_gamma', '', [shape, null]);
    const total = g1.add(g2);
    // Tiny α can underflow both draws to 0; the limit there is a fair coin between 0 and 1.
    return where(total.gt(0), g1.div(where(total.gt(0), total, 1)), 0.5).to('float32');
  });
}

export interface MixupOptions {
  /** One λ per example, as MixMatch, instead of one for the whole batch (mixup's original). */
  perExample?: boolean;
  /** λ ← max(λ, 1 − λ), so every mix stays closer to its own example (MixMatch). */
  majority?: boolean;
}

export interface Mixed {
  x: Tensor;
  y: Tensor;
  /** The mixing weights of the examples themselves, shape [N]. */
  lambda: Tensor;
  /** The partner of each example (a permutation of the batch). */
  index: Tensor;
}

/**
 * MixUp (Zhang et al.) as MixMatch uses it: λ ~ Beta(α, α), by default one per example and
 * λ = max(λ, 1 − λ); the batch is mixed with a random permutation of itself,
 * x̃ = λ·x + (1 − λ)·x[perm], ỹ = λ·y + (1 − λ)·y[perm]. y holds soft targets (N×K floats).
 */
export function mixup(x: Tensor, y: Tensor, alpha: number, opts: MixupOptions = {}): Mixed {
  if (!FLOAT_DTYPES.includes(x.dtype) || x.ndim < 1) throw new Error(`mixup: x must be a float batch, got ${x.dtype}`);
  if (!FLOAT_DTYPES.includes(y.dtype)) {
    throw new Error(`mixup: y must hold soft targets (float, e.g. oneHot(labels)), got ${y.dtype}`);
  }
  const n = x.shape[0];
  if (y.ndim < 1 || y.shape[0] !== n) {
    throw new Error(`mixup: x has ${n} examples, y has shape [${y.shape.join(',')}]`);
  }
  const perExample = opts.perExample ?? true;
  const majority = opts.majority ?? true;
  return tidy(() => {
    let lambda = sampleBeta(alpha, perExample ? n : 1, x.device);
    if (majority) lambda = lambda.maximum(lambda.neg().add(1));
    if (!perExample) lambda = lambda.expand([n]).contiguous();
    const index = randperm(n, { device: x.device });
    const mix = (t: Tensor): Tensor => {
      const l = lambda.reshape([n, ...new Array<number>(t.ndim - 1).fill(1)]).to(t.dtype);
      return t.mul(l).add(t.indexSelect(0, index).mul(l.neg().add(1)));
    };
    return { x: mix(x), y: mix(y), lambda, index };
  });
}

export interface Augmentation {
  description: string;
  /** Augments a batch in [0, 1]; flip: false for datasets whose classes change under mirroring (SVHN). */
  apply(x: Tensor, opts?: { flip?: boolean }): Tensor;
}

/** The stateless augmentations by name; CTAugment keeps weights across steps, so it is a class. */
export const AUGMENTATIONS = {
  none: {
    description: 'no augmentation (a copy of the batch)',
    apply: (x: Tensor, _opts?: { flip?: boolean }) => {
      checkImages('none', x);
      return x.clone();
    },
  },
  weak: {
    description: "FixMatch's weak augmentation: random horizontal flip, random shift by up to 12.5% with reflection",
    apply: (x: Tensor, opts?: { flip?: boolean }) => weakAugment(x, { flip: opts?.flip }),
  },
  randaugment: {
    description: "FixMatch's RA strong augmentation: the weak one, then 2 random ops at random magnitudes and Cutout",
    apply: (x: Tensor, opts?: { flip?: boolean }) => tidy(() => randAugment(weakAugment(x, { flip: opts?.flip }))),
  },
} as const satisfies Record<string, Augmentation>;

export type AugmentationName = keyof typeof AUGMENTATIONS;
