// The attack layer: densities, interpolation paths and every variant of the paper.
export * from './expression.js';
export * from './density.js';
export * from './interpolation.js';
export * from './variants.js';
export * from './craft.js';
export * from './transfer.js';
export * from './gan.js';
