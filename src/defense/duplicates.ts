// Near-duplicate baseline, as label-free data-quality tools do it: each example's distance to its
// nearest neighbour in pixel space, relative to the median of those distances. Tight clusters of
// near-identical images (a dense bridge) score low.
import type { Tensor } from '../tensor/index.js';
import { neighbourGraph, type KnnResult } from './knn.js';

export function duplicateScores(
  pixels: Tensor,
  opts: { blockSize?: number; neighbours?: KnnResult } = {},
): Float32Array {
  const n = pixels.shape[0];
  if (n < 2) throw new Error('duplicates: needs at least two examples');
  const { distances } = neighbourGraph(pixels, 1, opts.neighbours, opts.blockSize);
  const d = Float32Array.from(distances, (v) => Math.sqrt(v));
  const sorted = Float32Array.from(d).sort();
  const med = sorted[n >> 1] || 1e-12;
  return d.map((v) => v / med);
}
