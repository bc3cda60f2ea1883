// The committed trainer benchmark results keep the shape the issue specifies:
// {"accuracy": {"fixmatch@250": 0.87, ...}, "fixmatch_step_vs_pytorch": {"ours_ms", "pytorch_ms", "ratio"}}.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ALGORITHMS } from '../../src/ssl/index.js';

const results = JSON.parse(readFileSync('bench/results/trainers.json', 'utf8')) as Record<string, unknown>;

describe('bench/results/trainers.json', () => {
  it('holds plain test accuracies keyed algorithm@labels, with run costs under another key', () => {
    const accuracy = results.accuracy as Record<string, unknown>;
    expect(Object.keys(accuracy).length).toBeGreaterThan(0);
    for (const [key, value] of Object.entries(accuracy)) {
      expect(key).toMatch(/^[a-z_]+@\d+$/);
      expect(Object.keys(ALGORITHMS)).toContain(key.split('@')[0]);
      expect(typeof value, key).toBe('number');
      expect(value as number).toBeGreaterThanOrEqual(0);
      expect(value as number).toBeLessThanOrEqual(1);
    }
    expect(accuracy['fixmatch@250']).toBeTypeOf('number');
    expect(accuracy['supervised@250']).toBeTypeOf('number');
    const runs = results.accuracy_runs as Record<string, { minutes: number; steps: number }>;
    expect(Object.keys(runs).sort()).toEqual(Object.keys(accuracy).sort());
  });

  it('compares one FixMatch step with PyTorch in ours_ms, pytorch_ms and ratio', () => {
    const step = results.fixmatch_step_vs_pytorch as Record<string, unknown>;
    for (const k of ['ours_ms', 'pytorch_ms', 'ratio']) expect(step[k], k).toBeTypeOf('number');
  });
});
