// Every bundled spec (specs/paper and specs/cpu, one per experiment of the paper and size) parses,
// validates and expands into trials with distinct ids; both sizes exist for every experiment.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expandGrid, loadSpec } from '../../src/experiment/index.js';

const EXPERIMENTS = [
  'table1-ratios',
  'table2-labels',
  'table3-densities',
  'figure2-3-grid',
  'figure4-accuracy',
  'figure5-propagation',
  'figure7-8-defense',
  'section4-variants',
  'section4-gan',
  'section4-transfer',
  'evasion',
];

describe('bundled specs', () => {
  for (const size of ['paper', 'cpu']) {
    const files = readdirSync(join('specs', size)).filter((f) => f.endsWith('.yaml'));
    it(`specs/${size} has every experiment`, () => {
      for (const e of EXPERIMENTS) expect(files).toContain(`${e}.yaml`);
    });
    it.each(files)(`specs/${size}/%s expands into distinct trials`, (file) => {
      const trials = expandGrid(loadSpec(join('specs', size, file)));
      expect(trials.length).toBeGreaterThan(0);
      expect(new Set(trials.map((t) => t.id)).size).toBe(trials.length);
      if (size === 'paper') for (const t of trials) expect(t.config.model).toBe('wrn28_2');
    });
  }
});
