// The defense step of a trial: score the poisoned unlabeled set with a detector (pixels, or the
// poisoned run's prediction log for the training-dynamics score), flag by the same rules as
// `semipoison scan`, and measure the flags against the known poison positions.
import { imagesToUnit, readNpy, type ImageSet } from '../data/index.js';
import {
  autoFlags,
  clusterScores,
  collinearScores,
  DEFENSES,
  duplicateScores,
  dynamicsScores,
  evaluateFlags,
  logTensor,
  thresholdFlags,
  topFlags,
  type DefenseName,
  type Evaluation,
  type Flags,
} from '../defense/index.js';
import { tidy } from '../tensor/index.js';

export interface DefenseSettings {
  method: DefenseName;
  /** Neighbours of the dynamics score. */
  k: number;
  linkage: 'single' | 'average';
  z: number;
  count: number | null;
  threshold: number | null;
}

export interface Scan {
  scores: Float32Array;
  flags: Flags;
  evaluation: Evaluation;
}

/** Scores `set` (whose examples from `poisonOffset` on are poisons), flags and evaluates. */
export function scanUnlabeled(s: DefenseSettings, set: ImageSet, predictionLog: string, poisonOffset: number): Scan {
  const direction = DEFENSES[s.method].direction;
  let largestCluster = 0;
  const scores = tidy(() => {
    if (s.method === 'dynamics') {
      const log = readNpy(predictionLog);
      return dynamicsScores(logTensor(log.data, log.shape, log.dtype), { k: s.k });
    }
    const pixels = imagesToUnit(set).flatten(1);
    if (s.method === 'collinear') return collinearScores(pixels, { k: Math.max(2, s.k + 3) });
    if (s.method === 'cluster') {
      const c = clusterScores(pixels, { linkage: s.linkage });
      largestCluster = c.clustering.sizes[0];
      return c.scores;
    }
    return duplicateScores(pixels);
  });
  const flags =
    s.count !== null
      ? topFlags(scores, direction, s.count)
      : s.threshold !== null
        ? thresholdFlags(scores, direction, s.threshold)
        : s.method === 'cluster'
          ? thresholdFlags(scores, 'high', Math.max(largestCluster, 3), 'the largest cluster (3 or more examples)')
          : autoFlags(scores, direction, s.z);
  const truth = new Uint8Array(scores.length);
  truth.fill(1, poisonOffset);
  return { scores, flags, evaluation: evaluateFlags(scores, direction, flags, truth) };
}
