// Crafting: the poisons are the quantised interpolation x′(1 − α) + x*α, x* among them; variants
// keep the budget; bad inputs fail clearly and leave no output folder.
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { craftPoisons, interpolate, VARIANTS, writeCrafted, type VariantName } from '../../src/attack/index.js';
import { readNpyImages, type ImageSet } from '../../src/data/index.js';

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
        { ...input, attackerPool: set(40, 3) },
        { targetIndex: 0, desired: 2, count: 12, seed: 1, variant },
      );
      expect(c.poisons.n).toBe(12);
      expect(c.manifest.poisons).toHaveLength(12);
    });
  }

  it('jitter moves the bridge off the straight line; noise keeps x* exact', () => {
    const lin = craftPoisons(input, { targetIndex: 0, desired: 2, count: 8, seed: 1 });
    const jit = craftPoisons(input, { targetIndex: 0, desired: 2, count: 8, seed: 1, variant: 'jitter' });
    expect(Buffer.from(jit.poisons.images).equals(Buffer.from(lin.poisons.images))).toBe(false);
    const noisy = craftPoisons(input, { targetIndex: 0, desired: 2, count: 8, seed: 1, variant: 'noise' });
    expect(Array.from(noisy.poisons.images.subarray(7 * 16))).toEqual(Array.from(test.images.subarray(0, 16)));
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
