// The training-dynamics detector of section 5.3. From the per-epoch predictions f_k(u) of every
// unlabeled example (a K × N × C prediction log), μ_j^(a,b) = [∂f_a(u_j), …, ∂f_{b−1}(u_j), f_b(u_j)]
// with ∂f_k = f_{k+1} − f_k, and Influence(u_i, u_j) = ‖μ_i^(0,K−2) − μ_j^(1,K−1)‖²: u_i influences
// u_j when u_j repeats u_i's change one epoch later. Each example's score is its mean influence
// over its k most influencing neighbours; poisons, which mostly move each other, score orders of
// magnitude lower than benign examples (Figure 7).
import { float16ToNumber } from '../data/index.js';
import { cat, noGrad, tensor, tidy, type Tensor } from '../tensor/index.js';
import { knn } from './knn.js';

export interface DynamicsOptions {
  /** Neighbours averaged (the paper's 5; 2 to 10 behave alike). */
  k?: number;
  /** Rows per block of the influence computation. */
  blockSize?: number;
}

/** μ^(0,K−2) (influencers) and μ^(1,K−1) (influenced) as N × (K−1)C float32 matrices. */
export function predictionDeltas(log: Tensor): { mu0: Tensor; mu1: Tensor } {
  if (log.ndim !== 3)
    throw new Error(`dynamics: the prediction log must be epochs × examples × classes, got [${log.shape}]`);
  const [epochs] = log.shape;
  if (epochs < 3) throw new Error(`dynamics: needs at least 3 epochs of predictions, the log has ${epochs}`);
  return tidy(() => {
    const f = log.to('float32');
    const delta = f.slice(0, 1).sub(f.slice(0, 0, epochs - 1)); // (K−1)×N×C: ∂f_0 … ∂f_{K−2}
    const build = (a: number, b: number): Tensor =>
      cat([delta.slice(0, a, b), f.slice(0, b, b + 1)], 0) // deltas a..b−1, then f_b
        .permute([1, 0, 2])
        .flatten(1)
        .contiguous();
    return { mu0: build(0, epochs - 2), mu1: build(1, epochs - 1) };
  });
}

/** Mean influence of each example's k most influencing neighbours (low = suspicious). */
export function dynamicsScores(log: Tensor, opts: DynamicsOptions = {}): Float32Array {
  const k = opts.k ?? 5;
  if (log.ndim !== 3)
    throw new Error(`dynamics: the prediction log must be epochs × examples × classes, got [${log.shape}]`);
  const n = log.shape[1];
  if (!Number.isInteger(k) || k < 1 || k >= n) throw new Error(`dynamics: k must be in [1, ${n - 1}], got ${k}`);
  return noGrad(() =>
    tidy(() => {
      const { mu0, mu1 } = predictionDeltas(log);
      if (mu0.isnan().any().item() || mu1.isnan().any().item())
        throw new Error('dynamics: the prediction log contains NaN');
      const { distances } = knn(mu0, mu1, k, { excludeSelf: true, blockSize: opts.blockSize });
      const scores = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < k; j++) s += distances[i * k + j];
        scores[i] = s / k;
      }
      return scores;
    }),
  );
}

/** A prediction log from a .npy array (float16 bits or float32/float64), as a tensor. */
export function logTensor(data: ArrayBufferView, shape: number[], dtype: string): Tensor {
  if (dtype === 'float16') return tensor(data, shape, { dtype: 'float16' }).to('float32');
  if (dtype === 'float32' || dtype === 'float64') return tensor(data, shape, { dtype });
  throw new Error(`dynamics: a prediction log must hold float16, float32 or float64 values, got ${dtype}`);
}

// A float16 softmax value is off by at most 2^-11 of itself, so a row of them sums to 1 within about
// 5e-4 whatever the class count; these bounds leave room for that and reject anything that is not
// probabilities (logits, log-probabilities, a transposed or corrupt log).
const VALUE_SLACK = 1e-3;
const SUM_TOLERANCE = 1e-2;

/**
 * Checks that a prediction log holds per-epoch softmax probabilities: K × N × C, every value finite
 * and in [0, 1], every row summing to 1 (within float16 rounding); C must equal each `expected`
 * class count (the set's, the manifest's: a K × C × N log is caught here). `source` names the log.
 */
export function checkPredictionLog(
  log: { data: ArrayBufferView; shape: number[]; dtype: string },
  source: string,
  expected: { count: number; from: string }[] = [],
): void {
  if (log.shape.length !== 3) {
    throw new Error(`${source}: a prediction log must be epochs × examples × classes, got (${log.shape.join(', ')})`);
  }
  const [epochs, n, classes] = log.shape;
  for (const { count, from } of expected) {
    if (classes !== count) {
      throw new Error(
        `${source}: the log has ${classes} classes, ${from} has ${count} (a prediction log is epochs × examples × classes)`,
      );
    }
  }
  if (log.dtype !== 'float16' && log.dtype !== 'float32' && log.dtype !== 'float64') {
    throw new Error(`${source}: a prediction log must hold float16, float32 or float64 values, got ${log.dtype}`);
  }
  const raw = log.data as unknown as ArrayLike<number>;
  const value = log.dtype === 'float16' ? (i: number) => float16ToNumber(raw[i]) : (i: number) => raw[i];
  const where = (row: number) => `epoch ${Math.floor(row / n)}, example ${row % n}`;
  for (let row = 0; row < epochs * n; row++) {
    let sum = 0;
    for (let c = 0; c < classes; c++) {
      const v = value(row * classes + c);
      if (Number.isNaN(v)) throw new Error(`${source}: ${where(row)} holds NaN: the log is corrupt`);
      if (!Number.isFinite(v)) throw new Error(`${source}: ${where(row)} holds ${v}: the log is corrupt`);
      if (v < -VALUE_SLACK || v > 1 + VALUE_SLACK) {
        throw new Error(
          `${source}: ${where(row)} holds ${v}, outside [0, 1]: looks like logits, not softmax probabilities`,
        );
      }
      sum += v;
    }
    if (Math.abs(sum - 1) > SUM_TOLERANCE) {
      throw new Error(
        `${source}: the ${classes} class probabilities of ${where(row)} sum to ${sum.toPrecision(4)}, not 1: ` +
          'not softmax probabilities, or the axes are not epochs × examples × classes',
      );
    }
  }
}
