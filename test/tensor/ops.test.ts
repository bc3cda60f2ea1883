// Op values and gradients against PyTorch fixtures (scripts/make_fixtures.py).
import { describe, expect, it } from 'vitest';
import {
  adaptiveAvgPool2d,
  affineGrid,
  avgPool2d,
  batchNorm,
  cat,
  cdist,
  conv2d,
  convTranspose2d,
  crossEntropy,
  full,
  klDiv,
  linear,
  maxPool2d,
  mseLoss,
  ones,
  pad,
  stack,
  tensor,
  tidy,
  where,
  zeros,
  gridSample,
  type Tensor,
} from '../../src/tensor/index.js';
import { expectClose, loadFixture } from '../helpers.js';

const fx = loadFixture('ops');
const theta = () => tensor([0.9, -0.2, 0.1, 0.15, 1.1, -0.05, 1, 0, 0, 0, 1, 0], [2, 2, 3]);

type Case = (...xs: Tensor[]) => Tensor;
const CASES: Record<string, Case> = {
  add: (a, b) => a.add(b),
  sub_scalar: (a) => a.sub(1.5),
  mul: (a, b) => a.mul(b),
  div: (a, b) => a.div(b),
  pow: (a) => a.pow(2.5),
  exp: (a) => a.exp(),
  log: (a) => a.log(),
  sqrt: (a) => a.sqrt(),
  sigmoid: (a) => a.sigmoid(),
  tanh: (a) => a.tanh(),
  relu: (a) => a.relu(),
  leaky_relu: (a) => a.leakyRelu(0.1),
  clamp: (a) => a.clamp(-0.5, 0.7),
  sum_dim: (a) => a.sum([0, 2], true),
  mean_dim: (a) => a.mean(1),
  max_dim: (a) => a.maxDim(1)[0],
  logsumexp: (a) => a.logsumexp(1),
  std: (a) => a.std(1),
  norm: (a) => a.norm(2, 1),
  matmul: (a, b) => a.matmul(b),
  linear: (x, w, b) => linear(x, w, b),
  conv2d: (x, w, b) => conv2d(x, w, b, { stride: 2, padding: 1 }),
  conv_transpose2d: (x, w, b) => convTranspose2d(x, w, b, { stride: 2, padding: 1 }),
  batch_norm_train: (x, w, b) =>
    batchNorm(x, zeros([3]), ones([3]), w, b, { training: true, momentum: 0.1, eps: 1e-3 }),
  batch_norm_eval: (x, w, b) =>
    batchNorm(x, full([3], 0.2), full([3], 1.5), w, b, { training: false, momentum: 0.1, eps: 1e-3 }),
  max_pool2d: (x) => maxPool2d(x, 2),
  avg_pool2d: (x) => avgPool2d(x, 2),
  adaptive_avg_pool2d: (x) => adaptiveAvgPool2d(x, 1),
  softmax: (x) => x.softmax(1),
  log_softmax: (x) => x.logSoftmax(1),
  cross_entropy: (x, t) => crossEntropy(x, t),
  cross_entropy_none: (x, t) => crossEntropy(x, t, { reduction: 'none' }),
  cross_entropy_soft: (x, t) => crossEntropy(x, t),
  kl_div: (x, t) => klDiv(x, t, { reduction: 'batchmean' }),
  mse_loss: (a, b) => mseLoss(a, b),
  grid_sample: (x) => gridSample(x, affineGrid(theta(), [2, 3, 6, 6]), { paddingMode: 'reflection' }),
  pad_reflect: (x) => pad(x, [2, 2, 1, 3], 'reflect'),
  flip: (x) => x.flip([2]),
  roll: (x) => x.roll([1, -2], [1, 2]),
  cat: (a, b) => cat([a, b], 0),
  stack: (a, b) => stack([a, b], 1),
  gather: (a, i) => a.gather(1, i),
  index_select: (a, i) => a.indexSelect(0, i),
  cdist: (a, b) => cdist(a, b),
  topk: (a) => a.topk(3, 1)[0],
  sort: (a) => a.sort(1, true)[0],
  where: (a, b) => where(a.gt(0), a, b),
  scatter: (a, i, s) => a.scatter(1, i, s),
};

describe('ops against PyTorch', () => {
  const names = Object.keys(fx)
    .filter((k) => k.endsWith('.out'))
    .map((k) => k.slice(0, -4));

  it('covers every fixture case', () => {
    expect(names.sort()).toEqual(Object.keys(CASES).sort());
  });

  for (const name of Object.keys(CASES)) {
    it(`${name}: value and gradient`, () => {
      tidy(() => {
        const inputs: Tensor[] = [];
        for (let i = 0; fx[`${name}.in${i}`]; i++) {
          const x = fx[`${name}.in${i}`].clone();
          if (x.isFloat) x.setRequiresGrad(true);
          inputs.push(x);
        }
        const y = CASES[name](...inputs);
        expectClose(y, fx[`${name}.out`], 1e-5, 1e-4, `${name} output`);
        y.mul(fx[`${name}.gout`]).sum().backward();
        inputs.forEach((x, i) => {
          const expected = fx[`${name}.grad${i}`];
          if (expected) expectClose(x.grad!, expected, 1e-5, 1e-4, `${name} gradient ${i}`);
        });
      });
    });
  }
});
