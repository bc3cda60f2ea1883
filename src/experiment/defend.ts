// The defense step of a trial: score the poisoned unlabeled set with a detector (pixels, or the
// poisoned run's prediction log for the training-dynamics score), flag by the same rules as
// `semipoison scan`, and measure the flags against the known poison positions.
import { readNpy, type ImageSet } from '../data/index.js';
import {
  DEFENSES,
  evaluateFlags,
  scanSets,
  type Evaluation,
  type ScanSettings,
  type SetScan,
} from '../defense/index.js';

export type DefenseSettings = ScanSettings;

export interface Scan extends SetScan {
  evaluation: Evaluation;
}

/**
 * Scores `set` (whose examples from `poisonOffset` on are poisons) with each detector, flags and
 * evaluates; the pixel detectors share one nearest-neighbour pass.
 */
export function scanUnlabeled(
  settings: DefenseSettings[],
  set: ImageSet,
  predictionLog: string,
  poisonOffset: number,
): Scan[] {
  const log = settings.some((s) => s.method === 'dynamics') ? readNpy(predictionLog) : null;
  const truth = new Uint8Array(set.n);
  truth.fill(1, poisonOffset);
  return scanSets(settings, { set, log }).map((scan) => ({
    ...scan,
    evaluation: evaluateFlags(scan.scores, DEFENSES[scan.method].direction, scan.flags, truth),
  }));
}
