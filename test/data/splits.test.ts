// Labeled/unlabeled splits: seeded, class-balanced, the reference's convention by default, clear errors.
import { describe, expect, it } from 'vitest';
import { classCounts, extendUnlabeled, splitDataset, type ImageSet } from '../../src/data/index.js';

function toySet(n: number, classes = 4): ImageSet {
  const images = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) images.fill(i % 256, i * 4, (i + 1) * 4);
  const labels = Int32Array.from({ length: n }, (_, i) => i % classes);
  return { images, n, height: 2, width: 2, channels: 1, labels, numClasses: classes };
}

describe('splitDataset', () => {
  it('picks a seeded, class-balanced labeled set, and keeps it in the unlabeled set by default', () => {
    const set = toySet(100);
    const s = splitDataset(set, { labels: 10, seed: 1 });
    expect(s.labeled.n).toBe(10);
    expect(classCounts(s.labeled)).toEqual([3, 3, 2, 2]);
    expect(s.unlabeled.labels).toBeNull();
    expect(s.unlabeled.n).toBe(100);
    for (const i of s.indices.labeled) expect(s.indices.unlabeled).toContain(i);
    expect(splitDataset(set, { labels: 10, seed: 1 }).indices).toEqual(s.indices);
    expect(splitDataset(set, { labels: 10, seed: 2 }).indices.labeled).not.toEqual(s.indices.labeled);
  });

  it('can exclude the labeled images, hold out validation and cap the unlabeled set', () => {
    const s = splitDataset(toySet(100), {
      labels: 8,
      seed: 3,
      validation: 20,
      labeledInUnlabeled: false,
      unlabeled: 50,
    });
    expect(s.validation!.n).toBe(20);
    expect(s.unlabeled.n).toBe(50);
    const all = [...s.indices.labeled, ...s.indices.unlabeled, ...s.indices.validation];
    expect(new Set(all).size).toBe(all.length);
  });

  it('keeps every labeled image in a capped unlabeled set, changing nothing where the cap already holds them', () => {
    const set = toySet(400);
    for (const seed of [0, 1, 2, 3]) {
      // A cap of 12 with 12 labels: the first 12 of the shuffled order rarely hold them all.
      const s = splitDataset(set, { labels: 12, seed, unlabeled: 12 });
      expect([...s.indices.unlabeled].sort((a, b) => a - b)).toEqual([...s.indices.labeled].sort((a, b) => a - b));
      const wide = splitDataset(set, { labels: 12, seed, unlabeled: 60 });
      for (const i of wide.indices.labeled) expect(wide.indices.unlabeled).toContain(i);
      expect(new Set(wide.indices.unlabeled).size).toBe(60);
      // Where the cap holds them already, it is the first examples of the uncapped order, as before.
      const whole = splitDataset(set, { labels: 12, seed });
      const plain = whole.indices.unlabeled.slice(0, 300);
      if (whole.indices.labeled.every((i) => plain.includes(i)))
        expect(splitDataset(set, { labels: 12, seed, unlabeled: 300 }).indices.unlabeled).toEqual(plain);
    }
    expect(() => splitDataset(set, { labels: 12, seed: 0, unlabeled: 11 })).toThrow(
      /11 unlabeled examples cannot hold the 12 labeled ones/,
    );
  });

  it('rejects impossible splits', () => {
    expect(() => splitDataset(toySet(20), { labels: 30, seed: 0 })).toThrow(
      /30 labels and 0 validation examples exceed the 20 images/,
    );
    expect(() => splitDataset(toySet(20), { labels: 2, seed: 0 })).toThrow(/at least one per class \(4\)/);
    expect(() => splitDataset(toySet(20), { labels: 4, seed: 0, unlabeled: 50 })).toThrow(
      /50 unlabeled examples asked, 20 available/,
    );
    const unbalanced = { ...toySet(12), labels: Int32Array.from({ length: 12 }, (_, i) => (i < 10 ? 0 : i - 9)) };
    expect(() => splitDataset(unbalanced, { labels: 8, seed: 0 })).toThrow(
      /class 1 has 1 examples, 2 labels asked of it/,
    );
  });

  it('appends extra unlabeled images of the same shape only', () => {
    const s = splitDataset(toySet(40), { labels: 4, seed: 0 });
    const extra: ImageSet = { ...toySet(5), labels: null };
    expect(extendUnlabeled(s.unlabeled, extra).n).toBe(45);
    const wrong: ImageSet = { ...extra, height: 1, width: 4 };
    expect(() => extendUnlabeled(s.unlabeled, wrong, 'poisons.npy')).toThrow(/poisons.npy: images are 1×4×1/);
  });
});
