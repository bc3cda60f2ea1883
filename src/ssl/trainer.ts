// The training loop shared by every method: batching, SGD with FixMatch's cosine schedule and
// weight-decay groups, the EMA evaluation model, bfloat16 autocast and periodic evaluation.
import type { ImageSet } from '../data/index.js';
import { channelStats, imagesToTensor, labelsToTensor, type Normalization } from '../data/tensors.js';
import {
  autocast,
  checkDevice,
  crossEntropy,
  manualSeed,
  randperm,
  tidy,
  yieldToEventLoop,
  type Device,
} from '../tensor/index.js';
import { cosineLr, createModel, Ema, Sgd, type Classifier, type ModelName } from '../nn/index.js';
import { accuracy } from './evaluate.js';

export interface TrainOptions {
  model: ModelName;
  /** Model width (first-layer filters); the model's default when omitted. */
  width?: number;
  steps: number;
  batchSize: number;
  lr: number;
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
  emaDecay: number;
  emaBuffers: 'copy' | 'average';
  /** TF's num_updates warm-up of the EMA decay; short CPU runs need it. */
  emaWarmup: boolean;
  bnMomentum: number;
  bf16: boolean;
  device: Device;
  seed: number;
  /** Evaluate on the test set every this many steps (0: only at the end). */
  evalEvery: number;
}

export const TRAIN_DEFAULTS: TrainOptions = {
  model: 'cnn',
  steps: 1000,
  batchSize: 64,
  lr: 0.03,
  momentum: 0.9,
  nesterov: true,
  weightDecay: 5e-4,
  emaDecay: 0.999,
  emaBuffers: 'copy',
  emaWarmup: true,
  bnMomentum: 0.01,
  bf16: false,
  device: 'cpu',
  seed: 0,
  evalEvery: 0,
};

export interface StepInfo {
  step: number;
  steps: number;
  loss: number;
  lr: number;
}

export interface EvalInfo {
  step: number;
  testAccuracy: number;
}

export interface TrainHooks {
  onStep?: (info: StepInfo) => void;
  onEval?: (info: EvalInfo) => void;
}

export interface TrainResult {
  model: Classifier;
  ema: Classifier;
  norm: Normalization;
  testAccuracy: number | null;
}

function validate(o: TrainOptions, labeled: ImageSet): void {
  const positive = ['steps', 'batchSize'] as const;
  for (const k of positive) {
    if (!Number.isInteger(o[k]) || o[k] < 1) throw new Error(`train: ${k} must be a positive integer, got ${o[k]}`);
  }
  for (const k of ['lr', 'momentum', 'weightDecay', 'emaDecay', 'bnMomentum'] as const) {
    if (!Number.isFinite(o[k]) || o[k] < 0) throw new Error(`train: ${k} must be a non-negative number, got ${o[k]}`);
  }
  if (o.emaDecay > 1 || o.bnMomentum > 1) throw new Error('train: emaDecay and bnMomentum must be at most 1');
  if (!labeled.labels) throw new Error('train: the labeled set has no labels');
  if (labeled.n === 0) throw new Error('train: the labeled set is empty');
  checkDevice(o.device);
}

/** Fully supervised training on a labeled set; the EMA model is the one evaluated. */
export async function trainSupervised(
  options: Partial<TrainOptions> & Pick<TrainOptions, 'steps'>,
  labeled: ImageSet,
  test: ImageSet | null,
  hooks: TrainHooks = {},
): Promise<TrainResult> {
  const o: TrainOptions = { ...TRAIN_DEFAULTS, ...options };
  validate(o, labeled);
  manualSeed(o.seed);
  const modelOpts = {
    numClasses: labeled.numClasses,
    inChannels: labeled.channels,
    imageSize: labeled.height,
    device: o.device,
    bnMomentum: o.bnMomentum,
    width: o.width,
  };
  const model = createModel(o.model, modelOpts);
  const shadow = createModel(o.model, modelOpts);
  const ema = new Ema(model, shadow, { decay: o.emaDecay, buffers: o.emaBuffers, warmup: o.emaWarmup });
  const { decay, noDecay } = model.parameterGroups();
  const opt = new Sgd(
    [
      { params: decay, weightDecay: o.weightDecay },
      { params: noDecay, weightDecay: 0 },
    ],
    { lr: o.lr, momentum: o.momentum, nesterov: o.nesterov },
  );
  const norm = channelStats(labeled);
  const evalTest = (step: number): number | null => {
    if (!test) return null;
    const acc = accuracy(shadow, test, norm, { device: o.device, bf16: o.bf16 });
    hooks.onEval?.({ step, testAccuracy: acc });
    return acc;
  };

  let order: number[] = [];
  let cursor = 0;
  const nextBatch = (): number[] => {
    const idx: number[] = [];
    while (idx.length < o.batchSize) {
      if (cursor >= order.length) {
        order = tidy(() => randperm(labeled.n).toNumbers());
        cursor = 0;
      }
      idx.push(order[cursor++]);
    }
    return idx;
  };

  model.train();
  for (let step = 0; step < o.steps; step++) {
    opt.lr = cosineLr(o.lr, step, o.steps);
    const loss = tidy(() => {
      const idx = nextBatch();
      const x = imagesToTensor(labeled, norm, idx, o.device);
      const y = labelsToTensor(labeled, idx, o.device);
      opt.zeroGrad();
      const l = autocast(() => crossEntropy(model.forward(x).to('float32'), y), { enabled: o.bf16, device: o.device });
      l.backward();
      opt.update();
      ema.update();
      return l.item();
    });
    if (!Number.isFinite(loss))
      throw new Error(`train: the loss became ${loss} at step ${step}; lower the learning rate`);
    hooks.onStep?.({ step: step + 1, steps: o.steps, loss, lr: opt.lr });
    if (o.evalEvery > 0 && (step + 1) % o.evalEvery === 0 && step + 1 < o.steps) evalTest(step + 1);
    await yieldToEventLoop();
  }
  const testAccuracy = evalTest(o.steps);
  return { model, ema: shadow, norm, testAccuracy };
}
