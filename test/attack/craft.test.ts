// Crafting: the poisons are the quantised interpolation x′(1 − α) + x*α, x* among them; variants
// keep the budget; zero-knowledge draws x′ from the attacker's own images; the exported poisoned set
// hides the poisons at seeded positions; bad inputs fail clearly and leave no output folder.
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  craftPoisons,
  insertPoisons,
  interpolate,
  poisonPositions,
  poisonSlots,
  readManifest,
  nonLabeledTrainingImages,
  VARIANTS,
  writeCrafted,
  type VariantName,
} from '../../src/attack/index.js';
import { readNpyImages, splitDataset, subset, type ImageSet } from '../../src/data/index.js';
import { seededRandom } from '../../src/util/random.js';

function set(n: number, seed: number): ImageSet {
  const images = new Uint8Array(n * 16);
  for (let i = 0; i < images.length; i++) images[i] = (i * 37 + seed * 11) % 256;
  return {
    images,
    n,
    height: 4,
    width: 4,
    channels: 1,
    labels: Int32Array.from({ length: n }, (_, i) => i % 4),
    numClasses: 4,
  };
}
/** n random 4×4 images (all distinct), labels i mod 4. */
function randomSet(n: number, seed: number): ImageSet {
  const random = seededRandom(seed);
  return { ...set(n, 0), images: Uint8Array.from({ length: n * 16 }, () => Math.floor(random() * 256)) };
}

function pixels(s: ImageSet, i: number): number[] {
  return Array.from(s.images.subarray(i * 16, (i + 1) * 16));
}

const test = set(10, 1);
const labeled = set(12, 2);
const input = { test, labeled, unlabeledSize: 200 };

describe('interpolation poisons', () => {
  it('are x′(1 − α) + x*α rounded to 8 bits, ending at x* itself', () => {
    const src = Uint8Array.of(0, 100, 255, 10);
    const tgt = Uint8Array.of(255, 0, 255, 11);
    const pts = interpolate(src, tgt, [0, 0.5, 1]);
    expect(Array.from(pts[0].image)).toEqual([0, 100, 255, 10]);
    expect(Array.from(pts[1].image)).toEqual([128, 50, 255, 11]);
    expect(Array.from(pts[2].image)).toEqual([255, 0, 255, 11]);
  });

  it('craft picks a labeled source of the desired class and includes the target', () => {
    const c = craftPoisons(input, { targetIndex: 3, desired: 1, ratio: 0.05, seed: 7 });
    expect(c.poisons.n).toBe(10);
    const source = c.manifest.source as { index: number; label: number };
    expect(source.label).toBe(1);
    expect(c.manifest.target.true_label).toBe(test.labels![3]);
    const last = c.poisons.images.subarray(9 * 16, 10 * 16);
    expect(Array.from(last)).toEqual(Array.from(test.images.subarray(3 * 16, 4 * 16)));
    const first = c.poisons.images.subarray(0, 16);
    const s = source.index;
    expect(Array.from(first)).toEqual(Array.from(labeled.images.subarray(s * 16, (s + 1) * 16)));
    expect(c.manifest.poisons.map((p) => p.alpha)).toEqual(
      [...c.manifest.poisons.map((p) => p.alpha)].sort((a, b) => a - b),
    );
    expect(craftPoisons(input, { targetIndex: 3, desired: 1, ratio: 0.05, seed: 7 })).toEqual(c);
  });

  for (const variant of Object.keys(VARIANTS) as VariantName[]) {
    it(`variant ${variant} spends exactly the budget`, () => {
      const c = craftPoisons(
        { ...input, attackerPool: { images: set(40, 3), from: 'test' } },
        { targetIndex: 0, desired: 2, count: 12, seed: 1, variant },
      );
      expect(c.poisons.n).toBe(12);
      expect(c.manifest.poisons).toHaveLength(12);
    });
  }

  it.each([
    [7, 2],
    [10, 3],
    [5, 7],
    [1, 2],
  ])('duplicate spends a budget of %i with %i copies, x* kept, no point copied more often', (count, copies) => {
    const c = craftPoisons(input, {
      targetIndex: 0,
      desired: 2,
      count,
      seed: 1,
      variant: 'duplicate',
      params: { copies },
    });
    expect(c.poisons.n).toBe(count);
    expect(pixels(c.poisons, count - 1)).toEqual(pixels(test, 0));
    expect(c.manifest.poisons[count - 1].alpha).toBe(1);
    const perAlpha = new Map<number, number>();
    for (const p of c.manifest.poisons) perAlpha.set(p.alpha, (perAlpha.get(p.alpha) ?? 0) + 1);
    expect(Math.max(...perAlpha.values())).toBeLessThanOrEqual(copies);
    expect(perAlpha.size).toBe(Math.ceil(count / copies));
  });

  it("zero-knowledge draws x′ and its supports from the attacker's images, never the victim's labeled ones", () => {
    const train = randomSet(120, 5);
    const split = splitDataset(train, { labels: 8, seed: 3, unlabeled: 60 });
    const pool = nonLabeledTrainingImages(train, split);
    const victim = new Set(split.indices.labeled);
    expect(pool.indices!.length).toBe(train.n - victim.size);
    expect(pool.indices!.some((i) => victim.has(i))).toBe(false);
    for (let seed = 0; seed < 5; seed++) {
      const c = craftPoisons(
        { test, labeled: split.labeled, unlabeledSize: 60, attackerPool: pool },
        { targetIndex: 0, desired: 2, count: 12, seed, variant: 'zero-knowledge', params: { supports: 2 } },
      );
      const source = c.manifest.source as {
        split: string;
        from: string;
        index: number;
        label: number;
        from_index: number;
      };
      expect(source.split).toBe('attacker');
      expect(source.from).toBe('train-not-labeled');
      expect(source.label).toBe(2);
      expect(victim.has(source.from_index)).toBe(false);
      // x′ is the α = 0 end of the main path, and no labeled image of the victim.
      const x = c.manifest.poisons.findIndex((p) => p.path === 0 && p.alpha === 0);
      expect(pixels(c.poisons, x)).toEqual(pixels(train, source.from_index));
      for (let i = 0; i < split.labeled.n; i++) expect(pixels(c.poisons, x)).not.toEqual(pixels(split.labeled, i));
      // Support paths start at the attacker's other images, none of them the victim's.
      const starts = c.manifest.poisons.filter((p) => p.path > 0 && p.alpha === 0);
      expect(starts).toHaveLength(2);
      for (const p of starts) {
        const from = pool.indices!.find((i) => pixels(train, i).join() === pixels(c.poisons, p.index).join());
        expect(from, 'a support path starts at an attacker image').toBeDefined();
        expect(train.labels![from!]).toBe(2);
      }
    }
    expect(() =>
      craftPoisons(input, { targetIndex: 0, desired: 2, count: 12, seed: 0, variant: 'zero-knowledge' }),
    ).toThrow(/attacker's own images; none were given/);
    const others = Array.from({ length: train.n }, (_, i) => i).filter((i) => train.labels![i] !== 2);
    expect(() =>
      craftPoisons(
        {
          test,
          labeled: split.labeled,
          unlabeledSize: 60,
          attackerPool: { images: subset(train, others), from: 'own' },
        },
        { targetIndex: 0, desired: 2, count: 12, seed: 0, variant: 'zero-knowledge' },
      ),
    ).toThrow(/no image of class 2 in the attacker's images \(own\)/);
  });

  it('an explicit unlabeled pool counts as images of the desired class, indexed by --source', () => {
    const own = randomSet(6, 9);
    const c = craftPoisons(
      { ...input, attackerPool: { images: { ...own, labels: null }, from: '/attacker/own.npy' } },
      { targetIndex: 0, desired: 2, count: 10, seed: 0, variant: 'zero-knowledge', sourceIndex: 4 },
    );
    expect(c.manifest.source).toEqual({
      split: 'attacker',
      from: '/attacker/own.npy',
      index: 4,
      label: 2,
      from_index: null,
    });
    expect(pixels(c.poisons, 0)).toEqual(pixels(own, 4));
  });

  it('jitter moves the bridge off the straight line; noise keeps x* exact', () => {
    const lin = craftPoisons(input, { targetIndex: 0, desired: 2, count: 8, seed: 1 });
    const jit = craftPoisons(input, { targetIndex: 0, desired: 2, count: 8, seed: 1, variant: 'jitter' });
    expect(Buffer.from(jit.poisons.images).equals(Buffer.from(lin.poisons.images))).toBe(false);
    const noisy = craftPoisons(input, { targetIndex: 0, desired: 2, count: 8, seed: 1, variant: 'noise' });
    expect(Array.from(noisy.poisons.images.subarray(7 * 16))).toEqual(Array.from(test.images.subarray(0, 16)));
    // Uniform noise of the same σ stays within ±σ√3 of the bridge (plus rounding), x* exact again.
    const uniform = craftPoisons(input, {
      targetIndex: 0,
      desired: 2,
      count: 8,
      seed: 1,
      variant: 'noise',
      params: { sigma: 4, distribution: 'uniform' },
    });
    expect(uniform.manifest.params).toEqual({ sigma: 4, distribution: 'uniform' });
    const diffs = Array.from(uniform.poisons.images, (v, k) => Math.abs(v - lin.poisons.images[k]));
    expect(Math.max(...diffs)).toBeLessThanOrEqual(Math.ceil(4 * Math.sqrt(3)) + 1);
    expect(diffs.some((d) => d > 0)).toBe(true);
    expect(Array.from(uniform.poisons.images.subarray(7 * 16))).toEqual(Array.from(test.images.subarray(0, 16)));
    expect(() =>
      craftPoisons(input, {
        targetIndex: 0,
        desired: 2,
        count: 8,
        seed: 1,
        variant: 'noise',
        params: { distribution: 'laplace' },
      }),
    ).toThrow(/distribution must be one of gaussian, uniform/);
  });

  it.each([
    [{ targetIndex: 0, desired: test.labels![0], count: 5 }, /already the target's true label/],
    [{ targetIndex: 0, desired: 2, count: 500 }, /500 poisons exceed the 200 images/],
    [{ targetIndex: 99, desired: 2, count: 5 }, /outside the test set/],
    [{ targetIndex: 0, desired: 7, count: 5 }, /not a class/],
    [{ targetIndex: 0, desired: 2, count: 5, density: 'banana' }, /unknown name 'banana'/],
    [{ targetIndex: 0, desired: 2, count: 5, density: 'x -' }, /unexpected end/],
    [{ targetIndex: 0, desired: 2 }, /exactly one of count and ratio/],
    [{ targetIndex: 0, desired: 2, ratio: 0.001 }, /at least one poison/],
  ])('rejects %j', (o, message) => {
    expect(() => craftPoisons(input, { seed: 0, ...o })).toThrow(message);
  });

  it('writes poisons and a separate manifest atomically, refusing an existing folder', async () => {
    const root = mkdtempSync(join(tmpdir(), 'craft-'));
    const c = craftPoisons(input, { targetIndex: 1, desired: 3, count: 6, seed: 2 });
    const file = await writeCrafted(join(root, 'out'), c);
    expect(readNpyImages(file).n).toBe(6);
    const manifest = JSON.parse(readFileSync(join(root, 'out', 'manifest.json'), 'utf8'));
    expect(manifest.poisons).toHaveLength(6);
    await expect(writeCrafted(join(root, 'out'), c)).rejects.toThrow(/already exists/);
    await expect(writeCrafted(join(root, 'bad'), c, 'cifar10')).rejects.toThrow(/32×32×3/);
    expect(readdirSync(root)).toEqual(['out']);
  });

  it('hides the poisons of the exported poisoned set at seeded positions the manifest records', async () => {
    const root = mkdtempSync(join(tmpdir(), 'craft-positions-'));
    const clean = { ...randomSet(200, 4), labels: null };
    const c = craftPoisons(input, { targetIndex: 1, desired: 3, count: 10, seed: 2 });
    await writeCrafted(join(root, 'out'), c, 'npy', clean);
    const manifest = readManifest(join(root, 'out', 'manifest.json'));
    const positions = manifest.positions!;
    expect(positions).toEqual(poisonPositions(2, 200, 10));
    expect(new Set(positions).size).toBe(10);
    expect(positions.every((p) => p >= 0 && p < 210)).toBe(true);
    // Not appended: a scanner cannot find them at the end (nor, in α order, anywhere).
    expect(positions.filter((p) => p >= 200).length).toBeLessThan(10);
    expect([...positions].sort((a, b) => a - b)).not.toEqual(positions);
    expect(poisonSlots(manifest)).toEqual(positions);
    expect(poisonSlots({ ...manifest, positions: undefined })).toEqual(Array.from({ length: 10 }, (_, k) => 200 + k));
    const exported = readNpyImages(join(root, 'out', 'unlabeled-poisoned.npy'));
    expect(exported.n).toBe(210);
    positions.forEach((slot, k) => expect(pixels(exported, slot), `poison ${k}`).toEqual(pixels(c.poisons, k)));
    const cleanSlots = Array.from({ length: 210 }, (_, i) => i).filter((i) => !positions.includes(i));
    cleanSlots.forEach((slot, i) => expect(pixels(exported, slot)).toEqual(pixels(clean, i)));
    expect(Buffer.from(insertPoisons(clean, c.poisons, positions).images).equals(Buffer.from(exported.images))).toBe(
      true,
    );
    // The ground truth stays apart from the scanner's file.
    expect(readdirSync(join(root, 'out')).sort()).toEqual(['manifest.json', 'poisons.npy', 'unlabeled-poisoned.npy']);
    expect(() => insertPoisons(clean, c.poisons, [0, 0, 1, 2, 3, 4, 5, 6, 7, 8])).toThrow(/share position 0/);
    expect(() => insertPoisons(clean, c.poisons, [210, 1, 2, 3, 4, 5, 6, 7, 8, 9])).toThrow(/outside the 210 images/);
    writeFileSync(join(root, 'bad.json'), JSON.stringify({ poisons: [{ index: 0 }, { index: 1 }], positions: [3] }));
    expect(() => readManifest(join(root, 'bad.json'))).toThrow(/places 1 poisons, the manifest lists 2/);
  });
});

describe('semipoison attack craft', () => {
  it('fails with a clear message and no output folder on bad input', () => {
    const root = mkdtempSync(join(tmpdir(), 'craft-cli-'));
    const out = join(root, 'poisons');
    const run = (...args: string[]) =>
      spawnSync('./bin/semipoison.js', ['attack', 'craft', '--unlabeled', '500', '--out', out, ...args], {
        encoding: 'utf8',
      });
    const cases: [string[], RegExp][] = [
      [['--target', '0', '--desired', '9', '--count', '5'], /already the target's true label/],
      [['--target', '0', '--desired', '3', '--count', '900'], /900 poisons exceed the 500 images/],
      [['--target', '0', '--desired', '3', '--count', '5', '--density', 'evil()'], /unknown name 'evil'/],
      [['--target', '0', '--desired', '3', '--count', '5', '--variant', 'magic'], /unknown 'magic'/],
      [['--target', '0', '--desired', '3'], /exactly one of --ratio and --count/],
      [['--target', '0', '--desired', '3', '--count', '5', '--margin', '-1'], /--margin/],
    ];
    for (const [args, message] of cases) {
      const r = run(...args);
      expect(r.status, args.join(' ')).not.toBe(0);
      expect(r.stderr).toMatch(message);
      expect(existsSync(out)).toBe(false);
    }
    const ok = run('--target', '0', '--desired', '3', '--count', '5');
    expect(ok.status, ok.stderr).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['manifest.json', 'poisons.npy']);
  });
});
