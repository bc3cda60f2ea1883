// Exact k-nearest neighbours under squared Euclidean distance, by blocked matrix products in
// libtorch: ‖a − b‖² = ‖a‖² + ‖b‖² − 2a·b, one block of query rows at a time, so memory stays at
// block × M floats instead of N × M. Every detector shares it.
//
// A set's neighbours among itself (queries === keys, excludeSelf) use the symmetry of the distance
// matrix: it is computed in square tiles of its upper triangle only, and each tile updates the running
// k best of its rows and, transposed, those of its columns, which halves the matrix products.
//
// The products dominate every scan. On the CPU, libtorch sends addmm to the BLAS it links (Debian's:
// OpenBLAS), but it also carries oneDNN, whose float32 inner product (aten::mkldnn_linear) ran 2.2–2.8×
// faster than OpenBLAS on an AVX-512 Xeon (same shapes, one thread). Which one is faster depends on
// the CPU, so the first CPU product of a process times both on a small problem and keeps the faster;
// `setDistanceGemm` pins one. Both are exact float32 products; they differ only in summation order.
import { arange, callOp, cat, full, keep, noGrad, tensor, tidy, zeros, type Tensor } from '../tensor/index.js';

/** Pushes a distance out of reach of topk. */
const FAR = 3e38;

export interface KnnResult {
  /** N×k neighbour indices, nearest first. */
  indices: Int32Array;
  /** N×k squared distances, ascending. */
  distances: Float32Array;
  k: number;
}

export interface KnnOptions {
  /** Drop each query's own row from its neighbours (queries and keys are the same set, in order). */
  excludeSelf?: boolean;
  /** Query rows per block (memory: block × M floats); about 256 MB by default. */
  blockSize?: number;
  /** Side of the square tiles of a self-join (memory: two tiles); blockSize if given, else ~128 MB a tile. */
  tileSize?: number;
}

/**
 * The k nearest neighbours of each of n rows: `given` (computed once for several detectors, with at
 * least k neighbours, nearest first) cut to k, or a fresh self-join of `points` when none is given.
 */
export function neighbourGraph(points: Tensor, k: number, given?: KnnResult, blockSize?: number): KnnResult {
  if (!given) return knn(points, points, k, { excludeSelf: true, blockSize });
  const n = points.shape[0];
  if (given.indices.length !== n * given.k) {
    throw new Error(`knn: the given neighbours cover ${given.indices.length / given.k} examples, the set has ${n}`);
  }
  if (given.k < k) throw new Error(`knn: ${k} neighbours needed, ${given.k} given`);
  if (given.k === k) return given;
  const indices = new Int32Array(n * k);
  const distances = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    indices.set(given.indices.subarray(i * given.k, i * given.k + k), i * k);
    distances.set(given.distances.subarray(i * given.k, i * given.k + k), i * k);
  }
  return { indices, distances, k };
}

/** The CPU matrix product behind the distances: libtorch's BLAS (addmm) or oneDNN (mkldnn_linear). */
export type DistanceGemm = 'blas' | 'onednn';

let pinned: DistanceGemm | 'auto' = 'auto';
let probed: { gemm: DistanceGemm; gflops: Record<DistanceGemm, number> | null } | null = null;

/** Pins the CPU product ('auto': the faster of the two, timed once per process). */
export function setDistanceGemm(gemm: DistanceGemm | 'auto'): void {
  if (gemm !== 'auto' && gemm !== 'blas' && gemm !== 'onednn') {
    throw new Error(`knn: the distance product must be auto, blas or onednn, got ${String(gemm)}`);
  }
  if (gemm === 'onednn' && !onednnWorks()) {
    throw new Error('knn: this libtorch has no oneDNN (aten::mkldnn_linear failed): use blas');
  }
  pinned = gemm;
}

let onednn: boolean | null = null;
function onednnWorks(): boolean {
  if (onednn === null) {
    try {
      noGrad(() => tidy(() => linearDistances(filler(2, 3), filler(4, 3), filler(1, 4).reshape([4]))));
      onednn = true;
    } catch {
      onednn = false; // a libtorch built without MKL-DNN
    }
  }
  return onednn;
}

/**
 * The product the CPU distances use, with the rates auto measured (GFLOP/s at the current thread
 * count; null when pinned or when this libtorch has no oneDNN): a 512 × 2048 × 784 product three times each, the best of each kept.
 */
export function distanceGemm(): { gemm: DistanceGemm; gflops: Record<DistanceGemm, number> | null } {
  if (pinned !== 'auto') return { gemm: pinned, gflops: null };
  if (!probed) {
    if (!onednnWorks()) {
      probed = { gemm: 'blas', gflops: null }; // nothing to compare with
    } else {
      probed = noGrad(() =>
        tidy(() => {
          const [m, n, d] = [512, 2048, 784];
          const a = filler(m, d);
          const b = filler(n, d);
          const bn = b.square().sum(1);
          const rate = (f: () => Tensor): number => {
            let best = Infinity;
            for (let r = 0; r < 3; r++) {
              const t0 = performance.now();
              f().dispose();
              best = Math.min(best, performance.now() - t0);
            }
            return round1((2 * m * n * d) / (best / 1000) / 1e9);
          };
          const gflops = {
            blas: rate(() => blasDistances(a, b, bn.unsqueeze(0))),
            onednn: rate(() => linearDistances(a, b, bn)),
          };
          return { gemm: gflops.onednn > gflops.blas ? 'onednn' : 'blas', gflops } as const;
        }),
      );
    }
  }
  return probed;
}

const round1 = (x: number): number => Math.round(x * 10) / 10;

/** An r × c float32 matrix of values in [−1, 1] that draws nothing from the random generator. */
function filler(r: number, c: number): Tensor {
  return arange(0, r * c)
    .to('float32')
    .mul(0.001)
    .sin()
    .reshape([r, c]);
}

/** ‖b‖² − 2a·b by BLAS: one fused addmm. */
function blasDistances(a: Tensor, b: Tensor, bNormsRow: Tensor): Tensor {
  return callOp<Tensor>('addmm', '', [bNormsRow, a, b.T], { beta: 1, alpha: -2 });
}

/** ‖b‖² − 2a·b by oneDNN's inner product: (−2a)·bᵀ + bias, exact scaling by −2 on the small side. */
function linearDistances(a: Tensor, b: Tensor, bNorms: Tensor): Tensor {
  const lhs = callOp<Tensor>('to_mkldnn', '', [a.mul(-2)]);
  return callOp<Tensor>('to_dense', '', [callOp<Tensor>('mkldnn_linear', '', [lhs, b.contiguous(), bNorms])]);
}

/** ‖b‖² − 2a·b for rows a and rows b (their squared norms as a row): one fused product. */
function partialDistances(a: Tensor, b: Tensor, bNorms: Tensor): Tensor {
  const cpu = a.device === 'cpu' && a.dtype === 'float32';
  return cpu && distanceGemm().gemm === 'onednn'
    ? linearDistances(a.contiguous(), b, bNorms.reshape([-1]))
    : blasDistances(a, b, bNorms);
}

/**
 * Squared distances between rows a (their squared norms as a column) and rows b (as a row): one
 * fused product (‖b‖² − 2a·b) and one in-place add (+ ‖a‖²).
 */
function sqDistances(a: Tensor, aNorms: Tensor, b: Tensor, bNorms: Tensor): Tensor {
  return partialDistances(a, b, bNorms).add_(aNorms);
}

/**
 * Calls `onPair(i, j)` (i before j in `rows`, indices into points) for every pair of the given rows
 * whose squared distance is at most `radius2`, block by block: memory stays at block × |rows|
 * floats and one block's pairs, whatever the radius; the time is |rows|² · D, so it is meant for a
 * subset.
 */
export function forPairsWithin(
  points: Tensor,
  rows: Int32Array,
  radius2: number,
  onPair: (i: number, j: number) => void,
  blockSize?: number,
): void {
  const s = rows.length;
  if (s < 2) return;
  const block = blockSize ?? Math.max(16, Math.floor(2 ** 24 / s));
  noGrad(() => {
    const sub = tidy(() =>
      points
        .indexSelect(0, tensor(rows, [s]).long())
        .to('float32')
        .contiguous(),
    );
    const norms = tidy(() => sub.square().sum(1));
    for (let a = 0; a < s; a += block) {
      const e = Math.min(s, a + block);
      const hits = tidy(() => {
        // Rows a..e against columns a..s: entry (r, c) is the pair (a + r, a + c), kept when c > r.
        const d = sqDistances(
          sub.slice(0, a, e),
          norms.slice(0, a, e).unsqueeze(1),
          sub.slice(0, a),
          norms.slice(0, a).unsqueeze(0),
        );
        const upper = arange(0, s - a)
          .unsqueeze(0)
          .gt(arange(0, e - a).unsqueeze(1));
        return callOp<Tensor>('nonzero', '', [d.le(radius2).logicalAnd(upper)]).toNumbers();
      });
      for (let h = 0; h < hits.length; h += 2) onPair(rows[a + hits[h]], rows[a + hits[h + 1]]);
    }
    sub.dispose();
    norms.dispose();
  });
}

/** For each row of queries (N×D), its k nearest rows of keys (M×D). */
export function knn(queries: Tensor, keys: Tensor, k: number, opts: KnnOptions = {}): KnnResult {
  if (queries.ndim !== 2 || keys.ndim !== 2 || queries.shape[1] !== keys.shape[1]) {
    throw new Error(`knn: expected N×D queries and M×D keys, got [${queries.shape}] and [${keys.shape}]`);
  }
  const n = queries.shape[0];
  const m = keys.shape[0];
  const exclude = opts.excludeSelf ?? false;
  if (exclude && n !== m) throw new Error('knn: excludeSelf needs the queries to be the keys');
  const avail = m - (exclude ? 1 : 0);
  if (!Number.isInteger(k) || k < 1 || k > avail) throw new Error(`knn: k must be in [1, ${avail}], got ${k}`);
  if (exclude && queries === keys) return selfJoin(keys, k, opts.tileSize ?? opts.blockSize ?? 5792);
  const block = opts.blockSize ?? Math.max(16, Math.floor(2 ** 26 / Math.max(m, 1)));
  const indices = new Int32Array(n * k);
  const distances = new Float32Array(n * k);
  noGrad(() => {
    const kf = tidy(() => keys.to('float32').contiguous());
    const keyNorms = tidy(() => kf.square().sum(1).reshape([1, m]));
    for (let s = 0; s < n; s += block) {
      const e = Math.min(n, s + block);
      tidy(() => {
        const q = queries.slice(0, s, e).to('float32');
        // ‖b‖² − 2a·b ranks each row's keys as the distance does: ‖a‖² is added to the k selected only.
        const d = partialDistances(q, kf, keyNorms);
        // Rows s..e meet themselves in columns s..e: push that diagonal out of reach.
        if (exclude) callOp<Tensor>('diagonal', '', [d, s, 0, 1]).fill_(FAR);
        const [vals, idx] = rowTopk(d, k);
        // Rounding can leave tiny negative squared distances.
        distances.set(vals.add(q.square().sum(1, true)).clamp(0, null).toFloat32(), s * k);
        indices.set(Int32Array.from(idx.toNumbers()), s * k);
      });
    }
    kf.dispose();
    keyNorms.dispose();
  });
  return { indices, distances, k };
}

/** Rows per group of the two-stage column selection. */
const GROUP = 32;

/**
 * The positions covered by each line's chosen groups (L×k group numbers → L × k·GROUP positions),
 * followed by the ragged tail grouped..total that no group holds, which every line keeps.
 */
function groupMembers(best: Tensor, grouped: number, total: number): Tensor {
  const members = best
    .mul(GROUP)
    .unsqueeze(2)
    .add(arange(0, GROUP).view([1, 1, GROUP]))
    .flatten(1);
  if (grouped === total) return members;
  const tail = arange(grouped, total)
    .view([1, total - grouped])
    .expand([best.shape[0], total - grouped]);
  return cat([members, tail], 1);
}

/**
 * The k smallest entries of each row of d (R×C), values and column indices, ascending: the minima
 * of groups of GROUP contiguous columns first, then an exact selection among the columns of each
 * row's k best groups (exact for the reason given at columnTopk). On a 1120 × 60,000 block it takes
 * a third of topk's time over the whole row (two threads), which scans every entry with a heap.
 */
function rowTopk(d: Tensor, k: number): [Tensor, Tensor] {
  const [r, c] = d.shape;
  const groups = Math.floor(c / GROUP);
  if (groups <= k) {
    const [v, i] = d.topk(Math.min(k, c), 1, false, true);
    return [v, i];
  }
  const grouped = groups * GROUP;
  const minima = callOp<Tensor>('amin', '', [d.slice(1, 0, grouped).view([r, groups, GROUP]), [2], false]);
  const [, best] = minima.topk(k, 1, false, false); // R×k groups
  const cols = groupMembers(best, grouped, c);
  const [v, at] = d.gather(1, cols).topk(k, 1, false, true);
  return [v, cols.gather(1, at)];
}

/**
 * The k smallest entries of each column of d (R×C), as C×k values and row indices, without
 * transposing d: the column minima of groups of GROUP rows first (a reduction along contiguous
 * memory), then an exact selection among the rows of each column's k best groups. Exact: an entry
 * outside those groups is at least the k-th smallest group minimum, and the k best groups' minima
 * are k distinct entries no larger than it.
 */
function columnTopk(d: Tensor, k: number): [Tensor, Tensor] {
  const [r, c] = d.shape;
  const groups = Math.floor(r / GROUP);
  if (groups <= k) {
    const [v, i] = d.T.contiguous().topk(Math.min(k, r), 1, false, true);
    return [v, i];
  }
  const grouped = groups * GROUP;
  const minima = callOp<Tensor>('amin', '', [d.slice(0, 0, grouped).view([groups, GROUP, c]), [1], false]);
  const [, best] = minima.T.contiguous().topk(k, 1, false, false); // C×k groups
  const rows = groupMembers(best, grouped, r);
  const candidates = d.gather(0, rows.T.contiguous()).T.contiguous();
  const [v, at] = candidates.topk(k, 1, false, true);
  return [v, rows.gather(1, at)];
}

/** Each row's k nearest other rows, from the upper-triangle tiles of the distance matrix. */
function selfJoin(x: Tensor, k: number, tile: number): KnnResult {
  if (!Number.isInteger(tile) || tile < 1) throw new Error(`knn: tileSize must be a positive integer, got ${tile}`);
  const n = x.shape[0];
  const starts = Array.from({ length: Math.ceil(n / tile) }, (_, b) => b * tile);
  const end = (b: number): number => Math.min(n, starts[b] + tile);
  return noGrad(() => {
    const xf = tidy(() => x.to('float32').contiguous());
    const norms = tidy(() => xf.square().sum(1));
    // Running k best of every tile row: squared distances and global column indices.
    const bestD = starts.map((s, b) => keep(full([end(b) - s, k], FAR)));
    const bestI = starts.map((s, b) => keep(zeros([end(b) - s, k], { dtype: 'int64' })));
    /** Merges a tile's candidates (rows of tile b: values and their indices within the other tile). */
    const merge = (b: number, tv: Tensor, ti: Tensor, offset: number): void => {
      const [v, i] = tidy(() => {
        const cv = cat([bestD[b], tv], 1);
        const ci = cat([bestI[b], ti.add(offset)], 1);
        const [nv, at] = cv.topk(k, 1, false, true);
        return [nv, ci.gather(1, at)];
      });
      bestD[b].dispose();
      bestI[b].dispose();
      // Kept: the tile's scope must not dispose the running best.
      bestD[b] = keep(v);
      bestI[b] = keep(i);
    };
    for (let a = 0; a < starts.length; a++) {
      for (let b = a; b < starts.length; b++) {
        tidy(() => {
          const rows = xf.slice(0, starts[a], end(a));
          const cols = xf.slice(0, starts[b], end(b));
          const d = sqDistances(
            rows,
            norms.slice(0, starts[a], end(a)).unsqueeze(1),
            cols,
            norms.slice(0, starts[b], end(b)).unsqueeze(0),
          );
          if (a === b) callOp<Tensor>('diagonal', '', [d, 0, 0, 1]).fill_(FAR);
          const [rv, ri] = rowTopk(d, k);
          merge(a, rv, ri, starts[b]);
          if (a !== b) {
            const [cv, ci] = columnTopk(d, k);
            merge(b, cv, ci, starts[a]);
          }
        });
      }
    }
    const indices = new Int32Array(n * k);
    const distances = new Float32Array(n * k);
    starts.forEach((s, b) => {
      distances.set(
        tidy(() => bestD[b].clamp(0, null).toFloat32()),
        s * k,
      );
      indices.set(Int32Array.from(bestI[b].toNumbers()), s * k);
    });
    for (const t of [xf, norms, ...bestD, ...bestI]) t.dispose();
    return { indices, distances, k };
  });
}
