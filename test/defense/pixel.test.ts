// Dataset-inspection detectors on constructed data with known answers: a planted line of points
// among random ones (collinearity), planted tight clusters (agglomerative clustering), near-duplicates.
import { describe, expect, it } from 'vitest';
import { agglomerate, autoFlags, collinearScores, duplicateScores, evaluateFlags } from '../../src/defense/index.js';
import { tensor, tidy } from '../../src/tensor/index.js';
import { seededRandom } from '../../src/util/random.js';

const D = 64;

function randomPoints(n: number, seed: number): number[][] {
  const r = seededRandom(seed);
  return Array.from({ length: n }, () => Array.from({ length: D }, () => r()));
}

function quantized(p: number[]): number[] {
  return p.map((v) => Math.round(v * 255) / 255);
}

describe('collinearity', () => {
  it('flags every point of a planted 8-bit bridge, ends included, and nothing else', () => {
    const benign = randomPoints(300, 1);
    const [a, b] = randomPoints(2, 2);
    const bridge = Array.from({ length: 12 }, (_, i) => quantized(a.map((v, d) => v * (1 - i / 11) + b[d] * (i / 11))));
    const all = [...benign, ...bridge];
    const scores = tidy(() => collinearScores(tensor(all.flat(), [all.length, D]), { k: 6, blockSize: 50 }));
    const truth = new Uint8Array(all.length).fill(1, 300);
    const ev = evaluateFlags(scores, 'low', autoFlags(scores, 'low'), truth);
    expect(ev.tpr).toBe(1);
    expect(ev.fpr).toBe(0);
    expect(ev.auroc).toBe(1);
  });

  it('flags both copies of a bridge end that also sits among the benign points (the source x′)', () => {
    const benign = randomPoints(300, 3);
    const [a, b] = randomPoints(2, 4);
    const bridge = Array.from({ length: 12 }, (_, i) => quantized(a.map((v, d) => v * (1 - i / 11) + b[d] * (i / 11))));
    // The benign twin comes first, so every tie between the two copies favours it.
    const all = [...benign, bridge[0], ...bridge];
    const scores = tidy(() => collinearScores(tensor(all.flat(), [all.length, D]), { k: 6 }));
    const flags = autoFlags(scores, 'low');
    expect(scores[300]).toBe(scores[301]);
    expect(Array.from(flags.flagged.subarray(300))).toEqual(new Array(13).fill(1));
    expect(flags.flagged.subarray(0, 300).every((f) => f === 0)).toBe(true);
  });

  it('rejects too few points', () => {
    expect(() => tidy(() => collinearScores(tensor([0, 1, 2, 3], [2, 2])))).toThrow(/at least three/);
  });
});

describe('agglomerative clustering', () => {
  it('puts a planted tight cluster in the largest cluster, with single and average linkage', () => {
    const benign = randomPoints(200, 3);
    const center = randomPoints(1, 4)[0];
    const r = seededRandom(5);
    const planted = Array.from({ length: 15 }, () => center.map((v) => v + 0.01 * (r() - 0.5)));
    const all = [...benign, ...planted];
    for (const linkage of ['single', 'average'] as const) {
      const c = tidy(() => agglomerate(tensor(all.flat(), [all.length, D]), { linkage, blockSize: 64 }));
      expect(c.sizes[0], linkage).toBe(15);
      for (let i = 200; i < 215; i++) expect(c.labels[i]).toBe(0);
      expect(c.sizes[1] ?? 1).toBeLessThan(3);
    }
  });

  it('a threshold of 0 leaves singletons; a huge one merges everything', () => {
    const pts = randomPoints(30, 6);
    const t = () => tensor(pts.flat(), [30, D]);
    expect(tidy(() => agglomerate(t(), { threshold: 0 })).sizes).toHaveLength(30);
    expect(tidy(() => agglomerate(t(), { threshold: 1e9 })).sizes).toEqual([30]);
    expect(() => tidy(() => agglomerate(t(), { threshold: -1 }))).toThrow(/threshold must be >= 0/);
  });
});

describe('near-duplicates', () => {
  it('scores a duplicated pair far below the median', () => {
    const pts = randomPoints(50, 7);
    pts.push(pts[3].map((v) => v + 1e-3));
    const s = tidy(() => duplicateScores(tensor(pts.flat(), [51, D])));
    expect(s[50]).toBeLessThan(0.05);
    expect(s[3]).toBeLessThan(0.05);
    expect(s[10]).toBeGreaterThan(0.5);
  });
});
