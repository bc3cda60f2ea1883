// Classifiers: WRN-28-2 as in the FixMatch reference code, a CPU-sized CNN for 28×28 images, an MLP.
import { loadSafetensors, maxPool2d, tidy, type Device, type Tensor } from '../tensor/index.js';
import { BatchNorm2d, Conv2d, Dropout, GlobalAvgPool, LeakyReLU, Linear, ReLU, Tanh } from './layers.js';
import { Module, Sequential } from './module.js';

/** A model that maps images to logits and exposes the penultimate embedding. */
export abstract class Classifier extends Module {
  abstract readonly numClasses: number;
  /** Penultimate features (N×D): the defenses can cluster in this space. */
  abstract embed(x: Tensor): Tensor;
  abstract head(features: Tensor): Tensor;
  forward(x: Tensor): Tensor {
    return tidy(() => this.head(this.embed(x)));
  }
}

export interface WideResNetOptions {
  numClasses?: number;
  inChannels?: number;
  /** Filters of the first scale (32 for WRN-28-2); doubles at each later scale. */
  filters?: number;
  /** Residual units per scale ((depth − 4) / 6; 4 for depth 28). */
  repeat?: number;
  scales?: number;
  bnMomentum?: number;
  dropout?: number;
  device?: Device;
}

/**
 * Pre-activation residual unit of FixMatch's libml/models.py: BN-LReLU-conv-BN-LReLU-conv, with a
 * 1×1 projection when the width changes; the first unit of the network takes the activated input
 * on both paths (activate_before_residual).
 */
class ResidualUnit extends Module {
  private readonly bn1: BatchNorm2d;
  private readonly conv1: Conv2d;
  private readonly bn2: BatchNorm2d;
  private readonly conv2: Conv2d;
  private readonly shortcut: Conv2d | null;
  constructor(
    inC: number,
    outC: number,
    stride: number,
    private readonly activateBeforeResidual: boolean,
    bnMomentum: number,
    device?: Device,
  ) {
    super();
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(inC, { momentum: bnMomentum, device }));
    this.conv1 = this.registerModule('conv1', new Conv2d(inC, outC, 3, { stride, padding: 1, device }));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(outC, { momentum: bnMomentum, device }));
    this.conv2 = this.registerModule('conv2', new Conv2d(outC, outC, 3, { padding: 1, device }));
    this.shortcut =
      inC !== outC ? this.registerModule('shortcut', new Conv2d(inC, outC, 1, { stride, padding: 0, device })) : null;
  }
  forward(x0: Tensor): Tensor {
    return tidy(() => {
      const a = this.bn1.forward(x0).leakyRelu(0.1);
      const skipIn = this.activateBeforeResidual ? a : x0;
      const h = this.conv2.forward(this.bn2.forward(this.conv1.forward(a)).leakyRelu(0.1));
      const skip = this.shortcut ? this.shortcut.forward(skipIn) : skipIn;
      return skip.add(h);
    });
  }
}

/** WRN-28-2 (1.47M parameters) exactly as the paper's FixMatch experiments use it. */
export class WideResNet extends Classifier {
  readonly numClasses: number;
  private readonly stem: Conv2d;
  private readonly units: ResidualUnit[] = [];
  private readonly bn: BatchNorm2d;
  private readonly fc: Linear;
  private readonly drop: Dropout | null;
  constructor(opts: WideResNetOptions = {}) {
    super();
    const { device } = opts;
    const filters = opts.filters ?? 32;
    const repeat = opts.repeat ?? 4;
    const scales = opts.scales ?? 3;
    const mom = opts.bnMomentum ?? 0.001;
    this.numClasses = opts.numClasses ?? 10;
    this.stem = this.registerModule('stem', new Conv2d(opts.inChannels ?? 3, 16, 3, { padding: 1, device }));
    let c = 16;
    for (let s = 0; s < scales; s++) {
      const out = filters << s;
      for (let i = 0; i < repeat; i++) {
        const unit = new ResidualUnit(
          i === 0 ? c : out,
          out,
          i === 0 && s > 0 ? 2 : 1,
          s === 0 && i === 0,
          mom,
          device,
        );
        this.units.push(this.registerModule(`unit${s}_${i}`, unit));
      }
      c = out;
    }
    this.bn = this.registerModule('bn', new BatchNorm2d(c, { momentum: mom, device }));
    this.drop = opts.dropout ? this.registerModule('dropout', new Dropout(opts.dropout)) : null;
    this.fc = this.registerModule('fc', new Linear(c, this.numClasses, { init: 'xavierNormal', device }));
  }
  embed(x: Tensor): Tensor {
    return tidy(() => {
      let y = this.stem.forward(x);
      for (const u of this.units) y = u.forward(y);
      return this.bn.forward(y).leakyRelu(0.1).mean([2, 3]);
    });
  }
  head(f: Tensor): Tensor {
    return tidy(() => this.fc.forward(this.drop ? this.drop.forward(f) : f));
  }
}

export interface CnnOptions {
  numClasses?: number;
  inChannels?: number;
  /** Filters of the first two convs; doubled twice further down. */
  width?: number;
  bnMomentum?: number;
  device?: Device;
}

/**
 * The CPU-sized classifier: five 3×3 conv-BN-LReLU layers (w, w, pool, 2w, 2w, pool, 4w), global
 * average pooling and a dense layer. Width 16 has 36k parameters; it trains on Fashion-MNIST in minutes.
 */
export class SmallCnn extends Classifier {
  readonly numClasses: number;
  private readonly body: Sequential;
  private readonly fc: Linear;
  constructor(opts: CnnOptions = {}) {
    super();
    const { device } = opts;
    const w = opts.width ?? 32;
    const mom = opts.bnMomentum ?? 0.001;
    this.numClasses = opts.numClasses ?? 10;
    const block = (i: number, o: number, stride = 1): Module[] => [
      new Conv2d(i, o, 3, { padding: 1, stride, device }),
      new BatchNorm2d(o, { momentum: mom, device }),
      new LeakyReLU(0.1),
    ];
    this.body = this.registerModule(
      'body',
      new Sequential(
        ...block(opts.inChannels ?? 1, w),
        ...block(w, w),
        new MaxPool(2),
        ...block(w, 2 * w),
        ...block(2 * w, 2 * w),
        new MaxPool(2),
        ...block(2 * w, 4 * w),
        new GlobalAvgPool(),
      ),
    );
    this.fc = this.registerModule('fc', new Linear(4 * w, this.numClasses, { device }));
  }
  embed(x: Tensor): Tensor {
    return this.body.forward(x);
  }
  head(f: Tensor): Tensor {
    return this.fc.forward(f);
  }
}

class MaxPool extends Module {
  constructor(private readonly k: number) {
    super();
  }
  forward(x: Tensor): Tensor {
    return maxPool2d(x, this.k);
  }
}

export interface MlpOptions {
  inFeatures: number;
  hidden?: number[];
  numClasses?: number;
  activation?: 'relu' | 'tanh' | 'leakyRelu';
  device?: Device;
}

/** A multilayer perceptron on flat features (the 2-D illustration of Figure 1 uses one). */
export class Mlp extends Classifier {
  readonly numClasses: number;
  private readonly body: Sequential;
  private readonly fc: Linear;
  constructor(opts: MlpOptions) {
    super();
    this.numClasses = opts.numClasses ?? 2;
    const layers: Module[] = [];
    let d = opts.inFeatures;
    for (const h of opts.hidden ?? [32, 32]) {
      layers.push(new Linear(d, h, { init: 'kaimingFanIn', device: opts.device }));
      const act = opts.activation ?? 'relu';
      layers.push(act === 'relu' ? new ReLU() : act === 'tanh' ? new Tanh() : new LeakyReLU(0.1));
      d = h;
    }
    this.body = this.registerModule('body', new Sequential(...layers));
    this.fc = this.registerModule('fc', new Linear(d, this.numClasses, { device: opts.device }));
  }
  embed(x: Tensor): Tensor {
    return this.body.forward(x.ndim > 2 ? x.flatten(1) : x);
  }
  head(f: Tensor): Tensor {
    return this.fc.forward(f);
  }
}

export interface ModelOptions {
  numClasses: number;
  inChannels: number;
  /** Height/width of the square input images (the MLP needs it). */
  imageSize: number;
  device?: Device;
  bnMomentum?: number;
  width?: number;
}

/** Every classifier by name: one place to add a model. */
export const MODELS = {
  wrn28_2: (o: ModelOptions) =>
    new WideResNet({
      numClasses: o.numClasses,
      inChannels: o.inChannels,
      filters: o.width ?? 32,
      bnMomentum: o.bnMomentum,
      device: o.device,
    }),
  cnn: (o: ModelOptions) =>
    new SmallCnn({
      numClasses: o.numClasses,
      inChannels: o.inChannels,
      width: o.width ?? 32,
      bnMomentum: o.bnMomentum,
      device: o.device,
    }),
  mlp: (o: ModelOptions) =>
    new Mlp({
      inFeatures: o.inChannels * o.imageSize * o.imageSize,
      hidden: [o.width ?? 256, o.width ?? 256],
      numClasses: o.numClasses,
      device: o.device,
    }),
} satisfies Record<string, (o: ModelOptions) => Classifier>;

export type ModelName = keyof typeof MODELS;

export function createModel(name: ModelName, opts: ModelOptions): Classifier {
  const make = MODELS[name];
  if (!make) throw new Error(`unknown model '${name}': choose one of ${Object.keys(MODELS).join(', ')}`);
  return make(opts);
}

/**
 * Loads a classifier saved by `semipoison train` (model.safetensors, whose metadata names the model
 * and its config): the victim's initial weights θ_init for transfer learning and its attack.
 */
export function loadClassifier(
  path: string,
  opts: ModelOptions,
): { model: Classifier; metadata: Record<string, string> } {
  const { tensors, metadata } = loadSafetensors(path);
  try {
    const name = metadata.model as ModelName;
    if (!name || !(name in MODELS))
      throw new Error(`${path}: the metadata names no known model (model='${name ?? ''}')`);
    const config = metadata.config ? (JSON.parse(metadata.config) as { width?: number }) : {};
    const model = createModel(name, { ...opts, width: config.width ?? opts.width });
    model.loadStateDict(tensors);
    return { model, metadata };
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
}
