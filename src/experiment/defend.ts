// The defense step of a trial: score the poisoned unlabeled set with a detector (pixels, or the
// poisoned run's prediction log for the training-dynamics score), flag by the same rules as
// `semipoison scan`, and measure the flags against the known poison positions.
import { readNpy, type ImageSet } from '../data/index.js';
import { DEFENSES, evaluateFlags, scanSet, type Evaluation, type Flags, type ScanSettings } from '../defense/index.js';

export type DefenseSettings = ScanSettings;

export interface Scan {
  scores: Float32Array;
  flags: Flags;
  evaluation: Evaluation;
}

/** Scores `set` (whose examples from `poisonOffset` on are poisons), flags and evaluates. */
export function scanUnlabeled(s: DefenseSettings, set: ImageSet, predictionLog: string, poisonOffset: number): Scan {
  const log = s.method === 'dynamics' ? readNpy(predictionLog) : null;
  const { scores, flags } = scanSet(s, { set, log });
  const truth = new Uint8Array(scores.length);
  truth.fill(1, poisonOffset);
  return { scores, flags, evaluation: evaluateFlags(scores, DEFENSES[s.method].direction, flags, truth) };
}
