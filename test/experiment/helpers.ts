// Tiny trial settings shared by the experiment tests: a few training steps of a width-4 CNN on a
// 200-image unlabeled set, so that a whole trial takes seconds on one thread.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunOutcome, TrialConfig, TrialResult } from '../../src/experiment/index.js';

export const TINY: Partial<TrialConfig> = {
  dataset: 'fashion-mnist',
  labels: 20,
  unlabeled: 200,
  width: 4,
  steps: 6,
  batch: 8,
  uratio: 2,
  epochImages: 16,
  testEvery: 100,
  count: 8,
  precision: 'fp32',
};

/** Every process semipoison() started: a test's afterAll kills those still running. */
export const started: ChildProcess[] = [];

export function killStarted(): void {
  for (const p of started) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
}

/** Starts a semipoison command, collecting its output (stdout and stderr). */
export function semipoison(args: string[]): { child: ChildProcess; out: () => string; exited: Promise<number | null> } {
  const child = spawn('./bin/semipoison.js', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, out: () => out, exited };
}

/** Polls check every 100 ms until it holds; throws naming what was awaited after ms. */
export async function until(what: string, check: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `${prefix}-`));
}

export function outcome(dir: string, prediction: number): RunOutcome {
  return {
    dir,
    prediction,
    probs: Array.from({ length: 10 }, (_, k) => (k === prediction ? 0.91 : 0.01)),
    accuracy: 0.5,
    resumedFrom: 0,
    stepsRun: 5,
    epochs: [
      { epoch: 1, step: 3, testAccuracy: null, metrics: { loss: 2 } },
      { epoch: 1, step: 5, testAccuracy: 0.5, metrics: { loss: 1.5 } },
    ],
  };
}

/** A result as runTrial returns it, with chosen verdicts. */
export function result(id: string, success: boolean, over: Partial<TrialResult> = {}): TrialResult {
  return {
    id,
    target: 9,
    trueLabel: 7,
    desired: 1,
    source: 3,
    poisons: 2,
    ratio: 0.01,
    success,
    pDesired: success ? 0.91 : 0.01,
    pDesiredClean: 0.01,
    clean: outcome('/runs/clean/c', 7),
    poisoned: outcome('/runs/poisoned/p', success ? 1 : 7),
    propagation: {
      alphas: [0.2, 0.8],
      epochs: [
        { epoch: 1, labels: [1, 7] },
        { epoch: 1, labels: [1, 1] },
      ],
    },
    bridgeDesired: 1,
    defense: null,
    device: 'cpu',
    bf16: false,
    dir: `/runs/trials/${id}`,
    seconds: 1.5,
    ...over,
  };
}
