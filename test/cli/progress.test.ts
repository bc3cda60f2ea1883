// Progress output in a non-TTY (CI logs, pipes): one line per tenth, counts in the units the user
// thinks in (trials, not the bar's internal hundredths of a trial).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { progressBar } from '../../src/cli/progress.js';

describe('progressBar without a terminal', () => {
  afterEach(() => vi.restoreAllMocks());

  function capture(): string[] {
    const lines: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    return lines;
  }

  it('prints a line each tenth of the way, in items when the bar counts fractions of items', () => {
    const lines = capture();
    const bar = progressBar('trials', 4 * 100, 'done {done} failed {failed}', 100);
    for (const v of [0, 20, 50, 200, 210, 400]) bar.update(v, { done: v === 400 ? 4 : 0, failed: 0 });
    bar.stop();
    expect(lines.map((l) => l.replace(/ \(\d+s\)\n$/, ''))).toEqual([
      'trials: 0/4 done 0 failed 0',
      'trials: 0.5/4 done 0 failed 0',
      'trials: 2/4 done 0 failed 0',
      'trials: 4/4 done 4 failed 0',
    ]);
  });

  it('shows plain counts by default', () => {
    const lines = capture();
    const bar = progressBar('training', 300);
    bar.update(150);
    expect(lines[0]).toMatch(/^training: 150\/300 +\(\d+s\)\n$/);
  });
});

describe('progressGroup on a terminal', () => {
  afterEach(() => vi.restoreAllMocks());

  it('draws two bars advancing side by side and stops cleanly', async () => {
    const { progressGroup } = await import('../../src/cli/progress.js');
    const written: string[] = [];
    const stderr = process.stderr as NodeJS.WriteStream & { isTTY: boolean };
    const wasTTY = stderr.isTTY;
    stderr.isTTY = true;
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    try {
      const group = progressGroup();
      const clean = group.bar('without poisons', 10);
      const poisoned = group.bar('with poisons', 10);
      for (let s = 1; s <= 10; s++) {
        clean.update(s);
        poisoned.update(s);
      }
      clean.stop();
      poisoned.stop();
      group.stop();
    } finally {
      stderr.isTTY = wasTTY;
    }
    const text = written.join('');
    expect(text).toContain('without poisons');
    expect(text).toContain('with poisons');
    expect(text).toContain('10/10');
  });
});
