// Fine-tuning from saved weights (`train --init`, the transfer-learning setting): the run starts
// from those weights and keeps the input normalisation they were trained with; weights whose saved
// normalisation is unusable are refused with a clear error; `attack craft --init` crafts the
// transfer attack's source from them, and names the margin it cannot reach.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSafetensors, saveSafetensors } from '../../src/tensor/index.js';

const BASE = ['train', '--batch', '8', '--uratio', '2', '--labels', '20', '--width', '4', '--threads', '1'];
const MORE = ['--precision', 'fp32', '--epoch-images', '16', '--prediction-log', 'none', '--json'];

function train(args: string[]) {
  return spawnSync('./bin/semipoison.js', [...BASE, ...MORE, ...args], { encoding: 'utf8' });
}

describe('train --init', () => {
  it('fine-tunes from the given weights with their normalisation, and refuses a corrupt one', () => {
    const root = mkdtempSync(join(tmpdir(), 'init-'));
    const first = train(['--steps', '4', '--unlabeled', '100', '--seed', '1', '--out', join(root, 'a')]);
    expect(first.status, first.stderr).toBe(0);
    const a = loadSafetensors(join(root, 'a', 'model.safetensors'));

    // Another unlabeled set (other statistics): the fine-tuned model still standardises as θ_init did.
    const init = ['--init', join(root, 'a', 'model.safetensors')];
    const tuned = train(['--steps', '2', '--unlabeled', '300', '--seed', '2', ...init, '--out', join(root, 'b')]);
    expect(tuned.status, tuned.stderr).toBe(0);
    const b = loadSafetensors(join(root, 'b', 'model.safetensors'));
    expect(JSON.parse(b.metadata.norm)).toEqual(JSON.parse(a.metadata.norm));
    const scratch = train(['--steps', '2', '--unlabeled', '300', '--seed', '2', '--out', join(root, 'c')]);
    expect(scratch.status, scratch.stderr).toBe(0);
    const c = loadSafetensors(join(root, 'c', 'model.safetensors'));
    expect(JSON.parse(c.metadata.norm)).not.toEqual(JSON.parse(a.metadata.norm));
    // Two steps from θ_init stay closer to θ_init than two steps from scratch do.
    const distance = (x: typeof a, y: typeof a): number =>
      Object.keys(x.tensors)
        .filter((k) => k.endsWith('weight'))
        .reduce((s, k) => {
          const u = x.tensors[k].toNumbers();
          const v = y.tensors[k].toNumbers();
          return s + u.reduce((t, ui, i) => t + (ui - v[i]) ** 2, 0);
        }, 0);
    expect(distance(b, a)).toBeLessThan(distance(c, a));

    const bad = join(root, 'bad.safetensors');
    saveSafetensors(bad, a.tensors, { ...a.metadata, norm: JSON.stringify({ mean: [0.3], std: [0] }) });
    const refused = train(['--steps', '2', '--unlabeled', '100', '--init', bad, '--out', join(root, 'd')]);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/metadata 'norm' needs 1 finite means and positive stds/);
    expect(existsSync(join(root, 'd'))).toBe(false);

    // The transfer attack's source from the same weights: x′ = x* + δ that they label y* by the margin.
    const craft = (margin: string, out: string) =>
      spawnSync(
        './bin/semipoison.js',
        [
          'attack',
          'craft',
          '--init',
          join(root, 'a', 'model.safetensors'),
          '--margin',
          margin,
          '--target',
          '0',
          '--desired',
          '7',
          '--count',
          '5',
          '--unlabeled',
          '100',
          '--seed',
          '1',
          '--threads',
          '1',
          '--out',
          out,
        ],
        { encoding: 'utf8' },
      );
    const crafted = craft('0.01', join(root, 'p'));
    expect(crafted.status, crafted.stderr).toBe(0);
    const manifest = JSON.parse(readFileSync(join(root, 'p', 'manifest.json'), 'utf8'));
    expect(manifest.source.split).toBe('crafted');
    expect(manifest.source.description).toMatch(/x\* \+ δ .* labeled 7 by /);
    const unreachable = craft('1000', join(root, 'q'));
    expect(unreachable.status).not.toBe(0);
    expect(unreachable.stderr).toMatch(/no perturbation of test #0 found that .* labels 7 by a logit margin of 1000/);
    expect(existsSync(join(root, 'q'))).toBe(false);
  }, 180_000);
});
