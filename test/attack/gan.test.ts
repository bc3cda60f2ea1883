// GAN-latent interpolation: the DC-GAN's shapes, inversion of an image the generator can make,
// and a bridge that starts at x′ and ends at x* exactly with the budget spent.
import { describe, expect, it } from 'vitest';
import { ganBridge, invertGenerator, trainGan } from '../../src/attack/index.js';
import { Discriminator, Generator } from '../../src/nn/index.js';
import { manualSeed, noGrad, randn, tensor, tidy } from '../../src/tensor/index.js';
import type { ImageSet } from '../../src/data/index.js';

const shape = { height: 8, width: 8, channels: 1 };

function toyImages(n: number): ImageSet {
  const images = new Uint8Array(n * 64);
  for (let i = 0; i < n; i++) for (let p = 0; p < 64; p++) images[i * 64 + p] = p % 8 < 4 === (i % 2 === 0) ? 220 : 30;
  return { images, n, ...shape, labels: null, numClasses: 2 };
}

describe('DC-GAN', () => {
  it('maps latents to images in [−1, 1] and images to one logit each', () => {
    manualSeed(0);
    const g = new Generator({ imageSize: 8, channels: 1, latent: 8, width: 4 });
    const d = new Discriminator({ imageSize: 8, channels: 1, width: 4 });
    tidy(() => {
      const x = g.forward(randn([5, 8]));
      expect([...x.shape]).toEqual([5, 1, 8, 8]);
      expect(x.abs().max().item()).toBeLessThanOrEqual(1);
      expect([...d.forward(x).shape]).toEqual([5]);
    });
    expect(() => new Generator({ imageSize: 30, channels: 1 })).toThrow(/multiple of 4/);
  });

  it('trains a few steps, inverts its own images, and bridges x′ to x* within the budget', async () => {
    const g = await trainGan(toyImages(32), { steps: 5, batchSize: 8, latent: 8, width: 4 });
    // An image the generator itself makes is recovered closely by inversion.
    const made = noGrad(() =>
      tidy(() =>
        Uint8Array.from(
          g
            .forward(randn([1, 8]))
            .add(1)
            .mul(127.5)
            .toFloat32(),
          (v) => Math.round(v),
        ),
      ),
    );
    const z = invertGenerator(g, made, shape, 200, 2);
    const back = noGrad(() =>
      tidy(() =>
        g
          .forward(tensor(z, [1, 8]))
          .add(1)
          .mul(127.5)
          .toFloat32(),
      ),
    );
    const err = back.reduce((a, v, k) => a + Math.abs(v - made[k]), 0) / back.length;
    expect(err).toBeLessThan(12);
    expect(z.length).toBe(8);
    const src = toyImages(2).images.slice(0, 64);
    const tgt = toyImages(2).images.slice(64, 128);
    // Three points of 12 on each pixel blend: x′ and two blends toward G(z′); two blends from G(z*) and x*.
    const poisons = ganBridge(g, src, tgt, 12, shape, { inversionSteps: 50, endShare: 0.25 });
    expect(poisons).toHaveLength(12);
    expect(Array.from(poisons[0].image)).toEqual(Array.from(src));
    expect(Array.from(poisons[11].image)).toEqual(Array.from(tgt));
    // One path from x′ to x*: every point, the pixel blends at both ends included, at its own place
    // along it (the blends were all at α = 0 or α = 1 before), in order.
    expect(poisons.every((p) => p.path === 0)).toBe(true);
    const alphas = poisons.map((p) => p.alpha);
    expect(alphas[0]).toBe(0);
    expect(alphas[11]).toBe(1);
    for (let k = 1; k < 12; k++) expect(alphas[k]).toBeGreaterThanOrEqual(alphas[k - 1]);
    expect(alphas.filter((a) => a === 0)).toHaveLength(1);
    expect(alphas.filter((a) => a === 1)).toHaveLength(1);
    // α is the arc length through the points, as a share of the whole path's.
    const dist = (a: Uint8Array, b: Uint8Array) => Math.hypot(...Array.from(a, (v, i) => v - b[i]));
    const lengths = poisons.slice(1).map((p, k) => dist(p.image, poisons[k].image));
    const total = lengths.reduce((a, b) => a + b, 0);
    expect(alphas[1]).toBeCloseTo(lengths[0] / total, 9);
    expect(alphas[10]).toBeCloseTo(1 - lengths[10] / total, 9);
    expect(() => ganBridge(g, src, tgt, 2, shape)).toThrow(/at least 3/);
    g.dispose();
  });
});
