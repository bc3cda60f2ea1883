// MixMatch (Berthelot et al. 2019): average predictions over K weak views, sharpen, then MixUp
// labeled and unlabeled examples together; cross-entropy on labeled mixes, squared error on the
// unlabeled ones (paper defaults: K 2, T 0.5, α 0.75, λU 75 ramped up). The reference ramps λU
// over the first 1024 kimg of labeled images (16k steps of its 1M); a run shorter than that ramps
// over at most 40% of its steps (the other methods' ramp in the same codebase): squeezing the ramp
// into 1/64 of a short run weighted the unlabeled loss fully within a few dozen steps, before the
// labels had taught the model anything, and training collapsed (20% test accuracy at 40 labels).
// As in the reference, the label-guessing passes normalise with their batch's statistics but leave
// BatchNorm's running statistics alone: only the pass over the mixed batch updates them (one pass
// over all of it, where the reference interleaves labeled and unlabeled mixes into equal batches and
// keeps the first batch's updates: both aim at statistics of the whole mixed batch).
import { cat, crossEntropy, mseLoss, noGrad, oneHot, tidy, type Tensor } from '../../tensor/index.js';
import { num } from '../../util/params.js';
import { defineAlgorithm, rampUp, sharpen, withBatchStatistics } from '../algorithm.js';

export const mixmatch = defineAlgorithm({
  description: 'sharpened averaged guesses over K views, mixed with labeled data by MixUp',
  params: {
    k: num(2, 'weak views of each unlabeled image averaged for its label guess', { min: 1, integer: true }),
    temperature: num(0.5, 'sharpening temperature', { min: 1e-3 }),
    alpha: num(0.75, 'Beta(α, α) parameter of MixUp', { min: 1e-3 }),
    wu: num(75, 'weight of the unlabeled squared-error loss', { min: 0 }),
    warmupKimg: num(1024, 'labeled images (in 1024s) over which the weight ramps up, as the reference', { min: 0 }),
    warmupMax: num(0.4, 'longest ramp, as a fraction of training (short runs)', { min: 0, max: 1 }),
  },
  unlabeled: true,
  loss(ctx, b, p) {
    const nl = b.xl.shape[0];
    const nu = b.xu.shape[0];
    const xl = ctx.weak(b.xl);
    const views: Tensor[] = Array.from({ length: p.k }, () => ctx.weak(b.xu));
    const guess = noGrad(() =>
      withBatchStatistics(ctx.model, () =>
        tidy(() => {
          let avg = ctx.logits(views[0]).softmax(1);
          for (const v of views.slice(1)) avg = avg.add(ctx.logits(v).softmax(1));
          return sharpen(avg.div(p.k), p.temperature);
        }),
      ),
    );
    const x = cat([xl, ...views]);
    const y = cat([oneHot(b.yl, ctx.numClasses), ...views.map(() => guess)]);
    const mixed = ctx.mixup(x, y, p.alpha);
    const logits = ctx.logits(mixed.x);
    const [lx, lu] = logits.split([nl, nu * p.k]);
    const [yx, yu] = mixed.y.split([nl, nu * p.k]);
    const lossX = crossEntropy(lx, yx);
    const lossU = mseLoss(lu.softmax(1), yu);
    const w = p.wu * rampUp(ctx.progress, Math.min((p.warmupKimg * 1024) / ctx.trainImages, p.warmupMax));
    return { loss: lossX.add(lossU.mul(w)), metrics: { loss_x: lossX, loss_u: lossU } };
  },
});
