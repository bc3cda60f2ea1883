// Densities of Table 3: α endpoints, monotone α, the empirical distribution of α against ρ
// (Kolmogorov–Smirnov), and the safety of the expression parser.
import { describe, expect, it } from 'vitest';
import { DENSITIES, parseExpression, resolveDensity, sampleAlphas, type DensityName } from '../../src/attack/index.js';

/** CDF of ρ normalised over [0, 1], by Simpson's rule on a fine grid (independent of the product's trapezoid). */
function referenceCdf(rho: (x: number) => number): (a: number) => number {
  const integral = (b: number): number => {
    const n = 2000;
    const h = b / n;
    let s = rho(0) + rho(b);
    for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * rho(i * h);
    return (s * h) / 3;
  };
  const total = integral(1);
  return (a: number) => (a <= 0 ? 0 : integral(Math.min(a, 1)) / total);
}

/** One-sample Kolmogorov–Smirnov statistic of sorted α against the CDF F. */
function ksStatistic(alphas: number[], F: (a: number) => number): number {
  const n = alphas.length;
  let d = 0;
  alphas.forEach((a, i) => {
    const f = F(a);
    d = Math.max(d, Math.abs((i + 1) / n - f), Math.abs(i / n - f));
  });
  return d;
}

/** sup |F(a) − a| over a fine grid: how far ρ is from the uniform density. */
function distanceFromUniform(F: (a: number) => number): number {
  let d = 0;
  for (let k = 0; k <= 1000; k++) d = Math.max(d, Math.abs(F(k / 1000) - k / 1000));
  return d;
}

const N = 400;
// α are the deterministic quantiles F⁻¹(i / (N − 1)), not a random sample: their empirical CDF
// steps by 1/N and sits within 1/N of F, so the KS statistic is about 1/N. The random-sample
// critical value 1.36/√N (0.068 here) would let through a sampler that ignores ρ.
const TOLERANCE = 2 / N;

describe('density functions', () => {
  it('has the eleven of Table 3', () => {
    expect(Object.keys(DENSITIES)).toHaveLength(11);
  });

  for (const name of Object.keys(DENSITIES) as DensityName[]) {
    it(`${name}: α₀ = 0, α_{N−1} = 1, non-decreasing, and distributed as ρ (KS within 2/N)`, () => {
      const alphas = sampleAlphas(N, name);
      expect(alphas).toHaveLength(N);
      expect(alphas[0]).toBe(0);
      expect(alphas[N - 1]).toBe(1);
      for (let i = 1; i < N; i++) expect(alphas[i]).toBeGreaterThanOrEqual(alphas[i - 1]);
      expect(ksStatistic(alphas, referenceCdf(DENSITIES[name]))).toBeLessThan(TOLERANCE);
    });
  }

  it('the KS check fails a sampler that ignores ρ, for every density further than 2/N from uniform', () => {
    const uniform = Array.from({ length: N }, (_, i) => i / (N - 1));
    const distinguishable = (Object.keys(DENSITIES) as DensityName[]).filter(
      // Uniform quantiles are within 1/N of the uniform CDF: a distance beyond 3/N is beyond the tolerance.
      (name) => distanceFromUniform(referenceCdf(DENSITIES[name])) > 3 / N,
    );
    // Every density of Table 3 but ρ = 1 itself, the near-uniform x⁴+(1−x)⁴ and x²+(1−x)² included.
    expect(distinguishable.sort()).toEqual((Object.keys(DENSITIES) as DensityName[]).filter((n) => n !== '1').sort());
    for (const name of distinguishable) {
      expect(ksStatistic(uniform, referenceCdf(DENSITIES[name])), name).toBeGreaterThan(TOLERANCE);
    }
    expect(ksStatistic(uniform, referenceCdf(DENSITIES['1']))).toBeLessThan(TOLERANCE);
  });

  it('puts the default 1.5 − x three times denser at x′ than at x*', () => {
    const a = sampleAlphas(1001, '1.5-x');
    const nearSource = a.filter((v) => v < 0.1).length;
    const nearTarget = a.filter((v) => v > 0.9).length;
    expect(nearSource / nearTarget).toBeGreaterThan(2.4);
    expect(nearSource / nearTarget).toBeLessThan(3.3);
  });

  it('accepts arithmetic expressions in x and matches the named forms', () => {
    expect(parseExpression('1.5 - x')(0.25)).toBeCloseTo(1.25);
    expect(parseExpression('(1-x)^2 + .5')(0.5)).toBeCloseTo(0.75);
    expect(parseExpression('-x^2')(3)).toBeCloseTo(-9);
    expect(parseExpression('2^-1')(0)).toBeCloseTo(0.5);
    expect(parseExpression('phi(x+.3)')(0.2)).toBeCloseTo(DENSITIES['phi(x+.3)'](0.2));
    expect(parseExpression('sqrt(1-x)*exp(-x)/pi')(0.19)).toBeCloseTo((Math.sqrt(0.81) * Math.exp(-0.19)) / Math.PI);
    expect(sampleAlphas(50, '1.5 - x')).toEqual(sampleAlphas(50, '1.5-x'));
  });

  it.each([
    ['process.exit(1)', /unknown name 'process'|unexpected '\.'/],
    ['x; 1', /unexpected ';'/],
    ['require("fs")', /unknown name 'require'/],
    ['constructor', /unknown name 'constructor'/],
    ['x +', /unexpected end/],
    ['(x', /expected '\)'/],
    ['', /empty/],
    ['sqrt x', /expected '\(' after sqrt/],
    ['x[0]', /unexpected '\['/],
    ['`x`', /unexpected '`'/],
  ])('rejects %s', (expr, message) => {
    expect(() => parseExpression(expr)).toThrow(message);
  });

  it('rejects densities that are negative, infinite or zero on [0, 1]', () => {
    expect(() => sampleAlphas(10, 'x - 0.5')).toThrow(/negative/);
    expect(() => sampleAlphas(10, '1/x')).toThrow(/must be finite/);
    expect(() => sampleAlphas(10, '0*x')).toThrow(/integrates to 0/);
    expect(() => sampleAlphas(0)).toThrow(/positive integer/);
    expect(resolveDensity('1')(0.3)).toBe(1);
  });
});
