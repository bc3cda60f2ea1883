// Typed wrappers for tensor creation, randomness and the neural-network operators. Each checks
// its arguments in TypeScript first, so mistakes read as "conv2d: weight has 3 input channels,
// input has 1" rather than as a C++ stack trace.
import { native } from './native.js';
import {
  Tensor,
  callOp,
  checkDtype,
  checkFinite,
  checkInt,
  checkShape,
  FLOAT_DTYPES,
  type Device,
  type DType,
  type Shape,
} from './tensor.js';

export interface CreateOptions {
  dtype?: DType;
  device?: Device;
}

function numelOf(shape: Shape): number {
  return shape.reduce((a, b) => a * b, 1);
}

const ARRAY_TYPES: Record<DType, new (n: number) => ArrayBufferView> = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  bfloat16: Uint16Array,
  int64: BigInt64Array,
  int32: Int32Array,
  int16: Int16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

function defaultDtype(data: ArrayBufferView | readonly number[]): DType {
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Uint8Array) return 'uint8';
  return 'float32';
}

/**
 * A tensor holding a copy of data. Plain arrays are converted to the dtype (float32 by default);
 * TypedArrays must match it (float16/bfloat16 take raw Uint16 bits).
 */
export function tensor(data: ArrayBufferView | readonly number[], shape?: Shape, opts: CreateOptions = {}): Tensor {
  const dtype = opts.dtype ?? defaultDtype(data);
  const length = Array.isArray(data) ? data.length : (data as unknown as { length: number }).length;
  const dims = shape ?? [length];
  checkShape('tensor', 'shape', dims);
  if (numelOf(dims) !== length) {
    throw new Error(`tensor: ${length} values do not fill shape [${dims.join(',')}] (${numelOf(dims)} elements)`);
  }
  let typed: ArrayBufferView;
  if (Array.isArray(data)) {
    const Ctor = ARRAY_TYPES[dtype];
    if (dtype === 'float16' || dtype === 'bfloat16') {
      return tensor(Float32Array.from(data as number[]), dims, { device: opts.device }).to(dtype);
    }
    const arr = new Ctor(length) as unknown as { [i: number]: number | bigint };
    for (let i = 0; i < length; i++) {
      const v = (data as readonly number[])[i];
      arr[i] = dtype === 'int64' ? BigInt(Math.trunc(v)) : v;
    }
    typed = arr as unknown as ArrayBufferView;
  } else {
    typed = data as ArrayBufferView;
    const Ctor = ARRAY_TYPES[dtype];
    if (!(typed instanceof Ctor)) {
      throw new Error(
        `tensor: a ${(typed as object).constructor.name} cannot hold dtype ${dtype} (expected ${Ctor.name})`,
      );
    }
  }
  return new Tensor(native.fromArray(typed, [...dims], dtype, opts.device));
}

export function scalar(value: number, opts: CreateOptions = {}): Tensor {
  return tensor([value], [], opts);
}

function factory(name: string, shape: Shape, opts: CreateOptions, extra: unknown[] = [], overload = ''): Tensor {
  checkShape(name, 'shape', shape);
  return callOp(name, overload, [[...shape], ...extra], { dtype: opts.dtype ?? 'float32', device: opts.device });
}

export function zeros(shape: Shape, opts: CreateOptions = {}): Tensor {
  return factory('zeros', shape, opts);
}
export function ones(shape: Shape, opts: CreateOptions = {}): Tensor {
  return factory('ones', shape, opts);
}
export function empty(shape: Shape, opts: CreateOptions = {}): Tensor {
  return factory('empty', shape, opts, [], 'memory_format');
}
export function full(shape: Shape, value: number, opts: CreateOptions = {}): Tensor {
  checkFinite('full', 'value', value);
  return factory('full', shape, opts, [value]);
}
/**
 * A copy of a 4-D tensor in channels-last (NHWC) memory order, same shape and values. oneDNN's
 * convolutions run about 20% faster when weights are stored this way, and their outputs keep the
 * layout. Strides are set explicitly because contiguous(channels_last) leaves single-channel
 * tensors (ambiguous layouts) untouched.
 */
export function channelsLast(t: Tensor): Tensor {
  if (t.shape.length !== 4) throw new Error(`channelsLast: expected a 4-D tensor, got shape [${t.shape.join(', ')}]`);
  const [, c, h, w] = t.shape as [number, number, number, number];
  const out = callOp<Tensor>('empty_strided', '', [[...t.shape], [c * h * w, 1, w * c, c]], {
    dtype: t.dtype,
    device: t.device,
  });
  return out.copy_(t);
}

export function zerosLike(t: Tensor): Tensor {
  return callOp('zeros_like', '', [t]);
}
export function onesLike(t: Tensor): Tensor {
  return callOp('ones_like', '', [t]);
}
export function fullLike(t: Tensor, value: number): Tensor {
  checkFinite('fullLike', 'value', value);
  return callOp('full_like', '', [t, value]);
}
export function eye(n: number, opts: CreateOptions = {}): Tensor {
  checkInt('eye', 'n', n, 0);
  return callOp('eye', '', [n], { dtype: opts.dtype ?? 'float32', device: opts.device });
}
/** start, start+step, ... below end (int64 by default for integer arguments, as torch.arange). */
export function arange(start: number, end?: number, step = 1, opts: CreateOptions = {}): Tensor {
  if (end === undefined) [start, end] = [0, start];
  checkFinite('arange', 'start', start);
  checkFinite('arange', 'end', end);
  checkFinite('arange', 'step', step);
  if (step === 0) throw new Error('arange: step must be non-zero');
  const ints = Number.isInteger(start) && Number.isInteger(end) && Number.isInteger(step);
  return callOp('arange', 'start_step', [start, end, step], {
    dtype: opts.dtype ?? (ints ? 'int64' : 'float32'),
    device: opts.device,
  });
}
export function linspace(start: number, end: number, steps: number, opts: CreateOptions = {}): Tensor {
  checkFinite('linspace', 'start', start);
  checkFinite('linspace', 'end', end);
  checkInt('linspace', 'steps', steps, 0);
  return callOp('linspace', '', [start, end, steps], { dtype: opts.dtype ?? 'float32', device: opts.device });
}

// ------------------------------------------------------------------ random (global, seeded generator)

export function rand(shape: Shape, opts: CreateOptions = {}): Tensor {
  return factory('rand', shape, opts);
}
export function randn(shape: Shape, opts: CreateOptions = {}): Tensor {
  return factory('randn', shape, opts);
}
export function uniform(shape: Shape, low: number, high: number, opts: CreateOptions = {}): Tensor {
  return empty(shape, opts).uniform_(low, high);
}
export function normal(shape: Shape, mean: number, std: number, opts: CreateOptions = {}): Tensor {
  return empty(shape, opts).normal_(mean, std);
}
/** Integers uniform in [low, high). */
export function randint(low: number, high: number, shape: Shape, opts: CreateOptions = {}): Tensor {
  checkInt('randint', 'low', low);
  checkInt('randint', 'high', high);
  if (high <= low) throw new Error(`randint: high (${high}) must be greater than low (${low})`);
  checkShape('randint', 'shape', shape);
  return callOp('randint', 'low', [low, high, [...shape]], { dtype: opts.dtype ?? 'int64', device: opts.device });
}
export function randperm(n: number, opts: CreateOptions = {}): Tensor {
  checkInt('randperm', 'n', n, 0);
  return callOp('randperm', '', [n], { dtype: opts.dtype ?? 'int64', device: opts.device });
}
/** Bernoulli draws: with a tensor of probabilities, or with one probability p for a given shape. */
export function bernoulli(probs: Tensor): Tensor;
export function bernoulli(p: number, shape: Shape, opts?: CreateOptions): Tensor;
export function bernoulli(p: Tensor | number, shape?: Shape, opts: CreateOptions = {}): Tensor {
  if (p instanceof Tensor) {
    checkDtype('bernoulli', p, FLOAT_DTYPES, 'probs');
    return callOp('bernoulli', '', [p]);
  }
  checkFinite('bernoulli', 'p', p);
  if (p < 0 || p > 1) throw new Error(`bernoulli: p must be in [0, 1], got ${p}`);
  const z = empty(shape ?? [], opts);
  const r = callOp<Tensor>('bernoulli', 'p', [z, p]);
  z.dispose();
  return r;
}
export function multinomial(probs: Tensor, numSamples: number, replacement = false): Tensor {
  checkInt('multinomial', 'numSamples', numSamples, 1);
  return callOp('multinomial', '', [probs, numSamples, replacement]);
}

// ------------------------------------------------------------------ joining

export function cat(tensors: Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new Error('cat: needs at least one tensor');
  return callOp('cat', '', [tensors, dim]);
}
export function stack(tensors: Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new Error('stack: needs at least one tensor');
  const s = tensors[0].shape.join(',');
  const bad = tensors.find((t) => t.shape.join(',') !== s);
  if (bad) throw new Error(`stack: all tensors need the same shape, got [${s}] and [${bad.shape.join(',')}]`);
  return callOp('stack', '', [tensors, dim]);
}
export function where(condition: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  checkDtype('where', condition, ['bool'], 'condition');
  if (a instanceof Tensor && b instanceof Tensor) return callOp('where', 'self', [condition, a, b]);
  if (a instanceof Tensor) return callOp('where', 'ScalarOther', [condition, a, b]);
  if (b instanceof Tensor) return callOp('where', 'ScalarSelf', [condition, a, b]);
  return callOp('where', 'Scalar', [condition, a, b]);
}

// ------------------------------------------------------------------ neural-network operators

function pair(v: number | [number, number]): [number, number] {
  return typeof v === 'number' ? [v, v] : v;
}

export interface Conv2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  groups?: number;
}

/** 2-D convolution; input N×C×H×W, weight O×(C/groups)×kH×kW. */
export function conv2d(input: Tensor, weight: Tensor, bias: Tensor | null = null, opts: Conv2dOptions = {}): Tensor {
  const groups = opts.groups ?? 1;
  if (input.ndim !== 4) throw new Error(`conv2d: input must be N×C×H×W, got shape [${input.shape.join(',')}]`);
  if (weight.ndim !== 4) throw new Error(`conv2d: weight must be O×I×kH×kW, got shape [${weight.shape.join(',')}]`);
  if (input.shape[1] !== weight.shape[1] * groups) {
    throw new Error(`conv2d: weight expects ${weight.shape[1] * groups} input channels, input has ${input.shape[1]}`);
  }
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== weight.shape[0])) {
    throw new Error(`conv2d: bias must have shape [${weight.shape[0]}], got [${bias.shape.join(',')}]`);
  }
  return callOp('conv2d', '', [
    input,
    weight,
    bias,
    pair(opts.stride ?? 1),
    pair(opts.padding ?? 0),
    pair(opts.dilation ?? 1),
    groups,
  ]);
}

export interface ConvTranspose2dOptions extends Conv2dOptions {
  outputPadding?: number | [number, number];
}

/** Transposed 2-D convolution; weight I×(O/groups)×kH×kW as in PyTorch. */
export function convTranspose2d(
  input: Tensor,
  weight: Tensor,
  bias: Tensor | null = null,
  opts: ConvTranspose2dOptions = {},
): Tensor {
  if (input.ndim !== 4) throw new Error(`convTranspose2d: input must be N×C×H×W, got [${input.shape.join(',')}]`);
  if (weight.ndim !== 4 || weight.shape[0] !== input.shape[1]) {
    throw new Error(
      `convTranspose2d: weight [${weight.shape.join(',')}] does not match ${input.shape[1]} input channels`,
    );
  }
  return callOp('conv_transpose2d', 'input', [
    input,
    weight,
    bias,
    pair(opts.stride ?? 1),
    pair(opts.padding ?? 0),
    pair(opts.outputPadding ?? 0),
    opts.groups ?? 1,
    pair(opts.dilation ?? 1),
  ]);
}

/** x·Wᵀ + b. */
export function linear(input: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  const k = input.shape[input.ndim - 1];
  if (weight.ndim !== 2 || weight.shape[1] !== k) {
    throw new Error(`linear: weight [${weight.shape.join(',')}] does not take inputs with ${k} features`);
  }
  return callOp('linear', '', [input, weight, bias]);
}

export interface BatchNormOptions {
  training: boolean;
  /** PyTorch convention: running = (1 − momentum)·running + momentum·batch. */
  momentum: number;
  eps: number;
}

/** Batch normalisation over N×C×...; updates runningMean/runningVar in place when training. */
export function batchNorm(
  input: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  weight: Tensor | null,
  bias: Tensor | null,
  opts: BatchNormOptions,
): Tensor {
  const c = input.shape[1];
  for (const [name, t] of [
    ['runningMean', runningMean],
    ['runningVar', runningVar],
    ['weight', weight],
    ['bias', bias],
  ] as const) {
    if (t && (t.ndim !== 1 || t.shape[0] !== c)) {
      throw new Error(`batchNorm: ${name} must have shape [${c}], got [${t.shape.join(',')}]`);
    }
  }
  checkFinite('batchNorm', 'momentum', opts.momentum);
  checkFinite('batchNorm', 'eps', opts.eps);
  return callOp('batch_norm', '', [
    input,
    weight,
    bias,
    runningMean,
    runningVar,
    opts.training,
    opts.momentum,
    opts.eps,
    false,
  ]);
}

export function dropout(input: Tensor, p: number, training: boolean): Tensor {
  checkFinite('dropout', 'p', p);
  if (p < 0 || p > 1) throw new Error(`dropout: p must be in [0, 1], got ${p}`);
  return callOp('dropout', '', [input, p, training]);
}

export function maxPool2d(
  input: Tensor,
  kernel: number | [number, number],
  stride?: number | [number, number],
  padding: number | [number, number] = 0,
): Tensor {
  return callOp('max_pool2d', '', [input, pair(kernel), pair(stride ?? kernel), pair(padding)]);
}
export function avgPool2d(
  input: Tensor,
  kernel: number | [number, number],
  stride?: number | [number, number],
  padding: number | [number, number] = 0,
): Tensor {
  return callOp('avg_pool2d', '', [input, pair(kernel), pair(stride ?? kernel), pair(padding)]);
}
export function adaptiveAvgPool2d(input: Tensor, size: number | [number, number]): Tensor {
  return callOp('adaptive_avg_pool2d', '', [input, pair(size)]);
}

export type PadMode = 'constant' | 'reflect' | 'replicate' | 'circular';

/** Pads the last dims: [left, right, top, bottom, ...] as torch.nn.functional.pad. */
export function pad(input: Tensor, padding: number[], mode: PadMode = 'constant', value = 0): Tensor {
  if (padding.length % 2 !== 0 || padding.length / 2 > input.ndim) {
    throw new Error(`pad: padding needs an even number of entries, at most 2 per dim; got ${padding.length}`);
  }
  if (mode === 'reflect') {
    for (let i = 0; i < padding.length / 2; i++) {
      const size = input.shape[input.ndim - 1 - i];
      if (padding[2 * i] >= size || padding[2 * i + 1] >= size) {
        throw new Error(`pad: reflect padding ${padding[2 * i]} must be smaller than the dim size ${size}`);
      }
    }
  }
  return callOp('pad', '', [input, padding, mode, mode === 'constant' ? value : null]);
}

const GRID_MODES = { bilinear: 0, nearest: 1, bicubic: 2 } as const;
const GRID_PADDING = { zeros: 0, border: 1, reflection: 2 } as const;

export interface GridSampleOptions {
  mode?: keyof typeof GRID_MODES;
  paddingMode?: keyof typeof GRID_PADDING;
  alignCorners?: boolean;
}

/** Samples input (N×C×H×W) at grid (N×Ho×Wo×2, coordinates in [−1, 1]). */
export function gridSample(input: Tensor, grid: Tensor, opts: GridSampleOptions = {}): Tensor {
  if (input.ndim !== 4 || grid.ndim !== 4 || grid.shape[3] !== 2 || grid.shape[0] !== input.shape[0]) {
    throw new Error(
      `gridSample: expected input N×C×H×W and grid N×H×W×2, got [${input.shape.join(',')}] and [${grid.shape.join(',')}]`,
    );
  }
  return callOp('grid_sampler', '', [
    input,
    grid,
    GRID_MODES[opts.mode ?? 'bilinear'],
    GRID_PADDING[opts.paddingMode ?? 'zeros'],
    opts.alignCorners ?? false,
  ]);
}

/** Sampling grid for N affine matrices (N×2×3) and an output size [N, C, H, W]. */
export function affineGrid(theta: Tensor, size: [number, number, number, number], alignCorners = false): Tensor {
  if (theta.ndim !== 3 || theta.shape[1] !== 2 || theta.shape[2] !== 3 || theta.shape[0] !== size[0]) {
    throw new Error(`affineGrid: theta must be ${size[0]}×2×3, got [${theta.shape.join(',')}]`);
  }
  return callOp('affine_grid_generator', '', [theta, size, alignCorners]);
}

export type Reduction = 'none' | 'mean' | 'sum';
const REDUCTION = { none: 0, mean: 1, sum: 2 } as const;

/**
 * Cross-entropy from logits (N×C) against class indices (N, int64) or class probabilities (N×C).
 */
export function crossEntropy(
  logits: Tensor,
  target: Tensor,
  opts: { reduction?: Reduction; labelSmoothing?: number } = {},
): Tensor {
  if (logits.ndim !== 2) throw new Error(`crossEntropy: logits must be N×C, got [${logits.shape.join(',')}]`);
  const [n, c] = logits.shape;
  if (target.dtype === 'int64') {
    if (target.ndim !== 1 || target.shape[0] !== n) {
      throw new Error(`crossEntropy: class targets must have shape [${n}], got [${target.shape.join(',')}]`);
    }
    if (n > 0) {
      const lo = target.min();
      const hi = target.max();
      const [mn, mx] = [lo.item(), hi.item()];
      lo.dispose();
      hi.dispose();
      if (mn < 0 || mx >= c) throw new Error(`crossEntropy: class targets must be in [0, ${c}), got [${mn}, ${mx}]`);
    }
  } else if (FLOAT_DTYPES.includes(target.dtype)) {
    if (target.shape.join(',') !== logits.shape.join(',')) {
      throw new Error(
        `crossEntropy: probability targets must match logits [${logits.shape.join(',')}], got [${target.shape.join(',')}]`,
      );
    }
  } else {
    throw new Error(`crossEntropy: target must be int64 class indices or float probabilities, got ${target.dtype}`);
  }
  const ls = opts.labelSmoothing ?? 0;
  checkFinite('crossEntropy', 'labelSmoothing', ls);
  return callOp('cross_entropy_loss', '', [logits, target, null, REDUCTION[opts.reduction ?? 'mean'], -100, ls]);
}

/** KL(target ‖ input) with input given as log-probabilities, as torch.nn.functional.kl_div. */
export function klDiv(
  logInput: Tensor,
  target: Tensor,
  opts: { reduction?: Reduction | 'batchmean'; logTarget?: boolean } = {},
): Tensor {
  if (logInput.shape.join(',') !== target.shape.join(',')) {
    throw new Error(`klDiv: shapes [${logInput.shape.join(',')}] and [${target.shape.join(',')}] differ`);
  }
  const red = opts.reduction ?? 'mean';
  if (red === 'batchmean') {
    const s = callOp<Tensor>('kl_div', '', [logInput, target, REDUCTION.sum, opts.logTarget ?? false]);
    const r = s.div(logInput.shape[0]);
    s.dispose();
    return r;
  }
  return callOp('kl_div', '', [logInput, target, REDUCTION[red], opts.logTarget ?? false]);
}

export function mseLoss(input: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  if (input.shape.join(',') !== target.shape.join(',')) {
    throw new Error(`mseLoss: shapes [${input.shape.join(',')}] and [${target.shape.join(',')}] differ`);
  }
  return callOp('mse_loss', '', [input, target, REDUCTION[reduction]]);
}

/** One-hot float32 rows for int64 labels. */
export function oneHot(labels: Tensor, numClasses: number): Tensor {
  checkDtype('oneHot', labels, ['int64'], 'labels');
  checkInt('oneHot', 'numClasses', numClasses, 1);
  if (labels.numel > 0) {
    const hi = labels.max();
    const lo = labels.min();
    const [mx, mn] = [hi.item(), lo.item()];
    hi.dispose();
    lo.dispose();
    if (mn < 0 || mx >= numClasses) throw new Error(`oneHot: labels must be in [0, ${numClasses}), got [${mn}, ${mx}]`);
  }
  const oh = callOp<Tensor>('one_hot', '', [labels, numClasses]);
  const f = oh.to('float32');
  oh.dispose();
  return f;
}

/** Pairwise p-norm distances between rows of x1 (…×P×M) and x2 (…×R×M). */
export function cdist(x1: Tensor, x2: Tensor, p = 2): Tensor {
  if (x1.shape[x1.ndim - 1] !== x2.shape[x2.ndim - 1]) {
    throw new Error(`cdist: feature sizes differ: ${x1.shape[x1.ndim - 1]} vs ${x2.shape[x2.ndim - 1]}`);
  }
  return callOp('cdist', '', [x1, x2, p, null]);
}

/** Gradients of outputs with respect to inputs (torch.autograd.grad). */
export function grad(
  outputs: Tensor | Tensor[],
  inputs: Tensor[],
  opts: { gradOutputs?: Tensor[]; retainGraph?: boolean; createGraph?: boolean } = {},
): (Tensor | null)[] {
  const outs = Array.isArray(outputs) ? outputs : [outputs];
  const r = native.grad(
    outs.map((t) => t.handle),
    inputs.map((t) => t.handle),
    opts.gradOutputs ? opts.gradOutputs.map((t) => t.handle) : null,
    opts.retainGraph ?? false,
    opts.createGraph ?? false,
  );
  return r.map((h) => (h ? new Tensor(h) : null));
}

/** Nearest-neighbour resize of N×C×H×W to the given height and width. */
export function upsampleNearest2d(input: Tensor, size: [number, number]): Tensor {
  if (input.ndim !== 4) throw new Error(`upsampleNearest2d: input must be N×C×H×W, got [${input.shape.join(',')}]`);
  checkShape('upsampleNearest2d', 'size', size);
  return callOp('upsample_nearest2d', '', [input, size]);
}
