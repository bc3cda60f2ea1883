// FixMatch (Sohn et al. 2020; the paper's main victim, appendix A): the pseudo-label of a weakly
// augmented unlabeled image, when confident, is the target for its strongly augmented version.
import { crossEntropy, tidy } from '../../tensor/index.js';
import { num } from '../../util/params.js';
import { confidenceMask, defineAlgorithm, weakStrongLogits } from '../algorithm.js';

export const fixmatch = defineAlgorithm({
  description: "confident pseudo-labels of weak views as targets for strong views (the paper's main victim)",
  params: {
    threshold: num(0.95, 'confidence above which a pseudo-label is used', { min: 0, max: 1 }),
    wu: num(1, 'weight of the unsupervised loss', { min: 0 }),
  },
  unlabeled: true,
  loss(ctx, b, p) {
    const { labeled: lx, weak: lw, strong: ls } = weakStrongLogits(ctx, b);
    const lossX = crossEntropy(lx, b.yl);
    const { pseudo, mask } = tidy(() => {
      const probs = lw.detach().softmax(1);
      return { pseudo: probs.argmax(1), mask: confidenceMask(probs, p.threshold) };
    });
    const lossU = crossEntropy(ls, pseudo, { reduction: 'none' }).mul(mask).mean();
    return { loss: lossX.add(lossU.mul(p.wu)), metrics: { loss_x: lossX, loss_u: lossU, mask: mask.mean() } };
  },
});
