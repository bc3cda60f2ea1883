// What an SSL algorithm is to the trainer: a hyperparameter schema and a loss on one batch.
// Shared pieces (confidence mask, sharpening, ramp-up) are named functions the algorithms call.
import { cat, tidy, type Tensor } from '../tensor/index.js';
import { BatchNorm2d, type Classifier } from '../nn/index.js';
import type { ParamSchema, ParamValues } from '../util/params.js';

export interface SslBatch {
  /** Labeled images in [0, 1], not augmented (N×C×H×W). */
  xl: Tensor;
  /** Their labels (int64, N). */
  yl: Tensor;
  /** Unlabeled images in [0, 1], not augmented (μN×C×H×W); empty for supervised training. */
  xu: Tensor;
}

export interface SslContext {
  /** The model being trained (train mode). */
  model: Classifier;
  /** The EMA model (Mean Teacher's teacher). */
  teacher: Classifier;
  numClasses: number;
  /** Training progress in [0, 1] (step / total steps), for ramp-ups. */
  progress: number;
  /** Labeled images over the whole run (steps × labeled batch), for ramps given in images. */
  trainImages: number;
  /** Mean per-channel pixel std of the data: converts normalised-space sizes to [0, 1] pixel units. */
  pixelStd: number;
  /** Logits (float32) of images in [0, 1]: normalises, then runs `model` (default: the live model). */
  logits(x: Tensor, model?: Classifier): Tensor;
  /** The trainer's weak augmentation (flip and shift). */
  weak(x: Tensor): Tensor;
  /** The trainer's strong augmentation (RandAugment or CTAugment, after the weak one). */
  strong(x: Tensor): Tensor;
  /**
   * MixUp of a batch with a permutation of itself, as MixMatch mixes (the trainer's draws λ ~ Beta(α, α)
   * per example with λ ≥ ½ and a random permutation; tests inject fixed ones).
   */
  mixup(x: Tensor, y: Tensor, alpha: number): { x: Tensor; y: Tensor };
  /** Standard normal noise shaped like x, on its device (VAT's random direction; tests inject a fixed one). */
  normalLike(x: Tensor): Tensor;
}

export interface LossOutput {
  loss: Tensor;
  /** Scalar diagnostics (e.g. the unsupervised loss, the share of confident pseudo-labels). */
  metrics: Record<string, Tensor>;
}

export interface Algorithm<S extends ParamSchema = ParamSchema> {
  description: string;
  /** Hyperparameters with the reference defaults (google-research/fixmatch, one file per method). */
  params: S;
  /** Whether the method trains on unlabeled data (false only for the supervised baseline). */
  unlabeled: boolean;
  loss(ctx: SslContext, batch: SslBatch, p: ParamValues<S>): LossOutput;
}

export function defineAlgorithm<S extends ParamSchema>(a: Algorithm<S>): Algorithm<S> {
  return a;
}

/**
 * Runs fn with `model` in train mode, as the reference runs Mean Teacher's teacher (`training=True`
 * with the EMA weights) and the extra passes of MixMatch and VAT: BatchNorm normalises with the
 * batch's own statistics but leaves its running statistics as they were (the reference skips those
 * passes' update ops). The buffers are not touched at all, so gradients may flow through the passes;
 * the model goes back to its previous mode.
 */
export function withBatchStatistics<T>(model: Classifier, fn: () => T): T {
  const wasTraining = model.training;
  const norms = model.modules().filter((m): m is BatchNorm2d => m instanceof BatchNorm2d);
  const updated = norms.map((m) => m.updateStats);
  norms.forEach((m) => (m.updateStats = false));
  model.train(true);
  try {
    return fn();
  } finally {
    model.train(wasTraining);
    norms.forEach((m, i) => (m.updateStats = updated[i]));
  }
}

/** 1 where the largest class probability reaches the threshold, else 0 (float32, per row). */
export function confidenceMask(probs: Tensor, threshold: number): Tensor {
  return tidy(() => probs.maxDim(1)[0].ge(threshold).to('float32'));
}

/** Temperature sharpening p^(1/T) / Σ p^(1/T) (MixMatch). */
export function sharpen(probs: Tensor, temperature: number): Tensor {
  return tidy(() => {
    const p = probs.pow(1 / temperature);
    return p.div(p.sum(1, true));
  });
}

/** The reference code's linear ramp of the unsupervised weight: min(1, progress / warmup). */
export function rampUp(progress: number, warmup: number): number {
  return warmup <= 0 ? 1 : Math.min(1, progress / warmup);
}

/**
 * Logits of the weakly augmented labeled images and of a weak and a strong view of each unlabeled
 * image, in one forward pass so that BatchNorm sees them together (as the reference does).
 */
export function weakStrongLogits(ctx: SslContext, b: SslBatch): { labeled: Tensor; weak: Tensor; strong: Tensor } {
  const nl = b.xl.shape[0];
  const nu = b.xu.shape[0];
  const [labeled, weak, strong] = ctx
    .logits(cat([ctx.weak(b.xl), ctx.weak(b.xu), ctx.strong(b.xu)]))
    .split([nl, nu, nu]);
  return { labeled, weak, strong };
}
