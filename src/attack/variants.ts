// The attack variants of the paper (sections 3–4.4) and the evasion variants beyond it. Each turns
// a source, a target and a budget into bridge points; the crafting step handles data and output.
import { seededRandom } from '../util/random.js';
import { choice, num, type ParamSchema, type ParamValues } from '../util/params.js';
import { sampleAlphas } from './density.js';
import { bridge, interpolate, quantize, type BridgePoint, type Pixels } from './interpolation.js';

export interface ImageShape {
  height: number;
  width: number;
  channels: number;
}

export interface VariantInput {
  target: Pixels;
  /** The main source x′ (a labeled image of the desired class, or the attacker's own). */
  source: Pixels;
  /** Further images of the desired class (extra paths, zero-knowledge support paths). */
  others: Pixels[];
  budget: number;
  density: string;
  shape: ImageShape;
  seed: number;
}

export interface Poison extends BridgePoint {
  /** Which path the point lies on: 0 is x′ → x*, others are extra or support paths. */
  path: number;
}

export interface Variant<S extends ParamSchema = ParamSchema> {
  description: string;
  params: S;
  /** How many other images of the desired class the variant needs. */
  others(p: ParamValues<S>): number;
  craft(input: VariantInput, p: ParamValues<S>): Poison[];
}

function define<S extends ParamSchema>(v: Variant<S>): Variant<S> {
  return v;
}

function onPath(points: BridgePoint[], path: number): Poison[] {
  return points.map((q) => ({ ...q, path }));
}

/** Splits a budget into `parts` nearly equal shares, the first share the largest. */
function shares(budget: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(budget / parts) + (i < budget % parts ? 1 : 0));
}

function gaussian(random: () => number): number {
  const u = Math.max(random(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** Shifts an image by (dx, dy) whole pixels, edges replicated; scales contrast about its mean. */
function jitterImage(
  img: Pixels,
  shape: ImageShape,
  dx: number,
  dy: number,
  contrast: number,
  brightness: number,
): Pixels {
  const { height: h, width: w, channels: c } = shape;
  const out = new Uint8Array(img.length);
  let mean = 0;
  for (const v of img) mean += v;
  mean /= img.length;
  for (let y = 0; y < h; y++) {
    const sy = Math.min(h - 1, Math.max(0, y - dy));
    for (let x = 0; x < w; x++) {
      const sx = Math.min(w - 1, Math.max(0, x - dx));
      for (let k = 0; k < c; k++) {
        const v = img[(sy * w + sx) * c + k];
        out[(y * w + x) * c + k] = quantize(mean + (v - mean) * contrast + brightness);
      }
    }
  }
  return out;
}

export const VARIANTS = {
  linear: define({
    description: "the paper's attack: one bridge x′ → x* with α placed by the density",
    params: {},
    others: () => 0,
    craft: (i) => onPath(bridge(i.source, i.target, i.budget, i.density), 0),
  }),
  'zero-knowledge': define({
    description:
      "x′ from the attacker's own class-y* images, plus support paths from other class-y* images to x′ (section 4.1)",
    params: {
      supports: num(3, 'support paths from other images of the desired class to x′', { min: 0, integer: true }),
      supportShare: num(0.5, 'share of the budget spent on support paths', { min: 0, max: 0.9 }),
    },
    others: (p) => p.supports,
    craft(i, p) {
      if (i.others.length < p.supports) throw new Error(`zero-knowledge: needs ${p.supports} support images`);
      const supportBudget = p.supports > 0 ? Math.round(i.budget * p.supportShare) : 0;
      const main = onPath(bridge(i.source, i.target, i.budget - supportBudget, i.density), 0);
      const support = shares(supportBudget, Math.max(p.supports, 1)).flatMap((n, k) =>
        // Support paths end at x′ (already poisoned by the main path): drop their α = 1 end.
        n > 0 ? onPath(bridge(i.others[k], i.source, n + 1, i.density).slice(0, -1), k + 1) : [],
      );
      return [...main, ...support];
    },
  }),
  paths: define({
    description: 'several bridges from different class-y* sources to x* (a negative result of section 4.4)',
    params: { paths: num(3, 'number of bridges sharing the budget', { min: 1, integer: true }) },
    others: (p) => p.paths - 1,
    craft(i, p) {
      const sources = [i.source, ...i.others.slice(0, p.paths - 1)];
      return shares(i.budget, p.paths).flatMap((n, k) =>
        n > 0 ? onPath(bridge(sources[k], i.target, n, i.density), k) : [],
      );
    },
  }),
  duplicate: define({
    description: 'fewer distinct points, each repeated (a negative result of section 4.4)',
    params: { copies: num(2, 'copies of each bridge point', { min: 1, integer: true }) },
    others: () => 0,
    craft(i, p) {
      // ⌈budget / copies⌉ distinct points, so that no point has more than `copies` copies; when the
      // budget is not a multiple, the points nearest x′ keep the extra copies and x* always stays.
      const points = bridge(i.source, i.target, Math.ceil(i.budget / p.copies), i.density);
      const copies = shares(i.budget, points.length);
      return points.flatMap((q, k) => Array.from({ length: copies[k] }, () => ({ ...q, path: 0 })));
    },
  }),
  noise: define({
    description: 'bridge points with added Gaussian or uniform pixel noise (a negative result of section 4.4)',
    params: {
      sigma: num(8, 'noise standard deviation in 8-bit pixel units', { min: 0 }),
      distribution: choice(
        'gaussian',
        ['gaussian', 'uniform'] as const,
        'pointwise noise: Gaussian, or uniform of the same σ',
      ),
    },
    others: () => 0,
    craft(i, p) {
      const random = seededRandom(i.seed ^ 0x5eed);
      // Uniform on [−a, a] has standard deviation a/√3.
      const draw =
        p.distribution === 'uniform'
          ? () => p.sigma * Math.sqrt(3) * (2 * random() - 1)
          : () => p.sigma * gaussian(random);
      return bridge(i.source, i.target, i.budget, i.density).map((q) => ({
        alpha: q.alpha,
        path: 0,
        image: q.alpha === 1 ? q.image : q.image.map((v) => quantize(v + draw())),
      }));
    },
  }),
  jitter: define({
    description: 'evasion: each bridge point shifted and contrast-jittered so the bridge is no longer collinear',
    params: {
      shift: num(2, 'largest translation in pixels', { min: 0, integer: true }),
      contrast: num(0.15, 'largest relative contrast change', { min: 0, max: 0.9 }),
      brightness: num(10, 'largest brightness change in 8-bit units', { min: 0 }),
    },
    others: () => 0,
    craft(i, p) {
      const random = seededRandom(i.seed ^ 0x717e);
      const alphas = sampleAlphas(i.budget, i.density);
      return interpolate(i.source, i.target, alphas).map((q) => {
        if (q.alpha === 1) return { ...q, path: 0 };
        const dx = Math.round((2 * random() - 1) * p.shift);
        const dy = Math.round((2 * random() - 1) * p.shift);
        const c = 1 + (2 * random() - 1) * p.contrast;
        const b = (2 * random() - 1) * p.brightness;
        return { alpha: q.alpha, path: 0, image: jitterImage(q.image, i.shape, dx, dy, c, b) };
      });
    },
  }),
};

export type VariantName = keyof typeof VARIANTS;

export function isVariantName(name: string): name is VariantName {
  return Object.hasOwn(VARIANTS, name);
}
