// The EMA evaluation model: its decay, TF's num_updates warm-up, and BatchNorm buffers copied or averaged.
import { describe, expect, it } from 'vitest';
import { manualSeed, noGrad, tidy, type Tensor } from '../../src/tensor/index.js';
import { Ema, SmallCnn } from '../../src/nn/index.js';
import { expectClose } from '../helpers.js';

/** A live model, a shadow of different weights, and a copy of the live weights. */
function setup(): { model: SmallCnn; shadow: SmallCnn; params0: Tensor[] } {
  manualSeed(7);
  const model = new SmallCnn({ width: 2, numClasses: 3 });
  const shadow = new SmallCnn({ width: 2, numClasses: 3 });
  return { model, shadow, params0: model.parameters().map((p) => p.clone()) };
}

/** Moves every live parameter by +1 and every BatchNorm buffer by +2 (a training step, stylised). */
function step(model: SmallCnn): void {
  noGrad(() => {
    model.parameters().forEach((p) => p.add_(1));
    model.buffers().forEach((b) => b.add_(2));
  });
}

function dispose(...groups: (Tensor[] | SmallCnn)[]): void {
  for (const g of groups) (Array.isArray(g) ? g : [g]).forEach((t) => t.dispose());
}

describe('Ema', () => {
  it('starts as a frozen eval-mode copy of the live model', () => {
    const { model, shadow, params0 } = setup();
    new Ema(model, shadow, { decay: 0.9 });
    expect(shadow.training).toBe(false);
    shadow.parameters().forEach((p, i) => {
      expect(p.requiresGrad).toBe(false);
      expectClose(p, params0[i], 0, 0, `parameter ${i}`);
    });
    dispose(params0, model, shadow);
  });

  it('averages the weights with the decay: shadow ← d·shadow + (1 − d)·live', () => {
    const { model, shadow, params0 } = setup();
    const ema = new Ema(model, shadow, { decay: 0.9 });
    step(model);
    ema.update();
    step(model);
    ema.update();
    // After two steps of +1: 0.9·(0.9·p + 0.1·(p + 1)) + 0.1·(p + 2) = p + 0.29.
    shadow.parameters().forEach((p, i) => {
      expectClose(
        p,
        tidy(() => params0[i].add(0.29)),
        1e-6,
        1e-6,
        `parameter ${i}`,
      );
    });
    expect(ema.updates).toBe(2);
    dispose(params0, model, shadow);
  });

  it("warms the decay up as TF's num_updates: min(decay, (1 + n) / (10 + n))", () => {
    const { model, shadow, params0 } = setup();
    const ema = new Ema(model, shadow, { decay: 0.999, warmup: true });
    expect(ema.currentDecay()).toBeCloseTo(0.1, 12);
    step(model);
    ema.update();
    // The first update keeps 10% of the initial weights: p + 0.9.
    shadow.parameters().forEach((p, i) => {
      expectClose(
        p,
        tidy(() => params0[i].add(0.9)),
        1e-6,
        1e-6,
        `parameter ${i}`,
      );
    });
    expect(ema.currentDecay()).toBeCloseTo(2 / 11, 12);
    ema.updates = 8990;
    expect(ema.currentDecay()).toBeCloseTo(8991 / 9000, 12);
    ema.updates = 100000;
    expect(ema.currentDecay()).toBe(0.999);
    expect(new Ema(model, shadow, { decay: 0.999 }).currentDecay()).toBe(0.999);
    dispose(params0, model, shadow);
  });

  it("copies BatchNorm's running statistics with buffers 'copy' (the default)", () => {
    const { model, shadow, params0 } = setup();
    const ema = new Ema(model, shadow, { decay: 0.9 });
    expect(ema.bufferMode).toBe('copy');
    step(model);
    ema.update();
    const live = model.buffers();
    expect(live.length).toBeGreaterThan(0);
    shadow.buffers().forEach((b, i) => expectClose(b, live[i], 0, 0, `buffer ${i}`));
    dispose(params0, model, shadow);
  });

  it("averages BatchNorm's running statistics like the weights with buffers 'average'", () => {
    const { model, shadow, params0 } = setup();
    const buffers0 = model.buffers().map((b) => b.clone());
    const ema = new Ema(model, shadow, { decay: 0.9, buffers: 'average' });
    step(model);
    ema.update();
    // 0.9·b + 0.1·(b + 2) = b + 0.2
    shadow.buffers().forEach((b, i) => {
      expectClose(
        b,
        tidy(() => buffers0[i].add(0.2)),
        1e-6,
        1e-6,
        `buffer ${i}`,
      );
    });
    dispose(params0, buffers0, model, shadow);
  });

  it('rejects a decay outside [0, 1]', () => {
    const { model, shadow, params0 } = setup();
    for (const decay of [-0.1, 1.5, Number.NaN]) {
      expect(() => new Ema(model, shadow, { decay })).toThrow(/decay must be in \[0, 1\]/);
    }
    dispose(params0, model, shadow);
  });
});
