// The trial-level variants, which need a trained network before any poison is crafted: the
// GAN-latent bridge (a DC-GAN trained on the clean unlabeled set) and the transfer-learning attack
// (θ_init trained on the first share of the unlabeled set; x′ = x* + δ, the nearest image that
// θ_init labels y*; the victim fine-tunes from θ_init on the rest). The networks are shared by every
// trial of the same split and settings, trained once under a lock and reused from disk.
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ganBridge, trainGan, transferSource, type CraftOptions } from '../attack/index.js';
import { subset, type ImageSet, type Split } from '../data/index.js';
import { Generator } from '../nn/index.js';
import type { TrainOptions } from '../ssl/index.js';
import { loadSafetensors, saveSafetensors } from '../tensor/index.js';
import { resolveParams, type ParamValues } from '../util/params.js';
import { TRIAL_VARIANTS, type TrialConfig } from './config.js';
import { configHash } from './hash.js';
import { lockRun } from './lock.js';
import { MODEL_FILE, trainVictim } from './victim.js';

/** What a variant changes in a trial before crafting. */
export interface VariantPreparation {
  /** The victim's split (the transfer attack keeps only the unlabeled share θ_init did not see). */
  split: Split;
  /** A path builder replacing the variant's pixel bridge. */
  custom?: CraftOptions['custom'];
  /** A crafted x′ instead of a labeled image. */
  sourceImage?: CraftOptions['sourceImage'];
  /** Changes to the victim's training options (the transfer attack's θ_init and fine-tuning learning rate). */
  options?: Partial<TrainOptions>;
  /** The transfer attack's θ_init and the share of the unlabeled set it saw, for the manifest (`attack eval` reads it). */
  init?: { path: string; share: number };
  /** Frees what the variant holds in memory, once the poisons are crafted. */
  dispose(): void;
}

export interface VariantContext {
  /** Root of the shared run folders. */
  root: string;
  split: Split;
  /** How the split was made (it keys the shared networks). */
  splitSpec: object;
  test: ImageSet;
  pick: { target: number; desired: number };
  /** The victim's training options. */
  options: Partial<TrainOptions>;
  onStep?: (what: string, step: number, steps: number) => void;
}

const GAN_DIMS = { latent: 64, width: 32 };

/** Trains the DC-GAN of a split once (under a lock) and loads it. */
async function sharedGenerator(
  c: TrialConfig,
  ctx: VariantContext,
  p: ParamValues<(typeof TRIAL_VARIANTS)['gan']['params']>,
): Promise<Generator> {
  const { unlabeled } = ctx.split;
  const key = configHash({ split: ctx.splitSpec, ganSteps: p.ganSteps, ...GAN_DIMS });
  const dir = join(ctx.root, 'gan', `${c.dataset}-${key}`);
  const path = join(dir, 'generator.safetensors');
  const dims = { imageSize: unlabeled.height, channels: unlabeled.channels, ...GAN_DIMS };
  const lock = await lockRun(dir);
  try {
    if (!existsSync(path)) {
      const trained = await trainGan(unlabeled, {
        steps: p.ganSteps,
        seed: c.splitSeed,
        ...GAN_DIMS,
        onStep: (s) => ctx.onStep?.('gan', s, p.ganSteps),
      });
      mkdirSync(dir, { recursive: true });
      saveSafetensors(path, trained.stateDict(), { model: 'dcgan', dims: JSON.stringify(dims) });
      trained.dispose();
    }
  } finally {
    lock.release();
  }
  const generator = new Generator(dims);
  const { tensors } = loadSafetensors(path);
  try {
    generator.loadStateDict(tensors);
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
  return generator.eval();
}

/** Trains θ_init on the first share of the unlabeled set once (under the run's lock); its weights' path. */
async function sharedInit(
  c: TrialConfig,
  ctx: VariantContext,
  p: ParamValues<(typeof TRIAL_VARIANTS)['transfer']['params']>,
  first: ImageSet,
): Promise<string> {
  const options = { ...ctx.options, steps: p.pretrainSteps };
  const key = configHash({ split: ctx.splitSpec, options, share: p.share });
  const dir = join(ctx.root, 'init', `${c.dataset}-${c.algorithm}-${c.model}-${key}`);
  const lock = await lockRun(dir);
  try {
    await trainVictim(
      options,
      { labeled: ctx.split.labeled, unlabeled: first, test: ctx.test },
      ctx.pick.target,
      { dir, key },
      { onStep: (s) => ctx.onStep?.('init', s.step, s.steps) },
    );
  } finally {
    lock.release();
  }
  return join(dir, MODEL_FILE);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, k) => from + k);
}

export async function prepareVariant(c: TrialConfig, ctx: VariantContext): Promise<VariantPreparation> {
  if (c.variant === 'gan') {
    const p = resolveParams('variant gan', TRIAL_VARIANTS.gan.params, c.variantParams);
    const generator = await sharedGenerator(c, ctx, p);
    return {
      split: ctx.split,
      custom: {
        name: 'gan',
        craft: (i) =>
          ganBridge(generator, i.source, i.target, i.budget, i.shape, {
            density: i.density,
            endShare: p.endShare,
            inversionSteps: p.inversionSteps,
          }),
      },
      dispose: () => generator.dispose(),
    };
  }
  if (c.variant === 'transfer') {
    const p = resolveParams('variant transfer', TRIAL_VARIANTS.transfer.params, c.variantParams);
    const { unlabeled } = ctx.split;
    const cut = Math.round(unlabeled.n * p.share);
    if (cut < 1 || cut >= unlabeled.n)
      throw new Error(`variant transfer: a share of ${p.share} leaves no images on one side of ${unlabeled.n}`);
    const init = await sharedInit(c, ctx, p, subset(unlabeled, range(0, cut)));
    // The perturbation search runs on the CPU, whatever the victim's device.
    const source = transferSource(init, ctx.test, ctx.pick.target, ctx.pick.desired, { margin: p.margin });
    return {
      split: { ...ctx.split, unlabeled: subset(unlabeled, range(cut, unlabeled.n)) },
      sourceImage: {
        pixels: source.pixels,
        description: `x* + δ (‖δ‖₂ = ${source.distance.toFixed(3)}) labeled ${ctx.pick.desired} by θ_init`,
      },
      options: { init, lr: (ctx.options.lr ?? 0.03) * p.lrScale },
      init: { path: resolve(init), share: p.share },
      dispose() {},
    };
  }
  return { split: ctx.split, dispose() {} };
}
