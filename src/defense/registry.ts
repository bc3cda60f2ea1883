// The detector registry: one place to add a detector.
import type { Direction } from './flag.js';

/** Every detector by name, with which side of its score is suspicious. */
export const DEFENSES = {
  dynamics: {
    description: 'training-dynamics influence (section 5.3): needs a prediction log',
    direction: 'low' as Direction,
    needsLog: true,
  },
  collinear: {
    description: 'pixel-space collinearity: residual of each example from segments between its neighbours',
    direction: 'low' as Direction,
    needsLog: false,
  },
  cluster: {
    description: 'agglomerative clustering in pixel space: the largest cluster is flagged',
    direction: 'high' as Direction,
    needsLog: false,
  },
  duplicates: {
    description: 'near-duplicate baseline: nearest-neighbour distance over its median',
    direction: 'low' as Direction,
    needsLog: false,
  },
};

export type DefenseName = keyof typeof DEFENSES;
