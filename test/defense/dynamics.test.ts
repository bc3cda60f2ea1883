// The training-dynamics detector on a synthetic prediction log with a known answer: layers of
// "poisons" whose predictions repeat the previous layer's change one epoch later, among benign
// examples that move independently.
import { describe, expect, it } from 'vitest';
import { numberToFloat16 } from '../../src/data/index.js';
import {
  autoFlags,
  checkPredictionLog,
  dynamicsScores,
  evaluateFlags,
  knn,
  predictionDeltas,
  topFlags,
} from '../../src/defense/index.js';
import { tensor, tidy } from '../../src/tensor/index.js';
import { seededRandom } from '../../src/util/random.js';

const K = 12;
const C = 4;

function softmaxRow(logits: number[]): number[] {
  const m = Math.max(...logits);
  const e = logits.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** K×N×C log: `benign` random walks, then `layers` × `width` poisons, each layer one epoch behind the previous. */
function syntheticLog(benign: number, layers: number, width: number, seed = 1) {
  const random = seededRandom(seed);
  const walk = (): number[][] => {
    const out: number[][] = [];
    let z = Array.from({ length: C }, () => 2 * random() - 1);
    for (let k = 0; k < K; k++) {
      z = z.map((v) => v + (random() - 0.5));
      out.push(softmaxRow(z));
    }
    return out;
  };
  const rows: number[][][] = Array.from({ length: benign }, walk);
  // Layer 0 follows a walk; layer L at epoch k repeats layer 0 at epoch k − L (held at the start).
  const base = walk();
  for (let l = 0; l < layers; l++) {
    for (let w = 0; w < width; w++) rows.push(Array.from({ length: K }, (_, k) => base[Math.max(0, k - l)]));
  }
  const n = rows.length;
  const data = new Float32Array(K * n * C);
  for (let i = 0; i < n; i++) for (let k = 0; k < K; k++) data.set(rows[i][k], (k * n + i) * C);
  const isPoison = new Uint8Array(n);
  isPoison.fill(1, benign);
  return { data, n, isPoison };
}

describe('training-dynamics influence', () => {
  it('builds μ from deltas and the final prediction, as section 5.3 defines it', () => {
    tidy(() => {
      // One example, one class, predictions 1, 3, 6 over three epochs: deltas 2, 3.
      const { mu0, mu1 } = predictionDeltas(tensor([1, 3, 6], [3, 1, 1]));
      expect(mu0.toNumbers()).toEqual([2, 3]); // [∂f_0, f_1]
      expect(mu1.toNumbers()).toEqual([3, 6]); // [∂f_1, f_2]
    });
  });

  it('scores the copying chain orders of magnitude below benign examples and flags it', () => {
    const { data, n, isPoison } = syntheticLog(400, 8, 6);
    const scores = tidy(() => dynamicsScores(tensor(data, [K, n, C]), { k: 5, blockSize: 97 }));
    const flags = autoFlags(scores, 'low');
    const ev = evaluateFlags(scores, 'low', flags, isPoison);
    // Every layer but the last has six exact followers; the last follows but leads nobody.
    const leaders = isPoison.reduce((a, b) => a + b, 0) - 6;
    expect(ev.truePositives).toBeGreaterThanOrEqual(leaders);
    expect(ev.falsePositives).toBe(0);
    expect(ev.auroc).toBeGreaterThan(0.97);
    const benignMin = Math.min(...Array.from(scores.subarray(0, 400)));
    const leaderMax = Math.max(...Array.from(scores.subarray(400, 400 + leaders)));
    expect(leaderMax).toBeLessThan(benignMin / 100);
  });

  it('gives the same scores whatever the block size', () => {
    const { data, n } = syntheticLog(60, 3, 4, 2);
    const a = tidy(() => dynamicsScores(tensor(data, [K, n, C]), { blockSize: 7 }));
    const b = tidy(() => dynamicsScores(tensor(data, [K, n, C]), { blockSize: 1000 }));
    a.forEach((v, i) => expect(v).toBeCloseTo(b[i], 5));
  });

  it('rejects logs that are too short, malformed or NaN', () => {
    expect(() => tidy(() => dynamicsScores(tensor(new Float32Array(2 * 10 * 3), [2, 10, 3])))).toThrow(
      /at least 3 epochs/,
    );
    expect(() => tidy(() => dynamicsScores(tensor(new Float32Array(30), [10, 3])))).toThrow(
      /epochs × examples × classes/,
    );
    const bad = new Float32Array(4 * 10 * 3).fill(0.3);
    bad[17] = NaN;
    expect(() => tidy(() => dynamicsScores(tensor(bad, [4, 10, 3])))).toThrow(/contains NaN/);
    expect(() => tidy(() => dynamicsScores(tensor(new Float32Array(4 * 3 * 2), [4, 3, 2]), { k: 5 }))).toThrow(
      /k must be in \[1, 2\]/,
    );
  });

  it('accepts a float16 softmax log and rejects logits, infinities, unnormalized rows and the wrong class count', () => {
    const { data, n } = syntheticLog(20, 2, 3, 3);
    const log = (values: Float32Array) => ({ data: values, shape: [K, n, C], dtype: 'float32' });
    expect(() => checkPredictionLog(log(data), 'log')).not.toThrow();
    // float16 rounding moves each row's sum by up to ~5e-4: still probabilities.
    const half = { data: Uint16Array.from(data, numberToFloat16), shape: [K, n, C], dtype: 'float16' };
    expect(() => checkPredictionLog(half, 'log', [{ count: C, from: 'the set' }])).not.toThrow();
    const edited = (i: number, v: number) => {
      const d = Float32Array.from(data);
      d[i] = v;
      return log(d);
    };
    const row = (1 * n + 2) * C; // epoch 1, example 2
    expect(() => checkPredictionLog(edited(row, -Infinity), 'log')).toThrow(/log: epoch 1, example 2 holds -Infinity/);
    expect(() => checkPredictionLog(edited(row, -2.5), 'log')).toThrow(/outside \[0, 1\]: looks like logits/);
    expect(() => checkPredictionLog(edited(row, data[row] + 0.05), 'log')).toThrow(
      /epoch 1, example 2 sum to 1\.05\d*, not 1: not softmax probabilities/,
    );
    expect(() => checkPredictionLog(edited(row, data[row] + 0.005), 'log')).not.toThrow();
    expect(() => checkPredictionLog(log(data), 'log', [{ count: 10, from: 'the set' }])).toThrow(
      /log: the log has 4 classes, the set has 10/,
    );
    expect(() => checkPredictionLog({ ...log(data), dtype: 'int32' }, 'log')).toThrow(/float16, float32 or float64/);
  });
});

describe('knn and flags', () => {
  it('finds exact neighbours, excluding self, across blocks', () => {
    const pts = [0, 0, 1, 0, 0, 2, 5, 5, 5, 6];
    const r = tidy(() => knn(tensor(pts, [5, 2]), tensor(pts, [5, 2]), 1, { excludeSelf: true, blockSize: 2 }));
    expect(Array.from(r.indices)).toEqual([1, 0, 0, 4, 3]);
    expect(Array.from(r.distances)).toEqual([1, 1, 4, 1, 1]);
  });

  it('finds a set’s neighbours among itself from upper-triangle tiles as the row blocks do', () => {
    const r = seededRandom(5);
    // 610 points in 6-D, a few exact duplicates; tiles of 300 leave a last tile 10 wide, under k.
    const pts = Array.from({ length: 610 * 6 }, () => Math.round(r() * 20) / 4);
    for (const [dst, src] of [
      [7, 3],
      [400, 12],
      [605, 300],
    ])
      pts.splice(dst * 6, 6, ...pts.slice(src * 6, src * 6 + 6));
    // k = 12 with tiles of 300 selects each tile's column minima directly (9 groups of 32 rows, not
    // more than k); k = 4 and 3 take the two-stage selection (group minima, then the best groups),
    // with 12 and 8 rows left over after the groups of the 300- and 200-row tiles.
    for (const [k, tileSize] of [
      [12, 300],
      [4, 300],
      [3, 200],
    ]) {
      const [tiled, rows] = tidy(() => {
        const x = tensor(pts, [610, 6]);
        return [
          knn(x, x, k, { excludeSelf: true, tileSize }),
          // Another tensor as the queries takes the row-block path.
          knn(x.clone(), x, k, { excludeSelf: true, blockSize: 97 }),
        ];
      });
      expect(Array.from(tiled.distances)).toEqual(Array.from(rows.distances));
      for (let i = 0; i < 610; i++) {
        const own = Array.from(tiled.indices.subarray(i * k, (i + 1) * k));
        expect(own).not.toContain(i);
        // Same neighbours up to the order of equal distances.
        const byDistance = (idx: Int32Array) =>
          Array.from(idx.subarray(i * k, (i + 1) * k))
            .map((j, c) => `${tiled.distances[i * k + c]}:${j}`)
            .sort();
        const cut = tiled.distances[i * k + k - 1];
        const inside = (l: string[]) => l.filter((e) => Number(e.split(':')[0]) < cut);
        expect(inside(byDistance(tiled.indices))).toEqual(inside(byDistance(rows.indices)));
      }
      expect(tiled.indices[3 * k]).toBe(7);
      expect(tiled.distances[3 * k]).toBe(0);
    }
    expect(() =>
      tidy(() => {
        const x = tensor(pts, [610, 6]);
        return knn(x, x, 2, { excludeSelf: true, tileSize: 0 });
      }),
    ).toThrow(/tileSize must be a positive integer, got 0/);
  });

  it('top-k flags, ranks and AUROC', () => {
    const scores = Float32Array.of(0.5, 0.01, 0.9, 0.02, 0.7);
    const truth = Uint8Array.of(0, 1, 0, 1, 0);
    const ev = evaluateFlags(scores, 'low', topFlags(scores, 'low', 2), truth);
    expect(ev).toMatchObject({ tpr: 1, fpr: 0, auroc: 1, poisonRanks: [1, 2] });
    // Which poison has which rank: example 1 (0.01) ranks first, example 3 (0.02) second.
    expect(ev.poisonRankByIndex).toEqual([
      { index: 1, rank: 1 },
      { index: 3, rank: 2 },
    ]);
    const worse = evaluateFlags(scores, 'high', topFlags(scores, 'high', 2), truth);
    expect(worse.auroc).toBe(0);
    expect(worse.poisonRankByIndex).toEqual([
      { index: 1, rank: 5 },
      { index: 3, rank: 4 },
    ]);
    expect(worse.poisonRanks).toEqual([4, 5]);
    expect(() => topFlags(scores, 'low', 9)).toThrow(/count must be in \[0, 5\]/);
  });
});
