// Agglomerative clustering detector (section 5.2): merge the closest clusters until the smallest
// distance exceeds a threshold, then flag the largest cluster(s), which a dense bridge of poisons
// forms. To scale without an N×N matrix, merges follow a k-nearest-neighbour graph (exact blocked
// kNN): single linkage is union-find over graph edges below the threshold, plus the pairs within it
// among the examples whose k neighbours all lie within it (the only pairs the graph can miss), so
// its clusters are exactly the connected components of the threshold graph; average linkage merges
// by the mean of the known cross-cluster edges, as connectivity-constrained agglomerative
// clustering does (scikit-learn's `connectivity=`).
import type { Tensor } from '../tensor/index.js';
import { forPairsWithin, neighbourGraph, type KnnResult } from './knn.js';

export interface ClusterOptions {
  linkage?: 'single' | 'average';
  /** Merge distance (Euclidean, in the features' units); default: `relative` × median nearest-neighbour distance. */
  threshold?: number;
  relative?: number;
  /** Neighbours per example in the merge graph. */
  k?: number;
  blockSize?: number;
  /** The features' k-nearest-neighbour graph (at least k neighbours) when another detector computed it already. */
  neighbours?: KnnResult;
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
  const nn = neighbourGraph(features, k, opts.neighbours, opts.blockSize);
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
    // Exact, not only along the graph: a pair within the threshold is missing from the graph only
    // if both ends have all k neighbours within it ("saturated"), so those rows are joined directly.
    const saturated = Int32Array.from(
      Array.from({ length: n }, (_, i) => i).filter((i) => dist[i * k + k - 1] <= threshold),
    );
    const t2 = threshold * threshold;
    forPairsWithin(features, saturated, t2, (a, b) => uf.union(a, b), opts.blockSize);
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

/** A binary min-heap of [key, a, b] entries, ordered by key, then a, then b (a total order: equal keys pop in one way). */
class MinHeap {
  private readonly items: [number, number, number][] = [];
  get size(): number {
    return this.items.length;
  }
  private static less(x: [number, number, number], y: [number, number, number]): boolean {
    return x[0] < y[0] || (x[0] === y[0] && (x[1] < y[1] || (x[1] === y[1] && x[2] < y[2])));
  }
  push(item: [number, number, number]): void {
    const h = this.items;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!MinHeap.less(h[i], h[p])) break;
      [h[p], h[i]] = [h[i], h[p]];
      i = p;
    }
  }
  pop(): [number, number, number] {
    const h = this.items;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && MinHeap.less(h[l], h[m])) m = l;
        if (r < h.length && MinHeap.less(h[r], h[m])) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i], h[m]];
        i = m;
      }
    }
    return top;
  }
}

/**
 * Connectivity-constrained average linkage: repeatedly merge the pair of clusters whose mean known
 * edge is smallest. A heap holds candidate pairs; entries made stale by a merge are skipped when
 * popped (their recorded mean no longer matches), so each merge costs O(degree · log E).
 */
function averageLinkage(
  n: number,
  k: number,
  idx: Int32Array,
  dist: Float32Array,
  threshold: number,
  uf: UnionFind,
): void {
  // Cross-cluster edge sums and counts, keyed by cluster root; both directions share one record.
  const edges = new Map<number, Map<number, { sum: number; count: number }>>();
  const get = (a: number): Map<number, { sum: number; count: number }> => {
    let m = edges.get(a);
    if (!m) edges.set(a, (m = new Map()));
    return m;
  };
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) {
      const b = idx[i * k + j];
      if (b === i) continue;
      const rec = get(i).get(b);
      if (rec) {
        rec.sum += dist[i * k + j];
        rec.count++;
      } else {
        const r = { sum: dist[i * k + j], count: 1 };
        get(i).set(b, r);
        get(b).set(i, r);
      }
    }
  }
  // Only pairs within the threshold enter the heap: merging stops at the first one beyond it. Edges
  // beyond it still count in the sums, and a merge can bring a pair's mean under the threshold.
  const heap = new MinHeap();
  for (const [a, m] of edges) {
    for (const [b, e] of m) if (a < b && e.sum / e.count <= threshold) heap.push([e.sum / e.count, a, b]);
  }
  while (heap.size > 0) {
    const [avg, a, b] = heap.pop();
    const e = edges.get(a)?.get(b);
    if (!e || e.sum / e.count !== avg) continue; // stale: a merge changed or removed this pair
    const root = uf.union(a, b);
    const other = root === a ? b : a;
    const merged = get(root);
    merged.delete(other);
    for (const [c, rec] of edges.get(other)!) {
      if (c === root) continue;
      const back = get(c);
      back.delete(other);
      const into = merged.get(c);
      if (into) {
        into.sum += rec.sum;
        into.count += rec.count;
      } else {
        merged.set(c, rec);
        back.set(root, rec);
      }
      const now = merged.get(c)!;
      if (now.sum / now.count <= threshold) heap.push([now.sum / now.count, Math.min(root, c), Math.max(root, c)]);
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
