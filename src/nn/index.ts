// The nn layer: modules, layers, models, optimizers, EMA and schedules.
export * from './module.js';
export * from './layers.js';
export * from './models.js';
export * from './optim.js';
export * from './gan.js';
