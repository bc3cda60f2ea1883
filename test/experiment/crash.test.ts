// The coordinator killed with SIGKILL mid-grid (no handler runs, its store connection and locks are
// left as they were): the next `experiment run` recomputes nothing that had finished, loses nothing,
// resumes the interrupted trial from its checkpoint and stores every trial exactly once.
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { Store, type StoredTrial } from '../../src/experiment/index.js';
import { killStarted, semipoison, tempDir, TINY, until } from './helpers.js';

/** The experiment's trials as the store holds them now (another process writes it). */
function storedTrials(path: string, name: string): StoredTrial[] {
  if (!existsSync(path)) return [];
  const store = Store.open(path);
  try {
    return store.trials(name);
  } finally {
    store.close();
  }
}

/** Poisoned runs that have written a checkpoint (finished ones keep theirs). */
function checkpointed(runsDir: string): number {
  const poisoned = join(runsDir, 'poisoned');
  if (!existsSync(poisoned)) return 0;
  return readdirSync(poisoned).filter((d) => existsSync(join(poisoned, d, 'checkpoint.safetensors'))).length;
}

describe('experiment run after the coordinator is killed', () => {
  afterAll(killStarted);

  it('recomputes nothing finished, loses nothing and resumes the interrupted trial', async () => {
    const root = tempDir('crash');
    const runsDir = join(root, 'runs');
    const storeFile = join(runsDir, 'store.sqlite');
    const spec = join(root, 'crash.yaml');
    // Three targets of one clean run; long enough poisoned runs that one is caught mid-training.
    writeFileSync(spec, stringify({ ...TINY, name: 'crash', target: [0, 1, 2], desired: 3, steps: 80 }));
    const args = ['experiment', 'run', spec, '--runs-dir', runsDir, '--workers', '1', '--threads', '1'];

    const first = semipoison(args);
    // Kill once a trial is stored and the next one is training past its first checkpoint.
    let before: StoredTrial[] = [];
    await until(
      'a stored trial and a running one past its first checkpoint',
      () => {
        before = storedTrials(storeFile, 'crash');
        const done = before.filter((x) => x.status === 'done').length;
        return done > 0 && before.some((x) => x.status === 'running') && checkpointed(runsDir) > done;
      },
      240_000,
    );
    first.child.kill('SIGKILL');
    await first.exited;
    const finished = new Map(before.filter((t) => t.status === 'done').map((t) => [t.id, t]));
    const interrupted = before.find((t) => t.status === 'running')!;
    expect(finished.size).toBeGreaterThanOrEqual(1);
    expect(finished.size).toBeLessThan(3);

    const second = semipoison(args);
    expect(await second.exited, second.out()).toBe(0);

    const after = storedTrials(storeFile, 'crash');
    expect(after.map((t) => t.status)).toEqual(['done', 'done', 'done']);
    // The finished trials are untouched: same attempt count, timestamps and stored result.
    for (const [id, was] of finished) {
      const now = after.find((t) => t.id === id)!;
      expect(now.attempts).toBe(was.attempts);
      expect(now.finishedAt).toBe(was.finishedAt);
      expect(now.seconds).toBe(was.seconds);
      expect(now.result).toEqual(was.result);
    }
    // The interrupted trial ran again and its poisoned run went on from its checkpoint.
    const resumed = after.find((t) => t.id === interrupted.id)!;
    expect(resumed.attempts).toBe(interrupted.attempts + 1);
    expect(resumed.result!.poisoned.resumedFrom).toBeGreaterThan(0);
    expect(resumed.result!.poisoned.stepsRun).toBe(80 - resumed.result!.poisoned.resumedFrom);
    // The second run only started what had not finished.
    expect(second.out()).toContain(`crash: 3/3 trials done (${3 - finished.size} this run), 0 failed`);
  }, 600_000);
});
