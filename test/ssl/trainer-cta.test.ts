// Training with CTAugment: every step probes the labeled batch and updates the bin weights; the
// probe's images are augmented in the same batched call as the step's strong view when the
// algorithm asks for one, and on their own when it does not. Seeded runs repeat exactly.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CTAugment, type CtaPolicy } from '../../src/data/index.js';
import { train, type TrainData, type TrainOptions } from '../../src/ssl/index.js';
import type { Tensor } from '../../src/tensor/index.js';
import { tinyImages } from '../helpers.js';

const DATA: TrainData = { labeled: tinyImages(8, 1, true), unlabeled: tinyImages(20, 2, false), test: null };
const OPTIONS: Partial<TrainOptions> = {
  steps: 3,
  batchSize: 4,
  uratio: 2,
  width: 2,
  epochImages: 8,
  seed: 3,
  strongAugment: 'ctaugment',
};

interface Calls {
  /** Batch size and policy count of every apply. */
  applied: [number, number][];
  /** Probe policies and proximities of every update. */
  updates: { policies: CtaPolicy[]; proximity: number[] }[];
}

function spyCta(): Calls {
  const calls: Calls = { applied: [], updates: [] };
  const apply = CTAugment.prototype.apply;
  vi.spyOn(CTAugment.prototype, 'apply').mockImplementation(function (this: CTAugment, x: Tensor, p) {
    calls.applied.push([x.shape[0], p.length]);
    return apply.call(this, x, p);
  });
  const update = CTAugment.prototype.update;
  vi.spyOn(CTAugment.prototype, 'update').mockImplementation(function (this: CTAugment, p, prox) {
    calls.updates.push({ policies: [...p], proximity: Array.from(prox) });
    update.call(this, p, prox);
  });
  return calls;
}

async function weightsOf(options: Partial<TrainOptions>): Promise<number[][]> {
  const r = await train(options, DATA);
  const w = Object.values(r.model.stateDict()).map((t) => t.toNumbers());
  r.model.dispose();
  r.ema.dispose();
  return w;
}

describe('training with CTAugment', () => {
  afterEach(() => vi.restoreAllMocks());

  it("augments the probe with the strong view in one call, and updates the weights from every step's probe", async () => {
    const calls = spyCta();
    await weightsOf({ ...OPTIONS, algorithm: 'fixmatch' });
    // 8 unlabeled strong views and the 4 probe images per step, in one call each step.
    expect(calls.applied).toEqual([
      [12, 12],
      [12, 12],
      [12, 12],
    ]);
    expect(calls.updates).toHaveLength(3);
    for (const { policies, proximity } of calls.updates) {
      expect(policies).toHaveLength(4);
      expect(proximity).toHaveLength(4);
      for (const p of proximity) expect(p >= 0 && p <= 1).toBe(true);
      for (const policy of policies) expect(policy).toHaveLength(2);
    }
  });

  it('augments the probe on its own for an algorithm without a strong view', async () => {
    const calls = spyCta();
    await weightsOf({ ...OPTIONS, algorithm: 'supervised' });
    expect(calls.applied).toEqual([
      [4, 4],
      [4, 4],
      [4, 4],
    ]);
    expect(calls.updates).toHaveLength(3);
  });

  it('repeats a seeded run exactly', async () => {
    const a = await weightsOf({ ...OPTIONS, algorithm: 'fixmatch' });
    const b = await weightsOf({ ...OPTIONS, algorithm: 'fixmatch' });
    expect(b).toEqual(a);
  });
});
