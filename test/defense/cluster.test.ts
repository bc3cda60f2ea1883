// Single-linkage clustering against brute force: its clusters must be exactly the connected
// components of the graph of all pairs within the threshold, even where the k-nearest-neighbour
// graph it starts from misses such pairs.
import { describe, expect, it } from 'vitest';
import { agglomerate } from '../../src/defense/index.js';
import { forPairsWithin } from '../../src/defense/knn.js';
import { tensor, tidy } from '../../src/tensor/index.js';
import { seededRandom } from '../../src/util/random.js';

/** Blobs of points around random centres, in D dimensions. */
function blobs(sizes: number[], spread: number, d: number, seed: number): number[][] {
  const r = seededRandom(seed);
  const pts: number[][] = [];
  for (const size of sizes) {
    const centre = Array.from({ length: d }, () => 4 * r());
    for (let i = 0; i < size; i++) pts.push(centre.map((v) => v + spread * (r() - 0.5)));
  }
  return pts;
}

const dist = (a: number[], b: number[]): number => Math.sqrt(a.reduce((s, v, i) => s + (v - b[i]) ** 2, 0));

/** Connected components of the pairs within t, each example labelled by its component's smallest index. */
function bruteComponents(pts: number[][], t: number): number[] {
  const label = pts.map((_, i) => i);
  const find = (i: number): number => (label[i] === i ? i : (label[i] = find(label[i])));
  for (let i = 0; i < pts.length; i++)
    for (let j = i + 1; j < pts.length; j++) {
      if (dist(pts[i], pts[j]) <= t) {
        const [a, b] = [find(i), find(j)];
        label[Math.max(a, b)] = Math.min(a, b);
      }
    }
  return pts.map((_, i) => find(i));
}

/** The same partition written as each example's smallest co-member, for comparison. */
function canonical(labels: ArrayLike<number>): number[] {
  const first = new Map<number, number>();
  return Array.from(labels, (l, i) => {
    if (!first.has(l)) first.set(l, i);
    return first.get(l)!;
  });
}

describe('single linkage is exact', () => {
  it('joins two clumps whose gap is within the threshold though no k-NN edge crosses it', () => {
    // Two clumps of 6 points, 0.01 apart inside, 1.0 apart between their nearest members: with
    // k = 2 every neighbour lies inside its own clump.
    const a = Array.from({ length: 6 }, (_, i) => [0.01 * i, 0]);
    const b = Array.from({ length: 6 }, (_, i) => [1.05 + 0.01 * i, 0]);
    const pts = [...a, ...b];
    const run = (threshold: number) =>
      tidy(() => agglomerate(tensor(pts.flat(), [12, 2]), { linkage: 'single', k: 2, threshold }));
    expect(run(1.1).sizes).toEqual([12]);
    expect(run(0.5).sizes).toEqual([6, 6]);
  });

  it('equals brute-force connected components on random blobs at many thresholds', () => {
    const pts = blobs([20, 15, 10, 5, 1, 1, 1], 0.8, 5, 11);
    const pairs: number[] = [];
    for (let i = 0; i < pts.length; i++) for (let j = i + 1; j < pts.length; j++) pairs.push(dist(pts[i], pts[j]));
    pairs.sort((x, y) => x - y);
    // Thresholds halfway between consecutive pair distances: no pair sits on the boundary.
    const thresholds = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9].map((q) => {
      const i = Math.floor(q * (pairs.length - 1));
      return (pairs[i] + pairs[i + 1]) / 2;
    });
    let missedByGraph = 0;
    for (const threshold of thresholds) {
      const brute = canonical(bruteComponents(pts, threshold));
      for (const k of [1, 3, 8]) {
        const c = tidy(() =>
          agglomerate(tensor(pts.flat(), [pts.length, 5]), { linkage: 'single', k, threshold, blockSize: 7 }),
        );
        expect(canonical(c.labels), `threshold ${threshold}, k ${k}`).toEqual(brute);
      }
      // The k = 1 graph alone (each example's nearest neighbour) splits some of these components.
      const graphOnly = new Set(
        pts.map((p, i) => {
          let best = -1;
          for (let j = 0; j < pts.length; j++)
            if (j !== i && (best < 0 || dist(p, pts[j]) < dist(p, pts[best]))) best = j;
          return dist(p, pts[best]) <= threshold ? Math.min(i, best) : i;
        }),
      ).size;
      if (graphOnly > new Set(brute).size) missedByGraph++;
    }
    expect(missedByGraph).toBeGreaterThan(0);
  });
});

describe('forPairsWithin', () => {
  it('lists every pair of the chosen rows within the radius, once, across blocks', () => {
    const pts = blobs([12, 9], 1, 3, 4);
    const rows = Int32Array.from([0, 2, 3, 5, 8, 13, 14, 17, 20]);
    const radius = 0.9;
    const want: string[] = [];
    for (let a = 0; a < rows.length; a++)
      for (let b = a + 1; b < rows.length; b++)
        if (dist(pts[rows[a]], pts[rows[b]]) <= radius) want.push(`${rows[a]}-${rows[b]}`);
    expect(want.length).toBeGreaterThan(3);
    for (const block of [1, 2, 4, 100]) {
      const got: string[] = [];
      tidy(() =>
        forPairsWithin(
          tensor(pts.flat(), [pts.length, 3]),
          rows,
          radius * radius,
          (a, b) => got.push(`${a}-${b}`),
          block,
        ),
      );
      expect(got.sort(), `block ${block}`).toEqual([...want].sort());
    }
    const none: number[] = [];
    tidy(() => forPairsWithin(tensor(pts.flat(), [pts.length, 3]), Int32Array.from([4]), 10, (a) => none.push(a)));
    expect(none).toEqual([]);
  });
});
