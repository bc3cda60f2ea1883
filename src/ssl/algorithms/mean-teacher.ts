// Mean Teacher (Tarvainen & Valpola 2017): the EMA model's prediction on one weak view is the
// target for the live model's prediction on another (squared error of the softmaxes). The teacher
// runs in train mode, on the batch's statistics, as in the reference: in eval mode its BatchNorm
// used running statistics that lag the fast-changing early weights, and the student collapsed onto
// those predictions (22.9% test accuracy at 40 labels and 1500 steps; 56.0% in train mode).
import { cat, crossEntropy, mseLoss, noGrad } from '../../tensor/index.js';
import { num } from '../../util/params.js';
import { defineAlgorithm, rampUp, withBatchStatistics } from '../algorithm.js';

export const meanTeacher = defineAlgorithm({
  description: "the EMA teacher's prediction on one weak view as target for another",
  params: {
    wu: num(50, 'weight of the consistency loss', { min: 0 }),
    warmup: num(0.4, 'fraction of training over which the weight ramps up', { min: 0, max: 1 }),
  },
  unlabeled: true,
  loss(ctx, b, p) {
    const nl = b.xl.shape[0];
    const [lx, lu] = ctx.logits(cat([ctx.weak(b.xl), ctx.weak(b.xu)])).split([nl, b.xu.shape[0]]);
    const lossX = crossEntropy(lx, b.yl);
    const target = noGrad(() =>
      withBatchStatistics(ctx.teacher, () => ctx.logits(ctx.weak(b.xu), ctx.teacher).softmax(1)),
    );
    const lossU = mseLoss(lu.softmax(1), target);
    const w = p.wu * rampUp(ctx.progress, p.warmup);
    return { loss: lossX.add(lossU.mul(w)), metrics: { loss_x: lossX, loss_u: lossU } };
  },
});
