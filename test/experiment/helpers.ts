// Tiny trial settings shared by the experiment tests: a few training steps of a width-4 CNN on a
// 200-image unlabeled set, so that a whole trial takes seconds on one thread.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TrialConfig } from '../../src/experiment/index.js';

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

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `${prefix}-`));
}
