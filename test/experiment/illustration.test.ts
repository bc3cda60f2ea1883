// Figure 1 computed for real: the same seed and training, three unlabeled sets. A clean run and a
// single poison leave the target blue; a bridge from a labeled red point carries the red label to it.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { illustration } from '../../src/experiment/index.js';
import { setNumThreads } from '../../src/tensor/index.js';
import { tempDir } from './helpers.js';

describe('Figure 1 illustration', () => {
  it('the bridge flips the target while one poison does not', async () => {
    setNumThreads(1);
    const r = await illustration({ steps: 300, resolution: 16 });
    expect(r.panels.map((p) => p.name)).toEqual(['clean', 'one poison', 'bridge']);
    const [clean, one, bridge] = r.panels;
    expect(clean.targetRed).toBeLessThan(0.5);
    expect(one.targetRed).toBeLessThan(0.5);
    expect(bridge.targetRed).toBeGreaterThan(0.5);
    expect(one.poisons).toEqual([r.target]);
    expect(bridge.poisons.at(-1)).toEqual(r.target);
    for (const p of r.panels) expect(p.grid).toHaveLength(16 * 16);
    await expect(illustration({ steps: 1 })).rejects.toThrow(/steps must be an integer ≥ 2, got 1/);
  }, 120_000);

  it('semipoison illustrate writes the figure and its data, and refuses an existing folder', () => {
    const out = join(tempDir('figure1'), 'fig');
    const args = ['illustrate', '--out', out, '--steps', '100', '--threads', '1'];
    const r = spawnSync('./bin/semipoison.js', args, { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^bridge\s+target p\(red\) = /m);
    for (const f of ['figure1.png', 'figure1.svg', 'figure1.json']) expect(existsSync(join(out, f))).toBe(true);
    const again = spawnSync('./bin/semipoison.js', args, { encoding: 'utf8' });
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/already exists/);
  }, 120_000);
});
