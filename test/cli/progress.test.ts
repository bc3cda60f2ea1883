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
    expect(lines.map((l) => l.replace(/ \(\d+s(, ETA [0-9hms]+)?\)\n$/, ''))).toEqual([
      'trials: 0/4 done 0 failed 0',
      'trials: 0.5/4 done 0 failed 0',
      'trials: 2/4 done 0 failed 0',
      'trials: 4/4 done 4 failed 0',
    ]);
  });

  it('estimates the time left from the rate since its first update', () => {
    const lines = capture();
    let now = 1_000_000;
    vi.spyOn(Date, 'now').mockImplementation(() => now);
    // A resumed run: starts at 200 of 1000, reaches 300 after 50 s, so 700 left take 350 s.
    const bar = progressBar('training', 1000);
    bar.update(200);
    now += 50_000;
    bar.update(300);
    now += 350_000;
    bar.update(1000);
    expect(lines).toEqual([
      'training: 200/1000  (0s)\n',
      'training: 300/1000  (50s, ETA 5m50s)\n',
      'training: 1000/1000  (400s)\n',
    ]);
  });

  it('formats durations in s, m and h', async () => {
    const { formatDuration } = await import('../../src/cli/progress.js');
    expect([42, 75, 3599, 3700].map(formatDuration)).toEqual(['42s', '1m15s', '59m59s', '1h01m']);
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
