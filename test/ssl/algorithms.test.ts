// Each algorithm's loss on a fixed tiny batch with fixed augmentations, against PyTorch
// (scripts/make_ssl_fixtures.py); the unsupervised term is non-zero and one step changes every parameter.
import { describe, expect, it } from 'vitest';
import { keep, manualSeed, noGrad, rand, randn, tensor, tidy, type Tensor } from '../../src/tensor/index.js';
import { Mlp, Sgd, SmallCnn, type Classifier } from '../../src/nn/index.js';
import { ALGORITHMS, withBatchStatistics, type AlgorithmName, type SslContext } from '../../src/ssl/index.js';
import { unitNormalize } from '../../src/ssl/algorithms/vat.js';
import { resolveParams } from '../../src/util/params.js';
import { expectClose, loadFixture } from '../helpers.js';

const fx = loadFixture('ssl');

function mlpFrom(prefix: string): Mlp {
  const m = new Mlp({ inFeatures: 16, hidden: [8], numClasses: 4 });
  const own = Object.keys(m.stateDict());
  m.loadStateDict(Object.fromEntries(own.map((k) => [k, fx[`${prefix}${k}`]])));
  return m;
}

/** MixUp with the fixture's λ and permutation (the trainer's draws them at random). */
function fixedMixup(x: Tensor, y: Tensor): { x: Tensor; y: Tensor } {
  const lambda = fx['mixmatch.lambda'];
  const index = fx['mixmatch.index'];
  const mix = (t: Tensor): Tensor => {
    const l = lambda.reshape([t.shape[0], ...new Array<number>(t.ndim - 1).fill(1)]);
    return t.mul(l).add(t.indexSelect(0, index).mul(l.neg().add(1)));
  };
  return { x: mix(x), y: mix(y) };
}

/** The tests' deterministic context: weak(x) = x + 0.05·k at the k-th call, as the fixture script. */
function context(model: Classifier, teacher: Classifier, progress: number): SslContext {
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
    mixup: fixedMixup,
    normalLike: (x: Tensor) => fx['vat.d'].reshape(x.shape),
  };
}

const FIXTURE_PARAMS: Partial<Record<AlgorithmName, Record<string, number>>> = {
  fixmatch: { threshold: 0.5, wu: 1 },
  uda: { confidence: 0.5, temperature: 0.4, wu: 1 },
  pseudo_label: { threshold: 0.5, wu: 1, warmup: 0.4 },
  pi_model: { wu: 10, warmup: 0.4 },
  mean_teacher: { wu: 50, warmup: 0.4 },
  mixmatch: { k: 2, temperature: 0.5, wu: 75, warmupKimg: 1024, warmupMax: 0.4 },
  // xi well above float32 rounding of the inputs, so that the power iteration's direction is exact.
  vat: { wu: 0.3, eps: 6, xi: 0.5, entmin: 0.06, warmup: 0.4 },
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

/** A small CNN with BatchNorm and a batch of 8×8 images (4 labeled, 6 unlabeled, as the fixture). */
function cnnSetup(bnMomentum = 0.001): { model: SmallCnn; teacher: SmallCnn; xl: Tensor; yl: Tensor; xu: Tensor } {
  const model = new SmallCnn({ width: 4, numClasses: 4, bnMomentum });
  const teacher = new SmallCnn({ width: 4, numClasses: 4, bnMomentum });
  model.train();
  return {
    model,
    teacher,
    xl: rand([4, 1, 8, 8]),
    yl: tensor([0, 1, 2, 3], [4], { dtype: 'int64' }),
    xu: rand([6, 1, 8, 8]),
  };
}

describe('the unsupervised term alone trains the whole CNN', () => {
  // Thresholds of 0 so that every pseudo-label of the untrained model counts.
  const overrides: Partial<Record<AlgorithmName, Record<string, number>>> = {
    fixmatch: { threshold: 0 },
    uda: { confidence: 0 },
    pseudo_label: { threshold: 0 },
  };
  const names = (Object.keys(ALGORITHMS) as AlgorithmName[]).filter((n) => ALGORITHMS[n].unlabeled);
  for (const name of names) {
    it(`${name}: backpropagating loss_u alone reaches every student parameter and no teacher one`, () => {
      manualSeed(11);
      const { model, teacher, xl, yl, xu } = cnnSetup();
      const algo = ALGORITHMS[name];
      const params = resolveParams(name, algo.params, overrides[name] ?? {});
      tidy(() => {
        const ctx = { ...context(model, teacher, 0.5), normalLike: (x: Tensor) => randn(x.shape) };
        const out = algo.loss(ctx, { xl, yl, xu }, params as never);
        expect(out.metrics.loss_u.item(), `${name} loss_u`).toBeGreaterThan(0);
        out.metrics.loss_u.backward();
      });
      for (const [n, p] of model.namedParameters()) {
        const g = p.grad;
        expect(g, `${name}: ${n} has no gradient from loss_u`).not.toBeNull();
        expect(
          tidy(() => g!.abs().max().item()),
          `${name}: ${n}`,
        ).toBeGreaterThan(0);
      }
      for (const [n, p] of teacher.namedParameters()) {
        const g = p.grad;
        expect(g === null || tidy(() => g.abs().max().item()) === 0, `${name}: teacher ${n}`).toBe(true);
      }
      [xl, yl, xu].forEach((t) => t.dispose());
      model.dispose();
      teacher.dispose();
    });
  }
});

describe('BatchNorm running statistics come from one pass, as in the reference', () => {
  // mixmatch.py skips the update ops of the label-guessing passes; vat.py keeps only its first
  // (labeled) call's, not those of the unlabeled, power-iteration or perturbed passes.
  const cases: [AlgorithmName, number, (calls: number) => number][] = [
    ['mixmatch', 3, (calls) => calls - 1],
    ['vat', 4, () => 0],
  ];
  for (const [name, calls, updating] of cases) {
    it(`${name}: running statistics after the loss equal those of its updating pass alone`, () => {
      manualSeed(13);
      const { model, teacher, xl, yl, xu } = cnnSetup(0.5);
      const twin = new SmallCnn({ width: 4, numClasses: 4, bnMomentum: 0.5 });
      twin.loadStateDict(model.stateDict());
      twin.train();
      const inputs: Tensor[] = [];
      const ctx: SslContext = {
        ...context(model, teacher, 0.5),
        normalLike: (x: Tensor) => randn(x.shape),
        logits: (x: Tensor, m = model) => {
          if (m === model) inputs.push(keep(x.detach().clone()));
          return m.forward(x);
        },
      };
      const algo = ALGORITHMS[name];
      tidy(() => {
        algo.loss(ctx, { xl, yl, xu }, resolveParams(name, algo.params, {}) as never);
      });
      expect(inputs.length, `${name} passes through the model`).toBe(calls);
      noGrad(() => twin.forward(inputs[updating(calls)])).dispose();
      const ours = model.namedBuffers();
      const theirs = twin.namedBuffers();
      expect(ours.length).toBeGreaterThan(0);
      ours.forEach(([n, b], i) => expectClose(b, theirs[i][1], 1e-6, 1e-5, `${name} ${n}`));
      [xl, yl, xu, ...inputs].forEach((t) => t.dispose());
      [model, teacher, twin].forEach((m) => m.dispose());
    });
  }
});

describe("VAT's perturbation", () => {
  it("is normalised per example, as the reference's get_normalized_vector", () => {
    manualSeed(4);
    tidy(() => {
      const d = randn([3, 1, 4, 4]);
      const scaled = d.mul(tensor([1, 1e-3, 1e-6], [3, 1, 1, 1]));
      const u = unitNormalize(scaled);
      expectClose(u, unitNormalize(d), 1e-6, 1e-4, 'scale-free per example');
      expectClose(u.flatten(1).norm(2, 1), tensor([1, 1, 1]), 1e-5, 0, 'unit L2 norm per example');
    });
  });
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
