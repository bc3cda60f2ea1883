// The transfer-learning attack (paper section 4.3): given the victim's initial weights θ_init, the
// source becomes the nearest image to the target that θ_init already labels y*,
// x′ = x* + argmin_δ ‖δ‖ s.t. f_θinit(x* + δ) = y*, found by gradient descent on
// ‖δ‖² + c·max(max_{j≠y*} z_j − z_{y*} + κ, 0) with a binary search over c (Carlini–Wagner style),
// in [0, 1] pixel space, then quantised to 8 bits and checked: a candidate is accepted only if the
// quantised image still wins by the margin κ (so κ sets how confident θ_init is on x′, e.g. above a
// pseudo-label threshold). The bridge then runs from x′ to x*.
import { Adam, loadClassifier, type Classifier } from '../nn/index.js';
import type { ImageSet } from '../data/index.js';
import { standardize, type Normalization } from '../data/tensors.js';
import { noGrad, oneHot, tensor, tidy, keep, type Tensor } from '../tensor/index.js';
import { quantize } from './interpolation.js';

/** The default logit margin κ of the source x′. */
export const DEFAULT_MARGIN = 0.5;

export interface PerturbationOptions {
  /** Gradient steps per value of c. */
  steps?: number;
  /** Binary-search rounds over the trade-off constant c. */
  searches?: number;
  /** Starting c. */
  c?: number;
  /**
   * Logit margin κ by which y* must win on the quantised x′: with C classes, p(y*) ≥ e^κ / (e^κ + C − 1)
   * (κ = 5.2 gives p ≥ 0.95 with 10 classes).
   */
  margin?: number;
  lr?: number;
}

export interface Perturbation {
  /** x* + δ, quantised (H×W×C uint8). */
  image: Uint8Array;
  /** ‖δ‖₂ in [0, 1] pixel units, after quantisation. */
  distance: number;
  /** Whether θ_init labels the quantised image y* by at least the margin. */
  success: boolean;
}

/** target: H×W×C uint8 pixels; the model is evaluated in eval mode on standardised input. */
export function minimalPerturbation(
  model: Classifier,
  target: Uint8Array,
  shape: { height: number; width: number; channels: number },
  desired: number,
  norm: Normalization,
  opts: PerturbationOptions = {},
): Perturbation {
  const { height: h, width: w, channels: c } = shape;
  if (target.length !== h * w * c)
    throw new Error(`transfer: target has ${target.length} pixels, expected ${h * w * c}`);
  if (!Number.isInteger(desired) || desired < 0 || desired >= model.numClasses) {
    throw new Error(`transfer: desired label ${desired} is not a class of the model`);
  }
  const steps = opts.steps ?? 200;
  const margin = opts.margin ?? DEFAULT_MARGIN;
  const wasTraining = model.training;
  model.eval();
  for (const p of model.parameters()) p.setRequiresGrad(false);
  const toNchw = (px: Uint8Array): Tensor =>
    tidy(() => tensor(px, [1, h, w, c], { dtype: 'uint8' }).permute([0, 3, 1, 2]).to('float32').div(255));
  const onehot = keep(tidy(() => oneHot(tensor([desired], [1], { dtype: 'int64' }), model.numClasses)));
  /** z_{y*} − max_{j≠y*} z_j of θ_init on an 8-bit image. */
  const marginOf = (px: Uint8Array): number =>
    noGrad(() =>
      tidy(() => {
        const z = model.forward(standardize(toNchw(px), norm));
        return z
          .mul(onehot)
          .sum(1)
          .sub(z.sub(onehot.mul(1e9)).maxDim(1)[0])
          .item();
      }),
    );
  const predicts = (px: Uint8Array): boolean => marginOf(px) >= margin;
  let best: Uint8Array | null = null;
  let bestDist = Infinity;
  try {
    if (predicts(target)) {
      best = target.slice();
      bestDist = 0;
    }
    const x = keep(toNchw(target));
    let lo = 0;
    let hi = Infinity;
    let cc = opts.c ?? 1;
    for (let round = 0; round < (opts.searches ?? 6) && bestDist > 0; round++) {
      const delta = keep(tidy(() => x.mul(0))).setRequiresGrad(true);
      const opt = new Adam([delta], { lr: opts.lr ?? 0.01 });
      let found = false;
      for (let s = 0; s < steps; s++) {
        tidy(() => {
          opt.zeroGrad();
          const adv = x.add(delta).clamp(0, 1);
          const z = model.forward(standardize(adv, norm));
          const zDesired = z.mul(onehot).sum(1);
          const zOther = z.sub(onehot.mul(1e9)).maxDim(1)[0];
          const hinge = zOther.sub(zDesired).add(margin).clamp(0, null);
          const loss = adv.sub(x).square().sum().add(hinge.sum().mul(cc));
          loss.backward();
          opt.update();
        });
      }
      const candidate = tidy(() => {
        const adv = x.add(delta).clamp(0, 1).permute([0, 2, 3, 1]).mul(255).toFloat32();
        return Uint8Array.from(adv, quantize);
      });
      delta.dispose();
      if (predicts(candidate)) {
        found = true;
        let d = 0;
        for (let i = 0; i < candidate.length; i++) d += ((candidate[i] - target[i]) / 255) ** 2;
        if (Math.sqrt(d) < bestDist) {
          bestDist = Math.sqrt(d);
          best = candidate;
        }
      }
      // Found: try a smaller c (a smaller δ); not found: a larger one.
      if (found) hi = cc;
      else lo = cc;
      cc = hi === Infinity ? cc * 10 : (lo + hi) / 2;
    }
    x.dispose();
  } finally {
    onehot.dispose();
    for (const p of model.parameters()) p.setRequiresGrad(true);
    model.train(wasTraining);
  }
  return best
    ? { image: best, distance: bestDist, success: true }
    : { image: target.slice(), distance: 0, success: false };
}

/**
 * The transfer attack's source x′ for test image `targetIndex`: the victim's initial weights (a model
 * file written by `semipoison train`, loaded on the CPU with the input normalisation they were trained
 * with) and the smallest quantised δ that makes them label x* + δ as `desired` by the margin.
 */
export function transferSource(
  initPath: string,
  test: ImageSet,
  targetIndex: number,
  desired: number,
  opts: PerturbationOptions = {},
): { pixels: Uint8Array; distance: number } {
  const { model, metadata } = loadClassifier(initPath, {
    numClasses: test.numClasses,
    inChannels: test.channels,
    imageSize: test.height,
  });
  try {
    if (!metadata.norm) {
      throw new Error(`${initPath}: no input normalisation in its metadata (not written by semipoison train)`);
    }
    const size = test.height * test.width * test.channels;
    const target = test.images.slice(targetIndex * size, (targetIndex + 1) * size);
    const norm = JSON.parse(metadata.norm) as Normalization;
    const p = minimalPerturbation(model, target, test, desired, norm, opts);
    if (!p.success) {
      throw new Error(
        `transfer: no perturbation of test #${targetIndex} found that ${initPath} labels ${desired} by a logit ` +
          `margin of ${opts.margin ?? DEFAULT_MARGIN} (a smaller margin, or better-trained weights, may help)`,
      );
    }
    return { pixels: p.image, distance: p.distance };
  } finally {
    model.dispose();
  }
}
