// The defense step of a trial: score the poisoned unlabeled set with a detector (pixels, or the
// poisoned run's prediction log for the training-dynamics score), flag by the same rules as
// `semipoison scan`, and measure the flags against the known poison positions.
import { readNpy, type ImageSet } from '../data/index.js';
import {
  DEFENSES,
  evaluateFlags,
  scanSet,
  type Evaluation,
  type ScanSettings,
  type SetScan,
} from '../defense/index.js';

export type DefenseSettings = ScanSettings;

export interface Scan extends SetScan {
  evaluation: Evaluation;
}

/** Scores `set` (whose examples from `poisonOffset` on are poisons), flags and evaluates. */
export function scanUnlabeled(s: DefenseSettings, set: ImageSet, predictionLog: string, poisonOffset: number): Scan {
  const log = s.method === 'dynamics' ? readNpy(predictionLog) : null;
  const scan = scanSet(s, { set, log });
  const truth = new Uint8Array(scan.scores.length);
  truth.fill(1, poisonOffset);
  return { ...scan, evaluation: evaluateFlags(scan.scores, DEFENSES[s.method].direction, scan.flags, truth) };
}
