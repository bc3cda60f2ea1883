// CTAugment, the control-theory augmentation that is FixMatch's default strong augmentation
// (google-research/fixmatch `libml/ctaugment.py`; ReMixMatch, Berthelot et al. 2020). Every op
// parameter is a level in [0, 1] split into bins whose weights track how well the model still
// classifies labeled images augmented with that bin; training policies only use bins whose weight
// is close to the best one. Works on images in [0, 1]; normalise afterwards.
import { oneHot, rand, tidy, type Tensor } from '../../tensor/index.js';
import {
  blend,
  checkImages,
  OPS,
  perImage,
  rotateMatrix,
  shearXMatrix,
  shearYMatrix,
  translateXMatrix,
  translateYMatrix,
} from './ops.js';
import { applyPolicies, type PolicyOp } from './policy.js';

/**
 * The reference's rescale filters (ANTIALIAS, BICUBIC, BILINEAR, BOX, HAMMING, NEAREST) mapped to
 * the closest gridSample mode when enlarging: Lanczos to bicubic, Hamming to bilinear, box to nearest.
 */
const RESCALE_MODES = ['bicubic', 'bicubic', 'bilinear', 'nearest', 'bilinear', 'nearest'] as const;

/** Blends x towards op(x) by a per-image level, as the reference's _imageop and _filter do. */
function towards(x: Tensor, level: number[], op: (x: Tensor) => Tensor): Tensor {
  return tidy(() => blend(x, op(x), perImage('ctaugment', 'level', level, x, [0, 1])));
}

/** ImageEnhance factor 0.1 + 1.9·level, as the reference's _enhance. */
const enhance = (level: number[]): number[] => level.map((l) => 0.1 + 1.9 * l);
/** A level in [0, 1] to [−max, max]. */
const signed = (level: number[], max: number): number[] => level.map((l) => (2 * l - 1) * max);

/**
 * The reference's ops, their bins (one entry per parameter) and the level → parameter maps of
 * ctaugment.py:
 *   autoContrast, blur, equalize, invert, smooth: blend with the op's result by level
 *   brightness, color, contrast, sharpness: factor 0.1 + 1.9·level
 *   cutout: gray (127/255) square of side 1 + ⌊level·min(H, W)·0.499⌋
 *   posterize (8 bins): 1 + ⌊7.999·level⌋ bits · solarize: threshold ⌊255.999·level⌋ / 255
 *   rescale (17 × 6 bins): crop 0.25·level from every side, resize back with one of six PIL filters
 *   rotate: round((2·level − 1)·45)° · shearX/shearY: (2·level − 1)·0.3
 *   translateX/translateY: (2·level − 1)·0.3 of the image size. The reference passes this value to
 *   PIL as pixels (a shift below one pixel); we follow the paper's Table 13, a fraction of the size.
 * Geometric ops fill with black, as the reference's PIL transforms without fillcolor do.
 */
export const CTAUGMENT_OPS = {
  autoContrast: { bins: [17], arity: 1, run: (x, [l]) => towards(x, l, OPS.autoContrast) },
  blur: { bins: [17], arity: 1, run: (x, [l]) => towards(x, l, OPS.blur) },
  brightness: { bins: [17], arity: 1, run: (x, [l]) => OPS.brightness(x, enhance(l)) },
  color: { bins: [17], arity: 1, run: (x, [l]) => OPS.color(x, enhance(l)) },
  contrast: { bins: [17], arity: 1, run: (x, [l]) => OPS.contrast(x, enhance(l)) },
  cutout: {
    bins: [17],
    arity: 1,
    run: (x, [l]) => {
      const side = Math.min(x.shape[2], x.shape[3]);
      return OPS.cutout(
        x,
        l.map((v) => 1 + Math.floor(v * side * 0.499)),
        127 / 255,
      );
    },
  },
  equalize: { bins: [17], arity: 1, run: (x, [l]) => towards(x, l, OPS.equalize) },
  identity: { bins: [], arity: 0 },
  invert: { bins: [17], arity: 1, run: (x, [l]) => towards(x, l, OPS.invert) },
  posterize: {
    bins: [8],
    arity: 1,
    run: (x, [l]) =>
      OPS.posterize(
        x,
        l.map((v) => 1 + Math.floor(v * 7.999)),
      ),
  },
  rescale: {
    bins: [17, 6],
    arity: 2,
    run: (x, [scale, method]) => rescaleByMethod(x, scale, method),
  },
  rotate: { bins: [17], arity: 1, matrix: (x, [l]) => rotateMatrix(x, signed(l, 45).map(Math.round)) },
  sharpness: { bins: [17], arity: 1, run: (x, [l]) => OPS.sharpness(x, enhance(l)) },
  shearX: { bins: [17], arity: 1, matrix: (x, [l]) => shearXMatrix(x, signed(l, 0.3)) },
  shearY: { bins: [17], arity: 1, matrix: (x, [l]) => shearYMatrix(x, signed(l, 0.3)) },
  smooth: { bins: [17], arity: 1, run: (x, [l]) => towards(x, l, OPS.smooth) },
  solarize: {
    bins: [17],
    arity: 1,
    run: (x, [l]) =>
      OPS.solarize(
        x,
        l.map((v) => Math.floor(v * 255.999) / 255),
      ),
  },
  translateX: { bins: [17], arity: 1, matrix: (x, [l]) => translateXMatrix(x, signed(l, 0.3)) },
  translateY: { bins: [17], arity: 1, matrix: (x, [l]) => translateYMatrix(x, signed(l, 0.3)) },
} as const satisfies Record<string, PolicyOp & { bins: readonly number[] }>;

export type CtaOp = keyof typeof CTAUGMENT_OPS;
const OP_NAMES = Object.keys(CTAUGMENT_OPS) as CtaOp[];

/** Rescale groups its images by resampling filter: one gridSample per filter in use. */
function rescaleByMethod(x: Tensor, scale: number[], method: number[]): Tensor {
  const modes = method.map((m) => RESCALE_MODES[Math.min(5, Math.floor(m * 5.99))]);
  const crop = scale.map((s) => 0.25 * s);
  const single = modes.every((m) => m === modes[0]);
  if (single) return OPS.rescale(x, crop, modes[0]);
  return applyPolicies(
    'ctaugment',
    x,
    modes.map((m, i) => [{ op: m, params: [crop[i]] }]),
    {
      nearest: { arity: 1, run: (s, [c]) => OPS.rescale(s, c, 'nearest') },
      bilinear: { arity: 1, run: (s, [c]) => OPS.rescale(s, c, 'bilinear') },
      bicubic: { arity: 1, run: (s, [c]) => OPS.rescale(s, c, 'bicubic') },
    },
    0,
  );
}

/** One op of a CTAugment policy: the op and one level in [0, 1] per parameter. */
export interface CtaApplication {
  op: CtaOp;
  levels: number[];
}
/** The ops applied, in order, to one image. */
export type CtaPolicy = CtaApplication[];

export interface CTAugmentOptions {
  /** Ops per policy (FixMatch's --adepth, 2). */
  depth?: number;
  /** Bins whose weight, relative to the op's best bin, is below this are not used for training (--athr, 0.8). */
  threshold?: number;
  /** Weight update rate: rate ← rate·decay + proximity·(1 − decay) (--adecay, 0.99). */
  decay?: number;
}

/** CTAugment's whole state, as plain JSON for checkpoints. */
export interface CTAugmentState {
  depth: number;
  threshold: number;
  decay: number;
  /** Per op, one array of bin weights per parameter. */
  rates: Record<string, number[][]>;
}

/** CTAugment's geometric fill: black, as the reference's PIL transforms. */
export const CTAUGMENT_FILL = 0;

/**
 * Proximity of predictions to labels, 1 − ½·Σ|p − onehot(label)|, per example: the signal
 * CTAugment's update takes for the probe batch (1 when the model is certain and right).
 */
export function ctaProximity(probs: Tensor, labels: Tensor): number[] {
  if (probs.ndim !== 2) throw new Error(`ctaProximity: probabilities must be N×K, got [${probs.shape.join(',')}]`);
  // A softmax sums to 1 only within rounding: a confident wrong prediction can leave 1 − ½·Σ a few
  // ulps below 0 (or a right one above 1), which is still proximity 0 (or 1).
  return tidy(() =>
    oneHot(labels, probs.shape[1]).sub(probs.to('float32')).abs().sum(1).mul(-0.5).add(1).clamp(0, 1).toNumbers(),
  );
}

function checkOptions(depth: number, threshold: number, decay: number): void {
  if (!Number.isInteger(depth) || depth < 0)
    throw new Error(`CTAugment: depth must be a non-negative integer, got ${depth}`);
  if (!(threshold >= 0 && threshold <= 1)) throw new Error(`CTAugment: threshold must be in [0, 1], got ${threshold}`);
  if (!(decay >= 0 && decay < 1)) throw new Error(`CTAugment: decay must be in [0, 1), got ${decay}`);
}

export class CTAugment {
  depth: number;
  threshold: number;
  decay: number;
  /** Bin weights per op and parameter; all start at 1. */
  readonly rates: Record<CtaOp, number[][]>;

  constructor(opts: CTAugmentOptions = {}) {
    this.depth = opts.depth ?? 2;
    this.threshold = opts.threshold ?? 0.8;
    this.decay = opts.decay ?? 0.99;
    checkOptions(this.depth, this.threshold, this.decay);
    this.rates = {} as Record<CtaOp, number[][]>;
    for (const op of OP_NAMES) this.rates[op] = CTAUGMENT_OPS[op].bins.map((b) => new Array<number>(b).fill(1));
  }

  /**
   * Sampling probabilities of one parameter's bins, as the reference's rate_to_p: weights (plus
   * 1 − decay, so they are never all zero) relative to the largest, zeroed below the threshold.
   */
  binProbabilities(rate: readonly number[]): number[] {
    const p = rate.map((r) => r + (1 - this.decay));
    const max = Math.max(...p);
    const rel = p.map((v) => (max > 0 ? v / max : 1));
    const kept = rel.map((v) => (v < this.threshold ? 0 : v));
    const total = kept.reduce((a, b) => a + b, 0);
    return kept.map((v) => v / total);
  }

  /**
   * Draws one policy per image from libtorch's global generator: depth ops chosen uniformly; a probe
   * policy (for the labeled probe batch whose predictions update the weights) takes levels uniformly,
   * a training policy picks each bin with the thresholded probabilities and a uniform level inside it.
   */
  sample(count: number, probe = false): CtaPolicy[] {
    if (!Number.isInteger(count) || count < 0)
      throw new Error(`CTAugment.sample: count must be a non-negative integer`);
    const maxArity = Math.max(...OP_NAMES.map((op) => CTAUGMENT_OPS[op].arity));
    const per = 1 + 2 * maxArity;
    if (count === 0 || this.depth === 0) return Array.from({ length: count }, () => []);
    const u = tidy(() => rand([count, this.depth, per]).toFloat32());
    const policies: CtaPolicy[] = [];
    for (let i = 0; i < count; i++) {
      const policy: CtaPolicy = [];
      for (let k = 0; k < this.depth; k++) {
        const o = (i * this.depth + k) * per;
        const op = OP_NAMES[Math.min(OP_NAMES.length - 1, Math.floor(u[o] * OP_NAMES.length))];
        const levels = this.rates[op].map((rate, j) => {
          const offset = u[o + 1 + 2 * j];
          if (probe) return offset;
          const p = this.binProbabilities(rate);
          let bin = 0;
          let acc = p[0];
          while (bin < p.length - 1 && u[o + 2 + 2 * j] >= acc) acc += p[++bin];
          return (bin + offset) / rate.length;
        });
        policy.push({ op, levels });
      }
      policies.push(policy);
    }
    return policies;
  }

  /** Applies policies (one per image) to a batch in [0, 1]; same shape and dtype, values in [0, 1]. */
  apply(x: Tensor, policies: readonly CtaPolicy[]): Tensor {
    checkImages('CTAugment.apply', x);
    for (const policy of policies) {
      for (const { op, levels } of policy) {
        if (!Array.isArray(levels) || levels.some((l) => !(l >= 0 && l <= 1))) {
          throw new Error(`CTAugment.apply: op '${op}' needs levels in [0, 1], got ${JSON.stringify(levels)}`);
        }
      }
    }
    return applyPolicies(
      'CTAugment.apply',
      x,
      policies.map((policy) => policy.map((a) => ({ op: a.op, params: a.levels }))),
      CTAUGMENT_OPS,
      CTAUGMENT_FILL,
    );
  }

  /**
   * Moves the weight of every bin a probe policy used towards that image's proximity
   * (rate ← rate·decay + proximity·(1 − decay)). The bin is the one the level falls in; the
   * reference's ⌊level·bins·0.999⌋ sometimes credits the bin below, which we do not copy.
   */
  update(policies: readonly CtaPolicy[], proximity: ArrayLike<number>): void {
    if (policies.length !== proximity.length) {
      throw new Error(`CTAugment.update: ${policies.length} policies but ${proximity.length} proximities`);
    }
    for (let i = 0; i < policies.length; i++) {
      const prox = proximity[i];
      if (!(prox >= 0 && prox <= 1)) throw new Error(`CTAugment.update: proximity must be in [0, 1], got ${prox}`);
      for (const { op, levels } of policies[i]) {
        if (!Object.hasOwn(this.rates, op)) throw new Error(`CTAugment.update: unknown op '${op}'`);
        const rates = this.rates[op];
        if (levels.length !== rates.length) {
          throw new Error(
            `CTAugment.update: op '${op}' has ${rates.length} parameter(s), got ${levels.length} level(s)`,
          );
        }
        levels.forEach((level, j) => {
          if (!(level >= 0 && level <= 1)) throw new Error(`CTAugment.update: level must be in [0, 1], got ${level}`);
          const rate = rates[j];
          const bin = Math.min(rate.length - 1, Math.floor(level * rate.length));
          rate[bin] = rate[bin] * this.decay + prox * (1 - this.decay);
        });
      }
    }
  }

  state(): CTAugmentState {
    const rates: Record<string, number[][]> = {};
    for (const op of OP_NAMES) rates[op] = this.rates[op].map((r) => [...r]);
    return { depth: this.depth, threshold: this.threshold, decay: this.decay, rates };
  }

  loadState(state: CTAugmentState): void {
    checkOptions(state.depth, state.threshold, state.decay);
    for (const op of OP_NAMES) {
      const rates = state.rates?.[op];
      const bins = CTAUGMENT_OPS[op].bins;
      if (!Array.isArray(rates) || rates.length !== bins.length || rates.some((r, j) => r.length !== bins[j])) {
        throw new Error(`CTAugment.loadState: op '${op}' needs rates with bins [${bins.join(', ')}]`);
      }
      if (rates.some((r) => r.some((v) => typeof v !== 'number' || !Number.isFinite(v) || v < 0))) {
        throw new Error(`CTAugment.loadState: op '${op}' has a rate that is not a non-negative number`);
      }
    }
    this.depth = state.depth;
    this.threshold = state.threshold;
    this.decay = state.decay;
    for (const op of OP_NAMES) this.rates[op] = state.rates[op].map((r) => [...r]);
  }
}
