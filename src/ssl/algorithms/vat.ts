// Virtual Adversarial Training (Miyato et al. 2018): predictions must not change under the
// small perturbation that changes them most (one power iteration), plus entropy minimisation
// (reference vat.py: vat_eps 6 in normalised pixels, xi 1e-6, entmin weight 0.06, not ramped).
// As in the reference, the labeled pass alone updates BatchNorm's running statistics; the unlabeled,
// power-iteration and perturbed passes normalise with their own batch's statistics and update nothing.
import { crossEntropy, enableGrad, grad, klDiv, noGrad, tidy, type Tensor } from '../../tensor/index.js';
import { num } from '../../util/params.js';
import { defineAlgorithm, rampUp, withBatchStatistics } from '../algorithm.js';

/** Each example's d / max|d|, then / sqrt(1e-6 + Σd²): the reference's get_normalized_vector, per example. */
export function unitNormalize(d: Tensor): Tensor {
  return tidy(() => {
    const flat = d.flatten(1);
    const scaled = flat.div(flat.abs().maxDim(1, true)[0].add(1e-12));
    return scaled.div(scaled.pow(2).sum(1, true).add(1e-6).sqrt()).reshape(d.shape);
  });
}

/** KL(p_student ‖ p_teacher) per example, averaged: the reference's kl_divergence_from_logits(student, teacher). */
function klFromLogits(student: Tensor, teacher: Tensor): Tensor {
  return tidy(() => {
    const logPs = student.logSoftmax(1);
    return logPs
      .exp()
      .mul(logPs.sub(teacher.logSoftmax(1)))
      .sum(1)
      .mean();
  });
}

export const vat = defineAlgorithm({
  description: 'robustness to the most sensitive small perturbation of each unlabeled image, with entropy minimisation',
  params: {
    wu: num(0.3, 'weight of the VAT loss', { min: 0 }),
    eps: num(6, 'size of the adversarial perturbation, in normalised pixel units', { min: 0 }),
    xi: num(1e-6, 'step of the power iteration', { min: 0 }),
    entmin: num(0.06, 'weight of entropy minimisation on unlabeled predictions', { min: 0 }),
    warmup: num(0.4, 'fraction of training over which the VAT weight ramps up', { min: 0, max: 1 }),
  },
  unlabeled: true,
  loss(ctx, b, p) {
    const lx = ctx.logits(ctx.weak(b.xl));
    const lossX = crossEntropy(lx, b.yl);
    const xu = ctx.weak(b.xu);
    return withBatchStatistics(ctx.model, () => {
      const lu = ctx.logits(xu);
      const teacher = lu.detach();
      // Perturbations are added in [0, 1] pixel space; eps and xi are in normalised units (the
      // reference's), so they are scaled by the pixel std.
      const rAdv = enableGrad(() =>
        tidy(() => {
          const d = unitNormalize(ctx.normalLike(xu))
            .mul(p.xi * ctx.pixelStd)
            .setRequiresGrad(true);
          const kl = klDiv(ctx.logits(xu.add(d)).logSoftmax(1), teacher.softmax(1), { reduction: 'batchmean' });
          const [g] = grad(kl, [d]);
          return noGrad(() => unitNormalize(g!).mul(p.eps * ctx.pixelStd));
        }),
      );
      const lossVat = klFromLogits(ctx.logits(xu.add(rAdv)), teacher);
      const entropy = lu.softmax(1).mul(lu.logSoftmax(1)).sum(1).neg().mean();
      const loss = lossX.add(lossVat.mul(p.wu * rampUp(ctx.progress, p.warmup))).add(entropy.mul(p.entmin));
      return { loss, metrics: { loss_x: lossX, loss_u: lossVat, entropy } };
    });
  },
});
