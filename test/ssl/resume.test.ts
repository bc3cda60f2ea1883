// Kill -9 in the middle of training, resume: the final weights, metrics and prediction log are
// identical to an uninterrupted run with the same seed.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSafetensors } from '../../src/tensor/index.js';

const ARGS = [
  'train',
  '--steps',
  '30',
  '--batch',
  '16',
  '--uratio',
  '2',
  '--labels',
  '20',
  '--unlabeled',
  '300',
  '--epoch-images',
  '80',
  '--width',
  '8',
  '--threads',
  '1',
  '--precision',
  'fp32',
  '--seed',
  '5',
  '--json',
];

function metricsLines(dir: string): number {
  const p = join(dir, 'metrics.jsonl');
  return existsSync(p) ? readFileSync(p, 'utf8').split('\n').filter(Boolean).length : 0;
}

describe('bit-exact resume', () => {
  it('an interrupted and resumed run ends exactly where an uninterrupted one does', async () => {
    const root = mkdtempSync(join(tmpdir(), 'resume-'));
    const a = join(root, 'a');
    const b = join(root, 'b');
    const full = spawnSync('./bin/semipoison.js', [...ARGS, '--out', a], { encoding: 'utf8' });
    expect(full.status, full.stderr).toBe(0);

    const child = spawn('./bin/semipoison.js', [...ARGS, '--out', b], { stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    // Kill once at least two of the six epochs are logged, well before the end.
    const started = Date.now();
    while (metricsLines(b) < 2 && Date.now() - started < 60_000) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGKILL');
    await exited;
    const linesAtKill = metricsLines(b);
    expect(linesAtKill).toBeGreaterThanOrEqual(2);
    expect(linesAtKill).toBeLessThan(6);

    const resumed = spawnSync('./bin/semipoison.js', [...ARGS, '--out', b, '--resume'], { encoding: 'utf8' });
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout).resumed_from).toBeGreaterThan(0);

    const wa = loadSafetensors(join(a, 'model.safetensors')).tensors;
    const wb = loadSafetensors(join(b, 'model.safetensors')).tensors;
    expect(Object.keys(wb).sort()).toEqual(Object.keys(wa).sort());
    for (const k of Object.keys(wa)) expect(wb[k].toNumbers(), k).toEqual(wa[k].toNumbers());
    expect(readFileSync(join(b, 'metrics.jsonl'), 'utf8')).toBe(readFileSync(join(a, 'metrics.jsonl'), 'utf8'));
    expect(readFileSync(join(b, 'predictions.npy')).equals(readFileSync(join(a, 'predictions.npy')))).toBe(true);
    // Three CLI runs, each loading the dataset and libtorch: allow for a loaded machine.
  }, 300_000);
});
