// The experiment layer: trials, specs of grids of trials, the result store, local and distributed execution.
export * from './hash.js';
export * from './config.js';
export * from './lock.js';
export * from './victim.js';
export * from './defend.js';
export * from './trial.js';
export * from './spec.js';
export * from './store.js';
export * from './execution.js';
export * from './process.js';
export * from './local.js';
export * from './distributed.js';
export * from './illustration.js';
export * from './demo.js';
