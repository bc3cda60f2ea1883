// Fully supervised baseline: cross-entropy on weakly augmented labeled images only.
import { crossEntropy } from '../../tensor/index.js';
import { defineAlgorithm } from '../algorithm.js';

export const supervised = defineAlgorithm({
  description: 'labeled data only (the baseline every SSL method is compared with)',
  params: {},
  unlabeled: false,
  loss(ctx, b) {
    const loss = crossEntropy(ctx.logits(ctx.weak(b.xl)), b.yl);
    return { loss, metrics: { loss_x: loss } };
  },
});
