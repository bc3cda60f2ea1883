// Agglomerative clustering detector (section 5.2): merge the closest clusters until the smallest
// distance exceeds a threshold, then flag the largest cluster(s), which a dense bridge of poisons
// forms. To scale without an N×N matrix, merges follow a k-nearest-neighbour graph (exact blocked
// kNN): single linkage is union-find over graph edges below the threshold; average linkage merges
// by the mean of the known cross-cluster edges, as connectivity-constrained agglomerative
// clustering does (scikit-learn's `connectivity=`).
import type { Tensor } from '../tensor/index.js';
import { knn } from './knn.js';

export interface ClusterOptions {
  linkage?: 'single' | 'average';
  /** Merge distance (Euclidean, in the features' units); default: `relative` × median nearest-neighbour distance. */
  threshold?: number;
  relative?: number;
  /** Neighbours per example in the merge graph. */
  k?: number;
  blockSize?: number;
}

export interface Clustering {
  /** Cluster id per example (0 is the largest cluster). */
  labels: Int32Array;
  sizes: number[];
  threshold: number;
}

class UnionFind {
  parent: Int32Array;
  size: Int32Array;
  constructor(n: number) {
    this.parent = Int32Array.from({ length: n }, (_, i) => i);
    this.size = new Int32Array(n).fill(1);
  }
  find(i: number): number {
    while (this.parent[i] !== i) {
      this.parent[i] = this.parent[this.parent[i]];
      i = this.parent[i];
    }
    return i;
  }
  union(a: number, b: number): number {
    let ra = this.find(a);
    let rb = this.find(b);
    if (ra === rb) return ra;
    if (this.size[ra] < this.size[rb]) [ra, rb] = [rb, ra];
    this.parent[rb] = ra;
    this.size[ra] += this.size[rb];
    return ra;
  }
}

export function agglomerate(features: Tensor, opts: ClusterOptions = {}): Clustering {
  const n = features.shape[0];
  if (n < 2) throw new Error('cluster: needs at least two examples');
  const k = Math.min(opts.k ?? 10, n - 1);
  const nn = knn(features, features, k, { excludeSelf: true, blockSize: opts.blockSize });
  const dist = Float32Array.from(nn.distances, (v) => Math.sqrt(v));
  let threshold = opts.threshold;
  if (threshold === undefined) {
    const first = Array.from({ length: n }, (_, i) => dist[i * k]).sort((a, b) => a - b);
    threshold = (opts.relative ?? 0.5) * first[n >> 1];
  }
  if (!(threshold >= 0)) throw new Error(`cluster: threshold must be >= 0, got ${threshold}`);
  const uf = new UnionFind(n);
  if ((opts.linkage ?? 'single') === 'single') {
    for (let i = 0; i < n; i++)
      for (let j = 0; j < k; j++) if (dist[i * k + j] <= threshold) uf.union(i, nn.indices[i * k + j]);
  } else {
    averageLinkage(n, k, nn.indices, dist, threshold, uf);
  }
  // Relabel clusters by size, largest first.
  const count = new Map<number, number>();
  for (let i = 0; i < n; i++) count.set(uf.find(i), (count.get(uf.find(i)) ?? 0) + 1);
  const roots = [...count.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  const id = new Map(roots.map(([r], idx) => [r, idx]));
  const labels = Int32Array.from({ length: n }, (_, i) => id.get(uf.find(i))!);
  return { labels, sizes: roots.map(([, c]) => c), threshold };
}

/** Connectivity-constrained average linkage: repeatedly merge the pair of clusters whose mean known edge is smallest. */
function averageLinkage(
  n: number,
  k: number,
  idx: Int32Array,
  dist: Float32Array,
  threshold: number,
  uf: UnionFind,
): void {
  // Cross-cluster edge sums and counts, keyed by cluster root.
  const edges = new Map<number, Map<number, { sum: number; count: number }>>();
  const link = (a: number, b: number, d: number): void => {
    for (const [x, y] of [
      [a, b],
      [b, a],
    ]) {
      let m = edges.get(x);
      if (!m) edges.set(x, (m = new Map()));
      const e = m.get(y);
      if (e) {
        e.sum += d;
        e.count++;
      } else m.set(y, { sum: d, count: 1 });
    }
  };
  for (let i = 0; i < n; i++)
    for (let j = 0; j < k; j++) if (idx[i * k + j] !== i) link(i, idx[i * k + j], dist[i * k + j]);
  for (;;) {
    let best = Infinity;
    let ba = -1;
    let bb = -1;
    for (const [a, m] of edges) {
      for (const [b, e] of m) {
        if (a < b && e.sum / e.count < best) {
          best = e.sum / e.count;
          ba = a;
          bb = b;
        }
      }
    }
    if (ba < 0 || best > threshold) return;
    const root = uf.union(ba, bb);
    const other = root === ba ? bb : ba;
    const merged = edges.get(root)!;
    merged.delete(other);
    for (const [c, e] of edges.get(other)!) {
      if (c === root) continue;
      const into = merged.get(c);
      if (into) {
        into.sum += e.sum;
        into.count += e.count;
      } else merged.set(c, { ...e });
      const back = edges.get(c)!;
      back.delete(other);
      back.set(root, merged.get(c)!);
    }
    edges.delete(other);
  }
}

/** Per-example score: the size of its cluster (high = suspicious); singletons score 1. */
export function clusterScores(
  features: Tensor,
  opts: ClusterOptions = {},
): { scores: Float32Array; clustering: Clustering } {
  const clustering = agglomerate(features, opts);
  const scores = Float32Array.from(clustering.labels, (l) => clustering.sizes[l]);
  return { scores, clustering };
}
