// Pixel-space collinearity detector (section 5.2): a linear bridge puts examples on segments
// between other examples. For each example u and each pair (v, w) of its k nearest neighbours,
// the distance from u to the segment v–w, relative to ‖v − w‖, is computed from the neighbours'
// Gram matrix (blocked bmm in libtorch, no N×N matrix); an example's score is the smallest such
// residual over the triples it belongs to, as the middle point or as an end (shared with its exact
// copies). Low = suspicious.
import { noGrad, tensor, tidy, type Tensor } from '../tensor/index.js';
import { neighbourGraph, type KnnResult } from './knn.js';

export interface CollinearOptions {
  /** Neighbours whose pairs are tested (k(k−1)/2 segments per example). */
  k?: number;
  /** The middle point must lie strictly inside the segment: t in [margin, 1 − margin]. */
  margin?: number;
  blockSize?: number;
  /** The set's k-nearest-neighbour graph (at least k neighbours) when another detector computed it already. */
  neighbours?: KnnResult;
  /**
   * The values' quantisation step (1/255 for 8-bit images scaled to [0, 1]; 0 for features): the
   * residual that rounding alone leaves is subtracted before comparing, so that points of a dense
   * bridge, whose segments are only a few rounding steps long, still score as collinear.
   */
  quantum?: number;
}

/**
 * Pairs of identical examples among the nearest neighbours. Gram-matrix distances carry float32
 * cancellation error, so near-zero candidates are checked by direct subtraction.
 */
function exactCopies(
  pixels: Tensor,
  nn: { indices: Int32Array; distances: Float32Array; k: number },
): [number, number][] {
  const n = pixels.shape[0];
  const { k } = nn;
  const sqNorms = noGrad(() => tidy(() => pixels.to('float32').flatten(1).square().sum(1).toFloat32()));
  const ci: number[] = [];
  const cj: number[] = [];
  for (let i = 0; i < n; i++) {
    for (let r = 0; r < k; r++) {
      if (nn.distances[i * k + r] > 1e-4 * (sqNorms[i] + 1e-12)) break;
      ci.push(i);
      cj.push(nn.indices[i * k + r]);
    }
  }
  const pairs: [number, number][] = [];
  const block = 4096;
  noGrad(() => {
    const x = tidy(() => pixels.to('float32').flatten(1));
    for (let s = 0; s < ci.length; s += block) {
      const e = Math.min(ci.length, s + block);
      const diff = tidy(() => {
        const a = x.indexSelect(0, tensor(ci.slice(s, e), [e - s], { dtype: 'int64' }));
        const b = x.indexSelect(0, tensor(cj.slice(s, e), [e - s], { dtype: 'int64' }));
        return a.sub(b).abs().sum(1).toFloat32();
      });
      diff.forEach((d, p) => {
        if (d === 0) pairs.push([ci[s + p], cj[s + p]]);
      });
    }
    x.dispose();
  });
  return pairs;
}

/** Relative segment residuals; pixels is N×D float (e.g. images in [0, 1], flattened). */
export function collinearScores(pixels: Tensor, opts: CollinearOptions = {}): Float32Array {
  const n = pixels.shape[0];
  const k = opts.k ?? 8;
  const margin = opts.margin ?? 0.02;
  const quantum = opts.quantum ?? 0;
  if (!(quantum >= 0)) throw new Error(`collinear: quantum must be >= 0, got ${quantum}`);
  // Rounding each of u, v and w to the grid adds independent errors of variance quantum²/12 per
  // coordinate; u's expected squared residual from the segment at t is then D·quantum²/12·(1 + (1 − t)² + t²).
  const noise = (pixels.shape[1] * quantum * quantum) / 12;
  if (n < 3) throw new Error('collinear: needs at least three examples');
  if (!Number.isInteger(k) || k < 2 || k >= n) throw new Error(`collinear: k must be in [2, ${n - 1}], got ${k}`);
  const nn = neighbourGraph(pixels, k, opts.neighbours, opts.blockSize);
  const scores = new Float32Array(n).fill(Infinity);
  const block = opts.blockSize ?? 2048;
  // Pair index lists (a < b) over the k neighbours.
  const pa: number[] = [];
  const pb: number[] = [];
  for (let a = 0; a < k; a++) {
    for (let b = a + 1; b < k; b++) {
      pa.push(a);
      pb.push(b);
    }
  }
  const pairs = pa.length;
  noGrad(() => {
    const x = tidy(() => pixels.to('float32').contiguous());
    const ia = tensor(pa, [pairs], { dtype: 'int64' });
    const ib = tensor(pb, [pairs], { dtype: 'int64' });
    for (let s = 0; s < n; s += block) {
      const e = Math.min(n, s + block);
      const rows = e - s;
      const [res, best] = tidy(() => {
        const nbr = tensor(nn.indices.subarray(s * k, e * k), [rows * k], { dtype: 'int32' }).to('int64');
        const u = x.slice(0, s, e).unsqueeze(1); // rows×1×D
        const p = x.indexSelect(0, nbr).reshape([rows, k, -1]).sub(u); // neighbours relative to u
        const g = p.matmul(p.transpose(1, 2)); // rows×k×k Gram matrix
        const gaa = g.flatten(1).indexSelect(1, ia.mul(k + 1));
        const gbb = g.flatten(1).indexSelect(1, ib.mul(k + 1));
        const gab = g.flatten(1).indexSelect(1, ia.mul(k).add(ib));
        const dd = gaa.add(gbb).sub(gab.mul(2)).clamp(1e-12, null); // ‖w − v‖²
        const t = gaa.sub(gab).div(dd); // position of u's projection on v→w
        let r2 = gaa.sub(t.square().mul(dd));
        if (noise > 0) r2 = r2.sub(t.square().add(t.neg().add(1).square()).add(1).mul(noise));
        r2 = r2.clamp(0, null);
        const rel = r2.div(dd).sqrt();
        const inside = t.ge(margin).logicalAnd(t.le(1 - margin));
        const masked = rel.maskedFill(inside.logicalNot(), 3e38);
        const [mn, arg] = masked.minDim(1);
        return [mn.toFloat32(), Int32Array.from(arg.toNumbers())];
      });
      for (let r = 0; r < rows; r++) {
        const v = res[r];
        if (v >= 3e38) continue;
        const i = s + r;
        const a = nn.indices[i * k + pa[best[r]]];
        const b = nn.indices[i * k + pb[best[r]]];
        // The middle point and both ends of a collinear triple are all suspicious.
        for (const j of [i, a, b]) if (v < scores[j]) scores[j] = v;
      }
    }
    ia.dispose();
    ib.dispose();
    x.dispose();
  });
  // An exact copy of a point on a bridge is on the bridge too (FixMatch's unlabeled set holds the
  // labeled images, so the source x′ of a bridge has a benign twin): copies share the lower score,
  // whichever of them the triple search happened to pick.
  const copies = exactCopies(pixels, nn);
  for (let pass = 0; pass < 2; pass++) {
    for (const [i, j] of copies) {
      const v = Math.min(scores[i], scores[j]);
      scores[i] = v;
      scores[j] = v;
    }
  }
  // Examples in no interior triple get the largest finite score seen (or 1).
  let maxFinite = 0;
  for (const v of scores) if (Number.isFinite(v) && v > maxFinite) maxFinite = v;
  return scores.map((v) => (Number.isFinite(v) ? v : Math.max(maxFinite, 1)));
}
