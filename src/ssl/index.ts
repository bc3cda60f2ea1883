// The ssl layer: the shared training loop, the algorithms and evaluation.
export * from './trainer.js';
export * from './evaluate.js';
export * from './algorithm.js';
export * from './algorithms/index.js';
