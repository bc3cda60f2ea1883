// Models loaded from PyTorch weights give PyTorch's logits, and two optimizer steps land on PyTorch's weights.
import { describe, expect, it } from 'vitest';
import { crossEntropy, noGrad, tidy, type Tensor } from '../../src/tensor/index.js';
import { Adam, Sgd, SmallCnn, WideResNet, type Classifier, type Optimizer } from '../../src/nn/index.js';
import { expectClose, loadFixture } from '../helpers.js';

function check(name: string, model: Classifier, makeOpt: (m: Classifier) => Optimizer, stepTol: number): void {
  const fx = loadFixture(name);
  const own = model.stateDict();
  const weights = Object.fromEntries(Object.keys(own).map((k) => [k, fx[k]]));
  model.loadStateDict(weights);

  model.eval();
  noGrad(() => tidy(() => expectClose(model.forward(fx.x), fx.logits_eval, 1e-4, 1e-4, `${name} eval logits`)));

  model.train();
  const opt = makeOpt(model);
  const losses: number[] = [];
  for (let i = 0; i < 2; i++) {
    tidy(() => {
      opt.zeroGrad();
      const loss = crossEntropy(model.forward(fx.x), fx.y);
      losses.push(loss.item());
      loss.backward();
      opt.update();
    });
  }
  const expectedLosses = fx.losses.toNumbers();
  expect(losses[0]).toBeCloseTo(expectedLosses[0], 4);
  expect(losses[1]).toBeCloseTo(expectedLosses[1], 4);
  const after = model.stateDict();
  const sampled = Object.keys(fx).filter((k) => k.startsWith('after.'));
  expect(sampled.length).toBeGreaterThanOrEqual(3);
  for (const k of sampled) expectClose(after[k.slice(6)] as Tensor, fx[k], stepTol, 1e-3, `${name} ${k}`);
}

describe('models against PyTorch', () => {
  it('WRN-28-2 has 1.47M parameters and matches PyTorch logits and SGD-Nesterov steps', () => {
    const model = new WideResNet();
    expect(model.numParameters()).toBe(1_467_610);
    check(
      'wrn28_2',
      model,
      (m) => {
        const { decay, noDecay } = m.parameterGroups();
        return new Sgd(
          [
            { params: decay, weightDecay: 5e-4 },
            { params: noDecay, weightDecay: 0 },
          ],
          { lr: 0.03, momentum: 0.9, nesterov: true },
        );
      },
      2e-5,
    );
    model.dispose();
  });

  it('the CPU-sized CNN matches PyTorch logits and Adam steps', () => {
    const model = new SmallCnn({ width: 8 });
    check('cnn', model, (m) => new Adam(m.parameters(), { lr: 1e-3 }), 2e-5);
    model.dispose();
  });
});
