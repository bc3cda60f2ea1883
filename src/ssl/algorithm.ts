// What an SSL algorithm is to the trainer: a hyperparameter schema and a loss on one batch.
// Shared pieces (confidence mask, sharpening, ramp-up) are named functions the algorithms call.
import { cat, noGrad, tidy, type Tensor } from '../tensor/index.js';
import type { Classifier } from '../nn/index.js';
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
 * Runs fn with `model` in train mode, as the reference runs Mean Teacher's teacher
 * (`training=True` with the EMA weights): BatchNorm normalises with the batch's own statistics.
 * Its running statistics are left as they were (the reference applies only the student's updates),
 * and the model goes back to its previous mode.
 */
export function withBatchStatistics<T>(model: Classifier, fn: () => T): T {
  const wasTraining = model.training;
  const saved = model.buffers().map((b) => b.clone());
  model.train(true);
  try {
    return fn();
  } finally {
    model.train(wasTraining);
    model.buffers().forEach((b, i) => {
      noGrad(() => b.copy_(saved[i]));
      saved[i].dispose();
    });
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
