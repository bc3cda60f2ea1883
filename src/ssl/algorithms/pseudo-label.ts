// Pseudo-Label (Lee 2013): confident predictions on weakly augmented unlabeled images become hard
// labels for the same view (reference pseudo_label.py: threshold, ramped consistency weight).
import { cat, crossEntropy, tidy } from '../../tensor/index.js';
import { num } from '../../util/params.js';
import { confidenceMask, defineAlgorithm, rampUp } from '../algorithm.js';

export const pseudoLabel = defineAlgorithm({
  description: 'confident predictions as hard labels for the same weak view',
  params: {
    threshold: num(0.95, 'confidence above which a pseudo-label is used', { min: 0, max: 1 }),
    wu: num(1, 'weight of the unsupervised loss', { min: 0 }),
    warmup: num(0.4, 'fraction of training over which the weight ramps up', { min: 0, max: 1 }),
  },
  unlabeled: true,
  loss(ctx, b, p) {
    const nl = b.xl.shape[0];
    const [lx, lu] = ctx.logits(cat([ctx.weak(b.xl), ctx.weak(b.xu)])).split([nl, b.xu.shape[0]]);
    const lossX = crossEntropy(lx, b.yl);
    const { pseudo, mask } = tidy(() => {
      const probs = lu.detach().softmax(1);
      return { pseudo: probs.argmax(1), mask: confidenceMask(probs, p.threshold) };
    });
    const lossU = crossEntropy(lu, pseudo, { reduction: 'none' }).mul(mask).mean();
    const w = p.wu * rampUp(ctx.progress, p.warmup);
    return { loss: lossX.add(lossU.mul(w)), metrics: { loss_x: lossX, loss_u: lossU, mask: mask.mean() } };
  },
});
