// What a run logs: test accuracy only every --test-every epochs and after the last step; the
// prediction log of the live model by default, of the EMA model with --log-model ema (the two differ,
// and the EMA log is what the final EMA weights predict last).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readNpy } from '../../src/data/index.js';

const ARGS = ['train', '--steps', '25', '--batch', '16', '--uratio', '2', '--labels', '20', '--unlabeled', '200'];
const MORE = ['--epoch-images', '80', '--width', '4', '--threads', '1', '--precision', 'fp32', '--seed', '3'];

function run(out: string, extra: string[]) {
  const r = spawnSync(
    './bin/semipoison.js',
    [...ARGS, ...MORE, ...extra, '--out', out, '--prediction-log', 'float32'],
    {
      encoding: 'utf8',
    },
  );
  expect(r.status, r.stderr).toBe(0);
  const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { epoch: number; step: number; testAccuracy: number | null });
  return { metrics, log: readNpy(join(out, 'predictions.npy')) };
}

describe('run logging', () => {
  it('tests every --test-every epochs and at the end; logs the live model unless asked for the EMA', () => {
    const root = mkdtempSync(join(tmpdir(), 'logging-'));
    const live = run(join(root, 'live'), ['--test-every', '2']);
    // 25 steps of 16 labeled images, epochs of 80: epochs 1–5 at steps 5, 10, …, 25.
    expect(live.metrics.map((m) => m.epoch)).toEqual([1, 2, 3, 4, 5]);
    expect(live.metrics.map((m) => m.testAccuracy !== null)).toEqual([false, true, false, true, true]);
    const ema = run(join(root, 'ema'), ['--test-every', '2', '--log-model', 'ema']);
    expect(ema.log.shape).toEqual(live.log.shape);
    const a = live.log.data as Float32Array;
    const b = ema.log.data as Float32Array;
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i] - b[i]));
    expect(diff).toBeGreaterThan(1e-3);
    // Same training either way: what is logged does not change the run.
    expect(ema.metrics.map((m) => m.testAccuracy)).toEqual(live.metrics.map((m) => m.testAccuracy));
  }, 120_000);

  it('a finished run that ends in a partial epoch is reused as it is, its last log row kept', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'logging-')), 'run');
    // 27 steps, epochs of 5: evaluations at steps 5, 10, …, 25 and 27.
    const first = run(out, ['--steps', '27']);
    expect(first.metrics.map((m) => m.step)).toEqual([5, 10, 15, 20, 25, 27]);
    // The partial epoch is numbered after the last full one: every logged row has an epoch of its own.
    expect(first.metrics.map((m) => m.epoch)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(first.log.shape[0]).toBe(6);
    const again = run(out, ['--steps', '27', '--resume']);
    expect(again.metrics).toEqual(first.metrics);
    expect(again.log.shape).toEqual(first.log.shape);
    expect(Array.from(again.log.data as Float32Array)).toEqual(Array.from(first.log.data as Float32Array));
  }, 120_000);
});
