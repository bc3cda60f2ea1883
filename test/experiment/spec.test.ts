// Specs: validation errors that name the file, line and field; grid expansion counts; stable ids.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  expandGrid,
  loadSpec,
  parseSpec,
  resolveTrialConfig,
  SpecError,
  trialId,
  varyingFields,
  usesBf16,
} from '../../src/experiment/index.js';
import { cpuHasNativeBf16 } from '../../src/tensor/index.js';
import { tempDir } from './helpers.js';

const GRID = `
name: grid
dataset: fashion-mnist
labels: [20, 40]
ratio: [0.005, 0.01]
algorithm: fixmatch
steps: 6
trials: 3
`;

function specError(text: string, file = 'spec.yaml'): SpecError {
  try {
    expandGrid(parseSpec(text, file));
  } catch (err) {
    if (err instanceof SpecError) return err;
    throw err;
  }
  throw new Error('expected a SpecError');
}

describe('spec validation', () => {
  it.each([
    ['an unknown field', 'labels: 40\nratoi: 0.01\n', 2, 'ratoi', /unknown field/],
    ['an unknown algorithm', 'labels: 40\nalgorithm: fixmatc\n', 2, 'algorithm', /must be one of fixmatch, mixmatch/],
    ['a bad axis value', 'ratio:\n  - 0.01\n  - 2\n', 3, 'ratio[1]', /must be <= 1/],
    ['a fractional step count', 'steps: [10, 2.5]\n', 1, 'steps[1]', /must be integer/],
    ['a wrong type', '\n\nlabels: many\n', 3, 'labels', /must be integer/],
    ['an empty axis', 'density: []\n', 1, 'density', /must NOT have fewer than 1 items/],
    ['a bad grid entry', 'grids:\n  - algorithm: uda\n  - modle: cnn\n', 3, 'grids[1].modle', /unknown field/],
    ['an unknown algorithm parameter', 'algorithm: fixmatch\nparams: {treshold: 0.9}\n', 2, 'params', /treshold/],
    ['a bad density', 'density: [1.5-x, "sqrt("]\n', 1, 'density', /density/],
    ['both ratio and count', 'steps: 5\nratio: 0.01\ncount: 10\n', 3, 'count', /either ratio or count/],
    ['a seed axis with trials', 'trials: 2\nseed: [1, 2]\n', 2, 'seed', /one seed with trials/],
    ['no training seed to compare', 'defense: collinear\nretrainSeeds: 0\n', 2, 'retrainSeeds', /must be >= 1/],
    ['a fractional round count', 'defense: collinear\ndefenseRounds: 1.5\n', 2, 'defenseRounds', /must be integer/],
    ['bad YAML', 'labels: [1, 2\nsteps: 3\n', 2, null, /Flow sequence/],
  ])('reports %s with its line and field', (_what, text, line, field, message) => {
    const e = specError(text);
    expect(e.file).toBe('spec.yaml');
    expect(e.line).toBe(line);
    expect(e.field).toBe(field);
    expect(e.message).toMatch(message);
    expect(e.message.startsWith(`spec.yaml:${line}: `)).toBe(true);
  });

  it('reads JSON specs and names the file when it is missing', () => {
    const dir = tempDir('spec');
    const path = join(dir, 'tiny.json');
    writeFileSync(path, JSON.stringify({ labels: [20, 40], steps: 5 }, null, 2));
    const spec = loadSpec(path);
    expect(spec.name).toBe('tiny');
    expect(expandGrid(spec)).toHaveLength(2);
    writeFileSync(path, '{\n  "labels": 40,\n  "steps": -1\n}\n');
    expect(() => loadSpec(path)).toThrow(`${path}:3: steps: must be >= 1`);
    expect(() => loadSpec(join(dir, 'nope.yaml'))).toThrow(/nope\.yaml: cannot read the spec \(ENOENT\)/);
  });
});

describe('grid expansion', () => {
  it('crosses the axes and repeats them over the trial seeds', () => {
    const trials = expandGrid(parseSpec(GRID, 'grid.yaml'));
    expect(trials).toHaveLength(2 * 2 * 3);
    expect(new Set(trials.map((t) => t.id)).size).toBe(12);
    expect(trials.map((t) => t.config.seed).sort()).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
    expect(varyingFields(trials)).toEqual(['labels', 'ratio', 'seed']);
    for (const t of trials) {
      expect(t.config.params).toEqual(expect.objectContaining({ threshold: 0.95 }));
      expect(t.dirName.endsWith(`-${t.id}`)).toBe(true);
      expect(t.dirName.startsWith('fashion-mnist-fixmatch-linear-r0.0')).toBe(true);
    }
  });

  it('merges sub-grids over the top level fields', () => {
    const trials = expandGrid(
      parseSpec(
        'steps: 5\ncount: [4, 8]\ngrids:\n  - algorithm: fixmatch\n    params: {threshold: 0.9}\n  - algorithm: [mixmatch, uda]\n',
        'g.yaml',
      ),
    );
    expect(trials.map((t) => `${t.config.algorithm}/${t.config.count}`)).toEqual([
      'fixmatch/4',
      'fixmatch/8',
      'mixmatch/4',
      'uda/4',
      'mixmatch/8',
      'uda/8',
    ]);
    expect(trials[0].config.params.threshold).toBe(0.9);
  });

  it('gives ids that do not depend on spelling out defaults, key order or irrelevant detector settings', () => {
    const a = expandGrid(parseSpec('labels: 40\nsteps: 5\n', 'a.yaml'))[0];
    const b = expandGrid(
      parseSpec('steps: 5\nlabels: 40\nparams: {threshold: 0.95}\nratio: 0.01\nflagZ: 3\n', 'b.yaml'),
    )[0];
    expect(b.id).toBe(a.id);
    // Pinned: a changed id (a new field, a changed default) orphans every stored trial, so it must be deliberate.
    expect(a.id).toBe('62c76f7c7c8c8d54');
    expect(trialId(resolveTrialConfig(a.config))).toBe(a.id);
    const c = expandGrid(parseSpec('labels: 40\nsteps: 5\ndefense: dynamics\nflagZ: 3\n', 'c.yaml'))[0];
    const d = expandGrid(parseSpec('labels: 40\nsteps: 5\ndefense: dynamics\n', 'd.yaml'))[0];
    expect(c.id).not.toBe(d.id);
    // retrainSeeds and defenseRounds at their defaults of 1 leave a defended trial's id as it was before the field
    // existed (pinned); more seeds make another trial; without a defense it changes nothing.
    const one = expandGrid(
      parseSpec('labels: 40\nsteps: 5\ndefense: dynamics\nretrainSeeds: 1\ndefenseRounds: 1\n', 'f.yaml'),
    )[0];
    expect(one.id).toBe(d.id);
    expect(d.id).toBe('ae0bcb2bb2c2dafb');
    const three = expandGrid(parseSpec('labels: 40\nsteps: 5\ndefense: dynamics\nretrainSeeds: 3\n', 'g.yaml'))[0];
    expect(three.id).not.toBe(d.id);
    const rounds = expandGrid(parseSpec('labels: 40\nsteps: 5\ndefense: dynamics\ndefenseRounds: 2\n', 'r.yaml'))[0];
    expect(new Set([rounds.id, three.id, d.id]).size).toBe(3);
    expect(expandGrid(parseSpec('labels: 40\nsteps: 5\nretrainSeeds: 3\n', 'h.yaml'))[0].id).toBe(a.id);
    expect(expandGrid(parseSpec('labels: [40, 40]\nsteps: 5\n', 'e.yaml'))).toHaveLength(1);
  });
});

describe('precision', () => {
  it('trains in bfloat16 when asked, never with fp32, and with auto on CUDA and native-bfloat16 CPUs only', () => {
    expect(usesBf16('bf16', 'cpu')).toBe(true);
    expect(usesBf16('fp32', 'cuda')).toBe(false);
    expect(usesBf16('fp32', 'cpu')).toBe(false);
    expect(usesBf16('auto', 'cuda:1')).toBe(true);
    expect(usesBf16('auto', 'cpu')).toBe(cpuHasNativeBf16());
  });
});
