// Π-Model (Laine & Aila 2017; Sajjadi et al. 2016): two weak views of each unlabeled image should
// get the same prediction (squared error of the softmaxes, one side without gradient).
import { cat, crossEntropy, mseLoss } from '../../tensor/index.js';
import { num } from '../../util/params.js';
import { defineAlgorithm, rampUp } from '../algorithm.js';

export const piModel = defineAlgorithm({
  description: 'consistency between two weak views of each unlabeled image',
  params: {
    wu: num(10, 'weight of the consistency loss', { min: 0 }),
    warmup: num(0.4, 'fraction of training over which the weight ramps up', { min: 0, max: 1 }),
  },
  unlabeled: true,
  loss(ctx, b, p) {
    const nl = b.xl.shape[0];
    const nu = b.xu.shape[0];
    const [lx, l1, l2] = ctx.logits(cat([ctx.weak(b.xl), ctx.weak(b.xu), ctx.weak(b.xu)])).split([nl, nu, nu]);
    const lossX = crossEntropy(lx, b.yl);
    const lossU = mseLoss(l1.softmax(1), l2.detach().softmax(1));
    const w = p.wu * rampUp(ctx.progress, p.warmup);
    return { loss: lossX.add(lossU.mul(w)), metrics: { loss_x: lossX, loss_u: lossU } };
  },
});
