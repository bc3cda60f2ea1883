// The defense's clean-accuracy cost over training seeds: Welch's t-test against values computed once
// with SciPy 1.10 (stats.ttest_ind(equal_var=False); the interval and the one-sided p from
// stats.t with the Welch–Satterthwaite degrees of freedom), and the cases with no interval.
import { describe, expect, it } from 'vitest';
import { accuracyCost } from '../../src/experiment/compare.js';

describe('accuracyCost', () => {
  it("matches SciPy's Welch t-test", () => {
    const clean = [0.7, 0.696, 0.712, 0.705];
    const defended = [0.684, 0.69, 0.701, 0.695];
    const c = accuracyCost(clean, defended);
    expect(c.seeds).toBe(4);
    expect(c.clean.mean).toBeCloseTo(0.70325, 12);
    expect(c.defended.mean).toBeCloseTo(0.6925, 12);
    expect(c.cost).toBeCloseTo(0.01075, 12);
    expect(c.clean.sd).toBeCloseTo(
      Math.sqrt([0.7, 0.696, 0.712, 0.705].reduce((a, v) => a + (v - 0.70325) ** 2, 0) / 3),
      12,
    );
    expect(c.pValue).toBeCloseTo(0.07511638131829304, 8);
    expect(c.ci95![0]).toBeCloseTo(-0.0014861632825321509, 8);
    expect(c.ci95![1]).toBeCloseTo(0.022986163282532, 8);
    // H0: the cost is one point or more; the observed cost is above one point, so p > 0.5.
    expect(c.margin).toBe(0.01);
    expect(c.pBelowMargin).toBeCloseTo(0.5571782436871677, 8);
  });

  it('is symmetric in sign and supports a cost below the margin', () => {
    const gain = accuracyCost([0.69, 0.7, 0.71], [0.7, 0.71, 0.72]);
    expect(gain.cost).toBeCloseTo(-0.01, 12);
    expect(gain.ci95![0]).toBeLessThan(-0.01);
    expect(gain.ci95![1]).toBeGreaterThan(-0.01);
    // A defense that gains a point is very likely not to cost one.
    expect(gain.pBelowMargin!).toBeLessThan(0.05);
  });

  it('gives a difference without an interval for one seed or no spread', () => {
    const one = accuracyCost([0.7], [0.684]);
    expect(one.cost).toBeCloseTo(0.016, 12);
    expect([one.clean.sd, one.defended.sd, one.ci95, one.pValue, one.pBelowMargin]).toEqual([
      null,
      null,
      null,
      null,
      null,
    ]);
    const flat = accuracyCost([0.7, 0.7], [0.69, 0.69]);
    expect([flat.clean.sd, flat.ci95, flat.pValue]).toEqual([0, null, null]);
  });

  it('rejects unmatched or missing accuracies', () => {
    expect(() => accuracyCost([], [])).toThrow(/0 clean and 0 defended/);
    expect(() => accuracyCost([0.7, 0.71], [0.7])).toThrow(/2 clean and 1 defended/);
    expect(() => accuracyCost([0.7, NaN], [0.7, 0.7])).toThrow(/NaN is not a number/);
  });
});
