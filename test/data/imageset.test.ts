// Tests of the ImageSet helpers: validation messages, subset, concatenation, class counts.
import { describe, expect, it } from 'vitest';
import {
  classCounts,
  concatImageSets,
  pixelIndex,
  subset,
  validateImageSet,
  type ImageSet,
} from '../../src/data/imageset.js';
import { makeSet } from './helpers.js';

describe('ImageSet helpers', () => {
  const set = makeSet(4, 2, 3, 2, (i, y, x, c) => i * 100 + y * 10 + x * 2 + c, [3, 1, 3, 0]);

  it('accepts a consistent set and indexes NHWC pixels', () => {
    expect(() => validateImageSet(set)).not.toThrow();
    expect(set.images[pixelIndex(set, 2, 1, 2, 1)]).toBe(200 + 10 + 4 + 1);
  });

  it('rejects inconsistent sets with a message naming the source', () => {
    const short: ImageSet = { ...set, images: set.images.subarray(1) };
    expect(() => validateImageSet(short, 'x.bin')).toThrow(/x\.bin: images hold 47 bytes but 4×2×3×2 needs 48/);
    expect(() => validateImageSet({ ...set, labels: Int32Array.from([0, 1, 2]) }, 's')).toThrow(
      /3 labels for 4 images/,
    );
    expect(() => validateImageSet({ ...set, labels: Int32Array.from([0, 1, 10, 2]) }, 's')).toThrow(
      /label 10 at index 2 out of range 0\.\.9/,
    );
    expect(() => validateImageSet({ ...set, classNames: ['a'] }, 's')).toThrow(/1 class names for 10 classes/);
    expect(() => validateImageSet({ ...set, files: ['a.png'] }, 's')).toThrow(/1 file names for 4 images/);
    expect(() => validateImageSet({ ...set, width: 0, n: 0, images: new Uint8Array(0) }, 's')).toThrow(/positive/);
  });

  it('subset copies the chosen images and labels in order', () => {
    const s = subset(set, [3, 0, 3]);
    expect(s.n).toBe(3);
    expect(Array.from(s.labels!)).toEqual([0, 3, 0]);
    expect(s.images[pixelIndex(s, 1, 1, 2, 1)]).toBe(set.images[pixelIndex(set, 0, 1, 2, 1)]);
    expect(s.images[pixelIndex(s, 2, 0, 0, 0)]).toBe(300 & 255);
    s.images[0] = 7;
    expect(set.images[pixelIndex(set, 3, 0, 0, 0)]).toBe(300 & 255);
    expect(() => subset(set, [4])).toThrow(/index 4 at position 0 out of range 0\.\.3/);
  });

  it('concatenates sets and counts classes', () => {
    const both = concatImageSets([set, subset(set, [1])]);
    expect(both.n).toBe(5);
    expect(Array.from(both.labels!)).toEqual([3, 1, 3, 0, 1]);
    expect(both.images.subarray(4 * 12)).toEqual(set.images.subarray(12, 24));
    expect(classCounts(both)).toEqual([1, 2, 0, 2, 0, 0, 0, 0, 0, 0]);
    const unlabeled = { ...set, labels: null };
    expect(concatImageSets([set, unlabeled]).labels).toBeNull();
    expect(() => concatImageSets([set, makeSet(1, 3, 3, 2, () => 0)])).toThrow(/shape 3×3×2 differs from 2×3×2/);
    expect(() => classCounts(unlabeled)).toThrow(/no labels/);
  });

  it('carries file names through subset and concatenation only where every image has one', () => {
    const named: ImageSet = { ...set, files: ['a.png', 'b.png', 'c.png', 'd.png'] };
    expect(subset(named, [3, 1]).files).toEqual(['d.png', 'b.png']);
    expect(concatImageSets([named, subset(named, [0])]).files).toEqual(['a.png', 'b.png', 'c.png', 'd.png', 'a.png']);
    expect(concatImageSets([named, set]).files).toBeUndefined();
    expect(concatImageSets([set, named]).files).toBeUndefined();
    expect(subset(set, [0]).files).toBeUndefined();
  });
});
