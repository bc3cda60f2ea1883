// Local execution: a two-trial grid on two trial processes completes and a second run recomputes
// nothing; a run stopped mid-trial leaves the trial queued, and the next run resumes it.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { expandGrid, parseSpec, runLocal, Store, type ExecutionEvent } from '../../src/experiment/index.js';
import { tempDir, TINY } from './helpers.js';

function tinySpec(extra: Record<string, unknown>): string {
  return stringify({ ...TINY, ...extra });
}

describe('runLocal', () => {
  it('runs a grid on a pool of processes, stores each trial once and recomputes nothing the second time', async () => {
    const root = tempDir('local');
    const store = Store.open(join(root, 'store.sqlite'));
    const trials = expandGrid(parseSpec(tinySpec({ trials: 2 }), 'tiny.yaml'));
    store.addExperiment('tiny', trials);
    const events: ExecutionEvent[] = [];
    const options = {
      workers: 2,
      threads: 1,
      runsDir: join(root, 'runs'),
      onEvent: (e: ExecutionEvent) => events.push(e),
    };
    expect(await runLocal(store, 'tiny', options)).toEqual({ done: 2, failed: 0, interrupted: 0 });
    const stored = store.trials('tiny');
    expect(stored.map((t) => t.status)).toEqual(['done', 'done']);
    expect(new Set(stored.map((t) => t.worker)).size).toBe(2);
    // The two targets share one clean run, trained once.
    const cleanRuns = stored.map((t) => t.result!.clean);
    expect(cleanRuns[0].dir).toBe(cleanRuns[1].dir);
    expect(cleanRuns.map((r) => r.stepsRun).sort()).toEqual([0, 6]);
    expect(events.filter((e) => e.type === 'start')).toHaveLength(2);

    events.length = 0;
    expect(await runLocal(store, 'tiny', options)).toEqual({ done: 0, failed: 0, interrupted: 0 });
    expect(events).toHaveLength(0);
    store.close();
  });

  it('leaves a stopped trial queued and resumes it on the next run', async () => {
    const root = tempDir('local-stop');
    const store = Store.open(join(root, 'store.sqlite'));
    store.addExperiment('stop', expandGrid(parseSpec(tinySpec({ steps: 60, seed: 11 }), 'stop.yaml')));
    const stopper = new AbortController();
    const options = { workers: 1, threads: 1, runsDir: join(root, 'runs') };
    const first = await runLocal(store, 'stop', {
      ...options,
      signal: stopper.signal,
      onEvent: (e) => {
        if (e.type === 'progress' && e.progress.phase === 'poisoned' && e.progress.step >= 10) stopper.abort();
      },
    });
    expect(first).toEqual({ done: 0, failed: 0, interrupted: 1 });
    expect(store.counts('stop')).toMatchObject({ queued: 1, done: 0 });

    expect(await runLocal(store, 'stop', options)).toEqual({ done: 1, failed: 0, interrupted: 0 });
    const [trial] = store.trials('stop');
    expect(trial.attempts).toBe(2);
    expect(trial.result!.clean.stepsRun).toBe(0);
    // The last checkpoint before the stop (one per 2-step epoch) is where the poisoned run went on.
    expect(trial.result!.poisoned.resumedFrom).toBeGreaterThanOrEqual(8);
    expect(trial.result!.poisoned.stepsRun).toBe(60 - trial.result!.poisoned.resumedFrom);
    store.close();
  });

  it('marks a trial that cannot run as failed and goes on', async () => {
    const root = tempDir('local-fail');
    const store = Store.open(join(root, 'store.sqlite'));
    // Test image 0 is class 9; asking for class 9 cannot work.
    store.addExperiment('fail', expandGrid(parseSpec(tinySpec({ target: 0, desired: 9 }), 'fail.yaml')));
    const summary = await runLocal(store, 'fail', { workers: 1, threads: 1, runsDir: join(root, 'runs') });
    expect(summary).toEqual({ done: 0, failed: 1, interrupted: 0 });
    expect(store.trials('fail')[0].error).toMatch(/already the true label/);
    store.close();
  });
});
