// Each algorithm's loss on a fixed tiny batch with fixed augmentations, against PyTorch
// (scripts/make_ssl_fixtures.py); the unsupervised term is non-zero and one step changes every parameter.
import { describe, expect, it } from 'vitest';
import { manualSeed, noGrad, randn, tidy, type Tensor } from '../../src/tensor/index.js';
import { Mlp, Sgd, SmallCnn } from '../../src/nn/index.js';
import { ALGORITHMS, withBatchStatistics, type AlgorithmName, type SslContext } from '../../src/ssl/index.js';
import { resolveParams } from '../../src/util/params.js';
import { expectClose, loadFixture } from '../helpers.js';

const fx = loadFixture('ssl');

function mlpFrom(prefix: string): Mlp {
  const m = new Mlp({ inFeatures: 16, hidden: [8], numClasses: 4 });
  const own = Object.keys(m.stateDict());
  m.loadStateDict(Object.fromEntries(own.map((k) => [k, fx[`${prefix}${k}`]])));
  return m;
}

function context(model: Mlp, teacher: Mlp, progress: number): SslContext {
  let k = 0;
  return {
    model,
    teacher,
    numClasses: 4,
    progress,
    trainImages: 1000,
    pixelStd: 1,
    logits: (x: Tensor, m = model) => m.forward(x),
    weak: (x: Tensor) => x.add(0.05 * ++k),
    strong: (x: Tensor) => x.flip([3]).mul(0.5),
  };
}

const FIXTURE_PARAMS: Partial<Record<AlgorithmName, Record<string, number>>> = {
  fixmatch: { threshold: 0.5, wu: 1 },
  uda: { confidence: 0.5, temperature: 0.4, wu: 1 },
  pseudo_label: { threshold: 0.5, wu: 1, warmup: 0.4 },
  pi_model: { wu: 10, warmup: 0.4 },
  mean_teacher: { wu: 50, warmup: 0.4 },
  supervised: {},
};

describe('algorithm losses against PyTorch', () => {
  for (const [name, overrides] of Object.entries(FIXTURE_PARAMS) as [AlgorithmName, Record<string, number>][]) {
    it(`${name}: loss, unsupervised term and gradient`, () => {
      const model = mlpFrom('model.');
      const teacher = mlpFrom('teacher.');
      tidy(() => {
        const algo = ALGORITHMS[name];
        const params = resolveParams(name, algo.params, overrides);
        const out = algo.loss(context(model, teacher, 0.2), { xl: fx.xl, yl: fx.yl, xu: fx.xu }, params as never);
        expectClose(out.loss.reshape([1]), fx[`${name}.loss`], 1e-5, 1e-4, `${name} loss`);
        if (name !== 'supervised') {
          expectClose(out.metrics.loss_u.reshape([1]), fx[`${name}.loss_u`], 1e-6, 1e-3, `${name} loss_u`);
          expect(out.metrics.loss_u.item()).toBeGreaterThan(0);
        }
        out.loss.backward();
        const fc = model.namedParameters().find(([n]) => n === 'fc.weight')![1];
        expectClose(fc.grad!, fx[`${name}.grad_fc`], 1e-5, 1e-3, `${name} fc gradient`);
      });
      model.dispose();
      teacher.dispose();
    });
  }
});

describe('every algorithm trains every parameter', () => {
  for (const name of Object.keys(ALGORITHMS) as AlgorithmName[]) {
    it(`${name}: one SGD step changes all parameters and the unsupervised term is live`, () => {
      manualSeed(3);
      const model = mlpFrom('model.');
      const teacher = mlpFrom('teacher.');
      const algo = ALGORITHMS[name];
      // Low thresholds so that the tiny model's pseudo-labels pass them on this batch.
      const overrides: Record<string, number> = { ...FIXTURE_PARAMS[name] };
      const params = resolveParams(name, algo.params, overrides);
      const before = model.parameters().map((p) => p.clone());
      const opt = new Sgd(model.parameters(), { lr: 0.1 });
      tidy(() => {
        const out = algo.loss(context(model, teacher, 0.5), { xl: fx.xl, yl: fx.yl, xu: fx.xu }, params as never);
        expect(Number.isFinite(out.loss.item())).toBe(true);
        if (algo.unlabeled) expect(out.metrics.loss_u.item(), `${name} unsupervised loss`).toBeGreaterThan(0);
        out.loss.backward();
        opt.update();
      });
      model.parameters().forEach((p, i) => {
        const moved = tidy(() => p.sub(before[i]).abs().max().item());
        expect(moved, `${name} parameter ${i}`).toBeGreaterThan(0);
      });
      before.forEach((t) => t.dispose());
      model.dispose();
      teacher.dispose();
    });
  }
});

describe('hyperparameters', () => {
  it('reject unknown names and out-of-range values', () => {
    expect(() => resolveParams('fixmatch', ALGORITHMS.fixmatch.params, { treshold: 0.9 })).toThrow(
      /unknown parameter 'treshold'/,
    );
    expect(() => resolveParams('fixmatch', ALGORITHMS.fixmatch.params, { threshold: 1.5 })).toThrow(
      /threshold must be <= 1/,
    );
    expect(() => resolveParams('mixmatch', ALGORITHMS.mixmatch.params, { k: 1.5 })).toThrow(/k must be an integer/);
    expect(resolveParams('fixmatch', ALGORITHMS.fixmatch.params)).toEqual({ threshold: 0.95, wu: 1 });
  });
});

describe("Mean Teacher's teacher", () => {
  it('normalises with the batch statistics, leaves its running statistics and mode as they were', () => {
    manualSeed(5);
    const teacher = new SmallCnn({ width: 4 });
    teacher.eval();
    const x = randn([8, 1, 28, 28]).mul(2).add(1);
    const stats = teacher.buffers().map((b) => b.clone());
    const seen: boolean[] = [];
    const out = noGrad(() =>
      withBatchStatistics(teacher, () => {
        seen.push(teacher.training);
        return teacher.forward(x);
      }),
    );
    expect(seen).toEqual([true]);
    expect(teacher.training).toBe(false);
    teacher.buffers().forEach((b, i) => expectClose(b, stats[i], 0, 0, `buffer ${i}`));
    const evalOut = noGrad(() => teacher.forward(x));
    expect(tidy(() => evalOut.sub(out).abs().max().item())).toBeGreaterThan(1e-3);
    teacher.train(true);
    expectClose(
      noGrad(() => teacher.forward(x)),
      out,
      1e-6,
      1e-5,
      'train-mode forward',
    );
    [x, out, evalOut, ...stats].forEach((t) => t.dispose());
    teacher.dispose();
  });
});

describe("MixMatch's ramp of the unlabeled weight", () => {
  const impliedWeight = (progress: number, trainImages: number): number => {
    manualSeed(2);
    const model = mlpFrom('model.');
    const teacher = mlpFrom('teacher.');
    const params = resolveParams('mixmatch', ALGORITHMS.mixmatch.params, {});
    const w = tidy(() => {
      const ctx = { ...context(model, teacher, progress), trainImages };
      const out = ALGORITHMS.mixmatch.loss(ctx, { xl: fx.xl, yl: fx.yl, xu: fx.xu }, params as never);
      return (out.loss.item() - out.metrics.loss_x.item()) / out.metrics.loss_u.item();
    });
    model.dispose();
    teacher.dispose();
    return w;
  };

  it("spans the reference's 1024 kimg in a run long enough for it", () => {
    const images = 2 ** 20 * 64; // the reference's 2^20 steps of 64 labeled images
    expect(impliedWeight(8192 / 2 ** 20, images)).toBeCloseTo(75 / 2, 2); // half-way through 16384 steps
    expect(impliedWeight(0.5, images)).toBeCloseTo(75, 2);
  });

  it('spans at most 40% of a short run', () => {
    const images = 1500 * 32;
    expect(impliedWeight(0.2, images)).toBeCloseTo(75 / 2, 2);
    expect(impliedWeight(0.4, images)).toBeCloseTo(75, 2);
  });
});
