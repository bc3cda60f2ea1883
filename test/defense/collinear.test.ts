// Collinearity on a dense 8-bit bridge: when consecutive points are only a few rounding steps
// apart, rounding dominates each short segment's residual unless the detector accounts for it.
import { describe, expect, it } from 'vitest';
import { autoFlags, collinearScores, evaluateFlags } from '../../src/defense/index.js';
import { tensor, tidy } from '../../src/tensor/index.js';
import { seededRandom } from '../../src/util/random.js';

const D = 256;

function randomPoints(n: number, seed: number): number[][] {
  const r = seededRandom(seed);
  return Array.from({ length: n }, () => Array.from({ length: D }, () => r()));
}

describe('collinearity with 8-bit rounding', () => {
  // 150 points between two images whose pixels differ by at most 0.05: consecutive points are
  // about 1/150 of that apart, comparable to one rounding step (1/255) per pixel.
  // Benign points on 40 small three-dimensional patches (images vary along few directions),
  // rounded to 8 bits like the bridge.
  const rb = seededRandom(21);
  const benign = Array.from({ length: 40 }, () => {
    const centre = Array.from({ length: D }, () => 0.2 + 0.6 * rb());
    const dirs = Array.from({ length: 3 }, () => Array.from({ length: D }, () => 0.3 * (rb() - 0.5)));
    return Array.from({ length: 15 }, () => {
      const z = dirs.map(() => 2 * rb() - 1);
      return centre.map(
        (c, d) => Math.round((c + dirs.reduce((s, u, j) => s + z[j] * u[d], 0) + 0.01 * (rb() - 0.5)) * 255) / 255,
      );
    });
  }).flat();
  const [a] = randomPoints(1, 22);
  const r = seededRandom(23);
  const b = a.map((v) => Math.min(1, Math.max(0, v + 0.1 * (r() - 0.5))));
  const m = 150;
  const bridge = Array.from({ length: m }, (_, i) =>
    a.map((v, d) => Math.round((v * (1 - i / (m - 1)) + b[d] * (i / (m - 1))) * 255) / 255),
  );
  const all = [...benign, ...bridge];
  const truth = new Uint8Array(all.length).fill(1, benign.length);
  const run = (quantum: number) => {
    const scores = tidy(() => collinearScores(tensor(all.flat(), [all.length, D]), { k: 8, quantum }));
    return evaluateFlags(scores, 'low', autoFlags(scores, 'low'), truth);
  };

  it('flags every point of the dense bridge once the rounding residual is discounted', () => {
    const ev = run(1 / 255);
    expect(ev.tpr).toBe(1);
    expect(ev.fpr).toBe(0);
  });

  it('misses it when rounding is ignored: rounding makes the bridge look less collinear than benign patches', () => {
    const ev = run(0);
    expect(ev.tpr).toBeLessThan(0.5);
    expect(ev.auroc).toBeLessThan(0.5);
  });

  it('rejects a negative quantum', () => {
    expect(() => tidy(() => collinearScores(tensor(all.flat(), [all.length, D]), { quantum: -1 }))).toThrow(
      /quantum must be >= 0/,
    );
  });
});
