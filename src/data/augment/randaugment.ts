// FixMatch's RandAugment variant ("RA" in Sohn et al., FixMatch, NeurIPS 2020, Table 12;
// google-research/fixmatch `libml/augment.py` AugmentPoolRAMC): every image gets its own n ops
// drawn uniformly with replacement from the 14 below, each with its own random magnitude, then
// Cutout. Works on images in [0, 1]; normalise afterwards.
import { rand, tidy, type Tensor } from '../../tensor/index.js';
import {
  checkImages,
  OPS,
  rotateMatrix,
  shearXMatrix,
  shearYMatrix,
  translateXMatrix,
  translateYMatrix,
} from './ops.js';
import { applyPolicies, type OpApplication, type PolicyOp } from './policy.js';

/**
 * The ops and their parameter ranges, from the FixMatch paper's Table 12 (the reference code's
 * integer levels cover slightly different ranges; the paper is the specification we follow):
 *   AutoContrast, Equalize, Identity: no parameter
 *   Brightness, Color, Contrast, Sharpness: enhancement factor in [0.05, 0.95] (1 would be the original)
 *   Posterize: bits in {4, …, 8}
 *   Rotate: ±30° · ShearX/ShearY: ±0.3 · TranslateX/TranslateY: ±0.3 of the image size
 *   Solarize: threshold in [0, 1]
 * A magnitude m ∈ [0, 1] is the op's strength: factor 0.95 − 0.9·m, bits 8 − ⌊4.999·m⌋,
 * threshold 1 − m, and ±m·max for the signed ops with a random sign, so a uniform m draws the
 * parameter uniformly over the paper's range.
 */
export const RANDAUGMENT_OPS = {
  autoContrast: { arity: 0, param: () => [] },
  brightness: { arity: 1, param: (m: number) => [0.95 - 0.9 * m] },
  color: { arity: 1, param: (m: number) => [0.95 - 0.9 * m] },
  contrast: { arity: 1, param: (m: number) => [0.95 - 0.9 * m] },
  equalize: { arity: 0, param: () => [] },
  identity: { arity: 0, param: () => [] },
  posterize: { arity: 1, param: (m: number) => [8 - Math.floor(4.999 * m)] },
  rotate: { arity: 1, param: (m: number, sign: number) => [sign * 30 * m] },
  sharpness: { arity: 1, param: (m: number) => [0.95 - 0.9 * m] },
  shearX: { arity: 1, param: (m: number, sign: number) => [sign * 0.3 * m] },
  shearY: { arity: 1, param: (m: number, sign: number) => [sign * 0.3 * m] },
  solarize: { arity: 1, param: (m: number) => [1 - m] },
  translateX: { arity: 1, param: (m: number, sign: number) => [sign * 0.3 * m] },
  translateY: { arity: 1, param: (m: number, sign: number) => [sign * 0.3 * m] },
} as const satisfies Record<string, { arity: number; param: (m: number, sign: number) => number[] }>;

export type RandAugmentOp = keyof typeof RANDAUGMENT_OPS;
const OP_NAMES = Object.keys(RANDAUGMENT_OPS) as RandAugmentOp[];

/** How each op runs in a batch; parameters are already in natural units. */
const TABLE: Record<RandAugmentOp, PolicyOp> = {
  autoContrast: { arity: 0, run: (x) => OPS.autoContrast(x) },
  brightness: { arity: 1, run: (x, [f]) => OPS.brightness(x, f) },
  color: { arity: 1, run: (x, [f]) => OPS.color(x, f) },
  contrast: { arity: 1, run: (x, [f]) => OPS.contrast(x, f) },
  equalize: { arity: 0, run: (x) => OPS.equalize(x) },
  identity: { arity: 0 },
  posterize: { arity: 1, run: (x, [bits]) => OPS.posterize(x, bits) },
  rotate: { arity: 1, matrix: (x, [deg]) => rotateMatrix(x, deg) },
  sharpness: { arity: 1, run: (x, [f]) => OPS.sharpness(x, f) },
  shearX: { arity: 1, matrix: (x, [s]) => shearXMatrix(x, s) },
  shearY: { arity: 1, matrix: (x, [s]) => shearYMatrix(x, s) },
  solarize: { arity: 1, run: (x, [t]) => OPS.solarize(x, t) },
  translateX: { arity: 1, matrix: (x, [t]) => translateXMatrix(x, t) },
  translateY: { arity: 1, matrix: (x, [t]) => translateYMatrix(x, t) },
};

/** RandAugment's fill for geometric ops and Cutout: the reference fills with normalised 0, i.e. gray. */
export const RANDAUGMENT_FILL = 0.5;

export interface RandAugmentOptions {
  /** Ops per image (the reference uses 2). */
  n?: number;
  /** 'random' draws a fresh magnitude in [0, 1] for every op of every image (FixMatch's RA); a number fixes it. */
  magnitude?: 'random' | number;
  /** Probability that each drawn op is applied (the reference applies each with 0.5); 1 always applies. */
  probability?: number;
  /** Cutout square side as a fraction of the smaller image side, applied to every image; 0 turns it off. */
  cutout?: number;
}

function checkFraction(op: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1) {
    throw new Error(`${op}: ${name} must be a number in [0, 1], got ${String(v)}`);
  }
  return v;
}

/**
 * Draws RandAugment policies for n images from libtorch's global generator (so manualSeed makes
 * them reproducible): plain data, one list of ops per image, parameters in natural units.
 */
export function sampleRandAugment(count: number, opts: RandAugmentOptions = {}): OpApplication<RandAugmentOp>[][] {
  const nOps = opts.n ?? 2;
  if (!Number.isInteger(nOps) || nOps < 0)
    throw new Error(`randAugment: n must be a non-negative integer, got ${nOps}`);
  if (!Number.isInteger(count) || count < 0) throw new Error(`randAugment: count must be a non-negative integer`);
  const magnitude = opts.magnitude ?? 'random';
  if (magnitude !== 'random') checkFraction('randAugment', "magnitude (or 'random')", magnitude);
  const probability = checkFraction('randAugment', 'probability', opts.probability ?? 0.5);
  if (count === 0 || nOps === 0) return Array.from({ length: count }, () => []);
  // Four uniforms per op: which op, whether it applies, its magnitude, its sign.
  const u = tidy(() => rand([count, nOps, 4]).toFloat32());
  const policies: OpApplication<RandAugmentOp>[][] = [];
  for (let i = 0; i < count; i++) {
    const policy: OpApplication<RandAugmentOp>[] = [];
    for (let k = 0; k < nOps; k++) {
      const o = (i * nOps + k) * 4;
      const op = OP_NAMES[Math.min(OP_NAMES.length - 1, Math.floor(u[o] * OP_NAMES.length))];
      if (u[o + 1] >= probability) {
        policy.push({ op: 'identity', params: [] });
        continue;
      }
      const m = magnitude === 'random' ? u[o + 2] : magnitude;
      policy.push({ op, params: RANDAUGMENT_OPS[op].param(m, u[o + 3] < 0.5 ? -1 : 1) });
    }
    policies.push(policy);
  }
  return policies;
}

/** Applies RandAugment policies (from sampleRandAugment, or hand-written) to a batch in [0, 1]. */
export function applyRandAugment(x: Tensor, policies: readonly (readonly OpApplication<RandAugmentOp>[])[]): Tensor {
  return applyPolicies('randAugment', x, policies, TABLE, RANDAUGMENT_FILL);
}

/**
 * FixMatch's RA strong augmentation on a batch in [0, 1]: n random ops per image with random
 * magnitudes, then Cutout of a gray square of side cutout·min(H, W) (the reference: 16 px on 32×32)
 * at a random centre. Output in [0, 1], same shape and dtype.
 */
export function randAugment(x: Tensor, opts: RandAugmentOptions = {}): Tensor {
  checkImages('randAugment', x);
  const cutout = checkFraction('randAugment', 'cutout', opts.cutout ?? 0.5);
  const [n, , h, w] = x.shape;
  const policies = sampleRandAugment(n, opts);
  return tidy(() => {
    const y = applyRandAugment(x, policies);
    const size = Math.floor(cutout * Math.min(h, w));
    return size >= 2 ? OPS.cutout(y, size, RANDAUGMENT_FILL) : y;
  });
}
