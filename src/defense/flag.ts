// Turning detector scores into flags, and measuring them against a ground-truth manifest.

export type Direction = 'low' | 'high';

export interface Flags {
  /** 1 for flagged examples. */
  flagged: Uint8Array;
  threshold: number;
  rule: string;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * The automatic threshold: scores are compared on a log scale, where the paper's poisons sit
 * orders of magnitude from benign examples; an example is flagged when its log-score lies more than
 * `z` robust standard deviations (1.4826 · MAD) beyond the median, on the suspicious side.
 */
export function autoFlags(scores: Float32Array, direction: Direction, z = 5): Flags {
  if (scores.length === 0) throw new Error('flag: no scores');
  const logs = Array.from(scores, (s) => Math.log10(Math.max(s, 1e-30)));
  const med = median(logs);
  const mad = 1.4826 * median(logs.map((v) => Math.abs(v - med))) || 1e-6;
  const cut = direction === 'low' ? med - z * mad : med + z * mad;
  const threshold = 10 ** cut;
  return thresholdFlags(
    scores,
    direction,
    threshold,
    `log-score ${direction === 'low' ? 'below' : 'above'} median ${direction === 'low' ? '−' : '+'} ${z}·MAD`,
  );
}

export function thresholdFlags(
  scores: Float32Array,
  direction: Direction,
  threshold: number,
  rule = 'given threshold',
): Flags {
  const flagged = new Uint8Array(scores.length);
  scores.forEach((s, i) => {
    flagged[i] = (direction === 'low' ? s <= threshold : s >= threshold) ? 1 : 0;
  });
  return { flagged, threshold, rule };
}

/** Flags exactly the `count` most suspicious examples. */
export function topFlags(scores: Float32Array, direction: Direction, count: number): Flags {
  if (!Number.isInteger(count) || count < 0 || count > scores.length) {
    throw new Error(`flag: count must be in [0, ${scores.length}], got ${count}`);
  }
  const order = rankOrder(scores, direction);
  const flagged = new Uint8Array(scores.length);
  for (let r = 0; r < count; r++) flagged[order[r]] = 1;
  const threshold = count > 0 ? scores[order[count - 1]] : direction === 'low' ? -Infinity : Infinity;
  return { flagged, threshold, rule: `the ${count} most suspicious` };
}

/** Example indices from most to least suspicious. */
export function rankOrder(scores: Float32Array, direction: Direction): number[] {
  const idx = Array.from({ length: scores.length }, (_, i) => i);
  return idx.sort((a, b) => (direction === 'low' ? scores[a] - scores[b] : scores[b] - scores[a]) || a - b);
}

export interface Evaluation {
  tpr: number;
  fpr: number;
  auroc: number;
  truePositives: number;
  falsePositives: number;
  poisons: number;
  /** 1-based rank of each poison among all examples, most suspicious first (the ranks alone, sorted). */
  poisonRanks: number[];
  /** Each poison's index among the scored examples and its rank, in index order. */
  poisonRankByIndex: { index: number; rank: number }[];
}

/** Examples that any of several detectors flagged (1) — what a defense that trusts each removes. */
export function unionFlags(flags: Flags[], n: number): Uint8Array {
  const any = new Uint8Array(n);
  for (const f of flags) f.flagged.forEach((v, i) => (any[i] |= v ? 1 : 0));
  return any;
}

export type FlagRates = Pick<Evaluation, 'tpr' | 'fpr' | 'truePositives' | 'falsePositives' | 'poisons'>;

/** TPR and FPR of flags given which examples are poisons (no score needed, so no AUROC). */
export function flagRates(flagged: ArrayLike<number>, isPoison: Uint8Array): FlagRates {
  if (isPoison.length !== flagged.length) throw new Error('evaluate: ground truth and flags differ in length');
  let tp = 0;
  let fp = 0;
  let p = 0;
  for (let i = 0; i < isPoison.length; i++) {
    if (isPoison[i]) {
      p++;
      if (flagged[i]) tp++;
    } else if (flagged[i]) fp++;
  }
  const negatives = isPoison.length - p;
  return {
    tpr: p ? tp / p : 0,
    fpr: negatives ? fp / negatives : 0,
    truePositives: tp,
    falsePositives: fp,
    poisons: p,
  };
}

/** TPR, FPR, AUROC and poison ranks given which examples are poisons. */
export function evaluateFlags(
  scores: Float32Array,
  direction: Direction,
  flags: Flags,
  isPoison: Uint8Array,
): Evaluation {
  if (isPoison.length !== scores.length) throw new Error('evaluate: ground truth and scores differ in length');
  const rates = flagRates(flags.flagged, isPoison);
  const p = rates.poisons;
  const negatives = scores.length - p;
  const order = rankOrder(scores, direction);
  const rank = new Int32Array(scores.length);
  order.forEach((i, r) => (rank[i] = r + 1));
  // AUROC: the probability that a poison ranks as more suspicious than a benign example (ties half).
  let auc = 0;
  if (p > 0 && negatives > 0) {
    const sign = direction === 'low' ? -1 : 1;
    const pairs = Array.from(scores, (s, i) => ({ s: sign * s, poison: isPoison[i] === 1 })).sort((a, b) => a.s - b.s);
    let benignBelow = 0;
    for (let i = 0; i < pairs.length; ) {
      let j = i;
      let tiesBenign = 0;
      let tiesPoison = 0;
      while (j < pairs.length && pairs[j].s === pairs[i].s) {
        if (pairs[j].poison) tiesPoison++;
        else tiesBenign++;
        j++;
      }
      auc += tiesPoison * (benignBelow + tiesBenign / 2);
      benignBelow += tiesBenign;
      i = j;
    }
    auc /= p * negatives;
  }
  const poisonRankByIndex: { index: number; rank: number }[] = [];
  for (let i = 0; i < scores.length; i++) if (isPoison[i]) poisonRankByIndex.push({ index: i, rank: rank[i] });
  const poisonRanks = poisonRankByIndex.map((p) => p.rank).sort((a, b) => a - b);
  return { ...rates, auroc: auc, poisonRanks, poisonRankByIndex };
}
