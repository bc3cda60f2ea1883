// DC-GAN (Radford et al. 2016), sized for 28×28 and 32×32 images: the generator behind the
// paper's GAN-latent interpolation attack (section 4.2). Generator: z → (s/4)×(s/4)×4w → two ×2
// upsamplings with BatchNorm and ReLU → tanh image in [−1, 1]. Each upsampling is a nearest resize
// followed by a 3×3 convolution (Odena et al.'s resize-convolution) rather than a stride-2
// transposed convolution: libtorch 1.13's CPU transposed convolution has no oneDNN path and ran a
// generator step 6× slower. Discriminator: two stride-2 convolutions, LeakyReLU(0.2), one logit.
import { tidy, upsampleNearest2d, type Device, type Tensor } from '../tensor/index.js';
import { BatchNorm2d, Conv2d, Linear } from './layers.js';
import { Module } from './module.js';

export interface DcganOptions {
  imageSize: number;
  channels: number;
  latent?: number;
  width?: number;
  device?: Device;
}

function checkSize(imageSize: number): void {
  if (!Number.isInteger(imageSize) || imageSize % 4 !== 0 || imageSize < 8) {
    throw new Error(`DC-GAN: image size must be a multiple of 4 (28, 32, ...), got ${imageSize}`);
  }
}

export class Generator extends Module {
  readonly latent: number;
  private readonly base: number;
  private readonly w: number;
  private readonly fc: Linear;
  private readonly bn0: BatchNorm2d;
  private readonly up1: Conv2d;
  private readonly bn1: BatchNorm2d;
  private readonly up2: Conv2d;
  constructor(opts: DcganOptions) {
    super();
    checkSize(opts.imageSize);
    const { device } = opts;
    this.latent = opts.latent ?? 64;
    this.w = opts.width ?? 32;
    this.base = opts.imageSize / 4;
    const ch = 4 * this.w * this.base * this.base;
    this.fc = this.registerModule('fc', new Linear(this.latent, ch, { init: 'normal02', device }));
    this.bn0 = this.registerModule('bn0', new BatchNorm2d(4 * this.w, { momentum: 0.1, eps: 1e-5, device }));
    const t = { padding: 1, init: 'normal02' as const, device };
    this.up1 = this.registerModule('up1', new Conv2d(4 * this.w, 2 * this.w, 3, t));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(2 * this.w, { momentum: 0.1, eps: 1e-5, device }));
    this.up2 = this.registerModule('up2', new Conv2d(2 * this.w, opts.channels, 3, { ...t, bias: true }));
  }
  /** z (N×latent) → images N×C×H×W in [−1, 1]. */
  forward(z: Tensor): Tensor {
    return tidy(() => {
      const h = this.fc.forward(z).reshape([z.shape[0], 4 * this.w, this.base, this.base]);
      const a = this.bn0.forward(h).relu();
      const s = this.base;
      const b = this.bn1.forward(this.up1.forward(upsampleNearest2d(a, [2 * s, 2 * s]))).relu();
      return this.up2.forward(upsampleNearest2d(b, [4 * s, 4 * s])).tanh();
    });
  }
}

export class Discriminator extends Module {
  private readonly c1: Conv2d;
  private readonly c2: Conv2d;
  private readonly bn: BatchNorm2d;
  private readonly fc: Linear;
  constructor(opts: DcganOptions) {
    super();
    checkSize(opts.imageSize);
    const { device } = opts;
    const w = opts.width ?? 32;
    this.c1 = this.registerModule(
      'c1',
      new Conv2d(opts.channels, 2 * w, 4, { stride: 2, padding: 1, init: 'normal02', device }),
    );
    this.c2 = this.registerModule(
      'c2',
      new Conv2d(2 * w, 4 * w, 4, { stride: 2, padding: 1, init: 'normal02', device }),
    );
    this.bn = this.registerModule('bn', new BatchNorm2d(4 * w, { momentum: 0.1, eps: 1e-5, device }));
    const s = opts.imageSize / 4;
    this.fc = this.registerModule('fc', new Linear(4 * w * s * s, 1, { init: 'normal02', device }));
  }
  /** Images in [−1, 1] → one logit each (N). */
  forward(x: Tensor): Tensor {
    return tidy(() => {
      const a = this.c1.forward(x).leakyRelu(0.2);
      const b = this.bn.forward(this.c2.forward(a)).leakyRelu(0.2);
      return this.fc.forward(b.flatten(1)).squeeze(1);
    });
  }
}
