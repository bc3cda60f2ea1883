// The store: trials are recorded once per id, results inserted once, and the report's queries.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expandGrid, parseSpec, Store } from '../../src/experiment/index.js';
import { result, tempDir } from './helpers.js';

const SPEC = 'steps: 5\nratio: [0.005, 0.01]\ntrials: 2\n';

describe('Store', () => {
  it('records trials once and results once, and answers the report queries', () => {
    const path = join(tempDir('store'), 'store.sqlite');
    const trials = expandGrid(parseSpec(SPEC, 'spec.yaml'));
    let store = Store.open(path);
    expect(store.addExperiment('exp', trials, { specFile: 'spec.yaml' })).toEqual({ added: 4, existing: 0 });
    expect(store.addExperiment('exp', trials)).toEqual({ added: 0, existing: 4 });
    // A second experiment sharing two trials stores them once.
    expect(store.addExperiment('other', trials.slice(0, 2))).toEqual({ added: 0, existing: 2 });
    expect(store.counts('exp')).toEqual({ queued: 4, running: 0, done: 0, failed: 0 });

    const [a, b, c] = trials;
    store.markRunning(a.id, 'w1');
    expect(store.complete(a.id, result(a.id, true), 'w1')).toBe(true);
    expect(store.complete(a.id, result(a.id, false), 'w2')).toBe(false);
    store.markRunning(a.id, 'w3'); // a late duplicate start changes nothing either
    store.markRunning(b.id, 'w1');
    store.markFailed(b.id, 'out of memory', 'w1');
    store.markRunning(c.id, 'w2');
    store.requeue(c.id);
    store.close();

    store = Store.open(path);
    const stored = store.trials('exp');
    expect(stored.map((t) => t.status)).toEqual(['done', 'failed', 'queued', 'queued']);
    expect(stored[0]).toMatchObject({ worker: 'w1', attempts: 1, seconds: 1.5 });
    expect(stored[0].result?.success).toBe(true);
    expect(stored[0].result?.poisoned).not.toHaveProperty('epochs');
    expect(stored[1]).toMatchObject({ error: 'out of memory', attempts: 1 });
    expect(store.pending('exp').map((t) => t.id)).toEqual([b.id, c.id, trials[3].id]);
    expect(store.isDone(a.id)).toBe(true);
    expect(store.counts('other')).toEqual({ queued: 0, running: 0, done: 1, failed: 1 });

    const curves = store.curves(a.id);
    expect(curves).toHaveLength(4);
    expect(curves.filter((p) => p.run === 'poisoned').map((p) => p.bridgeDesired)).toEqual([0.5, 1]);
    expect(store.artifacts(a.id)).toMatchObject({ predictions: '/runs/poisoned/p/predictions.npy' });

    const byRatio = store.groupedCounts('exp', ['ratio']);
    expect(byRatio).toEqual([
      { key: { ratio: 0.005 }, trials: 2, done: 1, failed: 1, successes: 1, defended: 0, defendedSuccesses: 0 },
      { key: { ratio: 0.01 }, trials: 2, done: 0, failed: 0, successes: 0, defended: 0, defendedSuccesses: 0 },
    ]);
    expect(store.groupedCounts('exp', [])).toEqual([
      { key: {}, trials: 4, done: 1, failed: 1, successes: 1, defended: 0, defendedSuccesses: 0 },
    ]);
    expect(() => store.groupedCounts('exp', ['ratio) --' as never])).toThrow(/unknown trial field/);
    expect(store.experiments().map((e) => e.name)).toEqual(['exp', 'other']);
    // A spec edited down to one trial: the experiment follows it, the stored result stays.
    expect(store.addExperiment('exp', [a])).toEqual({ added: 0, existing: 1 });
    expect(store.counts('exp')).toEqual({ queued: 0, running: 0, done: 1, failed: 0 });
    expect(store.addExperiment('exp', trials).added).toBe(0);
    expect(store.counts('exp').done).toBe(1);
    store.close();
  });
});
