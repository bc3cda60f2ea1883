// Distributed execution against a real Redis: a coordinator and two worker processes run a grid;
// one worker is killed (SIGKILL) mid-trial, its trial stalls and goes to the other worker, and every
// trial is stored exactly once.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runDistributed, Store } from '../../src/experiment/index.js';
import { killStarted, semipoison, started, tempDir, TINY, until } from './helpers.js';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('distributed execution', () => {
  let redis: string;

  beforeAll(async () => {
    const port = await freePort();
    const server = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      {
        stdio: 'ignore',
      },
    );
    started.push(server);
    await until('redis-server', () => accepts(port), 10_000);
    redis = `redis://127.0.0.1:${port}`;
  });

  afterAll(() => {
    killStarted();
  });

  it('survives a worker killed mid-trial and stores every trial exactly once', async () => {
    const dir = tempDir('distributed');
    const spec = join(dir, 'grid.yaml');
    writeFileSync(spec, stringify({ name: 'grid', ...TINY, steps: 60, trials: 3 }));
    const runsDir = join(dir, 'runs');
    const storePath = join(dir, 'store.sqlite');
    const workerArgs = ['worker', '--redis', redis, '--runs-dir', runsDir, '--threads', '1', '--stalled-ms', '1500'];
    const doomed = semipoison(workerArgs);
    const survivor = semipoison(workerArgs);
    await until('both workers', () => /pulling trials/.test(doomed.out()) && /pulling trials/.test(survivor.out()));

    const coordinator = semipoison([
      'experiment',
      'run',
      spec,
      '--redis',
      redis,
      '--store',
      storePath,
      '--runs-dir',
      runsDir,
    ]);
    await until('a trial on the doomed worker', () => /start [0-9a-f]{16}/.test(doomed.out()));
    const killedTrial = /start ([0-9a-f]{16})/.exec(doomed.out())![1];
    await new Promise((r) => setTimeout(r, 2000));
    doomed.child.kill('SIGKILL');

    expect(await Promise.race([coordinator.exited, until('the coordinator', () => false, 100_000)])).toBe(0);
    expect(doomed.out()).not.toMatch(new RegExp(`done ${killedTrial}`));
    expect(survivor.out()).toMatch(new RegExp(`done ${killedTrial}`));

    const store = Store.open(storePath);
    const trials = store.trials('grid');
    expect(trials).toHaveLength(3);
    expect(trials.every((t) => t.status === 'done' && t.result?.id === t.id)).toBe(true);
    expect(trials.find((t) => t.id === killedTrial)!.attempts).toBeGreaterThanOrEqual(2);
    expect(store.counts('grid')).toEqual({ queued: 0, running: 0, done: 3, failed: 0 });
    // A second coordinator finds nothing to enqueue and nothing to store again.
    expect(await runDistributed(store, 'grid', { redis })).toEqual({ done: 0, failed: 0, interrupted: 0 });
    store.close();

    survivor.child.kill('SIGTERM');
    expect(await survivor.exited).toBe(0);
  });
});
