// The trial-level variants on a tiny config: the GAN-latent bridge trains one DC-GAN per split and
// reuses it; the transfer attack trains θ_init on the first half of the unlabeled set, crafts
// x′ = x* + δ that θ_init labels y*, and fine-tunes the victims from θ_init on the second half; the
// zero-knowledge attack draws x′ from training images outside the victim's labeled set.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  prepareTrial,
  resolveTrialConfig,
  runTrial,
  type TrialProgress,
} from '../../src/experiment/index.js';
import { loadClassifier } from '../../src/nn/index.js';
import { predictProbs } from '../../src/ssl/index.js';
import { loadDataset, readNpyImages, splitDataset, subset } from '../../src/data/index.js';
import { tempDir, TINY } from './helpers.js';

describe('trial-level variants', () => {
  it('checks their parameters like any variant', () => {
    expect(resolveTrialConfig({ variant: 'gan' }).variantParams).toEqual({
      ganSteps: 2000,
      endShare: 0.1,
      inversionSteps: 300,
    });
    expect(() => resolveTrialConfig({ variant: 'transfer', variantParams: { share: 1.5 } })).toThrow(ConfigError);
    expect(() => resolveTrialConfig({ variant: 'gan', variantParams: { steps: 3 } })).toThrow(/unknown parameter/);
  });

  it("zero-knowledge: x′ is one of the attacker's training images, outside the victim's labeled set", async () => {
    const root = tempDir('variant-zk');
    const config = { ...TINY, variant: 'zero-knowledge' as const, seed: 4 };
    const p = await prepareTrial(config, { dir: root, threads: 1 });
    const source = p.crafted.manifest.source as { split: string; from: string; from_index: number; label: number };
    expect(source.split).toBe('attacker');
    expect(source.from).toBe('train-not-labeled');
    expect(source.label).toBe(p.pick.desired);
    expect(p.pick.source).toBe(-1);
    const c = resolveTrialConfig(config);
    const split = splitDataset(await loadDataset('fashion-mnist', 'train'), {
      labels: c.labels,
      seed: c.splitSeed,
      unlabeled: c.unlabeled ?? undefined,
    });
    expect(split.indices.labeled).not.toContain(source.from_index);
    await expect(prepareTrial({ ...config, source: 0 }, { dir: root, threads: 1 })).rejects.toThrow(
      /zero-knowledge attacker knows no labeled image/,
    );
  });

  it('gan: one generator per split, a bridge through its latent space from x′ to x*', async () => {
    const root = tempDir('variant-gan');
    const config = { ...TINY, variant: 'gan' as const, variantParams: { ganSteps: 4, inversionSteps: 20 }, count: 12 };
    const r = await runTrial({ ...config, seed: 1 }, { dir: root, threads: 1 });
    expect(r.poisons).toBe(12);
    const manifest = JSON.parse(readFileSync(join(r.dir, 'poisons', 'manifest.json'), 'utf8'));
    expect(manifest.variant).toBe('gan');
    expect(manifest.params).toEqual({ ganSteps: 4, endShare: 0.1, inversionSteps: 20 });
    const alphas = manifest.poisons.map((p: { alpha: number }) => p.alpha).sort((a: number, b: number) => a - b);
    expect(alphas[0]).toBe(0);
    expect(alphas[alphas.length - 1]).toBe(1);
    const [gan] = readdirSync(join(root, 'gan'));
    const generator = join(root, 'gan', gan, 'generator.safetensors');
    const trained = statSync(generator).mtimeMs;
    const other = await runTrial({ ...config, seed: 2 }, { dir: root, threads: 1 });
    expect(other.id).not.toBe(r.id);
    expect(readdirSync(join(root, 'gan'))).toEqual([gan]);
    expect(statSync(generator).mtimeMs).toBe(trained);
  });

  it('transfer: x′ = x* + δ labeled y* by θ_init, victims fine-tuned from θ_init on the other half', async () => {
    const root = tempDir('variant-transfer');
    const progress: TrialProgress[] = [];
    const r = await runTrial(
      // θ_init of 6 steps has near-uniform logits: a small margin keeps x′ within reach.
      { ...TINY, variant: 'transfer', variantParams: { pretrainSteps: 6, margin: 0.01 }, seed: 1 },
      { dir: root, threads: 1, onProgress: (p) => progress.push(p) },
    );
    // θ_init's training is the first third of the trial's progress.
    const prepare = progress.filter((p) => p.phase === 'prepare');
    expect(prepare.map((p) => p.step)).toEqual([1, 2, 3, 4, 5, 6, 1]);
    expect(prepare[prepare.length - 1].fraction).toBeCloseTo(1 / 3, 6);
    expect(progress[progress.length - 1].fraction).toBeCloseTo(1, 6);
    const manifest = JSON.parse(readFileSync(join(r.dir, 'poisons', 'manifest.json'), 'utf8'));
    expect(manifest.variant).toBe('transfer');
    expect(manifest.source.split).toBe('crafted');
    expect(manifest.source.description).toMatch(/x\* \+ δ/);
    // The budget is a share of the half the victim trains on.
    expect(manifest.unlabeled_size).toBe(100);
    const [initDir] = readdirSync(join(root, 'init')).filter((d) => !d.endsWith('.lock'));
    const init = join(root, 'init', initDir, 'model.safetensors');
    expect(existsSync(init)).toBe(true);
    // The manifest names θ_init and the share it saw, so that `attack eval` fine-tunes from it too.
    expect(manifest.init).toEqual({ path: init, share: 0.5 });
    for (const run of [r.clean.dir, r.poisoned.dir]) {
      const { options } = JSON.parse(readFileSync(join(run, 'run.json'), 'utf8'));
      expect(options.init).toBe(init);
      // Fine-tuning resumes at the learning rate where θ_init's cosine schedule ended.
      expect(options.lr).toBeCloseTo(0.03 * Math.cos((7 * Math.PI) / 16), 9);
    }
    // θ_init labels the crafted source y*: the α = 0 end of the bridge.
    const poisons = readNpyImages(join(r.dir, 'poisons', 'poisons.npy'));
    const source = manifest.poisons.findIndex((p: { alpha: number }) => p.alpha === 0);
    const { model, metadata } = loadClassifier(init, { numClasses: 10, inChannels: 1, imageSize: 28 });
    const image = subset(poisons, [source]);
    const probs = predictProbs(model, image, JSON.parse(metadata.norm));
    model.dispose();
    expect(probs.indexOf(Math.max(...probs))).toBe(r.desired);
    expect(r.poisoned.resumedFrom).toBe(0);
  });
});
