// The report layer: tables, figures and the HTML report, rendered from results computed elsewhere.
export * from './tables.js';
export * from './render.js';
export * from './figures.js';
export * from './gallery.js';
export * from './html.js';
export * from './experiment.js';
export * from './scan.js';
