// Layers: convolutions, dense, BatchNorm, activations, dropout. Parameters are created on the
// module's device and initialised the way the FixMatch reference code initialises them.
import {
  batchNorm,
  channelsLast,
  conv2d,
  convTranspose2d,
  dropout,
  empty,
  linear,
  noGrad,
  ones,
  zeros,
  type Device,
  type Tensor,
} from '../tensor/index.js';
import { Module } from './module.js';

export type Init = 'kaimingFanOut' | 'kaimingFanIn' | 'xavierNormal' | 'xavierUniform' | 'normal02';

/** Fills a weight in place; fanIn/fanOut as PyTorch computes them for conv and dense kernels. */
export function initWeight(w: Tensor, init: Init, fans: { fanIn: number; fanOut: number }): void {
  noGrad(() => {
    switch (init) {
      case 'kaimingFanOut':
        w.normal_(0, Math.sqrt(2 / fans.fanOut));
        break;
      case 'kaimingFanIn':
        w.normal_(0, Math.sqrt(2 / fans.fanIn));
        break;
      case 'xavierNormal':
        w.normal_(0, Math.sqrt(2 / (fans.fanIn + fans.fanOut)));
        break;
      case 'xavierUniform': {
        const a = Math.sqrt(6 / (fans.fanIn + fans.fanOut));
        w.uniform_(-a, a);
        break;
      }
      case 'normal02':
        w.normal_(0, 0.02);
        break;
    }
  });
}

function positiveInt(layer: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${layer}: ${name} must be a positive integer, got ${v}`);
}

export interface ConvOptions {
  stride?: number;
  padding?: number;
  bias?: boolean;
  init?: Init;
  device?: Device;
}

export class Conv2d extends Module {
  readonly stride: number;
  readonly padding: number;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    opts: ConvOptions = {},
  ) {
    super();
    positiveInt('Conv2d', 'inChannels', inChannels);
    positiveInt('Conv2d', 'outChannels', outChannels);
    positiveInt('Conv2d', 'kernelSize', kernelSize);
    this.stride = opts.stride ?? 1;
    this.padding = opts.padding ?? Math.floor(kernelSize / 2);
    const k2 = kernelSize * kernelSize;
    const w = empty([outChannels, inChannels, kernelSize, kernelSize], { device: opts.device });
    initWeight(w, opts.init ?? 'kaimingFanOut', { fanIn: inChannels * k2, fanOut: outChannels * k2 });
    // Channels-last storage: the convolutions (and everything downstream) run in NHWC order.
    this.registerParameter('weight', channelsLast(w));
    w.dispose();
    if (opts.bias ?? false)
      this.registerParameter('bias', zeros([outChannels], { device: opts.device }), { decay: false });
  }
  forward(x: Tensor): Tensor {
    return conv2d(x, this.p.weight, this.p.bias ?? null, { stride: this.stride, padding: this.padding });
  }
}

export interface ConvTransposeOptions extends ConvOptions {
  outputPadding?: number;
}

export class ConvTranspose2d extends Module {
  readonly stride: number;
  readonly padding: number;
  readonly outputPadding: number;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    opts: ConvTransposeOptions = {},
  ) {
    super();
    positiveInt('ConvTranspose2d', 'inChannels', inChannels);
    positiveInt('ConvTranspose2d', 'outChannels', outChannels);
    positiveInt('ConvTranspose2d', 'kernelSize', kernelSize);
    this.stride = opts.stride ?? 1;
    this.padding = opts.padding ?? 0;
    this.outputPadding = opts.outputPadding ?? 0;
    const k2 = kernelSize * kernelSize;
    const w = empty([inChannels, outChannels, kernelSize, kernelSize], { device: opts.device });
    initWeight(w, opts.init ?? 'normal02', { fanIn: outChannels * k2, fanOut: inChannels * k2 });
    this.registerParameter('weight', w);
    if (opts.bias ?? false)
      this.registerParameter('bias', zeros([outChannels], { device: opts.device }), { decay: false });
  }
  forward(x: Tensor): Tensor {
    return convTranspose2d(x, this.p.weight, this.p.bias ?? null, {
      stride: this.stride,
      padding: this.padding,
      outputPadding: this.outputPadding,
    });
  }
}

export interface LinearOptions {
  bias?: boolean;
  init?: Init;
  device?: Device;
}

export class Linear extends Module {
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: LinearOptions = {},
  ) {
    super();
    positiveInt('Linear', 'inFeatures', inFeatures);
    positiveInt('Linear', 'outFeatures', outFeatures);
    const w = empty([outFeatures, inFeatures], { device: opts.device });
    initWeight(w, opts.init ?? 'xavierNormal', { fanIn: inFeatures, fanOut: outFeatures });
    this.registerParameter('weight', w);
    if (opts.bias ?? true)
      this.registerParameter('bias', zeros([outFeatures], { device: opts.device }), { decay: false });
  }
  forward(x: Tensor): Tensor {
    return linear(x, this.p.weight, this.p.bias ?? null);
  }
}

export interface BatchNorm2dOptions {
  /** PyTorch convention; 0.001 is the FixMatch code's TF momentum 0.999. */
  momentum?: number;
  eps?: number;
  device?: Device;
}

/** BatchNorm over N×C×H×W (or N×C) with affine weight and bias and running statistics. */
export class BatchNorm2d extends Module {
  momentum: number;
  readonly eps: number;
  /**
   * Whether a train-mode pass updates the running statistics; off, it still normalises with the batch's
   * own (the reference's extra passes whose BatchNorm update ops are skipped, e.g. VAT's perturbed ones).
   */
  updateStats = true;
  constructor(
    readonly numFeatures: number,
    opts: BatchNorm2dOptions = {},
  ) {
    super();
    positiveInt('BatchNorm2d', 'numFeatures', numFeatures);
    this.momentum = opts.momentum ?? 0.001;
    this.eps = opts.eps ?? 1e-3;
    if (!(this.momentum >= 0 && this.momentum <= 1)) throw new Error(`BatchNorm2d: momentum must be in [0, 1]`);
    this.registerParameter('weight', ones([numFeatures], { device: opts.device }), { decay: false });
    this.registerParameter('bias', zeros([numFeatures], { device: opts.device }), { decay: false });
    this.registerBuffer('running_mean', zeros([numFeatures], { device: opts.device }));
    this.registerBuffer('running_var', ones([numFeatures], { device: opts.device }));
  }
  forward(x: Tensor): Tensor {
    const track = !this.training || this.updateStats;
    return batchNorm(
      x,
      track ? this.b.running_mean : null,
      track ? this.b.running_var : null,
      this.p.weight,
      this.p.bias,
      {
        training: this.training,
        momentum: this.momentum,
        eps: this.eps,
      },
    );
  }
}

export class LeakyReLU extends Module {
  constructor(readonly slope = 0.1) {
    super();
  }
  forward(x: Tensor): Tensor {
    return x.leakyRelu(this.slope);
  }
}

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return x.relu();
  }
}

export class Tanh extends Module {
  forward(x: Tensor): Tensor {
    return x.tanh();
  }
}

export class Dropout extends Module {
  constructor(readonly rate = 0.5) {
    super();
    if (!(rate >= 0 && rate < 1)) throw new Error(`Dropout: rate must be in [0, 1), got ${rate}`);
  }
  forward(x: Tensor): Tensor {
    return dropout(x, this.rate, this.training);
  }
}

/** Mean over the spatial dims: N×C×H×W → N×C. */
export class GlobalAvgPool extends Module {
  forward(x: Tensor): Tensor {
    return x.mean([2, 3]);
  }
}

export class Flatten extends Module {
  forward(x: Tensor): Tensor {
    return x.flatten(1);
  }
}
