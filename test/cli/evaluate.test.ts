// `semipoison evaluate` as a user runs it on a model that `train` saved: the report agrees with the
// written predictions and with itself, chosen examples are listed, and bad input exits non-zero.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readNpy, writeNpy } from '../../src/data/index.js';
import { parseIndexList } from '../../src/cli/evaluate.js';
import { classificationReport, embedImages, predictProbs } from '../../src/ssl/index.js';
import { createModel } from '../../src/nn/index.js';
import { imagesToTensor } from '../../src/data/tensors.js';
import { manualSeed, tidy } from '../../src/tensor/index.js';
import { seededRandom } from '../../src/util/random.js';

function run(args: string[]) {
  const r = spawnSync('./bin/semipoison.js', args, { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('classificationReport', () => {
  it('counts the confusion matrix, per-class and overall accuracy', () => {
    const r = classificationReport([0, 1, 1, 2, 0], [0, 1, 2, 2, 1], 4);
    expect(r.confusion).toEqual([
      [1, 0, 0, 0],
      [1, 1, 0, 0],
      [0, 1, 1, 0],
      [0, 0, 0, 0],
    ]);
    expect(r.accuracy).toBeCloseTo(3 / 5);
    expect(r.perClass.map((p) => p.accuracy)).toEqual([1, 0.5, 0.5, null]);
    expect(() => classificationReport([0, 5], [0, 1], 4)).toThrow(/prediction 5 outside \[0, 4\)/);
    expect(() => classificationReport([0], [0, 1], 4)).toThrow(/1 predictions for 2 labels/);
  });

  it('embeds and predicts batch by batch exactly as the model does on the whole set, in eval mode', () => {
    manualSeed(1);
    const model = createModel('cnn', { numClasses: 10, inChannels: 1, imageSize: 8, width: 4 });
    const r = seededRandom(2);
    const set = {
      images: Uint8Array.from({ length: 7 * 64 }, () => Math.floor(r() * 256)),
      n: 7,
      height: 8,
      width: 8,
      channels: 1,
      labels: null,
      numClasses: 10,
    };
    const norm = { mean: [0.5], std: [0.25] };
    model.train(true);
    const emb = embedImages(model, set, norm, { batchSize: 3 });
    const probs = predictProbs(model, set, norm, { batchSize: 3, indices: [6, 0] });
    expect(model.training).toBe(true);
    const [wholeEmb, wholeProbs] = tidy(() => {
      model.eval();
      const x = imagesToTensor(set, norm);
      const out = [model.embed(x).toFloat32(), model.forward(x).softmax(1).toFloat32()];
      model.train(true);
      return out;
    });
    expect(emb.dim).toBe(16);
    expect(
      Array.from(emb.data)
        .map((v, i) => v - wholeEmb[i])
        .every((d) => Math.abs(d) < 1e-5),
    ).toBe(true);
    for (let k = 0; k < 10; k++) {
      expect(probs[k]).toBeCloseTo(wholeProbs[6 * 10 + k], 6);
      expect(probs[10 + k]).toBeCloseTo(wholeProbs[k], 6);
    }
    model.dispose();
  });

  it('parses index lists and ranges', () => {
    expect(parseIndexList('3588,9,100-103')).toEqual([3588, 9, 100, 101, 102, 103]);
    expect(() => parseIndexList('5-3')).toThrow(/backwards/);
    expect(() => parseIndexList('a,3')).toThrow(/expected indices and ranges/);
  });
});

describe('semipoison evaluate', () => {
  const root = mkdtempSync(join(tmpdir(), 'evaluate-'));
  const runDir = join(root, 'run');

  beforeAll(() => {
    const r = run([
      'train',
      '--labels',
      '20',
      '--unlabeled',
      '100',
      '--width',
      '4',
      '--steps',
      '8',
      '--batch',
      '8',
      '--uratio',
      '1',
      '--threads',
      '1',
      '--precision',
      'fp32',
      '--prediction-log',
      'none',
      '--out',
      runDir,
    ]);
    expect(r.code, r.err).toBe(0);
  });

  it('reports accuracy, per class and the confusion matrix that the written predictions imply', () => {
    const preds = join(root, 'test-probs.npy');
    const r = run(['evaluate', runDir, '--threads', '1', '--predictions', preds, '--json']);
    expect(r.code, r.err).toBe(0);
    const out = JSON.parse(r.out);
    expect(out.n).toBe(10000);
    expect(out.images).toBe('fashion-mnist test');
    const probs = readNpy(preds);
    expect(probs.shape).toEqual([10000, 10]);
    const rows = probs.data as Float32Array;
    for (let i = 0; i < 10; i++) {
      const s = rows.subarray(i * 10, i * 10 + 10).reduce((a, b) => a + b, 0);
      expect(s).toBeCloseTo(1, 4);
    }
    const confusion = out.confusion as number[][];
    expect(confusion.flat().reduce((a, b) => a + b, 0)).toBe(10000);
    // Each predicted column total equals the argmax count of the written softmax.
    const predicted = new Array(10).fill(0);
    for (let i = 0; i < 10000; i++) {
      let best = 0;
      for (let k = 1; k < 10; k++) if (rows[i * 10 + k] > rows[i * 10 + best]) best = k;
      predicted[best]++;
    }
    expect(confusion[0].map((_, k) => confusion.reduce((a, row) => a + row[k], 0))).toEqual(predicted);
    const diagonal = confusion.reduce((a, row, k) => a + row[k], 0);
    expect(out.accuracy).toBeCloseTo(diagonal / 10000, 10);
    expect(out.per_class[1].name).toBe('Trouser');
    expect(out.per_class[1].n).toBe(1000);
    const text = run(['evaluate', join(runDir, 'model.safetensors'), '--threads', '1']);
    expect(text.code, text.err).toBe(0);
    expect(text.out).toContain(`accuracy: ${(100 * out.accuracy).toFixed(2)}%`);
    expect(text.out).toMatch(/Ankle boot\s+1000/);
  });

  it('lists chosen examples with their label and prediction, the same as in the whole-set run', () => {
    const all = readNpy(join(root, 'test-probs.npy')).data as Float32Array;
    const r = run(['evaluate', runDir, '--threads', '1', '--indices', '9,3588,0-1', '--json']);
    expect(r.code, r.err).toBe(0);
    const out = JSON.parse(r.out);
    expect(out.examples.map((e: { index: number }) => e.index)).toEqual([9, 3588, 0, 1]);
    for (const e of out.examples as { index: number; probabilities: number[]; label: number }[]) {
      expect(e.probabilities[3]).toBeCloseTo(all[e.index * 10 + 3], 5);
    }
    expect(out.examples[2].label).toBe(9); // test image #0 is an ankle boot
  });

  it('predicts unlabeled images from a .npy without an accuracy', () => {
    const images = join(root, 'images.npy');
    writeNpy(images, { dtype: 'uint8', shape: [3, 28, 28], data: new Uint8Array(3 * 784).fill(40) });
    const r = run(['evaluate', runDir, '--images', images, '--threads', '1', '--json']);
    expect(r.code, r.err).toBe(0);
    const out = JSON.parse(r.out);
    expect(out.n).toBe(3);
    expect(out.accuracy).toBeNull();
    expect(out.confusion).toBeNull();
  });

  it('exits non-zero with a reason on bad input, writing nothing', () => {
    const empty = join(root, 'empty');
    mkdirSync(empty);
    const wrongShape = join(root, 'rgb.npy');
    writeNpy(wrongShape, { dtype: 'uint8', shape: [2, 32, 32, 3], data: new Uint8Array(2 * 3072) });
    const preds = join(root, 'never.npy');
    const cases: [string[], RegExp][] = [
      [['evaluate', join(root, 'missing')], /does not exist/],
      [['evaluate', empty], /no model\.safetensors in this folder/],
      [['evaluate', runDir, '--indices', '3-x'], /expected indices and ranges/],
      [['evaluate', runDir, '--images', wrongShape], /the model takes 1-channel images, .*rgb\.npy has 3-channel ones/],
      [['evaluate', runDir, '--dataset', 'imagenet'], /unknown dataset 'imagenet'/],
      [['evaluate', runDir, '--predictions', join(root, 'p.csv')], /expected a \.npy file name/],
      [
        ['evaluate', runDir, '--indices', '10000', '--predictions', preds],
        /10000 is out of range \(the set has 10000 images\)/,
      ],
    ];
    for (const [args, why] of cases) {
      const r = run([...args, '--threads', '1']);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.err, args.join(' ')).toMatch(why);
    }
    expect(existsSync(preds)).toBe(false);
    expect(readdirSync(empty)).toEqual([]);
  });
});
