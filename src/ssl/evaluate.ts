// Evaluation: batched inference of a classifier over an image set.
import type { ImageSet } from '../data/index.js';
import { imagesToTensor, type Normalization } from '../data/tensors.js';
import { autocast, noGrad, tidy, type Device, type Tensor } from '../tensor/index.js';
import type { Classifier } from '../nn/index.js';

export interface PredictOptions {
  batchSize?: number;
  device?: Device;
  bf16?: boolean;
  indices?: ArrayLike<number>;
}

/**
 * One output row per image of `set` (or of `opts.indices`), computed batch by batch with the model
 * in eval mode and without gradients: `f` maps a normalised batch to N×D outputs (under autocast
 * when bf16 is asked for), `post` maps them on in float32.
 */
function batchedRows(
  model: Classifier,
  set: ImageSet,
  norm: Normalization,
  opts: PredictOptions,
  f: (x: Tensor) => Tensor,
  post: (y: Tensor) => Tensor = (y) => y,
): { data: Float32Array; dim: number } {
  const bs = opts.batchSize ?? 256;
  const n = opts.indices ? opts.indices.length : set.n;
  let out = new Float32Array(0);
  let dim = 0;
  const wasTraining = model.training;
  model.eval();
  try {
    noGrad(() => {
      for (let s = 0; s < n; s += bs) {
        const idx = Array.from({ length: Math.min(bs, n - s) }, (_, k) => (opts.indices ? opts.indices[s + k] : s + k));
        const rows = tidy(() => {
          const x = imagesToTensor(set, norm, idx, opts.device);
          const y = autocast(() => f(x), { enabled: opts.bf16 ?? false, device: opts.device });
          return post(y.to('float32')).flatten(1).toFloat32();
        });
        if (s === 0) {
          dim = rows.length / idx.length;
          out = new Float32Array(n * dim);
        }
        out.set(rows, s * dim);
      }
    });
  } finally {
    model.train(wasTraining);
  }
  return { data: out, dim };
}

/** Softmax probabilities (N×C, row-major) of the model in eval mode. */
export function predictProbs(
  model: Classifier,
  set: ImageSet,
  norm: Normalization,
  opts: PredictOptions = {},
): Float32Array {
  return batchedRows(
    model,
    set,
    norm,
    opts,
    (x) => model.forward(x),
    (logits) => logits.softmax(1),
  ).data;
}

/** Penultimate features (N×D, row-major) of the model in eval mode: the space a scan can measure in. */
export function embedImages(
  model: Classifier,
  set: ImageSet,
  norm: Normalization,
  opts: PredictOptions = {},
): { data: Float32Array; dim: number } {
  return batchedRows(model, set, norm, opts, (x) => model.embed(x));
}

/** Index of the largest entry of each row. */
export function argmaxRows(probs: Float32Array, numClasses: number): Int32Array {
  const n = probs.length / numClasses;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let k = 1; k < numClasses; k++) if (probs[i * numClasses + k] > probs[i * numClasses + best]) best = k;
    out[i] = best;
  }
  return out;
}

/** Top-1 accuracy on a labeled set. */
export function accuracy(model: Classifier, set: ImageSet, norm: Normalization, opts: PredictOptions = {}): number {
  if (!set.labels) throw new Error('accuracy: the evaluation set has no labels');
  const pred = argmaxRows(predictProbs(model, set, norm, opts), model.numClasses);
  let correct = 0;
  for (let i = 0; i < pred.length; i++) if (pred[i] === set.labels[opts.indices ? opts.indices[i] : i]) correct++;
  return pred.length ? correct / pred.length : 0;
}

export interface ClassReport {
  /** Top-1 accuracy over every example. */
  accuracy: number;
  /** Per true class: examples, correct ones, accuracy (null for a class with no examples). */
  perClass: { label: number; n: number; correct: number; accuracy: number | null }[];
  /** confusion[true][predicted] counts. */
  confusion: number[][];
}

/** Accuracy, per-class accuracy and the confusion matrix of predictions against labels. */
export function classificationReport(
  predictions: ArrayLike<number>,
  labels: ArrayLike<number>,
  numClasses: number,
): ClassReport {
  if (predictions.length !== labels.length) {
    throw new Error(`classificationReport: ${predictions.length} predictions for ${labels.length} labels`);
  }
  const confusion = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < labels.length; i++) {
    const [t, p] = [labels[i], predictions[i]];
    if (!(t >= 0 && t < numClasses) || !(p >= 0 && p < numClasses)) {
      throw new Error(
        `classificationReport: example ${i} has label ${t} or prediction ${p} outside [0, ${numClasses})`,
      );
    }
    confusion[t][p]++;
  }
  let correct = 0;
  const perClass = confusion.map((row, label) => {
    const n = row.reduce((a, b) => a + b, 0);
    correct += row[label];
    return { label, n, correct: row[label], accuracy: n ? row[label] / n : null };
  });
  return { accuracy: labels.length ? correct / labels.length : 0, perClass, confusion };
}
