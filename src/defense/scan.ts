// One detector over one unlabeled set, as `semipoison scan`, a trial's defense and the demo all run
// it: score every example (pixels, or the prediction log for the training-dynamics score), flag by
// the chosen rule, and keep the space the score lives in for looking up neighbours (Figure 8).
import { imagesToUnit, subset, type ImageSet } from '../data/index.js';
import type { Tensor } from '../tensor/index.js';
import { tensor, tidy } from '../tensor/index.js';
import { clusterScores } from './cluster.js';
import { collinearScores } from './collinear.js';
import { duplicateScores } from './duplicates.js';
import { dynamicsScores, logTensor, predictionDeltas } from './dynamics.js';
import { autoFlags, thresholdFlags, topFlags, type Flags } from './flag.js';
import { knn, type KnnResult } from './knn.js';
import { DEFENSES, type DefenseName } from './registry.js';

export interface ScanSettings {
  method: DefenseName;
  /** Neighbours averaged by the dynamics score (the collinearity test pairs up k + 3). */
  k: number;
  linkage: 'single' | 'average';
  /** Cluster: merge distance in the points' units; null: mergeRelative × the median nearest-neighbour distance. */
  mergeThreshold: number | null;
  /** Cluster: the merge distance relative to the median nearest-neighbour distance (when mergeThreshold is null). */
  mergeRelative: number;
  /** Cluster: neighbours per example in the merge graph (at most N − 1 are used). */
  clusterK: number;
  /** Automatic rule: robust z-score of the log-score. */
  z: number;
  /** Flag exactly this many examples instead. */
  count: number | null;
  /** Flag scores beyond this value instead. */
  threshold: number | null;
}

export const SCAN_DEFAULTS: Omit<ScanSettings, 'method'> = {
  k: 5,
  linkage: 'single',
  mergeThreshold: null,
  mergeRelative: 0.5,
  clusterK: 10,
  z: 5,
  count: null,
  threshold: null,
};

/** Throws, naming the setting, on values no detector can use. */
export function checkScanSettings(s: ScanSettings): void {
  const bad = (what: string, value: unknown, want: string): never => {
    throw new Error(`${s.method}: ${what} must be ${want}, got ${value}`);
  };
  if (!Number.isInteger(s.k) || s.k < 1) bad('k', s.k, 'an integer >= 1');
  if (!Number.isInteger(s.clusterK) || s.clusterK < 1) bad('the cluster graph k', s.clusterK, 'an integer >= 1');
  if (s.mergeThreshold !== null && !(Number.isFinite(s.mergeThreshold) && s.mergeThreshold >= 0)) {
    bad('the merge threshold', s.mergeThreshold, 'a finite number >= 0');
  }
  if (!(Number.isFinite(s.mergeRelative) && s.mergeRelative >= 0)) {
    bad('the relative merge threshold', s.mergeRelative, 'a finite number >= 0');
  }
  if (s.count !== null && s.threshold !== null) {
    throw new Error(`${s.method}: give either a flag count or a flag threshold, not both`);
  }
}

/** A prediction log as read from .npy: epochs × examples × classes. */
export interface PredictionLog {
  data: ArrayBufferView;
  shape: number[];
  dtype: string;
}

/** Queries and keys of the space a score's neighbours live in (influence for dynamics, pixels otherwise). */
export type NeighbourSpace = () => { queries: Tensor; keys: Tensor };

export interface SetScan {
  method: DefenseName;
  scores: Float32Array;
  flags: Flags;
  space: NeighbourSpace;
}

export interface ScanInput {
  set?: ImageSet | null;
  log?: PredictionLog | null;
  /**
   * The space the pixel detectors measure in instead of pixels: N×D features of the same examples
   * (a model's embedding, or any pipeline's), row-major.
   */
  features?: { data: Float32Array; dim: number } | null;
  /** The set's pixel k-nearest-neighbour graph, when computed once for several pixel detectors. */
  neighbours?: KnnResult;
}

/** The points the pixel detectors measure between: the given features, else the images' pixels in [0, 1]. */
function points(input: ScanInput): Tensor {
  if (input.features) {
    const { data, dim } = input.features;
    return tensor(data, [data.length / dim, dim]);
  }
  if (!input.set) throw new Error('needs the unlabeled images or their features');
  return imagesToUnit(input.set).flatten(1);
}

/** How many examples the pixel detectors see. */
function pointCount(input: ScanInput): number {
  if (input.features) return input.features.data.length / input.features.dim;
  return input.set?.n ?? 0;
}

/**
 * Neighbours a pixel detector reads from the set's k-nearest-neighbour graph (0: none): the one
 * place that says, for a detector alone and for the pass that several share.
 */
function neighboursNeeded(s: ScanSettings, n: number): number {
  if (s.method === 'collinear') return Math.max(2, s.k + 3);
  if (s.method === 'cluster') return Math.min(s.clusterK, n - 1);
  if (s.method === 'duplicates') return 1;
  return 0;
}

/**
 * Several detectors over one set: the pixel detectors share one k-nearest-neighbour pass (the
 * expensive part of each, a blocked matrix product over all pairs) with the largest k any of them
 * needs; each then scores and flags exactly as it does alone.
 */
export function scanSets(settings: ScanSettings[], input: ScanInput): SetScan[] {
  settings.forEach(checkScanSettings);
  const n = pointCount(input);
  const needs = n > 0 ? settings.map((s) => neighboursNeeded(s, n)).filter((k) => k > 0) : [];
  const k = Math.max(0, ...needs);
  let neighbours = input.neighbours;
  if (!neighbours && needs.length > 1 && k <= n - 1) {
    neighbours = tidy(() => {
      const x = points(input);
      return knn(x, x, k, { excludeSelf: true });
    });
  }
  return settings.map((s) => scanSet(s, { ...input, neighbours }));
}

/** Scores and flags the examples of `set` (or of `log`, for dynamics) with one detector. */
export function scanSet(s: ScanSettings, input: ScanInput): SetScan {
  checkScanSettings(s);
  const direction = DEFENSES[s.method].direction;
  let largestCluster = 0;
  let scores: Float32Array;
  let space: NeighbourSpace;
  if (s.method === 'dynamics') {
    const log = input.log;
    if (!log) throw new Error('dynamics: needs the training run’s prediction log');
    scores = tidy(() => dynamicsScores(logTensor(log.data, log.shape, log.dtype), { k: s.k }));
    space = () => {
      const { mu0, mu1 } = predictionDeltas(logTensor(log.data, log.shape, log.dtype));
      return { queries: mu0, keys: mu1 };
    };
  } else {
    if (!input.set && !input.features) throw new Error(`${s.method}: needs the unlabeled images or their features`);
    scores = tidy(() => {
      const pixels = points(input);
      const neighbours = input.neighbours;
      const k = neighboursNeeded(s, pixels.shape[0]);
      // Images arrive as 8-bit values scaled to [0, 1]; given features carry no rounding grid.
      if (s.method === 'collinear')
        return collinearScores(pixels, { k, neighbours, quantum: input.features ? 0 : 1 / 255 });
      if (s.method === 'cluster') {
        const c = clusterScores(pixels, {
          linkage: s.linkage,
          k,
          neighbours,
          threshold: s.mergeThreshold ?? undefined,
          relative: s.mergeRelative,
        });
        largestCluster = c.clustering.sizes[0];
        return c.scores;
      }
      return duplicateScores(pixels, { neighbours });
    });
    space = () => {
      const pixels = points(input);
      return { queries: pixels, keys: pixels };
    };
  }
  const flags =
    s.count !== null
      ? topFlags(scores, direction, s.count)
      : s.threshold !== null
        ? thresholdFlags(scores, direction, s.threshold)
        : s.method === 'cluster'
          ? // The paper removes the largest cluster (when it is a cluster at all).
            thresholdFlags(scores, 'high', Math.max(largestCluster, 3), 'the largest cluster (3 or more examples)')
          : autoFlags(scores, direction, s.z);
  return { method: s.method, scores, flags, space };
}

export interface ScanRound {
  round: number;
  /** The examples this round scanned (indices into the whole set), in order: what earlier rounds left. */
  scanned: number[];
  /** Each detector's scan of those examples (its scores and flags follow `scanned`). */
  scans: SetScan[];
  /** The examples any detector flagged this round (indices into the whole set), removed before the next. */
  removed: number[];
}

/** The input restricted to some of its examples (a fresh neighbour graph is computed for them). */
function restrict(input: ScanInput, keep: number[]): ScanInput {
  const features = input.features;
  let kept: { data: Float32Array; dim: number } | null = null;
  if (features) {
    const { data, dim } = features;
    kept = { data: new Float32Array(keep.length * dim), dim };
    keep.forEach((row, j) => kept!.data.set(data.subarray(row * dim, (row + 1) * dim), j * dim));
  }
  return { set: input.set ? subset(input.set, keep) : null, log: null, features: kept };
}

/** The fewest examples a further round scans (the collinearity test needs a few neighbours of each). */
export const MIN_ROUND_SIZE = 16;

/**
 * Scans, removes what any detector flags, and scans what is left again: up to `rounds` rounds, or
 * until a round flags nothing or too little is left to scan (the paper's "multiple rounds of this
 * procedure", section 5.3; a bridge whose points were jittered off their segments loses a few more
 * each round once its collinear points are gone). Pixel detectors only: the dynamics detector's log
 * belongs to a run trained on the whole set, and a further round needs a run trained without the
 * removed examples (an experiment's `defenseRounds` trains one).
 */
export function scanRounds(settings: ScanSettings[], input: ScanInput, rounds: number): ScanRound[] {
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`rounds must be an integer >= 1, got ${rounds}`);
  const logged = settings.find((s) => DEFENSES[s.method].needsLog);
  if (rounds > 1 && logged) {
    throw new Error(
      `${logged.method}: a further round needs the prediction log of a run trained without the removed examples; ` +
        'scan one round, or run the rounds in an experiment (defenseRounds)',
    );
  }
  const n = input.log && !input.set && !input.features ? input.log.shape[1] : pointCount(input);
  let kept = Array.from({ length: n }, (_, i) => i);
  const out: ScanRound[] = [];
  for (let round = 1; round <= rounds; round++) {
    const scans = scanSets(settings, round === 1 ? input : restrict(input, kept));
    const removed = kept.filter((_, j) => scans.some((s) => s.flags.flagged[j]));
    out.push({ round, scanned: kept, scans, removed });
    const gone = new Set(removed);
    kept = kept.filter((i) => !gone.has(i));
    if (removed.length === 0 || kept.length < MIN_ROUND_SIZE) break;
  }
  return out;
}
