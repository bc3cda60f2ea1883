// The defense layer: label-free detectors of poisoned unlabeled examples (paper section 5).
export * from './knn.js';
export * from './flag.js';
export * from './dynamics.js';
export * from './duplicates.js';
export * from './collinear.js';
export * from './cluster.js';
export * from './registry.js';
export * from './scan.js';
