// The ssl layer: the shared training loop and evaluation.
export * from './trainer.js';
export * from './evaluate.js';
