// Density functions for placing poisons along the bridge (paper section 3.3, Table 3). The attack
// samples interpolation weights α from ρ normalised over [0, 1]: α_i = F⁻¹(i / (N − 1)), so α₀ = 0
// (the source x′) and α_{N−1} = 1 (the target x* itself). The paper's default is ρ(x) = 1.5 − x,
// which puts three times more poisons near x′ than near x*.
import { parseExpression } from './expression.js';

const phi = (v: number): number => Math.exp(-0.5 * v * v) / Math.sqrt(2 * Math.PI);

/** The eleven densities of Table 3, in the paper's order (best first on CIFAR-10). */
export const DENSITIES = {
  '(1-x)^2': (x: number) => (1 - x) ** 2,
  'phi(x+.5)': (x: number) => phi(x + 0.5),
  'phi(x+.3)': (x: number) => phi(x + 0.3),
  x: (x: number) => x,
  'x^4+(1-x)^4': (x: number) => x ** 4 + (1 - x) ** 4,
  'sqrt(1-x)': (x: number) => Math.sqrt(Math.max(0, 1 - x)),
  'x^2+(1-x)^2': (x: number) => x ** 2 + (1 - x) ** 2,
  '1': () => 1,
  '(1-x)^2+.5': (x: number) => (1 - x) ** 2 + 0.5,
  '1-x': (x: number) => 1 - x,
  '1.5-x': (x: number) => 1.5 - x,
} satisfies Record<string, (x: number) => number>;

export type DensityName = keyof typeof DENSITIES;
export const DEFAULT_DENSITY: DensityName = '1.5-x';

/** A named density of Table 3, or any arithmetic expression in x (parsed safely, never evaluated as code). */
export function resolveDensity(spec: string): (x: number) => number {
  if (Object.hasOwn(DENSITIES, spec)) return DENSITIES[spec as DensityName];
  return parseExpression(spec);
}

const GRID = 20_000;

/** The normalised cumulative distribution of ρ on a uniform grid over [0, 1] (trapezoid rule). */
export function densityCdf(rho: (x: number) => number, spec = 'density'): Float64Array {
  const values = new Float64Array(GRID + 1);
  for (let i = 0; i <= GRID; i++) {
    const v = rho(i / GRID);
    if (!Number.isFinite(v)) throw new Error(`${spec}: ρ(${i / GRID}) is ${v}; the density must be finite on [0, 1]`);
    if (v < 0) throw new Error(`${spec}: ρ(${i / GRID}) = ${v} is negative; a density must be >= 0 on [0, 1]`);
    values[i] = v;
  }
  const cdf = new Float64Array(GRID + 1);
  for (let i = 1; i <= GRID; i++) cdf[i] = cdf[i - 1] + (values[i - 1] + values[i]) / (2 * GRID);
  const total = cdf[GRID];
  if (!(total > 0)) throw new Error(`${spec}: ρ integrates to 0 over [0, 1]`);
  for (let i = 0; i <= GRID; i++) cdf[i] /= total;
  return cdf;
}

/** F⁻¹(q) by binary search on the CDF grid and linear interpolation inside the cell. */
function inverse(cdf: Float64Array, q: number): number {
  if (q <= 0) return 0;
  if (q >= 1) return 1;
  let lo = 0;
  let hi = cdf.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (cdf[mid] < q) lo = mid;
    else hi = mid;
  }
  const span = cdf[hi] - cdf[lo];
  const t = span > 0 ? (q - cdf[lo]) / span : 0;
  return (lo + t) / (cdf.length - 1);
}

/** N interpolation weights from 0 to 1 placed by the density: α_i = F⁻¹(i / (N − 1)). */
export function sampleAlphas(count: number, density: string = DEFAULT_DENSITY): number[] {
  if (!Number.isInteger(count) || count < 1)
    throw new Error(`sampleAlphas: count must be a positive integer, got ${count}`);
  if (count === 1) return [1];
  const cdf = densityCdf(resolveDensity(density), `density '${density}'`);
  return Array.from({ length: count }, (_, i) => (i === count - 1 ? 1 : inverse(cdf, i / (count - 1))));
}
