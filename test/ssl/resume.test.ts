// Kill -9 in the middle of training, resume: the final weights, metrics and prediction log are
// identical to an uninterrupted run with the same seed. Resuming with other settings, or onto a
// prediction log of another shape, is refused before any step.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NpyAppender } from '../../src/data/index.js';
import { train, type RunFiles, type TrainData, type TrainOptions } from '../../src/ssl/index.js';
import { loadSafetensors } from '../../src/tensor/index.js';
import { tinyImages } from '../helpers.js';

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

const DATA: TrainData = { labeled: tinyImages(8, 1, true), unlabeled: tinyImages(20, 2, false), test: null };
const OPTIONS: Partial<TrainOptions> = { steps: 4, batchSize: 4, uratio: 2, width: 2, epochImages: 8, seed: 0 };

describe('resume safety', () => {
  /** A finished tiny run in a fresh folder. */
  async function finished(files: Partial<RunFiles> = {}): Promise<RunFiles> {
    const run = { dir: join(mkdtempSync(join(tmpdir(), 'resume-safety-')), 'run'), ...files };
    const r = await train(OPTIONS, DATA, {}, run);
    r.model.dispose();
    r.ema.dispose();
    return { ...run, resume: true };
  }

  it('resumes a run with the same settings, and refuses one whose checkpoint had others, naming them', async () => {
    const run = await finished({ settings: { dataset: 'synthetic', extraUnlabeled: null } });
    const same = await train(OPTIONS, DATA, {}, run);
    expect(same.resumedFrom).toBe(4);
    expect(same.stepsRun).toBe(0);
    same.model.dispose();
    same.ema.dispose();
    const refused: [Partial<TrainOptions>, TrainData, Partial<RunFiles>, RegExp][] = [
      [{ seed: 1 }, DATA, {}, /seed: 0 in the checkpoint, 1 now/],
      [{ steps: 6 }, DATA, {}, /steps: 4 in the checkpoint, 6 now/],
      [{ algorithm: 'uda' }, DATA, {}, /algorithm: "fixmatch" in the checkpoint, "uda" now/],
      [{ params: { threshold: 0.5 } }, DATA, {}, /params: \{"threshold":0.95,"wu":1\} in the checkpoint/],
      [{ emaBuffers: 'average' }, DATA, {}, /emaBuffers: "copy" in the checkpoint, "average" now/],
      [{}, { ...DATA, unlabeled: tinyImages(24, 2, false) }, {}, /unlabeledData: "20 images 8×8×1, sha256 \w+" in the/],
      [{}, { ...DATA, unlabeled: tinyImages(20, 3, false) }, {}, /unlabeledData: .* in the checkpoint, .* now/],
      [{}, { ...DATA, labeled: tinyImages(8, 4, true) }, {}, /labeledData: /],
      [{}, DATA, { logModel: 'ema' }, /logModel: "live" in the checkpoint, "ema" now/],
      [
        {},
        DATA,
        { settings: { dataset: 'synthetic', extraUnlabeled: 'poisons.npy' } },
        /extraUnlabeled: null in the checkpoint, "poisons.npy" now/,
      ],
    ];
    for (const [options, data, files, message] of refused) {
      const error = await train({ ...OPTIONS, ...options }, data, {}, { ...run, ...files }).then(
        () => new Error('resumed'),
        (err: unknown) => err as Error,
      );
      expect(error.message, JSON.stringify(options)).toMatch(message);
      expect(error.message).toMatch(
        /^cannot resume from .*checkpoint\.safetensors: its checkpoint was made with other/,
      );
    }
  });

  it('refuses a prediction log of another shape when it opens it, before training a step', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'resume-safety-')), 'run');
    // Stopped after step 3: the checkpoint and the log hold the first epoch (steps 1–2).
    const stop = (info: { step: number }) => {
      if (info.step === 3) throw new Error('stopped');
    };
    await expect(train(OPTIONS, DATA, { onStep: stop }, { dir, predictionLog: 'float32' })).rejects.toThrow('stopped');
    const path = join(dir, 'predictions.npy');
    // Another pipeline's log: one epoch of 20 examples × 3 classes.
    const other = NpyAppender.create(path, 'float32', [20, 3]);
    other.append(new Float32Array(60));
    other.close();
    const steps: number[] = [];
    const resumed = train(
      OPTIONS,
      DATA,
      { onStep: (s) => steps.push(s.step) },
      {
        dir,
        resume: true,
        predictionLog: 'float32',
      },
    );
    await expect(resumed).rejects.toThrow(/predictions\.npy: holds 20×3 predictions per epoch, this run makes 20×2/);
    expect(steps).toEqual([]);
  });
});
