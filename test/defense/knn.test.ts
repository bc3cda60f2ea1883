// Exact k-nearest neighbours against brute force in double precision, through both CPU products
// (libtorch's BLAS and oneDNN): the self-join's tiles, the blocked cross search and forPairsWithin
// must return the same neighbours whichever product computed the distances.
import { afterAll, describe, expect, it } from 'vitest';
import { distanceGemm, forPairsWithin, knn, setDistanceGemm, type DistanceGemm } from '../../src/defense/knn.js';
import { tensor, tidy } from '../../src/tensor/index.js';
import { seededRandom } from '../../src/util/random.js';

function points(n: number, d: number, seed: number): Float32Array {
  const r = seededRandom(seed);
  return Float32Array.from({ length: n * d }, () => r());
}

/** Each row's k nearest rows of keys in float64, ties broken by index; self excluded when asked. */
function brute(q: Float32Array, keys: Float32Array, d: number, k: number, excludeSelf: boolean) {
  const n = q.length / d;
  const m = keys.length / d;
  const out: { index: number; dist: number }[][] = [];
  for (let i = 0; i < n; i++) {
    const row: { index: number; dist: number }[] = [];
    for (let j = 0; j < m; j++) {
      if (excludeSelf && i === j) continue;
      let s = 0;
      for (let c = 0; c < d; c++) s += (q[i * d + c] - keys[j * d + c]) ** 2;
      row.push({ index: j, dist: s });
    }
    row.sort((a, b) => a.dist - b.dist || a.index - b.index);
    out.push(row.slice(0, k + 1));
  }
  return out;
}

/** Every found neighbour is a true one: its distance matches and is within rounding of the k-th. */
function expectExact(
  found: { indices: Int32Array; distances: Float32Array; k: number },
  truth: { index: number; dist: number }[][],
): void {
  const k = found.k;
  truth.forEach((row, i) => {
    for (let j = 0; j < k; j++) {
      const idx = found.indices[i * k + j];
      const want = row.find((t) => t.index === idx);
      // An index outside the true k+1 nearest would have to tie the k-th within rounding.
      const dist = want?.dist ?? Infinity;
      expect(Math.abs(found.distances[i * k + j] - dist)).toBeLessThan(1e-4 * (1 + dist));
      expect(found.distances[i * k + j]).toBeCloseTo(row[j].dist, 3);
    }
  });
}

const gemms: DistanceGemm[] = ['blas', 'onednn'];

describe('exact k-nearest neighbours', () => {
  afterAll(() => setDistanceGemm('auto'));

  for (const gemm of gemms) {
    it(`self-join tiles and the blocked cross search match brute force (${gemm})`, () => {
      setDistanceGemm(gemm);
      expect(distanceGemm()).toEqual({ gemm, gflops: null });
      const d = 12;
      const x = points(230, d, 7);
      const q = points(57, d, 8);
      tidy(() => {
        const xt = tensor(x, [230, d]);
        // Tiles of 64 rows: four tile rows, diagonal and off-diagonal tiles, a ragged last one.
        expectExact(knn(xt, xt, 5, { excludeSelf: true, tileSize: 64 }), brute(x, x, d, 5, true));
        // Tiles of 200 rows: the two-stage selections over 6 groups of 32 and a ragged tail of 8.
        expectExact(knn(xt, xt, 5, { excludeSelf: true, tileSize: 200 }), brute(x, x, d, 5, true));
        // A query block of 16 rows against all keys (a cross search takes no symmetry).
        expectExact(knn(tensor(q, [57, d]), xt, 4, { blockSize: 16 }), brute(q, x, d, 4, false));
      });
    });

    it(`forPairsWithin yields exactly the pairs within the radius (${gemm})`, () => {
      setDistanceGemm(gemm);
      const d = 5;
      const x = points(120, d, 9);
      const rows = Int32Array.from({ length: 90 }, (_, i) => i + 20);
      const radius2 = 0.25;
      const want = new Set<string>();
      for (let a = 0; a < rows.length; a++)
        for (let b = a + 1; b < rows.length; b++) {
          let s = 0;
          for (let c = 0; c < d; c++) s += (x[rows[a] * d + c] - x[rows[b] * d + c]) ** 2;
          if (s <= radius2) want.add(`${rows[a]},${rows[b]}`);
        }
      const got = new Set<string>();
      tidy(() => forPairsWithin(tensor(x, [120, d]), rows, radius2, (i, j) => got.add(`${i},${j}`), 17));
      expect(want.size).toBeGreaterThan(20);
      expect(got).toEqual(want);
    });
  }

  it('auto times both products once and keeps the faster', () => {
    setDistanceGemm('auto');
    const first = distanceGemm();
    expect(first.gflops).not.toBeNull();
    const { blas, onednn } = first.gflops!;
    expect(blas).toBeGreaterThan(0);
    expect(onednn).toBeGreaterThan(0);
    expect(first.gemm).toBe(onednn > blas ? 'onednn' : 'blas');
    expect(distanceGemm()).toBe(first); // measured once per process
  });

  it('rejects an unknown product', () => {
    expect(() => setDistanceGemm('mkl' as DistanceGemm)).toThrow(/auto, blas or onednn/);
  });
});
