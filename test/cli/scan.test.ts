// `semipoison scan` end to end on files: ranked CSV and JSON, ground-truth metrics, and clear
// errors for logs that do not fit the set.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { writeNpy } from '../../src/data/index.js';
import { createModel } from '../../src/nn/index.js';
import { embedImages } from '../../src/ssl/index.js';
import { manualSeed, saveSafetensors } from '../../src/tensor/index.js';
import { seededRandom } from '../../src/util/random.js';

function run(args: string[]) {
  const r = spawnSync('./bin/semipoison.js', ['scan', '--threads', '1', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** 8 epochs × (60 benign + 12 chained) × 3 classes: each chained example repeats its predecessor one epoch later. */
function writeLog(path: string): void {
  const K = 8;
  const N = 72;
  const C = 3;
  const data = new Float32Array(K * N * C);
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const traj = (): number[][] =>
    Array.from({ length: K }, () => {
      const a = [rnd(), rnd(), rnd()];
      const s = a[0] + a[1] + a[2];
      return a.map((v) => v / s);
    });
  const rows: number[][][] = Array.from({ length: 60 }, traj);
  const base = traj();
  for (let l = 0; l < 4; l++)
    for (let w = 0; w < 3; w++) rows.push(Array.from({ length: K }, (_, k) => base[Math.max(0, k - l)]));
  for (let i = 0; i < N; i++) for (let k = 0; k < K; k++) data.set(rows[i][k], (k * N + i) * C);
  writeNpy(path, { dtype: 'float32', shape: [K, N, C], data });
}

/** The manifest of writeLog's set: 60 benign examples, then 12 poisons. */
function writeManifest(path: string): void {
  writeFileSync(
    path,
    JSON.stringify({
      unlabeled_size: 60,
      poisons: Array.from({ length: 12 }, (_, index) => ({ index, alpha: index / 11, path: 0 })),
    }),
  );
}

describe('semipoison scan', () => {
  it('ranks the chained examples first and scores them against the manifest', () => {
    const dir = mkdtempSync(join(tmpdir(), 'scan-'));
    writeLog(join(dir, 'log.npy'));
    writeManifest(join(dir, 'manifest.json'));
    const r = run([
      '--predictions',
      join(dir, 'log.npy'),
      '--manifest',
      join(dir, 'manifest.json'),
      '--k',
      '2',
      '--out',
      join(dir, 'out'),
      '--json',
    ]);
    expect(r.code, r.err).toBe(0);
    const result = JSON.parse(r.out);
    expect(result.examples).toBe(72);
    // The first three layers lead the next one; the last layer only follows.
    expect(result.evaluation.truePositives).toBeGreaterThanOrEqual(9);
    expect(result.evaluation.falsePositives).toBe(0);
    const csv = readFileSync(join(dir, 'out', 'scores.csv'), 'utf8')
      .trim()
      .split('\n');
    expect(csv[0]).toBe('index,score,flagged,rank');
    expect(csv).toHaveLength(73);
  });

  it('draws the score histogram and the near false positives with --figures', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scan-figures-'));
    writeLog(join(dir, 'log.npy'));
    writeManifest(join(dir, 'manifest.json'));
    const pixels = Uint8Array.from({ length: 72 * 8 * 8 }, (_, i) => (i * 37) % 256);
    writeNpy(join(dir, 'set.npy'), { dtype: 'uint8', shape: [72, 8, 8], data: pixels });
    const common = ['--predictions', join(dir, 'log.npy'), '--k', '2', '--figures', '--json'];
    const r = run([join(dir, 'set.npy'), ...common, '--manifest', join(dir, 'manifest.json'), '--out', join(dir, 'a')]);
    expect(r.code, r.err).toBe(0);
    const names = ['figure7-influence.png', 'figure7-influence.svg', 'figure8-near-false-positives.png'];
    expect(JSON.parse(r.out).figures).toEqual(names);
    expect(JSON.parse(readFileSync(join(dir, 'a', 'scan.json'), 'utf8')).figures).toEqual(names);
    expect(readFileSync(join(dir, 'a', 'figure7-influence.svg'), 'utf8')).toContain('poisoned');
    const histogram = await sharp(join(dir, 'a', 'figure7-influence.png')).metadata();
    expect(histogram.width).toBeGreaterThan(500);
    // Five rows of an 8×8 example and its four neighbours, each enlarged to 96 px.
    const gallery = await sharp(join(dir, 'a', 'figure8-near-false-positives.png')).metadata();
    expect(gallery.width).toBeGreaterThanOrEqual(5 * 96);
    expect(gallery.height).toBeGreaterThanOrEqual(5 * 96);
    expect(gallery.height).toBeLessThan(5 * 140);

    // Without the images only the histogram can be drawn, and the scan says why.
    const bare = run([...common, '--out', join(dir, 'b')]);
    expect(bare.code, bare.err).toBe(0);
    expect(JSON.parse(bare.out).figures).toEqual(names.slice(0, 2));
    expect(bare.err).toMatch(/pass the unlabeled set/);
  });

  it('runs several detectors at once: one folder each, and the union of their flags', () => {
    const dir = mkdtempSync(join(tmpdir(), 'scan-many-'));
    writeLog(join(dir, 'log.npy'));
    writeManifest(join(dir, 'manifest.json'));
    // 60 random 8×8 images, then a 12-point linear bridge between two of them.
    const rnd = seededRandom(3);
    const pixels = Uint8Array.from({ length: 72 * 64 }, () => Math.floor(rnd() * 256));
    for (let j = 0; j < 12; j++)
      for (let d = 0; d < 64; d++)
        pixels[(60 + j) * 64 + d] = Math.round(pixels[d] * (1 - j / 11) + pixels[64 + d] * (j / 11));
    writeNpy(join(dir, 'set.npy'), { dtype: 'uint8', shape: [72, 8, 8], data: pixels });
    const args = [join(dir, 'set.npy'), '--predictions', join(dir, 'log.npy'), '--k', '2'];
    const manifest = ['--manifest', join(dir, 'manifest.json')];
    const r = run([...args, ...manifest, '--method', 'all', '--out', join(dir, 'all'), '--json']);
    expect(r.code, r.err).toBe(0);
    const summary = JSON.parse(r.out);
    expect(summary.methods).toEqual(['dynamics', 'collinear', 'cluster', 'duplicates']);
    const flags = readFileSync(join(dir, 'all', 'flags.csv'), 'utf8')
      .trim()
      .split('\n');
    expect(flags[0]).toBe('index,dynamics,collinear,cluster,duplicates,any');
    expect(flags).toHaveLength(73);
    let any = 0;
    for (const line of flags.slice(1)) {
      const v = line.split(',').map(Number);
      expect(v[5]).toBe(Math.max(...v.slice(1, 5)));
      any += v[5];
    }
    expect(summary.flagged).toBe(any);
    expect(summary.evaluation.tpr).toBe(1); // collinearity alone finds the whole bridge
    // Each detector's folder holds what a scan with that detector alone writes.
    for (const method of summary.methods as string[]) {
      const alone = run([...args, ...manifest, '--method', method, '--out', join(dir, method), '--json']);
      expect(alone.code, alone.err).toBe(0);
      expect(readFileSync(join(dir, 'all', method, 'scores.csv'), 'utf8')).toBe(
        readFileSync(join(dir, method, 'scores.csv'), 'utf8'),
      );
      expect(summary.by_method[method]).toEqual(JSON.parse(alone.out));
    }
    // Without a log, all means the pixel detectors.
    const pixelsOnly = run([join(dir, 'set.npy'), '--method', 'all', '--out', join(dir, 'pixels'), '--json']);
    expect(pixelsOnly.code, pixelsOnly.err).toBe(0);
    expect(JSON.parse(pixelsOnly.out).methods).toEqual(['collinear', 'cluster', 'duplicates']);
  });

  it('measures the pixel detectors in a given feature space, or in a trained model’s embedding', () => {
    const dir = mkdtempSync(join(tmpdir(), 'scan-features-'));
    // 60 spread-out points in 16-D and a tight clump of 12: clustering must find the clump.
    const rnd = seededRandom(5);
    const feats = new Float32Array(72 * 16);
    for (let i = 0; i < 72; i++)
      for (let d = 0; d < 16; d++) feats[i * 16 + d] = i < 60 ? rnd() * 10 : 5 + rnd() * 0.01;
    writeNpy(join(dir, 'feats.npy'), { dtype: 'float32', shape: [72, 16], data: feats });
    writeManifest(join(dir, 'manifest.json'));
    const r = run([
      '--method',
      'cluster',
      '--features',
      join(dir, 'feats.npy'),
      '--manifest',
      join(dir, 'manifest.json'),
      '--out',
      join(dir, 'f'),
      '--json',
    ]);
    expect(r.code, r.err).toBe(0);
    const result = JSON.parse(r.out);
    expect(result.examples).toBe(72);
    expect(result.evaluation.tpr).toBe(1);
    expect(result.evaluation.fpr).toBe(0);

    // A model file as `train` writes it (here untrained): its embedding of the set, computed by the
    // scan, equals the same embedding passed as features.
    const set = Uint8Array.from({ length: 72 * 8 * 8 }, () => Math.floor(rnd() * 256));
    writeNpy(join(dir, 'set.npy'), { dtype: 'uint8', shape: [72, 8, 8], data: set });
    manualSeed(0);
    const model = createModel('cnn', { numClasses: 10, inChannels: 1, imageSize: 8, width: 4 });
    const norm = { mean: [0.5], std: [0.25] };
    saveSafetensors(join(dir, 'model.safetensors'), model.stateDict(), {
      model: 'cnn',
      config: JSON.stringify({ width: 4, dataset: 'fashion-mnist' }),
      norm: JSON.stringify(norm),
    });
    const images = { images: set, n: 72, height: 8, width: 8, channels: 1, labels: null, numClasses: 10 };
    const emb = embedImages(model, images, norm);
    model.dispose();
    expect(emb.dim).toBe(16);
    writeNpy(join(dir, 'emb.npy'), { dtype: 'float32', shape: [72, emb.dim], data: emb.data });
    const common = [join(dir, 'set.npy'), '--method', 'collinear,cluster', '--json'];
    const embedded = run([...common, '--embed', dir, '--out', join(dir, 'e1')]);
    expect(embedded.code, embedded.err).toBe(0);
    const given = run([...common, '--features', join(dir, 'emb.npy'), '--out', join(dir, 'e2')]);
    expect(given.code, given.err).toBe(0);
    for (const method of ['collinear', 'cluster']) {
      expect(readFileSync(join(dir, 'e1', method, 'scores.csv'), 'utf8')).toBe(
        readFileSync(join(dir, 'e2', method, 'scores.csv'), 'utf8'),
      );
    }

    // Features that do not fit.
    writeNpy(join(dir, 'short.npy'), { dtype: 'float32', shape: [70, 16], data: new Float32Array(70 * 16) });
    const nan = Float32Array.from(feats);
    nan[5 * 16 + 3] = NaN;
    writeNpy(join(dir, 'nan.npy'), { dtype: 'float32', shape: [72, 16], data: nan });
    writeNpy(join(dir, 'rgb.npy'), { dtype: 'uint8', shape: [72, 8, 8, 3], data: new Uint8Array(72 * 192) });
    const out = join(dir, 'bad');
    const cases: [string[], RegExp][] = [
      [
        [join(dir, 'set.npy'), '--method', 'cluster', '--features', join(dir, 'short.npy')],
        /features of 70 examples, the set has 72/,
      ],
      [['--method', 'cluster', '--features', join(dir, 'nan.npy')], /example 5 has a non-finite feature/],
      [['--method', 'cluster', '--features', join(dir, 'feats.npy'), '--embed', dir], /pass one/],
      [['--method', 'cluster', '--embed', dir], /--embed needs the unlabeled set/],
      [
        [join(dir, 'rgb.npy'), '--method', 'cluster', '--embed', dir],
        /the model takes 1-channel images, .*rgb\.npy has 3-channel ones/,
      ],
    ];
    for (const [args, message] of cases) {
      const bad = run([...args, '--out', out]);
      expect(bad.code, args.join(' ')).not.toBe(0);
      expect(bad.err).toMatch(message);
      expect(existsSync(out)).toBe(false);
    }
  });

  it('fails clearly, leaving no output, on logs that do not fit', () => {
    const dir = mkdtempSync(join(tmpdir(), 'scan-bad-'));
    writeNpy(join(dir, 'set.npy'), { dtype: 'uint8', shape: [5, 2, 2], data: new Uint8Array(20) });
    writeNpy(join(dir, 'log.npy'), { dtype: 'float32', shape: [4, 6, 3], data: new Float32Array(72) });
    writeNpy(join(dir, 'flat.npy'), { dtype: 'float32', shape: [72], data: new Float32Array(72) });
    writeFileSync(join(dir, 'corrupt.npy'), 'not a numpy file');
    writeNpy(join(dir, 'empty.npy'), { dtype: 'uint8', shape: [0, 2, 2], data: new Uint8Array(0) });
    writeFileSync(join(dir, 'ten-classes.json'), JSON.stringify({ unlabeled_size: 4, num_classes: 10, poisons: [] }));
    writeFileSync(join(dir, 'broken.json'), '{"poisons": [');
    writeFileSync(
      join(dir, 'short.json'),
      JSON.stringify({ unlabeled_size: 3, poisons: [{ index: 0 }, { index: 1 }] }),
    );
    const out = join(dir, 'out');
    const cases: [string[], RegExp][] = [
      [[join(dir, 'set.npy'), '--predictions', join(dir, 'log.npy')], /covers 6 examples, the set has 5/],
      [['--predictions', join(dir, 'flat.npy')], /epochs × examples × classes/],
      [['--predictions', join(dir, 'corrupt.npy')], /corrupt\.npy/],
      [[join(dir, 'empty.npy'), '--method', 'duplicates'], /empty/],
      [
        ['--predictions', join(dir, 'log.npy'), '--manifest', join(dir, 'ten-classes.json')],
        /log has 3 classes.*has 10/,
      ],
      [
        ['--predictions', join(dir, 'log.npy'), '--manifest', join(dir, 'broken.json')],
        /broken\.json: not a readable JSON manifest/,
      ],
      [
        ['--predictions', join(dir, 'log.npy'), '--manifest', join(dir, 'short.json')],
        /3 clean examples \+ 2 poisons, but 6 were scanned/,
      ],
      [['--method', 'dynamics'], /needs --predictions/],
      [['--method', 'nope'], /unknown detector 'nope' \(choose from dynamics, collinear, cluster, duplicates/],
      [[join(dir, 'set.npy'), '--method', 'cluster,cluster'], /names a detector twice/],
      [
        ['--predictions', join(dir, 'log.npy'), '--method', 'dynamics,cluster'],
        /--method cluster needs the unlabeled set/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = run([...args, '--out', out]);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.err).toMatch(message);
      expect(existsSync(out)).toBe(false);
    }
  });
});
