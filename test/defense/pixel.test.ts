// Dataset-inspection detectors on constructed data with known answers: a planted line of points
// among random ones (collinearity), planted tight clusters (agglomerative clustering), near-duplicates.
import { describe, expect, it } from 'vitest';
import {
  agglomerate,
  autoFlags,
  clusterScores,
  collinearScores,
  duplicateScores,
  evaluateFlags,
  flagRates,
  knn,
  neighbourGraph,
  SCAN_DEFAULTS,
  scanRounds,
  scanSet,
  scanSets,
  unionFlags,
} from '../../src/defense/index.js';
import { imagesToUnit, subset, type ImageSet } from '../../src/data/index.js';
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

describe('several detectors over one set', () => {
  function bridgeSet(): ImageSet {
    const r = seededRandom(11);
    const n = 240;
    const images = new Uint8Array(n * 8 * 8);
    for (let i = 0; i < 200 * 64; i++) images[i] = Math.floor(r() * 256);
    const [a, b] = [images.subarray(0, 64), images.subarray(64, 128)];
    for (let j = 0; j < 40; j++) {
      const t = j / 39;
      for (let d = 0; d < 64; d++) images[(200 + j) * 64 + d] = Math.round(a[d] * (1 - t) + b[d] * t);
    }
    return { images, n, height: 8, width: 8, channels: 1, labels: null, numClasses: 10 };
  }

  it('share one neighbour graph and score and flag exactly as each does alone', () => {
    const set = bridgeSet();
    const settings = (['collinear', 'cluster', 'duplicates'] as const).map((method) => ({ ...SCAN_DEFAULTS, method }));
    const together = scanSets(settings, { set });
    settings.forEach((s, i) => {
      const alone = scanSet(s, { set });
      expect(together[i].method).toBe(s.method);
      expect(Array.from(together[i].scores)).toEqual(Array.from(alone.scores));
      expect(Array.from(together[i].flags.flagged)).toEqual(Array.from(alone.flags.flagged));
    });
    // The bridge is found by each pixel detector.
    for (const scan of together.slice(0, 2)) expect(scan.flags.flagged.slice(200).every((f) => f === 1)).toBe(true);
  });

  it('scans what each round left again, until a round flags nothing', () => {
    const set = bridgeSet();
    const settings = [{ ...SCAN_DEFAULTS, method: 'duplicates' as const, count: 5 }];
    const rounds = scanRounds(settings, { set }, 3);
    expect(rounds.map((r) => [r.round, r.scanned.length, r.removed.length])).toEqual([
      [1, 240, 5],
      [2, 235, 5],
      [3, 230, 5],
    ]);
    // Each round is the detector on exactly what the rounds before it left, mapped back to the set.
    for (const r of rounds) {
      const direct = scanSet(settings[0], { set: subset(set, r.scanned) });
      expect(r.removed).toEqual(r.scanned.filter((_, j) => direct.flags.flagged[j]));
      expect(Array.from(r.scans[0].scores)).toEqual(Array.from(direct.scores));
    }
    expect(new Set(rounds.flatMap((r) => r.removed)).size).toBe(15);
    // The same rounds in a given feature space (here the pixels themselves, as floats).
    const pixels = tidy(() => imagesToUnit(set).flatten(1).data() as Float32Array);
    const inFeatures = scanRounds(settings, { features: { data: pixels, dim: 64 } }, 3);
    expect(inFeatures.map((r) => r.removed)).toEqual(rounds.map((r) => r.removed));
    // The automatic rule: the linear bridge is collinear all along, so one round takes it and the
    // second flags nothing and ends the rounds.
    const auto = scanRounds([{ ...SCAN_DEFAULTS, method: 'collinear' }], { set }, 5);
    expect(auto.at(-1)!.removed).toEqual([]);
    expect(auto[0].removed.filter((i) => i >= 200)).toHaveLength(40);
    expect(auto.length).toBeLessThan(5);
  });

  it('refuses further rounds of the dynamics detector and rounds that are not a count', () => {
    const log = { data: new Float32Array(3 * 8 * 2).fill(0.5), shape: [3, 8, 2], dtype: 'float32' };
    const dyn = [{ ...SCAN_DEFAULTS, method: 'dynamics' as const }];
    expect(() => scanRounds(dyn, { log }, 2)).toThrow(
      /dynamics: a further round needs the prediction log of a run trained without/,
    );
    expect(scanRounds(dyn, { log }, 1)).toHaveLength(1);
    expect(() => scanRounds([{ ...SCAN_DEFAULTS, method: 'duplicates' }], { set: bridgeSet() }, 0)).toThrow(
      /rounds must be an integer >= 1, got 0/,
    );
  });

  it('passes the merge threshold, its relative factor and the graph k to the clustering', () => {
    const set = bridgeSet();
    const cluster = { ...SCAN_DEFAULTS, method: 'cluster' as const };
    const defaults = Array.from(scanSet(cluster, { set }).scores);
    // Each setting changes the clusters (the bridge breaks up, or everything merges) exactly as
    // the same option given to the clustering itself does.
    for (const [settings, options] of [
      [{ mergeThreshold: 0.05 }, { threshold: 0.05 }],
      [{ mergeRelative: 2 }, { relative: 2 }],
      [
        { clusterK: 1, linkage: 'average' as const },
        { k: 1, linkage: 'average' as const },
      ],
    ] as const) {
      const scan = Array.from(scanSet({ ...cluster, ...settings }, { set }).scores);
      const direct = tidy(() => clusterScores(imagesToUnit(set).flatten(1), { k: 10, ...options }).scores);
      expect(scan).toEqual(Array.from(direct));
      expect(scan).not.toEqual(defaults);
    }
    // A huge merge distance puts everything in one cluster, whatever the relative factor says.
    const all = scanSet({ ...cluster, mergeThreshold: 1e6 }, { set });
    expect(all.flags.flagged.every((f) => f === 1)).toBe(true);
    const none = scanSet({ ...cluster, mergeRelative: 0 }, { set });
    expect(none.flags.flagged.every((f) => f === 0)).toBe(true);
  });

  it('rejects settings no detector can use', () => {
    const set = bridgeSet();
    const cluster = { ...SCAN_DEFAULTS, method: 'cluster' as const };
    expect(() => scanSet({ ...cluster, mergeThreshold: -1 }, { set })).toThrow(
      /cluster: the merge threshold must be a finite number >= 0, got -1/,
    );
    expect(() => scanSet({ ...cluster, mergeRelative: NaN }, { set })).toThrow(/relative merge threshold must be/);
    expect(() => scanSets([{ ...cluster, clusterK: 0 }], { set })).toThrow(/cluster graph k must be an integer >= 1/);
    expect(() => scanSet({ ...cluster, method: 'duplicates', count: 3, threshold: 0.5 }, { set })).toThrow(
      /duplicates: give either a flag count or a flag threshold, not both/,
    );
  });

  it('unions several detectors’ flags and rates flags without a score', () => {
    const flag = (xs: number[]) => ({ flagged: Uint8Array.from(xs), threshold: 0, rule: 'test' });
    const any = unionFlags([flag([1, 0, 0, 0, 0]), flag([0, 0, 1, 0, 0]), flag([1, 0, 0, 0, 0])], 5);
    expect(Array.from(any)).toEqual([1, 0, 1, 0, 0]);
    const rates = flagRates(any, Uint8Array.from([1, 1, 0, 0, 0]));
    expect(rates).toEqual({ tpr: 0.5, fpr: 1 / 3, truePositives: 1, falsePositives: 1, poisons: 2 });
    expect(() => flagRates(any, new Uint8Array(4))).toThrow(/differ in length/);
  });

  it('cuts a wider graph to the k a detector needs, and rejects a graph that does not fit', () => {
    const pixels = tensor(randomPoints(50, 5).flat(), [50, D]);
    const wide = knn(pixels, pixels, 9, { excludeSelf: true });
    const cut = neighbourGraph(pixels, 4, wide);
    const fresh = knn(pixels, pixels, 4, { excludeSelf: true });
    expect(Array.from(cut.indices)).toEqual(Array.from(fresh.indices));
    expect(Array.from(cut.distances)).toEqual(Array.from(fresh.distances));
    expect(() => neighbourGraph(pixels, 12, wide)).toThrow(/12 neighbours needed, 9 given/);
    const other = tensor(randomPoints(40, 6).flat(), [40, D]);
    expect(() => neighbourGraph(other, 4, wide)).toThrow(/cover 50 examples, the set has 40/);
    pixels.dispose();
    other.dispose();
  });
});
