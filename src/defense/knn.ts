// Exact k-nearest neighbours under squared Euclidean distance, by blocked matrix products in
// libtorch: ‖a − b‖² = ‖a‖² + ‖b‖² − 2a·b, one block of query rows at a time, so memory stays at
// block × M floats instead of N × M. Every detector shares it.
import { callOp, noGrad, tidy, type Tensor } from '../tensor/index.js';

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
        // One fused GEMM (‖b‖² − 2a·b) and one in-place add (+ ‖a‖²): no other block-sized temporaries.
        const d = callOp<Tensor>('addmm', '', [keyNorms, q, kf.T], { beta: 1, alpha: -2 });
        d.add_(q.square().sum(1, true));
        // Rows s..e meet themselves in columns s..e: push that diagonal out of reach.
        if (exclude) callOp<Tensor>('diagonal', '', [d, s, 0, 1]).fill_(3e38);
        const [vals, idx] = d.topk(k, 1, false, true);
        // Rounding can leave tiny negative squared distances.
        distances.set(vals.clamp(0, null).toFloat32(), s * k);
        indices.set(Int32Array.from(idx.toNumbers()), s * k);
      });
    }
    kf.dispose();
    keyNorms.dispose();
  });
  return { indices, distances, k };
}
