// GAN-latent interpolation (paper section 4.2): train a DC-GAN on the unlabeled images with the
// engine, invert x′ and x* to latent codes z′, z* by gradient descent on ‖G(z) − x‖², place the
// bridge at G((1 − α)z′ + αz*), and close the two remaining gaps (x′ → G(z′), G(z*) → x*) with
// short pixel blends, so the path still starts at x′ and ends at x* itself.
import { imagesToUnit, type ImageSet } from '../data/index.js';
import { Adam, Discriminator, Generator } from '../nn/index.js';
import {
  callOp,
  keep,
  manualSeed,
  noGrad,
  randint,
  randn,
  tensor,
  tidy,
  yieldToEventLoop,
  type Tensor,
} from '../tensor/index.js';
import { num } from '../util/params.js';
import { sampleAlphas } from './density.js';
import { interpolate, quantize, type Pixels } from './interpolation.js';
import type { Poison } from './variants.js';

/** The bridge's parameters (the DC-GAN's training steps are the caller's). */
export const GAN_BRIDGE_PARAMS = {
  endShare: num(0.1, 'share of the budget on each pixel blend closing x′ → G(z′) and G(z*) → x*', {
    min: 0.01,
    max: 0.45,
  }),
  inversionSteps: num(300, 'gradient steps inverting x′ and x* to latent codes', { min: 1, integer: true }),
};

export interface GanTrainOptions {
  steps?: number;
  batchSize?: number;
  latent?: number;
  width?: number;
  lr?: number;
  seed?: number;
  onStep?: (step: number, lossD: number, lossG: number) => void;
}

const softplus = (x: Tensor): Tensor => callOp('softplus', '', [x]);

/** Trains a DC-GAN on a set's images (scaled to [−1, 1]); returns the generator in eval mode. */
export async function trainGan(set: ImageSet, opts: GanTrainOptions = {}): Promise<Generator> {
  if (set.height !== set.width) throw new Error('GAN: images must be square');
  const steps = opts.steps ?? 2000;
  const bs = opts.batchSize ?? 64;
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`GAN: steps must be a positive integer, got ${steps}`);
  manualSeed(opts.seed ?? 0);
  const dims = { imageSize: set.height, channels: set.channels, latent: opts.latent ?? 64, width: opts.width ?? 32 };
  const g = new Generator(dims);
  const d = new Discriminator(dims);
  const lr = opts.lr ?? 2e-4;
  const optG = new Adam(g.parameters(), { lr, betas: [0.5, 0.999] });
  const optD = new Adam(d.parameters(), { lr, betas: [0.5, 0.999] });
  for (let step = 0; step < steps; step++) {
    const [lossD, lossG] = tidy(() => {
      const idx = randint(0, set.n, [bs]).toNumbers();
      const real = imagesToUnit(set, idx).mul(2).sub(1);
      // Discriminator: real → 1, fake → 0 (non-saturating GAN losses via softplus).
      optD.zeroGrad();
      const fake = noGrad(() => g.forward(randn([bs, g.latent])));
      const ld = softplus(d.forward(real).neg())
        .mean()
        .add(softplus(d.forward(fake)).mean());
      ld.backward();
      optD.update();
      optG.zeroGrad();
      const lg = softplus(d.forward(g.forward(randn([bs, g.latent]))).neg()).mean();
      lg.backward();
      optG.update();
      return [ld.item(), lg.item()];
    });
    opts.onStep?.(step + 1, lossD, lossG);
    await yieldToEventLoop();
  }
  d.dispose();
  return g.eval();
}

/** The latent code whose image is closest to x (H×W×C uint8) under ‖G(z) − x‖², from several starts. */
export function invertGenerator(
  g: Generator,
  x: Pixels,
  shape: { height: number; width: number; channels: number },
  steps = 300,
  restarts = 4,
): Float32Array {
  const { height: h, width: w, channels: c } = shape;
  if (x.length !== h * w * c) throw new Error(`GAN inversion: image has ${x.length} pixels, expected ${h * w * c}`);
  g.eval();
  for (const p of g.parameters()) p.setRequiresGrad(false);
  try {
    return tidy(() => {
      const target = tensor(x, [1, h, w, c], { dtype: 'uint8' }).permute([0, 3, 1, 2]).to('float32').div(127.5).sub(1);
      const z = keep(randn([restarts, g.latent])).setRequiresGrad(true);
      const opt = new Adam([z], { lr: 0.05 });
      for (let s = 0; s < steps; s++) {
        tidy(() => {
          opt.zeroGrad();
          g.forward(z).sub(target).square().sum().backward();
          opt.update();
        });
      }
      const errors = noGrad(() => g.forward(z).sub(target).square().flatten(1).sum(1));
      const best = errors.argmin().item();
      const out = z.detach().select(0, best).toFloat32();
      z.dispose();
      return out;
    });
  } finally {
    for (const p of g.parameters()) p.setRequiresGrad(true);
  }
}

function generate(
  g: Generator,
  zs: Float32Array[],
  shape: { height: number; width: number; channels: number },
): Pixels[] {
  return noGrad(() =>
    tidy(() => {
      const z = tensor(Float32Array.from(zs.flatMap((v) => Array.from(v))), [zs.length, g.latent]);
      const img = g.forward(z).add(1).mul(127.5).permute([0, 2, 3, 1]).toFloat32();
      const size = shape.height * shape.width * shape.channels;
      return zs.map((_, i) => Uint8Array.from(img.subarray(i * size, (i + 1) * size), quantize));
    }),
  );
}

/**
 * Each point's position along the whole path x′ → G(z′) → G(z*) → x*: the pixel-space arc length
 * of the polyline through the points in order, as a share of its total (x′ at 0, x* at 1).
 */
function pathPositions(points: Pixels[]): number[] {
  const cumulative = [0];
  for (let k = 1; k < points.length; k++) {
    let sq = 0;
    for (let i = 0; i < points[k].length; i++) sq += (points[k][i] - points[k - 1][i]) ** 2;
    cumulative.push(cumulative[k - 1] + Math.sqrt(sq));
  }
  const total = cumulative[cumulative.length - 1];
  // A path of identical images has no length: the points are spaced evenly instead.
  return cumulative.map((c, k) =>
    k === points.length - 1 ? 1 : total > 0 ? c / total : k / Math.max(1, points.length - 1),
  );
}

/**
 * The bridge: `endShare` of the budget at each end for the pixel blends x′ → G(z′) and G(z*) → x*,
 * the rest at G((1 − α)z′ + αz*) with α placed by the density. It is one path (path 0); each
 * point's α is its position along the whole of it (`pathPositions`), so the blends too lie at
 * their true place between x′ (α = 0) and x* (α = 1).
 */
export function ganBridge(
  g: Generator,
  source: Pixels,
  target: Pixels,
  budget: number,
  shape: { height: number; width: number; channels: number },
  opts: { density?: string; endShare?: number; inversionSteps?: number } = {},
): Poison[] {
  if (!Number.isInteger(budget) || budget < 3)
    throw new Error(`GAN bridge: the budget must be at least 3, got ${budget}`);
  const ends = Math.max(1, Math.round(budget * (opts.endShare ?? GAN_BRIDGE_PARAMS.endShare.default)));
  const middle = budget - 2 * ends;
  if (middle < 1) throw new Error('GAN bridge: the budget leaves no room for the latent path');
  const steps = opts.inversionSteps ?? GAN_BRIDGE_PARAMS.inversionSteps.default;
  const zs = invertGenerator(g, source, shape, steps);
  const zt = invertGenerator(g, target, shape, steps);
  const alphas = sampleAlphas(middle + 2, opts.density).slice(1, -1);
  const latent = alphas.length
    ? generate(
        g,
        alphas.map((a) => zs.map((v, i) => v * (1 - a) + zt[i] * a)),
        shape,
      )
    : [];
  const [gs, gt] = generate(g, [zs, zt], shape);
  // x′ itself, then blends toward G(z′); blends from G(z*) ending at x* itself.
  const head = interpolate(
    source,
    gs,
    Array.from({ length: ends }, (_, i) => i / ends),
  );
  const tail = interpolate(
    gt,
    target,
    Array.from({ length: ends }, (_, i) => (i + 1) / ends),
  );
  const images = [...head.map((p) => p.image), ...latent, ...tail.map((p) => p.image)];
  const positions = pathPositions(images);
  return images.map((image, k) => ({ image, alpha: positions[k], path: 0 }));
}
