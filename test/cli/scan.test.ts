// `semipoison scan` end to end on files: ranked CSV and JSON, ground-truth metrics, and clear
// errors for logs that do not fit the set.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { numberToFloat16, readNpy, writeNpy, writePngFolder } from '../../src/data/index.js';
import { createModel } from '../../src/nn/index.js';
import { embedImages } from '../../src/ssl/index.js';
import { manualSeed, saveSafetensors } from '../../src/tensor/index.js';
import { seededRandom } from '../../src/util/random.js';

function run(args: string[]) {
  const r = spawnSync('./bin/semipoison.js', ['scan', '--threads', '1', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/**
 * 8 epochs × (60 benign + 12 chained) × 3 classes: each chained example repeats its predecessor one
 * epoch later. `at[i]`, when given, is the row where example i is written.
 */
function writeLog(path: string, at?: number[]): void {
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
  for (let i = 0; i < N; i++) for (let k = 0; k < K; k++) data.set(rows[i][k], (k * N + (at ? at[i] : i)) * C);
  writeNpy(path, { dtype: 'float32', shape: [K, N, C], data });
}

/** writeLog's values, as float32. */
function readNpyLog(path: string): Float32Array {
  return readNpy(path).data as Float32Array;
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

/** The dynamics scan of dir/log.npy against dir/manifest.json, into dir/out, as JSON. */
function scanLog(dir: string) {
  const files = ['--predictions', join(dir, 'log.npy'), '--manifest', join(dir, 'manifest.json')];
  return run([...files, '--k', '2', '--out', join(dir, 'out'), '--json']);
}

describe('semipoison scan', () => {
  it('ranks the chained examples first and scores them against the manifest', () => {
    const dir = mkdtempSync(join(tmpdir(), 'scan-'));
    writeLog(join(dir, 'log.npy'));
    writeManifest(join(dir, 'manifest.json'));
    const r = scanLog(dir);
    expect(r.code, r.err).toBe(0);
    const result = JSON.parse(r.out);
    expect(result.examples).toBe(72);
    expect(['blas', 'onednn']).toContain(result.distance_product);
    // The first three layers lead the next one; the last layer only follows.
    expect(result.evaluation.truePositives).toBeGreaterThanOrEqual(9);
    expect(result.evaluation.falsePositives).toBe(0);
    const csv = readFileSync(join(dir, 'out', 'scores.csv'), 'utf8')
      .trim()
      .split('\n');
    expect(csv[0]).toBe('index,score,flagged,rank');
    expect(csv).toHaveLength(73);
  });

  it('finds the poisons at the positions the manifest records (an exported set with poisons inserted)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'scan-positions-'));
    // Poison k at row 5k + 3; the benign examples fill the other rows in order.
    const positions = Array.from({ length: 12 }, (_, k) => 5 * k + 3);
    const free = Array.from({ length: 72 }, (_, i) => i).filter((i) => !positions.includes(i));
    writeLog(join(dir, 'log.npy'), [...free, ...positions]);
    writeFileSync(
      join(dir, 'manifest.json'),
      JSON.stringify({
        unlabeled_size: 60,
        positions,
        poisons: Array.from({ length: 12 }, (_, index) => ({ index, alpha: index / 11, path: 0 })),
      }),
    );
    const r = scanLog(dir);
    expect(r.code, r.err).toBe(0);
    const ev = JSON.parse(r.out).evaluation;
    expect(ev.truePositives).toBeGreaterThanOrEqual(9);
    expect(ev.falsePositives).toBe(0);
    expect(ev.poisonRankByIndex.map((p: { index: number }) => p.index).sort((a: number, b: number) => a - b)).toEqual(
      [...positions].sort((a, b) => a - b),
    );
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

  it('removes and rescans in rounds with --rounds, naming the round that removed each example', () => {
    const dir = mkdtempSync(join(tmpdir(), 'scan-rounds-'));
    writeLog(join(dir, 'log.npy'));
    writeManifest(join(dir, 'manifest.json'));
    const rnd = seededRandom(5);
    writeNpy(join(dir, 'set.npy'), {
      dtype: 'uint8',
      shape: [72, 8, 8],
      data: Uint8Array.from({ length: 72 * 64 }, () => Math.floor(rnd() * 256)),
    });
    const base = [join(dir, 'set.npy'), '--method', 'duplicates', '--flag-count', '4'];
    const manifest = ['--manifest', join(dir, 'manifest.json')];
    const r = run([...base, ...manifest, '--rounds', '3', '--out', join(dir, 'rounds'), '--json']);
    expect(r.code, r.err).toBe(0);
    const result = JSON.parse(r.out);
    expect(result.flagged).toBe(4); // the first round's scan, as without --rounds
    expect(result.rounds.rounds.map((x: { scanned: number; flagged: number }) => [x.scanned, x.flagged])).toEqual([
      [72, 4],
      [68, 4],
      [64, 4],
    ]);
    expect(result.rounds.removed).toBe(12);
    const rows = readFileSync(join(dir, 'rounds', 'rounds.csv'), 'utf8')
      .trim()
      .split('\n');
    expect(rows[0]).toBe('index,round');
    const byRound = [0, 1, 2, 3].map((k) => rows.slice(1).filter((l) => l.endsWith(`,${k}`)).length);
    expect(byRound).toEqual([60, 4, 4, 4]);
    // Round 1 removed exactly what the single scan flags; the rates count all twelve removed.
    const single = run([...base, '--out', join(dir, 'single')]);
    expect(single.code, single.err).toBe(0);
    const flagged = readFileSync(join(dir, 'single', 'scores.csv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .filter((l) => l.split(',')[2] === '1')
      .map((l) => l.split(',')[0]);
    expect(flagged.map((i) => rows[Number(i) + 1])).toEqual(flagged.map((i) => `${i},1`));
    const poisonsRemoved = rows.slice(61).filter((l) => !l.endsWith(',0')).length;
    expect(result.rounds.evaluation.truePositives).toBe(poisonsRemoved);
    expect(result.rounds.evaluation.falsePositives).toBe(12 - poisonsRemoved);
    // Text output names the rounds.
    const text = run([...base, '--rounds', '2', '--out', join(dir, 'text')]);
    expect(text.out).toMatch(/rounds: removed 8 of 72 in 2 \(4 \+ 4\)/);
    // The dynamics detector's further rounds need retrained runs: refused, and nothing is written.
    const dyn = run(['--predictions', join(dir, 'log.npy'), '--rounds', '2', '--k', '2', '--out', join(dir, 'dyn')]);
    expect(dyn.code).not.toBe(0);
    expect(dyn.err).toMatch(/dynamics: a further round needs the prediction log of a run trained without/);
    expect(existsSync(join(dir, 'dyn'))).toBe(false);
    const zero = run([...base, '--rounds', '0', '--out', join(dir, 'zero')]);
    expect(zero.code).not.toBe(0);
    expect(existsSync(join(dir, 'zero'))).toBe(false);
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
    writeNpy(join(dir, 'log.npy'), { dtype: 'float32', shape: [4, 6, 3], data: new Float32Array(72).fill(1 / 3) });
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

  it('rejects prediction logs that are not softmax probabilities, naming the problem', () => {
    const dir = mkdtempSync(join(tmpdir(), 'scan-probs-'));
    writeLog(join(dir, 'log.npy'));
    const good = readNpyLog(join(dir, 'log.npy'));
    const variant = (name: string, edit: (d: Float32Array) => void): string => {
      const data = Float32Array.from(good);
      edit(data);
      writeNpy(join(dir, name), { dtype: 'float32', shape: [8, 72, 3], data });
      return join(dir, name);
    };
    // Epoch 2, example 5 is row 2 · 72 + 5; its three values start at 3 times that.
    const at = 3 * (2 * 72 + 5);
    const cases: [string, RegExp][] = [
      [variant('inf.npy', (d) => (d[at] = Infinity)), /epoch 2, example 5 holds Infinity: the log is corrupt/],
      [variant('nan.npy', (d) => (d[at + 1] = NaN)), /epoch 2, example 5 holds NaN/],
      [variant('logits.npy', (d) => d.forEach((v, i) => (d[i] = Math.log(v) * 3))), /looks like logits, not softmax/],
      [variant('big.npy', (d) => (d[at] = 1.5)), /example 5 holds 1\.5, outside \[0, 1\]: looks like logits/],
      [
        variant('unnormalized.npy', (d) => d.forEach((v, i) => (d[i] = v / 2))),
        /epoch 0, example 0 sum to 0\.5000, not 1: not softmax probabilities/,
      ],
      [variant('drift.npy', (d) => (d[at + 2] += 0.02)), /of epoch 2, example 5 sum to 1\.020, not 1/],
    ];
    for (const [log, message] of cases) {
      const out = join(dir, 'out');
      const r = run(['--predictions', log, '--k', '2', '--out', out]);
      expect(r.code, log).not.toBe(0);
      expect(r.err).toMatch(message);
      expect(existsSync(out)).toBe(false);
    }
    // A float16 log, as training writes it, passes despite its rounding; so does a drift within 1e-2.
    writeNpy(join(dir, 'half.npy'), {
      dtype: 'float16',
      shape: [8, 72, 3],
      data: Uint16Array.from(good, numberToFloat16),
    });
    const half = run(['--predictions', join(dir, 'half.npy'), '--k', '2', '--out', join(dir, 'half'), '--json']);
    expect(half.code, half.err).toBe(0);
    const drift = variant('small-drift.npy', (d) => (d[at + 2] += 0.005));
    const ok = run(['--predictions', drift, '--k', '2', '--out', join(dir, 'drift'), '--json']);
    expect(ok.code, ok.err).toBe(0);
  });

  it('checks the log’s class count against a labeled set or --num-classes, catching a transposed log', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scan-classes-'));
    // 6 examples × 3 classes over 4 epochs, uniform; its transpose is 4 × 3 × 6.
    writeNpy(join(dir, 'log.npy'), { dtype: 'float32', shape: [4, 6, 3], data: new Float32Array(72).fill(1 / 3) });
    writeNpy(join(dir, 'transposed.npy'), {
      dtype: 'float32',
      shape: [4, 3, 6],
      data: new Float32Array(72).fill(1 / 6),
    });
    // A PNG folder with class subfolders 0..2 (3 classes), 6 images; and one with 4 classes.
    const images = Uint8Array.from({ length: 6 * 4 }, (_, i) => (i * 41) % 256);
    const labeled = (numClasses: number) => ({
      images,
      n: 6,
      height: 2,
      width: 2,
      channels: 1,
      labels: Int32Array.from([0, 1, 2, 0, 1, numClasses - 1]),
      numClasses,
    });
    await writePngFolder(join(dir, 'three'), labeled(3), { byClass: true });
    await writePngFolder(join(dir, 'four'), labeled(4), { byClass: true });
    const ok = run([join(dir, 'three'), '--predictions', join(dir, 'log.npy'), '--k', '2', '--out', join(dir, 'a')]);
    expect(ok.code, ok.err).toBe(0);
    const given = run([
      '--predictions',
      join(dir, 'log.npy'),
      '--num-classes',
      '3',
      '--k',
      '2',
      '--out',
      join(dir, 'b'),
    ]);
    expect(given.code, given.err).toBe(0);
    const out = join(dir, 'out');
    const cases: [string[], RegExp][] = [
      [
        [join(dir, 'four'), '--predictions', join(dir, 'log.npy')],
        /log\.npy: the log has 3 classes, the labeled set .*four has 4/,
      ],
      [
        ['--predictions', join(dir, 'transposed.npy'), '--num-classes', '3'],
        /the log has 6 classes, --num-classes has 3/,
      ],
      [['--predictions', join(dir, 'log.npy'), '--num-classes', '10'], /the log has 3 classes, --num-classes has 10/],
      [['--predictions', join(dir, 'log.npy'), '--num-classes', '1'], /--num-classes.*expected an integer >= 2/],
      [[join(dir, 'three'), '--method', 'cluster', '--num-classes', '3'], /only --method dynamics reads/],
    ];
    for (const [args, message] of cases) {
      const r = run([...args, '--k', '2', '--out', out]);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.err).toMatch(message);
      expect(existsSync(out)).toBe(false);
    }
    // A transposed log of real softmax rows (each example's classes summing to 1) fails the sum check.
    writeLog(join(dir, 'real.npy'));
    const real = readNpyLog(join(dir, 'real.npy'));
    const t = new Float32Array(real.length);
    for (let k = 0; k < 8; k++)
      for (let i = 0; i < 72; i++) for (let c = 0; c < 3; c++) t[(k * 3 + c) * 72 + i] = real[(k * 72 + i) * 3 + c];
    writeNpy(join(dir, 'real-t.npy'), { dtype: 'float32', shape: [8, 3, 72], data: t });
    const bad = run(['--predictions', join(dir, 'real-t.npy'), '--k', '1', '--out', out]);
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(
      /the 72 class probabilities of epoch 0, example 0 sum to .*not epochs × examples × classes/,
    );
    expect(existsSync(out)).toBe(false);
  });

  it('takes the clustering settings from flags and rejects impossible ones', () => {
    const dir = mkdtempSync(join(tmpdir(), 'scan-cluster-'));
    // 60 spread-out points in 16-D, then two tight groups of 7 and 5, 0.05 apart.
    const rnd = seededRandom(9);
    const feats = new Float32Array(72 * 16);
    for (let i = 0; i < 72; i++)
      for (let d = 0; d < 16; d++)
        feats[i * 16 + d] = i < 60 ? rnd() * 10 : 5 + rnd() * 0.01 + (i >= 67 && d === 0 ? 0.05 : 0);
    writeNpy(join(dir, 'feats.npy'), { dtype: 'float32', shape: [72, 16], data: feats });
    const scan = (out: string, ...args: string[]) => {
      const r = run([
        '--method',
        'cluster',
        '--features',
        join(dir, 'feats.npy'),
        ...args,
        '--out',
        join(dir, out),
        '--json',
      ]);
      expect(r.code, r.err).toBe(0);
      return JSON.parse(r.out);
    };
    expect(scan('default').flagged).toBe(12); // both groups, within half the median neighbour distance
    // Far beyond every distance: one cluster of everything. Zero: no merges, nothing of 3 or more.
    expect(scan('huge', '--merge-threshold', '1000').flagged).toBe(72);
    expect(scan('zero', '--merge-threshold', '0').flagged).toBe(0);
    expect(scan('relative', '--merge-relative', '1000').flagged).toBe(72);
    expect(scan('tiny-relative', '--merge-relative', '0.0001').flagged).toBe(0);
    // Average linkage merges along graph edges only: with 3 neighbours each group sees only itself,
    // so the larger group alone is flagged; with 10 (the default) the two groups join.
    const average = ['--linkage', 'average', '--merge-threshold', '0.1'];
    expect(scan('k10', ...average).flagged).toBe(12);
    expect(scan('k3', ...average, '--cluster-k', '3').flagged).toBe(7);
    const out = join(dir, 'bad');
    const cases: [string[], RegExp][] = [
      [['--merge-threshold', '-1'], /--merge-threshold.*expected a number in \[0, Infinity\], got '-1'/],
      [['--merge-relative', 'nan'], /--merge-relative.*expected a number/],
      [['--merge-relative', 'Infinity'], /--merge-relative.*expected a number/],
      [['--cluster-k', '0'], /--cluster-k.*expected an integer >= 1, got '0'/],
      [['--cluster-k', '2.5'], /--cluster-k.*expected an integer >= 1/],
      [['--merge-threshold', '1', '--merge-relative', '0.5'], /both set the merge distance: pass one/],
      [
        ['--method', 'collinear', '--merge-threshold', '1'],
        /--merge-threshold sets the cluster detector, which --method collinear does not run/,
      ],
      [['--method', 'duplicates', '--cluster-k', '3'], /--cluster-k sets the cluster detector/],
    ];
    for (const [args, message] of cases) {
      const r = run(['--method', 'cluster', '--features', join(dir, 'feats.npy'), ...args, '--out', out]);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.err).toMatch(message);
      expect(existsSync(out)).toBe(false);
    }
  });

  it('names each image’s file for a PNG folder and keeps each poison’s own rank', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scan-files-'));
    // writeLog's 72 examples as 8×8 images named in reading (natural) order, with a comma in one name.
    const rnd = seededRandom(4);
    const set = {
      images: Uint8Array.from({ length: 72 * 64 }, () => Math.floor(rnd() * 256)),
      n: 72,
      height: 8,
      width: 8,
      channels: 1,
      labels: null,
      numClasses: 10,
    };
    const names = Array.from({ length: 72 }, (_, i) => (i === 3 ? 'img3,x' : `img${i}`));
    await writePngFolder(join(dir, 'pngs'), set, { names });
    writeLog(join(dir, 'log.npy'));
    writeManifest(join(dir, 'manifest.json'));
    const args = [
      '--predictions',
      join(dir, 'log.npy'),
      '--manifest',
      join(dir, 'manifest.json'),
      '--k',
      '2',
      '--json',
    ];
    const r = run([join(dir, 'pngs'), ...args, '--out', join(dir, 'out')]);
    expect(r.code, r.err).toBe(0);
    const csv = readFileSync(join(dir, 'out', 'scores.csv'), 'utf8')
      .trim()
      .split('\n');
    expect(csv[0]).toBe('index,score,flagged,rank,file');
    expect(csv[1]).toMatch(/^0,[^,]+,[01],\d+,img0\.png$/);
    expect(csv[4]).toMatch(/^3,[^,]+,[01],\d+,"img3,x\.png"$/);
    expect(csv[72]).toMatch(/,img71\.png$/);
    const rankOf = new Map(csv.slice(1).map((line) => [Number(line.split(',')[0]), Number(line.split(',')[3])]));
    // Each poison (index 60..71) with its own rank, as scores.csv ranks it; the sorted ranks as before.
    const ev = JSON.parse(r.out).evaluation;
    expect(ev.poisonRankByIndex.map((p: { index: number }) => p.index)).toEqual(
      Array.from({ length: 12 }, (_, j) => 60 + j),
    );
    for (const p of ev.poisonRankByIndex) expect(p.rank).toBe(rankOf.get(p.index));
    expect(ev.poisonRanks).toEqual(
      ev.poisonRankByIndex.map((p: { rank: number }) => p.rank).sort((a: number, b: number) => a - b),
    );
    // Several detectors: flags.csv names the files too. A .npy set has no file column.
    const many = run([join(dir, 'pngs'), ...args, '--method', 'all', '--out', join(dir, 'all')]);
    expect(many.code, many.err).toBe(0);
    const flags = readFileSync(join(dir, 'all', 'flags.csv'), 'utf8')
      .trim()
      .split('\n');
    expect(flags[0]).toBe('index,dynamics,collinear,cluster,duplicates,any,file');
    expect(flags[4]).toMatch(/^3,.*,"img3,x\.png"$/);
    writeNpy(join(dir, 'set.npy'), { dtype: 'uint8', shape: [72, 8, 8], data: set.images });
    const npy = run([join(dir, 'set.npy'), ...args, '--out', join(dir, 'npy')]);
    expect(npy.code, npy.err).toBe(0);
    expect(readFileSync(join(dir, 'npy', 'scores.csv'), 'utf8').split('\n')[0]).toBe('index,score,flagged,rank');
  });

  it('refuses --flag-count together with --threshold, as the experiment config does', () => {
    const dir = mkdtempSync(join(tmpdir(), 'scan-rule-'));
    writeLog(join(dir, 'log.npy'));
    const out = join(dir, 'out');
    const r = run(['--predictions', join(dir, 'log.npy'), '--flag-count', '5', '--threshold', '0.1', '--out', out]);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/--flag-count and --threshold both choose what is flagged: pass one/);
    expect(existsSync(out)).toBe(false);
  });
});
