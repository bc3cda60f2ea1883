// UDA (Xie et al. 2019): the sharpened prediction on the weak view is a soft target for the strong
// view, where the weak prediction is confident (reference uda.py: confidence mask, temperature).
import { crossEntropy, tidy } from '../../tensor/index.js';
import { num } from '../../util/params.js';
import { confidenceMask, defineAlgorithm, weakStrongLogits } from '../algorithm.js';

export const uda = defineAlgorithm({
  description: 'sharpened weak-view predictions as soft targets for strong views',
  params: {
    confidence: num(0.8, 'confidence above which an unlabeled example contributes', { min: 0, max: 1 }),
    temperature: num(0.4, 'softmax temperature that sharpens the targets', { min: 1e-3 }),
    wu: num(1, 'weight of the unsupervised loss', { min: 0 }),
  },
  unlabeled: true,
  loss(ctx, b, p) {
    const { labeled: lx, weak: lw, strong: ls } = weakStrongLogits(ctx, b);
    const lossX = crossEntropy(lx, b.yl);
    const { target, mask } = tidy(() => {
      const w = lw.detach();
      return { target: w.div(p.temperature).softmax(1), mask: confidenceMask(w.softmax(1), p.confidence) };
    });
    const lossU = crossEntropy(ls, target, { reduction: 'none' }).mul(mask).mean();
    return { loss: lossX.add(lossU.mul(p.wu)), metrics: { loss_x: lossX, loss_u: lossU, mask: mask.mean() } };
  },
});
