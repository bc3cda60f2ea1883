// The one training loop every method shares (google-research/fixmatch libml/train.py): labeled and
// unlabeled batches with ratio μ, SGD-Nesterov with FixMatch's cosine schedule and decay on kernels
// only, the EMA evaluation model, bfloat16 autocast, per-epoch evaluation, metrics as JSON lines,
// checkpoints with bit-exact resume, and the per-epoch prediction log of every unlabeled example.
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageSet } from '../data/index.js';
import { NpyAppender } from '../data/npy.js';
import { writeFileAtomic } from '../util/atomic.js';
import { AUGMENTATIONS, CTAugment, ctaProximity, mixup, type CtaPolicy, type CTAugmentState } from '../data/augment.js';
import { channelStats, imagesToUnit, labelsToTensor, standardize, type Normalization } from '../data/tensors.js';
import {
  autocast,
  cat,
  checkDevice,
  getRngState,
  loadSafetensors,
  manualSeed,
  noGrad,
  randn,
  randperm,
  saveSafetensors,
  setRngState,
  tensor,
  tidy,
  yieldToEventLoop,
  zeros,
  type Device,
  type Tensor,
} from '../tensor/index.js';
import { cosineLr, createModel, Ema, loadClassifier, Sgd, type Classifier, type ModelName } from '../nn/index.js';
import { resolveParams } from '../util/params.js';
import type { SslContext } from './algorithm.js';
import { ALGORITHMS, isAlgorithmName, type AlgorithmName } from './algorithms/index.js';
import { accuracy, predictProbs } from './evaluate.js';

export interface TrainOptions {
  algorithm: AlgorithmName;
  /** The algorithm's hyperparameters (its schema gives defaults and ranges). */
  params: Record<string, unknown>;
  model: ModelName;
  /** Model width (first-layer filters); the model's default when omitted. */
  width?: number;
  steps: number;
  batchSize: number;
  /** Unlabeled images per labeled one in a batch (μ). */
  uratio: number;
  lr: number;
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
  emaDecay: number;
  emaBuffers: 'copy' | 'average';
  /** TF's num_updates warm-up of the EMA decay; short CPU runs need it. */
  emaWarmup: boolean;
  bnMomentum: number;
  strongAugment: 'randaugment' | 'ctaugment';
  /** Random horizontal flips in the weak augmentation (off for SVHN digits). */
  flip: boolean;
  bf16: boolean;
  device: Device;
  seed: number;
  /** Training images per "epoch" (the reference's 64Ki): evaluation, logs and checkpoints happen per epoch. */
  epochImages: number;
  /**
   * Test accuracy every this many epochs (and after the last step); fine prediction logs need short
   * epochs, and a full test pass each one would cost more than the training.
   */
  testEvery: number;
  /** Initial weights (a model.safetensors from a previous run): fine-tuning, as in transfer learning. */
  init?: string;
}

export const TRAIN_DEFAULTS: TrainOptions = {
  algorithm: 'fixmatch',
  params: {},
  model: 'cnn',
  steps: 1024,
  batchSize: 64,
  uratio: 7,
  lr: 0.03,
  momentum: 0.9,
  nesterov: true,
  weightDecay: 5e-4,
  emaDecay: 0.999,
  emaBuffers: 'copy',
  emaWarmup: true,
  bnMomentum: 0.01,
  strongAugment: 'randaugment',
  flip: true,
  bf16: false,
  device: 'cpu',
  seed: 0,
  epochImages: 65536,
  testEvery: 1,
};

export interface TrainData {
  labeled: ImageSet;
  /** The unlabeled set (may contain poisons); unused by the supervised baseline. */
  unlabeled: ImageSet | null;
  test: ImageSet | null;
  /** Held-out labeled examples (splitDataset's validation), scored with the test set when given. */
  validation?: ImageSet | null;
}

export interface RunFiles {
  /** Folder for metrics.jsonl, the checkpoint and the prediction log. */
  dir: string;
  /** Continue from dir's checkpoint when there is one. */
  resume?: boolean;
  /** Write the per-epoch softmax of every unlabeled example (predictions.npy). */
  predictionLog?: 'float16' | 'float32' | false;
  /**
   * Which model the log records: the live model being trained (default), whose guesses are the
   * pseudo-labels and whose epoch-to-epoch changes are the training dynamics of section 5.3; or
   * the EMA model, which is evaluated but averages those changes away (static examples then all
   * look alike to the dynamics detector).
   */
  logModel?: 'ema' | 'live';
  /** Write a checkpoint every this many epochs (and at the end); 0 disables. */
  checkpointEvery?: number;
  /**
   * Settings of the run beyond the trainer's options and data (e.g. the dataset's name, the extra
   * unlabeled file), stored in the checkpoint: resuming with different ones is refused.
   */
  settings?: Record<string, unknown>;
}

export interface StepInfo {
  step: number;
  steps: number;
  loss: number;
  lr: number;
}

export interface EpochInfo {
  epoch: number;
  step: number;
  testAccuracy: number | null;
  /** EMA-model accuracy on the validation set, present when the run has one. */
  validationAccuracy?: number | null;
  metrics: Record<string, number>;
}

export interface TrainHooks {
  onStep?: (info: StepInfo) => void;
  onEpoch?: (info: EpochInfo) => void;
  /**
   * Called after each epoch's evaluation with the unlabeled softmax (N×C) of the logged model (the
   * live one unless `logModel: 'ema'`) when logging predictions.
   */
  onPredictions?: (epoch: number, probs: Float32Array) => void;
}

export interface TrainResult {
  model: Classifier;
  ema: Classifier;
  norm: Normalization;
  testAccuracy: number | null;
  /** The last epoch's validation accuracy (null without a validation set). */
  validationAccuracy: number | null;
  stepsRun: number;
  resumedFrom: number;
  epochs: EpochInfo[];
}

function validate(o: TrainOptions, data: TrainData): void {
  if (!isAlgorithmName(o.algorithm)) {
    throw new Error(`train: unknown algorithm '${o.algorithm}' (choose from ${Object.keys(ALGORITHMS).join(', ')})`);
  }
  for (const k of ['steps', 'batchSize', 'uratio', 'epochImages', 'testEvery'] as const) {
    if (!Number.isInteger(o[k]) || o[k] < 1) throw new Error(`train: ${k} must be a positive integer, got ${o[k]}`);
  }
  for (const k of ['lr', 'momentum', 'weightDecay', 'emaDecay', 'bnMomentum'] as const) {
    if (!Number.isFinite(o[k]) || o[k] < 0) throw new Error(`train: ${k} must be a non-negative number, got ${o[k]}`);
  }
  if (o.emaDecay > 1 || o.bnMomentum > 1) throw new Error('train: emaDecay and bnMomentum must be at most 1');
  if (!data.labeled.labels) throw new Error('train: the labeled set has no labels');
  if (data.labeled.n === 0) throw new Error('train: the labeled set is empty');
  const algo = ALGORITHMS[o.algorithm];
  if (algo.unlabeled) {
    const u = data.unlabeled;
    if (!u || u.n === 0) throw new Error(`train: ${o.algorithm} needs a non-empty unlabeled set`);
    const l = data.labeled;
    if (u.height !== l.height || u.width !== l.width || u.channels !== l.channels) {
      throw new Error(
        `train: unlabeled images are ${u.height}×${u.width}×${u.channels}, labeled ones ${l.height}×${l.width}×${l.channels}`,
      );
    }
  }
  if (data.test && data.test.numClasses !== data.labeled.numClasses) {
    throw new Error('train: the test set has a different number of classes');
  }
  const v = data.validation;
  if (v && (v.numClasses !== data.labeled.numClasses || !v.labels)) {
    throw new Error('train: the validation set needs labels of the same classes as the labeled set');
  }
  checkDevice(o.device);
}

/** A stream of indices over n items, reshuffled (libtorch generator) at each pass. */
class IndexStream {
  order: number[] = [];
  cursor = 0;
  constructor(readonly n: number) {}
  next(count: number): number[] {
    const out: number[] = [];
    while (out.length < count) {
      if (this.cursor >= this.order.length) {
        this.order = tidy(() => randperm(this.n).toNumbers());
        this.cursor = 0;
      }
      out.push(this.order[this.cursor++]);
    }
    return out;
  }
}

const CHECKPOINT = 'checkpoint.safetensors';
const METRICS = 'metrics.jsonl';
const PREDICTIONS = 'predictions.npy';

/** Trains a model with any algorithm; with files, logs metrics and predictions and can resume. */
export async function train(
  options: Partial<TrainOptions>,
  data: TrainData,
  hooks: TrainHooks = {},
  files?: RunFiles,
): Promise<TrainResult> {
  const o: TrainOptions = { ...TRAIN_DEFAULTS, ...options };
  validate(o, data);
  const algo = ALGORITHMS[o.algorithm];
  const params = resolveParams(o.algorithm, algo.params, o.params) as never;
  const { labeled, test } = data;
  const unlabeled = algo.unlabeled ? data.unlabeled! : null;
  manualSeed(o.seed);

  const modelOpts = {
    numClasses: labeled.numClasses,
    inChannels: labeled.channels,
    imageSize: labeled.height,
    device: o.device,
    bnMomentum: o.bnMomentum,
    width: o.width,
  };
  const initial = o.init ? loadClassifier(o.init, modelOpts) : null;
  const model = initial?.model ?? createModel(o.model, modelOpts);
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
  // A fine-tuned model keeps the input normalisation its initial weights were trained with: new
  // statistics would shift every input it has learned (and undo a transfer attack's tiny δ).
  const norm = initial?.metadata.norm
    ? checkNormalization(initial.metadata.norm, labeled.channels, o.init!)
    : channelStats(unlabeled ?? labeled);
  const pixelStd = norm.std.reduce((a, b) => a + b, 0) / norm.std.length;
  const lStream = new IndexStream(labeled.n);
  const uStream = new IndexStream(unlabeled?.n ?? 1);
  const cta = o.strongAugment === 'ctaugment' ? new CTAugment() : null;
  const stepsPerEpoch = Math.max(1, Math.round(o.epochImages / o.batchSize));
  const epochs: EpochInfo[] = [];

  let startStep = 0;
  let log: NpyAppender | null = null;
  const settings = files ? runSettings(o, params, data, files) : {};
  if (files) {
    mkdirSync(files.dir, { recursive: true });
    const ckpt = join(files.dir, CHECKPOINT);
    if (files.resume && existsSync(ckpt)) {
      startStep = restore(ckpt, settings, { model, shadow, ema, opt, lStream, uStream, cta });
    } else {
      for (const f of [CHECKPOINT, METRICS, PREDICTIONS]) rmSync(join(files.dir, f), { force: true });
    }
    if (files.predictionLog && unlabeled) {
      const path = join(files.dir, PREDICTIONS);
      // One row per evaluation: every full epoch, and the last step when it ends a partial one.
      const partialEnd = startStep === o.steps && o.steps % stepsPerEpoch !== 0 ? 1 : 0;
      const completedEpochs = Math.floor(startStep / stepsPerEpoch) + partialEnd;
      const slice = [unlabeled.n, labeled.numClasses];
      log = existsSync(path) ? NpyAppender.open(path) : NpyAppender.create(path, files.predictionLog, slice);
      if (log.sliceShape.join(',') !== slice.join(',')) {
        const shape = log.sliceShape.join('×');
        log.close();
        throw new Error(
          `${path}: holds ${shape} predictions per epoch, this run makes ${slice.join('×')} ` +
            '(examples × classes); delete the run to restart',
        );
      }
      if (log.length > completedEpochs) log.truncate(completedEpochs);
      if (log.length !== completedEpochs) {
        throw new Error(
          `${path}: holds ${log.length} epochs, the checkpoint ${completedEpochs}; delete the run to restart`,
        );
      }
    }
    if (startStep > 0) {
      // Epochs logged after the checkpoint (a crash between the two writes) are run again.
      const kept = readMetrics(join(files.dir, METRICS)).filter((e) => e.step <= startStep);
      writeFileAtomic(join(files.dir, METRICS), Buffer.from(kept.map((e) => JSON.stringify(e) + '\n').join('')));
      epochs.push(...kept);
    }
  }

  const logits = (x: Tensor, m: Classifier = model): Tensor =>
    tidy(() => autocast(() => m.forward(standardize(x, norm)), { enabled: o.bf16, device: o.device }).to('float32'));
  const weak = (x: Tensor): Tensor => AUGMENTATIONS.weak.apply(x, { flip: o.flip });
  // CTAugment's probe of the step: policies drawn with the training ones, and its images augmented
  // in the same batched call as the first strong view of the step (one pass over the op groups, not two).
  let probe: CtaProbe | null = null;
  const strong = (x: Tensor): Tensor => {
    if (!cta) return AUGMENTATIONS.randaugment.apply(x, { flip: o.flip });
    const policies = cta.sample(x.shape[0]);
    const pending = probe && !probe.images ? probe : null;
    if (!pending) return tidy(() => cta.apply(weak(x), policies));
    const n = x.shape[0];
    const [views, probed] = tidy(() => {
      const both = cta.apply(cat([weak(x), pending.xl]), [...policies, ...pending.policies]);
      return [both.narrow(0, 0, n), both.narrow(0, n, pending.xl.shape[0])];
    });
    pending.images = probed;
    return views;
  };

  const evaluateEpoch = (step: number, metrics: Record<string, number>): void => {
    // A final partial epoch is an epoch of its own: it follows the last full one, not shares its number.
    const epoch = Math.ceil(step / stepsPerEpoch);
    const testNow = epoch % o.testEvery === 0 || step === o.steps;
    const testAccuracy = test && testNow ? accuracy(shadow, test, norm, { device: o.device, bf16: o.bf16 }) : null;
    const validation = data.validation;
    const validationAccuracy =
      validation && testNow ? accuracy(shadow, validation, norm, { device: o.device, bf16: o.bf16 }) : null;
    if (log && unlabeled) {
      const logged = (files?.logModel ?? 'live') === 'live' ? model : shadow;
      const probs = predictProbs(logged, unlabeled, norm, { device: o.device, bf16: o.bf16 });
      log.append(
        log.dtype === 'float16'
          ? tidy(() => tensor(probs, [unlabeled.n, labeled.numClasses]).to('float16').data<'float16'>())
          : probs,
      );
      hooks.onPredictions?.(epoch, probs);
    }
    const info: EpochInfo = validation
      ? { epoch, step, testAccuracy, validationAccuracy, metrics }
      : { epoch, step, testAccuracy, metrics };
    epochs.push(info);
    if (files) appendFileSync(join(files.dir, METRICS), JSON.stringify(info) + '\n');
    hooks.onEpoch?.(info);
    const every = files?.checkpointEvery ?? 1;
    if (files && every > 0 && (epoch % every === 0 || step === o.steps)) {
      save(join(files.dir, CHECKPOINT), step, settings, { model, shadow, ema, opt, lStream, uStream, cta });
    }
  };

  model.train();
  const sums: Record<string, number> = {};
  let count = 0;
  for (let step = startStep; step < o.steps; step++) {
    opt.lr = cosineLr(o.lr, step, o.steps);
    const ctx: SslContext = {
      model,
      teacher: shadow,
      numClasses: labeled.numClasses,
      progress: step / o.steps,
      trainImages: o.steps * o.batchSize,
      pixelStd,
      logits,
      weak,
      strong,
      mixup: (x, y, alpha) => mixup(x, y, alpha),
      normalLike: (x) => randn(x.shape, { device: x.device }),
    };
    const metrics = tidy(() => {
      const li = lStream.next(o.batchSize);
      const xl = imagesToUnit(labeled, li, o.device);
      const yl = labelsToTensor(labeled, li, o.device);
      probe = cta ? { xl, policies: cta.sample(xl.shape[0], true), images: null } : null;
      const xu = unlabeled
        ? imagesToUnit(unlabeled, uStream.next(o.batchSize * o.uratio), o.device)
        : zeros([0, labeled.channels, labeled.height, labeled.width], { device: o.device });
      opt.zeroGrad();
      const out = algo.loss(ctx, { xl, yl, xu }, params as never);
      out.loss.backward();
      opt.update();
      ema.update();
      if (cta && probe) probeCta(cta, model, probe, yl, logits);
      const values: Record<string, number> = { loss: out.loss.item() };
      for (const [k, t] of Object.entries(out.metrics)) values[k] = t.item();
      return values;
    });
    if (!Number.isFinite(metrics.loss)) {
      throw new Error(`train: the loss became ${metrics.loss} at step ${step}; lower the learning rate`);
    }
    for (const [k, v] of Object.entries(metrics)) sums[k] = (sums[k] ?? 0) + v;
    count++;
    hooks.onStep?.({ step: step + 1, steps: o.steps, loss: metrics.loss, lr: opt.lr });
    if ((step + 1) % stepsPerEpoch === 0 || step + 1 === o.steps) {
      const avg = Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / count]));
      for (const k of Object.keys(sums)) delete sums[k];
      count = 0;
      evaluateEpoch(step + 1, avg);
    }
    await yieldToEventLoop();
  }
  log?.close();
  const last = epochs[epochs.length - 1];
  return {
    model,
    ema: shadow,
    norm,
    testAccuracy: last ? last.testAccuracy : null,
    validationAccuracy: last?.validationAccuracy ?? null,
    stepsRun: o.steps - startStep,
    resumedFrom: startStep,
    epochs,
  };
}

/** The labeled batch of a step, CTAugment's probe policies for it and, once augmented, its images. */
interface CtaProbe {
  xl: Tensor;
  policies: CtaPolicy[];
  images: Tensor | null;
}

/**
 * CTAugment learns its magnitudes from how well the model classifies augmented labeled images
 * (augmented here unless the step's strong view already did it).
 */
function probeCta(
  cta: CTAugment,
  model: Classifier,
  probe: CtaProbe,
  yl: Tensor,
  logits: (x: Tensor, m?: Classifier) => Tensor,
): void {
  const { xl, policies } = probe;
  const probs = noGrad(() =>
    tidy(() => {
      model.eval();
      try {
        return logits(probe.images ?? cta.apply(xl, policies)).softmax(1);
      } finally {
        model.train();
      }
    }),
  );
  cta.update(policies, ctaProximity(probs, yl));
}

interface Restorable {
  model: Classifier;
  shadow: Classifier;
  ema: Ema;
  opt: Sgd;
  lStream: IndexStream;
  uStream: IndexStream;
  cta: CTAugment | null;
}

/**
 * What a checkpoint's run was made with: the options (the device aside: a run may move), the resolved
 * hyperparameters, digests of the training data and initial weights, and the caller's settings. A
 * resume must match.
 */
function runSettings(o: TrainOptions, params: unknown, data: TrainData, files: RunFiles): Record<string, unknown> {
  const { device: _device, params: _raw, ...rest } = o;
  const digest = (set: ImageSet | null): string | null => {
    if (!set) return null;
    const h = createHash('sha256').update(set.images);
    if (set.labels) h.update(new Uint8Array(set.labels.buffer, set.labels.byteOffset, set.labels.byteLength));
    return `${set.n} images ${set.height}×${set.width}×${set.channels}, sha256 ${h.digest('hex').slice(0, 16)}`;
  };
  return {
    ...rest,
    // The initial weights by content: the same file elsewhere (another worker's mount) is the same run.
    init: o.init ? `sha256 ${createHash('sha256').update(readFileSync(o.init)).digest('hex').slice(0, 16)}` : undefined,
    params,
    labeledData: digest(data.labeled),
    unlabeledData: digest(ALGORITHMS[o.algorithm].unlabeled ? data.unlabeled : null),
    // Absent without one, so that checkpoints from before validation sets compare equal.
    ...(data.validation ? { validationData: digest(data.validation) } : {}),
    logModel: files.logModel ?? 'live',
    ...files.settings,
  };
}

/** Refuses a checkpoint made with other settings, naming each that differs (older checkpoints recorded none). */
function checkSettings(stored: string | undefined, settings: Record<string, unknown>): void {
  if (!stored) return;
  const before = JSON.parse(stored) as Record<string, unknown>;
  const show = (v: unknown): string => (v === undefined ? 'unset' : JSON.stringify(v));
  const diffs = [...new Set([...Object.keys(before), ...Object.keys(settings)])]
    .filter((k) => show(before[k]) !== show(settings[k]))
    .map((k) => `${k}: ${show(before[k])} in the checkpoint, ${show(settings[k])} now`);
  if (diffs.length) {
    throw new Error(
      `its checkpoint was made with other settings (${diffs.join('; ')}); ` +
        'resume with the same settings, or train into a new folder',
    );
  }
}

function save(path: string, step: number, settings: Record<string, unknown>, r: Restorable): void {
  tidy(() => {
    const tensors: Record<string, Tensor> = {};
    for (const [k, t] of Object.entries(r.model.stateDict())) tensors[`model.${k}`] = t;
    for (const [k, t] of Object.entries(r.shadow.stateDict())) tensors[`ema.${k}`] = t;
    for (const [k, t] of Object.entries(r.opt.stateDict())) tensors[`opt.${k}`] = t;
    tensors.rng = getRngState();
    tensors['data.labeled_order'] = tensor(r.lStream.order, [r.lStream.order.length], { dtype: 'int64' });
    tensors['data.unlabeled_order'] = tensor(r.uStream.order, [r.uStream.order.length], { dtype: 'int64' });
    saveSafetensors(path, tensors, {
      step: String(step),
      ema_updates: String(r.ema.updates),
      labeled_cursor: String(r.lStream.cursor),
      unlabeled_cursor: String(r.uStream.cursor),
      ctaugment: r.cta ? JSON.stringify(r.cta.state()) : '',
      settings: JSON.stringify(settings),
    });
  });
}

function restore(path: string, settings: Record<string, unknown>, r: Restorable): number {
  const { tensors, metadata } = loadSafetensors(path);
  try {
    checkSettings(metadata.settings, settings);
    const pick = (prefix: string) =>
      Object.fromEntries(
        Object.entries(tensors)
          .filter(([k]) => k.startsWith(prefix))
          .map(([k, t]) => [k.slice(prefix.length), t]),
      );
    r.model.loadStateDict(pick('model.'));
    r.shadow.loadStateDict(pick('ema.'));
    r.opt.loadStateDict(pick('opt.'));
    setRngState(tensors.rng);
    r.lStream.order = tensors['data.labeled_order'].toNumbers();
    r.uStream.order = tensors['data.unlabeled_order'].toNumbers();
    r.lStream.cursor = Number(metadata.labeled_cursor);
    r.uStream.cursor = Number(metadata.unlabeled_cursor);
    r.ema.updates = Number(metadata.ema_updates);
    if (r.cta && metadata.ctaugment) r.cta.loadState(JSON.parse(metadata.ctaugment) as CTAugmentState);
    const step = Number(metadata.step);
    if (!Number.isInteger(step) || step < 0) throw new Error(`${path}: checkpoint has no valid step`);
    r.opt.step = step;
    return step;
  } catch (err) {
    throw new Error(`cannot resume from ${path}: ${(err as Error).message}`);
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
}

function readMetrics(path: string): EpochInfo[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as EpochInfo);
}

/** Fully supervised training (the baseline), for callers that have labels only. */
export function trainSupervised(
  options: Partial<TrainOptions>,
  labeled: ImageSet,
  test: ImageSet | null,
  hooks: TrainHooks = {},
): Promise<TrainResult> {
  return train({ ...options, algorithm: 'supervised' }, { labeled, unlabeled: null, test }, hooks);
}

/** The normalisation saved in a model's metadata, checked against the data's channels. */
export function checkNormalization(json: string, channels: number, path: string): Normalization {
  let norm: Normalization;
  try {
    norm = JSON.parse(json) as Normalization;
  } catch {
    throw new Error(`${path}: its metadata 'norm' is not JSON`);
  }
  const ok = (xs: unknown, positive: boolean): boolean =>
    Array.isArray(xs) &&
    xs.length === channels &&
    xs.every((x) => typeof x === 'number' && Number.isFinite(x) && (!positive || x > 0));
  if (!ok(norm?.mean, false) || !ok(norm?.std, true)) {
    throw new Error(`${path}: its metadata 'norm' needs ${channels} finite means and positive stds, got ${json}`);
  }
  return { mean: norm.mean, std: norm.std };
}
