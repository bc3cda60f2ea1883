// The package entry point exposes crafting, training, scanning and the engine from one import.
import { describe, expect, it } from 'vitest';
import * as semipoison from '../src/index.js';

describe('library entry point', () => {
  it('exports every layer', () => {
    for (const name of [
      'tensor',
      'tidy',
      'WideResNet',
      'loadDataset',
      'splitDataset',
      'train',
      'ALGORITHMS',
      'craftPoisons',
      'sampleAlphas',
      'dynamicsScores',
      'collinearScores',
      'agglomerate',
    ]) {
      expect(typeof (semipoison as Record<string, unknown>)[name], name).not.toBe('undefined');
    }
    expect(Object.keys(semipoison.ALGORITHMS)).toHaveLength(8);
    expect(Object.keys(semipoison.DENSITIES)).toHaveLength(11);
  });
});
