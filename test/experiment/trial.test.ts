// A trial end to end on a tiny config: verdicts and propagation, a clean run shared between trials,
// a trial interrupted mid-training resumes to the same result, the defense step, the selection rule.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import {
  extendUnlabeled,
  loadDataset,
  readNpy,
  readNpyImages,
  splitDataset,
  subset,
  writeNpyImages,
  type ImageSet,
} from '../../src/data/index.js';
import { loadClassifier } from '../../src/nn/index.js';
import {
  evaluatePoisons,
  poisonedVictim,
  prepareTrial,
  runTrial,
  selectAttack,
  TrialProcess,
  type TrialProgress,
} from '../../src/experiment/index.js';
import { tempDir, TINY } from './helpers.js';

// What each victim run trained from trial.ts was trained on, by run folder: the defense tests check
// the retrained and the further seeds' sets.
const trained = vi.hoisted(() => new Map<string, ImageSet | null>());
const trainedSeed = vi.hoisted(() => new Map<string, number | undefined>());
vi.mock('../../src/experiment/victim.js', async (importOriginal) => {
  const victim = await importOriginal<typeof import('../../src/experiment/victim.js')>();
  return {
    ...victim,
    trainVictim: (...args: Parameters<typeof victim.trainVictim>) => {
      trained.set(args[3].dir, args[1].unlabeled);
      trainedSeed.set(args[3].dir, args[0].seed);
      return victim.trainVictim(...args);
    },
    trainClean: (...args: Parameters<typeof victim.trainClean>) => {
      trained.set(args[2].dir, args[0].unlabeled);
      trainedSeed.set(args[2].dir, args[1].seed);
      return victim.trainClean(...args);
    },
  };
});

describe('runTrial', () => {
  const root = tempDir('trial');

  it('trains clean and poisoned victims and judges the target', async () => {
    const fractions: number[] = [];
    const r = await runTrial(
      { ...TINY, seed: 3 },
      { dir: root, threads: 1, onProgress: (p: TrialProgress) => fractions.push(p.fraction) },
    );
    expect(r.desired).not.toBe(r.trueLabel);
    expect(typeof r.success).toBe('boolean');
    expect(r.success).toBe(r.poisoned.prediction === r.desired && r.clean.prediction !== r.desired);
    expect(r.pDesired).toBeCloseTo(r.poisoned.probs[r.desired], 6);
    expect(r.poisons).toBe(8);
    expect(r.propagation.alphas).toHaveLength(8);
    expect(r.propagation.epochs).toHaveLength(3);
    expect(r.clean.accuracy).toBeGreaterThan(0);
    expect(fractions[fractions.length - 1]).toBeCloseTo(1, 6);
    const config = JSON.parse(readFileSync(join(r.dir, 'config.json'), 'utf8'));
    expect(config.id).toBe(r.id);
    expect(config.seed).toBe(3);
    expect(existsSync(join(r.dir, 'poisons', 'manifest.json'))).toBe(true);
    expect(existsSync(join(r.dir, 'result.json'))).toBe(true);
    // Each victim run keeps its EMA weights, loadable as a classifier.
    for (const run of [r.clean.dir, r.poisoned.dir]) {
      const { model } = loadClassifier(join(run, 'model.safetensors'), {
        numClasses: 10,
        inChannels: 1,
        imageSize: 28,
      });
      model.dispose();
    }

    // Another target with the same split and training seed reuses the clean run.
    const otherFractions: number[] = [];
    const other = await runTrial(
      { ...TINY, seed: 4 },
      { dir: root, threads: 1, onProgress: (p) => otherFractions.push(p.fraction) },
    );
    expect(otherFractions[otherFractions.length - 1]).toBeCloseTo(1, 6);
    expect(other.clean.dir).toBe(r.clean.dir);
    expect(other.clean.stepsRun).toBe(0);
    expect(other.poisoned.stepsRun).toBe(6);
  });

  it('resumes an interrupted trial to the result of an uninterrupted one', async () => {
    const config = { ...TINY, steps: 8, seed: 5 };
    const reference = await runTrial(config, { dir: tempDir('trial-ref'), threads: 1 });
    const dir = tempDir('trial-kill');
    await expect(
      runTrial(config, {
        dir,
        threads: 1,
        onProgress: (p) => {
          if (p.phase === 'poisoned' && p.step === 5) throw new Error('interrupted');
        },
      }),
    ).rejects.toThrow('interrupted');
    const resumed = await runTrial(config, { dir, threads: 1 });
    expect(resumed.poisoned.resumedFrom).toBe(4);
    expect(resumed.clean.stepsRun).toBe(0);
    expect(resumed.poisoned.probs).toEqual(reference.poisoned.probs);
    expect(resumed.propagation).toEqual(reference.propagation);
    expect(resumed.id).toBe(reference.id);
  });

  it('trains the clean run in a second process beside the poisoned run, to the same outcome', async () => {
    const reference = await runTrial({ ...TINY, seed: 5 }, { dir: tempDir('trial-serial'), threads: 1 });
    const dir = tempDir('trial-parallel');
    const prepared = await prepareTrial({ ...TINY, seed: 5 }, { dir, threads: 1 });
    const helper = new TrialProcess();
    const steps: number[] = [];
    try {
      const clean = helper.runClean(prepared.config, { dir, threads: 1 }, (p) => {
        expect(p.phase).toBe('clean');
        steps.push(p.step);
      });
      const ev = await evaluatePoisons(poisonedVictim(prepared), prepared.options, prepared.runs, undefined, { clean });
      expect(ev.clean.dir).toBe(prepared.runs.clean.dir);
      expect(ev.clean.stepsRun).toBe(6);
      expect(ev.clean.probs).toEqual(reference.clean.probs);
      expect(ev.poisoned.probs).toEqual(reference.poisoned.probs);
      expect(ev.success).toBe(reference.success);
      expect(ev.propagation).toEqual(reference.propagation);
      expect(steps[steps.length - 1]).toBe(6);
    } finally {
      helper.close();
    }
  });

  it('scans with a detector, removes what it flags and retrains', async () => {
    const config = { ...TINY, seed: 3, defense: 'duplicates' as const, flagCount: 10 };
    const r = await runTrial(config, { dir: root, threads: 1 });
    const d = r.defense!;
    // The scanned set: the 200 clean unlabeled examples, then the 8 poisons.
    const prepared = await prepareTrial(config, { dir: root, threads: 1 });
    const scanned = extendUnlabeled(prepared.split.unlabeled, prepared.crafted.poisons);
    const offset = prepared.split.unlabeled.n;
    expect([offset, scanned.n]).toEqual([200, 208]);
    expect(d.flagged).toBe(10);
    expect(d.poisons).toBe(8);
    expect(new Set(d.flaggedIndices).size).toBe(10);
    expect(d.flaggedIndices.every((i) => Number.isInteger(i) && i >= 0 && i < scanned.n)).toBe(true);
    // The rates count where the flags fall.
    const caught = d.flaggedIndices.filter((i) => i >= offset).length;
    expect(d.truePositives).toBe(caught);
    expect(d.falsePositives).toBe(10 - caught);
    expect(d.tpr).toBe(caught / 8);
    expect(d.fpr).toBe((10 - caught) / 200);
    // Each poison keeps its own rank; exactly those ranked in the top 10 are flagged.
    expect(d.poisonRankByIndex.map((p) => p.index)).toEqual(Array.from({ length: 8 }, (_, j) => offset + j));
    for (const p of d.poisonRankByIndex) expect(d.flaggedIndices.includes(p.index)).toBe(p.rank <= 10);
    expect(d.poisonRanks).toEqual(d.poisonRankByIndex.map((p) => p.rank).sort((a, b) => a - b));
    // AUROC from the ranks: each benign example ranked above a poison costs 1/(8·200); a tie with
    // a poison (ranked above it, by index) costs only half, so the AUROC is at least this.
    const benignAbove = d.poisonRanks.reduce((sum, rank, j) => sum + rank - 1 - j, 0);
    const fromRanks = 1 - benignAbove / (8 * 200);
    expect(d.auroc).toBeGreaterThanOrEqual(fromRanks - 1e-12);
    expect(d.auroc).toBeCloseTo(fromRanks, 2);
    // The retrained run trained on the scanned set without exactly the flagged examples.
    expect(d.run?.stepsRun).toBe(6);
    const retrainedOn = trained.get(d.run!.dir)!;
    const kept = Array.from({ length: scanned.n }, (_, i) => i).filter((i) => !d.flaggedIndices.includes(i));
    expect(retrainedOn.n).toBe(scanned.n - 10);
    expect(Buffer.from(retrainedOn.images).equals(Buffer.from(subset(scanned, kept).images))).toBe(true);
    expect(d.success).toBe(d.prediction === r.desired && r.clean.prediction !== r.desired);
    expect(r.clean.stepsRun).toBe(0);
    // The undefended trial with the same attack trained this poisoned run already.
    expect(r.poisoned.stepsRun).toBe(0);
  });

  it('compares the unpoisoned and the defended victim over further training seeds', async () => {
    const base = { ...TINY, seed: 3, defense: 'duplicates' as const, flagCount: 10, trainSeed: 5 };
    const single = await runTrial(base, { dir: root, threads: 1 });
    const r = await runTrial({ ...base, retrainSeeds: 3 }, { dir: root, threads: 1 });
    expect(r.id).not.toBe(single.id);
    const d = r.defense!;
    // The scan and the first seed's runs are the single-seed trial's.
    expect(d.flaggedIndices).toEqual(single.defense!.flaggedIndices);
    expect(d.seeds.map((s) => s.seed)).toEqual([5, 6, 7]);
    expect(d.seeds[0].clean.dir).toBe(single.clean.dir);
    expect(d.seeds[0].defended.accuracy).toBe(single.defense!.accuracy);
    expect(d.seeds[0].defended.prediction).toBe(single.defense!.prediction);
    expect(single.defense!.seeds).toHaveLength(1);
    expect(single.defense!.accuracyCost!.ci95).toBeNull();
    const prepared = await prepareTrial(base, { dir: root, threads: 1 });
    const scanned = extendUnlabeled(prepared.split.unlabeled, prepared.crafted.poisons);
    const kept = subset(
      scanned,
      Array.from({ length: scanned.n }, (_, i) => i).filter((i) => !d.flaggedIndices.includes(i)),
    );
    for (const s of d.seeds.slice(1)) {
      // Each further seed trains the unpoisoned victim on the clean set, in the shared clean folder,
      // and the defended one on what the scan kept, in the trial's folder.
      expect(trainedSeed.get(s.clean.dir)).toBe(s.seed);
      expect(trainedSeed.get(s.defended.dir)).toBe(s.seed);
      expect(s.clean.dir.startsWith(join(root, 'clean'))).toBe(true);
      expect(s.defended.dir).toBe(join(r.dir, `defended-seed${s.seed}`));
      expect(Buffer.from(trained.get(s.clean.dir)!.images).equals(Buffer.from(prepared.split.unlabeled.images))).toBe(
        true,
      );
      expect(Buffer.from(trained.get(s.defended.dir)!.images).equals(Buffer.from(kept.images))).toBe(true);
      expect(s.success).toBe(s.defended.prediction === r.desired && s.clean.prediction !== r.desired);
    }
    // Distinct runs, whose accuracies the cost compares.
    expect(new Set(d.seeds.flatMap((s) => [s.clean.dir, s.defended.dir])).size).toBe(6);
    const cost = d.accuracyCost!;
    expect(cost.seeds).toBe(3);
    const clean = d.seeds.map((s) => s.clean.accuracy!);
    const defended = d.seeds.map((s) => s.defended.accuracy!);
    const avg = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(cost.clean.mean).toBeCloseTo(avg(clean), 12);
    expect(cost.cost).toBeCloseTo(avg(clean) - avg(defended), 12);
    // A second run of the same trial trains nothing more.
    trainedSeed.clear();
    const again = await runTrial({ ...base, retrainSeeds: 3 }, { dir: root, threads: 1 });
    expect(again.defense!.accuracyCost).toEqual(cost);
    // (The mock sees the runs trained from trial.ts: the retrained one and the four of the seeds.)
    expect(trainedSeed.size).toBe(1 + 2 * 2);
    expect([again.clean.stepsRun, again.poisoned.stepsRun, again.defense!.run!.stepsRun]).toEqual([0, 0, 0]);
  });

  it('scans what a pixel detector left again, round after round, and retrains once', async () => {
    const config = { ...TINY, seed: 3, defense: 'duplicates' as const, flagCount: 3, defenseRounds: 3 };
    const r = await runTrial(config, { dir: root, threads: 1 });
    const d = r.defense!;
    const prepared = await prepareTrial(config, { dir: root, threads: 1 });
    const scanned = extendUnlabeled(prepared.split.unlabeled, prepared.crafted.poisons);
    expect(d.rounds.map((x) => [x.round, x.scanned, x.flagged])).toEqual([
      [1, 208, 3],
      [2, 205, 3],
      [3, 202, 3],
    ]);
    const removed = d.rounds.flatMap((x) => x.flaggedIndices);
    expect(new Set(removed).size).toBe(9);
    expect([...removed].sort((a, b) => a - b)).toEqual(d.flaggedIndices);
    expect(d.flagged).toBe(9);
    for (const x of d.rounds) expect(x.poisonsFlagged).toBe(x.flaggedIndices.filter((i) => i >= 200).length);
    // Rates over all three rounds.
    const caught = removed.filter((i) => i >= 200).length;
    expect([d.truePositives, d.falsePositives, d.tpr, d.fpr]).toEqual([
      caught,
      9 - caught,
      caught / 8,
      (9 - caught) / 200,
    ]);
    // One retrained victim, on the set without the nine.
    expect(d.run!.dir).toBe(join(r.dir, 'defended'));
    expect(readdirSync(r.dir).filter((f) => f.startsWith('defended'))).toEqual(['defended']);
    const kept = Array.from({ length: scanned.n }, (_, i) => i).filter((i) => !removed.includes(i));
    expect(Buffer.from(trained.get(d.run!.dir)!.images).equals(Buffer.from(subset(scanned, kept).images))).toBe(true);
    // Round 2 scanned what round 1 left: the same detector on that set flags round 2's three.
    const single = await runTrial({ ...config, defenseRounds: 1 }, { dir: root, threads: 1 });
    expect(single.defense!.flaggedIndices).toEqual(d.rounds[0].flaggedIndices);
    expect(single.defense!.rounds).toHaveLength(1);
  });

  it('retrains between the dynamics detector’s rounds and scans each retrained run’s log', async () => {
    const config = { ...TINY, seed: 3, defense: 'dynamics' as const, flagCount: 4, defenseRounds: 2 };
    const r = await runTrial(config, { dir: root, threads: 1 });
    const d = r.defense!;
    expect(d.rounds.map((x) => [x.scanned, x.flagged])).toEqual([
      [208, 4],
      [204, 4],
    ]);
    const first = join(r.dir, 'defended');
    const second = join(r.dir, 'defended-round2');
    expect(d.run!.dir).toBe(second);
    // The first retrained run logged its predictions on the 204 examples it kept.
    const log = readNpy(join(first, 'predictions.npy'));
    expect(log.shape.slice(1)).toEqual([204, 10]);
    expect(trained.get(first)!.n).toBe(204);
    expect(trained.get(second)!.n).toBe(200);
    const prepared = await prepareTrial(config, { dir: root, threads: 1 });
    const scanned = extendUnlabeled(prepared.split.unlabeled, prepared.crafted.poisons);
    const kept = Array.from({ length: scanned.n }, (_, i) => i).filter((i) => !d.flaggedIndices.includes(i));
    expect(Buffer.from(trained.get(second)!.images).equals(Buffer.from(subset(scanned, kept).images))).toBe(true);
  });

  it('keeps the trial folder’s poisons equal to the ones its poisoned run trains on', async () => {
    const dir = tempDir('trial-poisons');
    const first = await prepareTrial({ ...TINY, seed: 4 }, { dir, threads: 1 });
    const file = join(first.dir, 'poisons', 'poisons.npy');
    const crafted = Buffer.from(first.crafted.poisons.images);
    // Poisons left by an earlier version of the attack code.
    writeNpyImages(file, { ...first.crafted.poisons, images: new Uint8Array(crafted.length).fill(7) });
    const again = await prepareTrial({ ...TINY, seed: 4 }, { dir, threads: 1 });
    expect(Buffer.from(readNpyImages(file).images).equals(Buffer.from(again.crafted.poisons.images))).toBe(true);
    expect(Buffer.from(again.crafted.poisons.images).equals(crafted)).toBe(true);
    expect(readdirSync(join(first.dir)).filter((f) => f.includes('stale'))).toEqual([]);
  });

  it('draws x*, y* and x′ from the seed alone', async () => {
    const train = await loadDataset('fashion-mnist', 'train');
    const test = await loadDataset('fashion-mnist', 'test');
    const { labeled } = splitDataset(train, { labels: 20, seed: 0 });
    const none = { target: null, desired: null, source: null };
    const a = selectAttack({ ...none, seed: 7 }, test, labeled);
    expect(selectAttack({ ...none, seed: 7 }, test, labeled)).toEqual(a);
    expect(selectAttack({ ...none, seed: 8 }, test, labeled)).not.toEqual(a);
    expect(a.desired).not.toBe(a.trueLabel);
    expect(labeled.labels![a.source]).toBe(a.desired);
    expect(() => selectAttack({ ...none, target: 0, desired: test.labels![0], seed: 0 }, test, labeled)).toThrow(
      /already the true label/,
    );
    // A given source fixes y* to its class (Figure 3's grid); one of the target's own class is refused.
    const other = Array.from({ length: labeled.n }, (_, i) => i).find((i) => labeled.labels![i] !== test.labels![0])!;
    expect(selectAttack({ ...none, target: 0, source: other, seed: 0 }, test, labeled).desired).toBe(
      labeled.labels![other],
    );
    const same = Array.from({ length: labeled.n }, (_, i) => i).find((i) => labeled.labels![i] === test.labels![0])!;
    expect(() => selectAttack({ ...none, target: 0, source: same, seed: 0 }, test, labeled)).toThrow(
      /has the target's own class/,
    );
  });
});
