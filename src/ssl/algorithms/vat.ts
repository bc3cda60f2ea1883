// Virtual Adversarial Training (Miyato et al. 2018): predictions must not change under the
// small perturbation that changes them most (one power iteration), plus entropy minimisation
// (reference vat.py: vat_eps 6 in normalised pixels, xi 1e-6, entmin weight 0.06).
import { cat, crossEntropy, enableGrad, grad, klDiv, noGrad, randn, tidy, type Tensor } from '../../tensor/index.js';
import { num } from '../../util/params.js';
import { defineAlgorithm, rampUp } from '../algorithm.js';

function unitNormalize(d: Tensor): Tensor {
  return tidy(() => {
    const flat = d.flatten(1);
    const scaled = flat.div(flat.abs().max().add(1e-12));
    return scaled.div(scaled.norm(2, 1, true).add(1e-6)).reshape(d.shape);
  });
}

export const vat = defineAlgorithm({
  description: 'robustness to the most sensitive small perturbation of each unlabeled image, with entropy minimisation',
  params: {
    wu: num(0.3, 'weight of the VAT loss', { min: 0 }),
    eps: num(6, 'size of the adversarial perturbation, in normalised pixel units', { min: 0 }),
    xi: num(1e-6, 'step of the power iteration', { min: 0 }),
    entmin: num(0.06, 'weight of entropy minimisation on unlabeled predictions', { min: 0 }),
    warmup: num(0.4, 'fraction of training over which the weight ramps up', { min: 0, max: 1 }),
  },
  unlabeled: true,
  loss(ctx, b, p) {
    const nl = b.xl.shape[0];
    const xu = ctx.weak(b.xu);
    const [lx, lu] = ctx.logits(cat([ctx.weak(b.xl), xu])).split([nl, xu.shape[0]]);
    const lossX = crossEntropy(lx, b.yl);
    const target = lu.detach().softmax(1);
    // Perturbations are added in [0, 1] pixel space; eps and xi are in normalised units (the
    // reference's), so they are scaled by the pixel std.
    const rAdv = enableGrad(() =>
      tidy(() => {
        const d = unitNormalize(randn(xu.shape, { device: xu.device }))
          .mul(p.xi * ctx.pixelStd)
          .setRequiresGrad(true);
        const kl = klDiv(ctx.logits(xu.add(d)).logSoftmax(1), target, { reduction: 'batchmean' });
        const [g] = grad(kl, [d]);
        return noGrad(() => unitNormalize(g!).mul(p.eps * ctx.pixelStd));
      }),
    );
    const lossVat = klDiv(ctx.logits(xu.add(rAdv)).logSoftmax(1), target, { reduction: 'batchmean' });
    const entropy = lu.softmax(1).mul(lu.logSoftmax(1)).sum(1).neg().mean();
    const w = rampUp(ctx.progress, p.warmup);
    const loss = lossX.add(lossVat.mul(p.wu * w)).add(entropy.mul(p.entmin * w));
    return { loss, metrics: { loss_x: lossX, loss_u: lossVat, entropy } };
  },
});
