// The coordinator killed with SIGKILL mid-grid (no handler runs, its store connection and locks are
// left as they were): the next `experiment run` recomputes nothing that had finished, loses nothing,
// resumes the interrupted trial from its checkpoint and stores every trial exactly once.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { Store, type StoredTrial } from '../../src/experiment/index.js';
import { tempDir, TINY } from './helpers.js';

function start(args: string[]): { child: ChildProcess; out: () => string; exit: Promise<number | null> } {
  const child = spawn('./bin/semipoison.js', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (out += s));
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, out: () => out, exit };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Reads the store (written by another process) until `ready` holds for its trials. */
async function waitFor(path: string, name: string, ready: (t: StoredTrial[]) => boolean, ms: number) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (existsSync(path)) {
      const store = Store.open(path);
      try {
        const trials = store.trials(name);
        if (trials.length && ready(trials)) return trials;
      } finally {
        store.close();
      }
    }
    await sleep(200);
  }
  throw new Error(`the store never reached the awaited state within ${ms} ms`);
}

/** Poisoned runs that have written a checkpoint (finished ones keep theirs). */
function checkpointed(runsDir: string): number {
  const poisoned = join(runsDir, 'poisoned');
  if (!existsSync(poisoned)) return 0;
  return readdirSync(poisoned).filter((d) => existsSync(join(poisoned, d, 'checkpoint.safetensors'))).length;
}

describe('experiment run after the coordinator is killed', () => {
  it('recomputes nothing finished, loses nothing and resumes the interrupted trial', async () => {
    const root = tempDir('crash');
    const runsDir = join(root, 'runs');
    const storeFile = join(runsDir, 'store.sqlite');
    const spec = join(root, 'crash.yaml');
    // Three targets of one clean run; long enough poisoned runs that one is caught mid-training.
    writeFileSync(spec, stringify({ ...TINY, name: 'crash', target: [0, 1, 2], desired: 3, steps: 80 }));
    const args = ['experiment', 'run', spec, '--runs-dir', runsDir, '--workers', '1', '--threads', '1'];

    const first = start(args);
    // Kill once a trial is stored and the next one is training past its first checkpoint.
    const before = await waitFor(
      storeFile,
      'crash',
      (t) => {
        const done = t.filter((x) => x.status === 'done').length;
        return done > 0 && t.some((x) => x.status === 'running') && checkpointed(runsDir) > done;
      },
      240_000,
    );
    first.child.kill('SIGKILL');
    await first.exit;
    const finished = new Map(before.filter((t) => t.status === 'done').map((t) => [t.id, t]));
    const interrupted = before.find((t) => t.status === 'running')!;
    expect(finished.size).toBeGreaterThanOrEqual(1);
    expect(finished.size).toBeLessThan(3);

    const second = start(args);
    expect(await second.exit, second.out()).toBe(0);

    const store = Store.open(storeFile);
    const after = store.trials('crash');
    store.close();
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
