// The semipoison library: every layer's public API (see README, "Library").
export * from './tensor/index.js';
export * from './nn/index.js';
export * from './data/index.js';
export * from './ssl/index.js';
export * from './attack/index.js';
export * from './defense/index.js';
export * from './report/index.js';
export * from './experiment/index.js';
