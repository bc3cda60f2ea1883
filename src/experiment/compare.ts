// The clean-accuracy cost of a defense, measured over training seeds: the unpoisoned victim and the
// victim retrained on what the defense kept are trained with the same seeds, and the difference of
// their mean accuracies is tested with Welch's two-sample t-test (unequal variances), as the paper
// judges the cost of removing flagged examples ("does not statistically significantly reduce clean
// model accuracy", section 5.3). One run per side is a difference without an interval.
import ttest2 from '@stdlib/stats-ttest2';

export interface AccuracySummary {
  mean: number;
  /** Sample standard deviation (null with a single run). */
  sd: number | null;
}

export interface AccuracyCost {
  /** Training seeds per side. */
  seeds: number;
  clean: AccuracySummary;
  defended: AccuracySummary;
  /** Mean clean accuracy minus mean defended accuracy: what the defense costs (negative: a gain). */
  cost: number;
  /** Welch's 95% confidence interval of the cost; null with one seed or no spread on either side. */
  ci95: [number, number] | null;
  /** Welch's two-sided p-value for "the defense changes clean accuracy"; null likewise. */
  pValue: number | null;
  /** Welch's one-sided p-value for "the cost is below `margin`" (non-inferiority); null likewise. */
  pBelowMargin: number | null;
  /** The margin of `pBelowMargin`, in accuracy (0.01: one point). */
  margin: number;
}

function summary(values: number[]): AccuracySummary {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  if (values.length < 2) return { mean, sd: null };
  const ss = values.reduce((a, v) => a + (v - mean) ** 2, 0);
  return { mean, sd: Math.sqrt(ss / (values.length - 1)) };
}

/**
 * Compares the clean and defended accuracies of the same training seeds (fractions in [0, 1]) as
 * two independent samples: a seed's two runs are not paired, since removing examples changes the
 * data order and the runs diverge from the first step.
 */
export function accuracyCost(clean: number[], defended: number[], margin = 0.01): AccuracyCost {
  if (clean.length === 0 || clean.length !== defended.length) {
    throw new Error(`accuracy cost: ${clean.length} clean and ${defended.length} defended accuracies`);
  }
  for (const v of [...clean, ...defended]) {
    if (!Number.isFinite(v)) throw new Error(`accuracy cost: accuracy ${v} is not a number`);
  }
  const c = summary(clean);
  const d = summary(defended);
  const base = { seeds: clean.length, clean: c, defended: d, cost: c.mean - d.mean, margin };
  if (c.sd === null || d.sd === null || c.sd + d.sd === 0) {
    return { ...base, ci95: null, pValue: null, pBelowMargin: null };
  }
  const twoSided = ttest2(clean, defended, { alpha: 0.05 });
  const below = ttest2(clean, defended, { difference: margin, alternative: 'less' });
  return {
    ...base,
    ci95: [twoSided.ci[0], twoSided.ci[1]],
    pValue: twoSided.pValue,
    pBelowMargin: below.pValue,
  };
}
