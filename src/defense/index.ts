// The defense layer: label-free detectors of poisoned unlabeled examples (paper section 5).
import type { Direction } from './flag.js';

export * from './knn.js';
export * from './flag.js';
export * from './dynamics.js';
export * from './duplicates.js';
export * from './collinear.js';
export * from './cluster.js';

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
